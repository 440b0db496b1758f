"""Register import: 20,000 members with plots from one .xlsx, time and peak memory."""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from ledger import members
from ledger.db import Database
from tests.conftest import xlsx_bytes


def main(n: int = 20_000) -> None:
    rows = [["№ л/с", "ФИО", "№ участка", "Площадь", "Телефон"]]
    rows += [[str(i), f"Членов{i % 997} Иван Петрович", f"{i}", 600, f"+7912{i:07d}"] for i in range(1, n + 1)]
    data = xlsx_bytes(rows)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "b.duckdb")
        db.schema_versions()
        started = time.perf_counter()
        members.import_register(db, data, "big.xlsx")
        first = time.perf_counter() - started
        started = time.perf_counter()
        members.import_register(db, data, "big.xlsx")
        again = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Реестр {n} членов (.xlsx {len(data) // 1024} КБ): загрузка {first:.1f} с, повторная {again:.1f} с, "
          f"пик памяти процесса {peak:.0f} МБ")


if __name__ == "__main__":
    main()
