"""PDF reports: the register of members for 20,000 members (ledger/reports pdf_table).

fpdf2's table() laid every cell out twice through multi_cell's line breaker (about 0.4 ms of CPU a cell on a free
machine, ~2 ms under load): minutes for 200,000 cells. Wall and CPU time are both printed: on a shared VM the wall
time follows the machine's load, the CPU time the code.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from decimal import Decimal

from ledger.reports import members_register
from tests.benchmarks import RUNS, spread


def register_rows(n: int) -> list[dict]:
    return [{"no": i, "reg_no": str(i), "full_name": f"Членов{i % 997} Иван Петрович",
             "join_date": date(2010, 1, 1) + timedelta(days=i % 5000), "plots": str(i),
             "cadastral_nos": f"50:20:0010101:{i}", "area": Decimal("600.00"),
             "address": f"Московская обл., г. Дмитров, ул. Садовая, д. {i}", "phones": f"+7912{i:07d}",
             "emails": f"member{i}@mail.ru"} for i in range(1, n + 1)]


def main(n: int = 20_000) -> None:
    rows = register_rows(n)
    walls, cpus, size = [], [], 0
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        data = members_register.pdf_bytes("Реестр членов СНТ «Бенчмарк» на 01.12.2026",
                                          members_register.FULL_COLUMNS, rows)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        size = len(data)
    print(f"Реестр членов в PDF: {n} членов ({n * len(members_register.FULL_COLUMNS)} ячеек), "
          f"{size / 2**20:.1f} МБ — {spread(walls)}; процессорное время {spread(cpus)}; "
          f"загрузка машины {os.getloadavg()[0]:.1f}")
