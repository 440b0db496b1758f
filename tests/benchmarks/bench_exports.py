""".xlsx exports: the writer on 20,000 register rows and 100,000 matching rows, and the whole register export.

Targets (issue 12, item 7): 20,000 rows ≤ 3 s, 100,000 rows ≤ 15 s. Wall and CPU time are both printed: on a
shared VM the wall time follows the machine's load, the CPU time the code.
"""

from __future__ import annotations

import io
import resource
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from ledger import matching, members
from ledger.db import Database
from ledger.spreadsheets import title_lines, write_xlsx
from tests.benchmarks import RUNS, spread
from tests.conftest import xlsx_bytes


def register_rows(n: int) -> list[dict]:
    return [{"reg_no": str(i), "full_name": f"Членов{i % 997} Иван Петрович", "status_label": "Член",
             "join_date": date(2010, 1, 1) + timedelta(days=i % 5000), "exit_date": None, "plots": str(i),
             "areas": "600.00", "cadastral_nos": f"50:20:0010101:{i}", "shares": "1/1", "inn": f"5001{i:08d}",
             "phones": f"+7912{i:07d}", "emails": f"member{i}@mail.ru", "telegram_chat_id": None,
             "address": f"Московская обл., г. Дмитров, ул. Садовая, д. {i}", "notes": None} for i in range(1, n + 1)]


def match_rows(n: int) -> list[dict]:
    return [{"doc_number": str(i), "doc_date": date(2024, 1, 1) + timedelta(days=i % 700),
             "amount": Decimal(1000 + i % 5000) + Decimal("0.50"), "payer": f"Членов{i % 997} Иван Петрович",
             "purpose": f"Членский взнос за 2024 год, участок {i % 20000}, л/с {i % 20000}. НДС не облагается",
             "member_id": str(i % 20000), "status": "auto", "confidence": 0.97, "reason": "л/с и ФИО совпали"}
            for i in range(1, n + 1)]


def timed(action) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def writer(label: str, columns, rows: list[dict], target: float) -> None:
    walls, cpus, size = [], [], 0
    for _ in range(RUNS):
        buf = io.BytesIO()
        wall, cpu = timed(lambda: write_xlsx(buf, columns, rows, title=title_lines("СНТ «Бенчмарк»", label,
                                                                                   date(2026, 12, 1))))
        walls.append(wall)
        cpus.append(cpu)
        size = len(buf.getvalue())
    print(f"{label}: {len(rows)} строк, {size // 1024} КБ — {spread(walls)}; процессорное время {spread(cpus)} "
          f"(цель ≤ {target:.0f} с)")


def main(n_members: int = 20_000, n_matches: int = 100_000) -> None:
    writer("Реестр членов", members.EXPORT_COLUMNS, register_rows(n_members), 3)
    writer("Реестр членов", members.EXPORT_COLUMNS, register_rows(100_000), 15)
    writer("Разнесение", matching.EXPORT_COLUMNS, match_rows(n_matches), 15)
    rows = [["№ л/с", "ФИО", "№ участка", "Площадь", "Телефон", "Эл. почта"]]
    rows += [[str(i), f"Членов{i % 997} Иван Петрович", f"{i}", 600, f"+7912{i:07d}", f"m{i}@mail.ru"]
             for i in range(1, n_members + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "b.duckdb")
        db.schema_versions()
        members.import_register(db, xlsx_bytes(rows), "big.xlsx")
        for suffix in ("xlsx", "csv"):
            walls = [timed(lambda: members.export_register(db, Path(tmp) / f"out.{suffix}"))[0] for _ in range(RUNS)]
            print(f"`coop members export` {n_members} членов в .{suffix} (с расшифровкой ИНН, телефонов и e-mail): "
                  f"{spread(walls)}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Пик памяти процесса: {peak:.0f} МБ")


if __name__ == "__main__":
    main()
