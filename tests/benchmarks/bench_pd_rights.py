"""152-ФЗ at scale (the ledger of bench_debts: 20,000 members, 10 years of monthly charges, matched payments):
a member's copy of his data (.json and .pdf), the retention list over 2,000 former members, and one
anonymisation — scrubbing every text column of the ledger and rewriting the database file."""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

from ledger import accruals, members, personal_data, tariffs
from ledger.db import Database
from tests.benchmarks.bench_debts import TARIFF, build


def main(n: int = 20_000, payments: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.duckdb")
        db.schema_versions()
        tariffs.load_tariffs(db, TARIFF.encode(), "bench.toml")
        build(db, n, payments)
        with db.transaction() as con:   # a tenth left in 2020; they keep their debts
            con.execute(f"UPDATE members SET status = 'withdrawn', exit_date = DATE '2020-06-30' WHERE id % 10 = 0")
        accruals.accrue(db, date(2025, 12, 31))
        accruals.refresh(db)
        gone = n + 1   # left before the contributions began: due for anonymisation, owes nothing
        with db.transaction() as con:
            con.execute("INSERT INTO members (id, reg_no, full_name, status, join_date, created_at, updated_at) "
                        "VALUES (?, 'Б-1', 'Кузнецова Мария Степановна', 'member', DATE '2005-01-01', now(), now())",
                        [gone])
        members.update_member(db, gone, {"inn": "500100732259", "phones": "+79165554433", "status": "withdrawn",
                                         "exit_date": "30.06.2011"})
        size = db.path.stat().st_size / 2**20

        started = time.perf_counter()
        report = personal_data.pd_report(db, "15")
        as_json = personal_data.report_json(report)
        json_time = time.perf_counter() - started
        started = time.perf_counter()
        as_pdf = personal_data.report_pdf(report)
        pdf_time = time.perf_counter() - started
        rows = sum(len(s["rows"]) for s in report["sections"])
        started = time.perf_counter()
        listed = personal_data.retention(db)
        retention_time = time.perf_counter() - started
        started = time.perf_counter()
        personal_data.anonymize(db, "Б-1", "истёк срок хранения")
        anonymize_time = time.perf_counter() - started
        after = db.path.stat().st_size / 2**20
        started = time.perf_counter()
        personal_data.anonymize(db, "Б-1", "истёк срок хранения")   # done already: only the file is rewritten
        rewrite_time = time.perf_counter() - started
    print(f"Копия сведений члена ({rows} записей в {len(report['sections'])} разделах): сбор и JSON {json_time:.2f} с "
          f"({len(as_json) // 1024} КБ), PDF ещё {pdf_time:.2f} с ({len(as_pdf) // 1024} КБ)")
    print(f"Сроки хранения по {len(listed)} бывшим членам (с долгами на сегодня): {retention_time:.2f} с")
    print(f"Обезличивание одного члена с перезаписью файла базы {size:.0f} МБ: {anonymize_time:.1f} с "
          f"(файл после — {after:.0f} МБ), из них перезапись файла ≈ {rewrite_time:.1f} с")


if __name__ == "__main__":
    main()
