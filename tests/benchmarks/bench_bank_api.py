"""Bank API sync: a month of a busy account (10,000 operations) from the local Точка server, 100 a page — requests,
JSON reading, fingerprints and writes of every page, then the same month again (nothing new).

The figure is the client's work end to end on loopback, the bank's own latency not included.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tests.benchmarks import RUNS, spread


def run_once(folder: Path, n: int) -> tuple[float, float, str, str]:
    from integrations import registry
    from ledger.db import Database
    from tests.bank_servers import TochkaServer, transaction

    os.environ["COOP_ALLOW_INSECURE_LOOPBACK"] = "1"
    server = TochkaServer(jwt="bench.jwt.token")
    try:
        server.transactions = [transaction(str(10_000 + i), f"2026-02-{1 + i % 28:02d}", f"{100 + i % 900}.{i % 100:02d}",
                                           purpose=f"Членский взнос, участок {i % 500}, л/с {i}") for i in range(n)]
        server.page_size = 100
        db = Database(folder / "bench.duckdb")
        registry.configure(db, "open_banking", {"base_url": server.url + "/uapi/open-banking/v1.0",
                                                "account": "40703810040000012345", "bic": "044525104",
                                                "token": "bench.jwt.token", "poll_seconds": "0"})
        registry.set_enabled(db, "open_banking", True)
        source = registry.build(db, "open_banking")
        from datetime import date

        started = time.perf_counter()
        first = source.sync_payments(since=date(2026, 2, 1))
        t_first = time.perf_counter() - started
        started = time.perf_counter()
        second = source.sync_payments(since=date(2026, 2, 1))
        t_second = time.perf_counter() - started
        return t_first, t_second, first.summary(), second.summary()
    finally:
        server.close()


def main(n: int = 10_000) -> None:
    runs = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run_once(Path(tmp), n))
    print(f"open_banking, {n} операций по 100 на странице, с разнесением: первая синхронизация "
          f"{spread([r[0] for r in runs])} — {runs[0][2]}; повторная {spread([r[1] for r in runs])} — {runs[0][3]}; "
          f"загрузка машины {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
