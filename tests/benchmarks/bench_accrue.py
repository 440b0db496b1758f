"""Accrual and recalculation at scale (issue 10): the debts benchmark's 20,000 members with 10 years of monthly
charges by area (2.4 M charges).

Measured: the first `accrue` (target ≤ 10 s and ≤ 1 GB peak), a repeated run (posts nothing), a recalculation
after one ownership change (target ≤ 1 s; the preview and the posting), and, for reference, the recalculation
of every charge after a tariff edit. Payments are left out: accrual does not read them (their allocation is
measured by bench_debts).
"""

from __future__ import annotations

import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from ledger import accruals, members, tariffs
from ledger.db import Database
from tests.benchmarks.bench_debts import TARIFF, build


def main(count: int = 20_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.duckdb")
        db.schema_versions()
        tariffs.load_tariffs(db, TARIFF.encode(), "bench.toml")
        build(db, count, 0)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        through = date(2025, 12, 31)
        started, cpu = time.perf_counter(), time.process_time()
        first = accruals.accrue(db, through)
        first_time, first_cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        again = accruals.accrue(db, through)
        again_time = time.perf_counter() - started

        # One ownership change: member 2's plot is found to have been sold on 01.07.2020.
        members.correct_ownership(db, 2, "2", date(2010, 1, 1), None, date(2010, 1, 1), date(2020, 7, 1),
                                  "договор купли-продажи")
        started = time.perf_counter()
        preview = accruals.accrue(db, through, dry_run=True)
        preview_time = time.perf_counter() - started
        started = time.perf_counter()
        recalc = accruals.accrue(db, through)
        recalc_time = time.perf_counter() - started

        tariffs.load_tariffs(db, TARIFF.replace('rate = "1.25"', 'rate = "1.30"').encode(), "bench.toml")
        started = time.perf_counter()
        everything = accruals.accrue(db, through)
        everything_time = time.perf_counter() - started
        total_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        members.correct_ownership(db, 3, "3", date(2010, 1, 1), None, date(2010, 1, 1), date(2021, 1, 1),
                                  "договор купли-продажи")
        started = time.perf_counter()
        after = accruals.accrue(db, through)
        after_time = time.perf_counter() - started
    print(f"accrue: {first.added} начислений за {first_time:.1f} с (процессорное время всех потоков {first_cpu:.1f} с; "
          f"цель ≤ 10 с); пик памяти процесса {peak:.0f} МБ "
          f"(до начисления {before:.0f} МБ; цель ≤ 1 ГБ)")
    print(f"Повторный запуск: {again.added} начислений, {again.corrections} исправлений за {again_time:.2f} с")
    print(f"Перерасчёт после смены владельца одного участка: предпросмотр {preview_time:.2f} с, проведение "
          f"{recalc.corrections} исправлений на {accruals.fmt_money(recalc.corrections_amount)} ₽ за {recalc_time:.2f} с "
          f"(цель ≤ 1 с)")
    print(f"Перерасчёт всех начислений после изменения тарифа: {everything.corrections} исправлений за "
          f"{everything_time:.1f} с; пик памяти процесса за весь замер {total_peak:.0f} МБ")
    print(f"Перерасчёт после ещё одной смены владельца (в базе уже 2,4 млн исправлений): {after.corrections} "
          f"исправлений за {after_time:.2f} с")


if __name__ == "__main__":
    main()
