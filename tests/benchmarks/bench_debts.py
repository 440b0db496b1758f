"""Debts at scale: 20,000 members, 10 years of monthly charges (2.4 M) and 2 M matched payments.

The ledger is generated set-based in DuckDB (generate_series); the charges come from the real `accrue`.
Measured: accrual, the first full allocation, the full allocation rebuild after a key-rate change (target
≤ 5 s, with its own peak memory), debts as of a date (target ≤ 5 s), the dashboard aggregates from the
snapshot (target ≤ 2 s).
"""

from __future__ import annotations

import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from ledger import accruals, debts, tariffs
from ledger.db import Database
from tests.benchmarks import RUNS, spread

TARIFF = """
[[contribution]]
code = "member"
name = "Членский взнос"
kind = "periodic"
basis = "plot_area"
rate = "1.25"
period = "month"
due = "25"
start = "2016-01-01"
end = "2025-12-31"
keywords = ["членск"]
[contribution.penalty]
kind = "key_rate"
"""


def reset_peak() -> float:
    """Start counting peak memory afresh (Linux: writing 5 to clear_refs resets VmHWM); returns the resident
    memory now (MB)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return memory_mb("VmRSS:")


def memory_mb(field: str = "VmHWM:") -> float:
    """Peak resident memory since the last reset_peak() (or since the process started), or another field."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rebuild(db: Database) -> tuple[list[float], float]:
    """The full allocation after a key-rate change (every member's penalties may change), then forced again:
    wall and CPU seconds (all threads) of each run, the peak memory of the process during them and its resident
    memory before (DuckDB's cache of the database included)."""
    times, cpu = [], []
    before = reset_peak()
    for run in range(RUNS):
        if run == 0:
            tariffs.set_key_rate(db, date(2024, 1, 1), "16.5")
        started, cpu_started = time.perf_counter(), time.process_time()
        accruals.refresh(db, force=run > 0)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return times, cpu, memory_mb(), before


def build(db: Database, members: int, payments: int) -> None:
    with db.transaction() as con:
        con.execute(f"""
            INSERT INTO members (id, reg_no, full_name, status, join_date, created_at, updated_at)
            SELECT i, i::VARCHAR, 'Член ' || i, 'member', DATE '2010-01-01', now(), now()
            FROM range(1, {members} + 1) t(i)""")
        con.execute(f"""
            INSERT INTO plots (id, number, area, created_at)
            SELECT i, i::VARCHAR, (400 + (i % 9) * 100)::DECIMAL(12,2), now() FROM range(1, {members} + 1) t(i)""")
        con.execute(f"INSERT INTO plot_owners SELECT i, i, 1, 1, DATE '2010-01-01', NULL FROM range(1, {members} + 1) t(i)")
        # Payments: each member pays about monthly, some late, some less; a fifth name the contribution.
        con.execute(f"""
            INSERT INTO payments (id, fingerprint, doc_date, doc_number, amount, direction, purpose, created_at)
            SELECT i, i, DATE '2016-01-20' + CAST((i // {members}) * 36.5 + hash(i) % 40 AS INTEGER),
                   i::VARCHAR, (500 + (hash(i * 7) % 800))::DECIMAL(18,2), 'in',
                   CASE WHEN i % 5 = 0 THEN 'Членский взнос' ELSE 'Оплата' END, now()
            FROM range(0, {payments}) t(i)""")
        con.execute(f"""
            INSERT INTO matches (payment_id, status, member_id, confidence, decided_at)
            SELECT id, 'auto', 1 + id % {members}, 1, now() FROM payments""")


def main(members: int = 20_000, payments: int = 2_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.duckdb")
        db.schema_versions()
        tariffs.load_tariffs(db, TARIFF.encode(), "bench.toml")
        started = time.perf_counter()
        build(db, members, payments)
        built = time.perf_counter() - started
        started = time.perf_counter()
        result = accruals.accrue(db, date(2025, 12, 31))
        accrued = time.perf_counter() - started
        started = time.perf_counter()
        accruals.refresh(db)
        allocated = time.perf_counter() - started
        allocations = db.scalar("SELECT count(*) FROM allocations")
        rebuilds, rebuild_cpu, rebuild_peak, rebuild_base = rebuild(db)
        as_of = date(2024, 6, 30)
        started, cpu_started = time.perf_counter(), time.process_time()
        rows = debts.debts(db, as_of)
        debts_time, debts_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        started = time.perf_counter()
        debts.snapshot(db, as_of)
        snapshot_time = time.perf_counter() - started
        started = time.perf_counter()
        board = debts.dashboard(db, as_of)
        debts.totals(board.rows), debts.by_bucket(board.rows), debts.by_member(board.rows)
        dashboard_time = time.perf_counter() - started
        started = time.perf_counter()
        with db.transaction() as con:
            con.execute("UPDATE matches SET member_id = 3 WHERE payment_id = 1")  # from member 2 to 3
        accruals.refresh(db)
        one_change = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Данные: {members} членов, {result.added} начислений, {payments} платежей — создание {built:.1f} с, "
          f"accrue {accrued:.1f} с")
    print(f"Полное разнесение ({allocations} строк): {allocated:.1f} с; после изменения одного сопоставления: "
          f"{one_change:.2f} с")
    print(f"Полное разнесение после смены ключевой ставки: {spread(rebuilds)} (цель ≤ 5 с), процессорное время "
          f"{spread(rebuild_cpu)}; пик памяти процесса за это время {rebuild_peak:.0f} МБ (до начала {rebuild_base:.0f} МБ)")
    print(f"Долги на {as_of:%d.%m.%Y} ({len(rows)} строк): {debts_time:.2f} с (цель ≤ 5 с), процессорное время {debts_cpu:.2f} с")
    print(f"Снимок для дашборда: {snapshot_time:.2f} с; дашборд из снимка: {dashboard_time:.2f} с (цель ≤ 2 с)")
    print(f"Пик памяти процесса: {peak:.0f} МБ")


if __name__ == "__main__":
    main()
