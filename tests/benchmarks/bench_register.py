"""Register import: 20,000 members with plots from one .xlsx, time and peak memory; and a register without л/с
(one row per plot, the owner repeated on each of his plots), loaded and loaded again."""

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
    without_reg_no(n)


def without_reg_no(n: int = 20_000) -> None:
    """n plots, one row each; every fourth owner has a second plot on the next row; namesakes with other phones."""
    rows = [["№ п/п", "Номер участка", "ФИО собственника", "Телефон", "Площадь"]]
    owner = 0
    for i in range(1, n + 1):
        if i % 4 != 2:
            owner += 1
        rows.append([i, str(i), f"Членов{owner % 997} Иван Петрович", f"+7912{owner:07d}", 600])
    data = xlsx_bytes(rows)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "b.duckdb")
        db.schema_versions()
        started = time.perf_counter()
        result = members.import_register(db, data, "big.xlsx")
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = members.import_register(db, data, "big.xlsx")
        second = time.perf_counter() - started
    assert again.found_again == result.added == owner and again.added == 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Реестр без л/с: {n} строк-участков, {owner} членов (.xlsx {len(data) // 1024} КБ): загрузка {first:.1f} с, "
          f"повторная (все найдены) {second:.1f} с, пик памяти процесса {peak:.0f} МБ")


if __name__ == "__main__":
    main()
