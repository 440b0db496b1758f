"""Run every benchmark (or those named on the command line) and print their figures."""

from __future__ import annotations

import importlib
import pkgutil
import platform
import sys
import os

import tests.benchmarks as package


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} ядра, Python {platform.python_version()}"


def calibration() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast the machine runs right now (VMs drift run to run)."""
    import time

    started, total, table = time.process_time(), 0, {}
    for i in range(3_000_000):
        total += i * i % 7
    for i in range(500_000):
        table[str(i)] = i
    return time.process_time() - started


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    print(f"Машина: {machine()}")
    for name in names:
        print(f"\n== {name}")
        print(f"Контрольный цикл до замера: {calibration():.2f} с (чем больше, тем медленнее сейчас машина)")
        importlib.import_module(f"tests.benchmarks.{name}").main()
        print(f"Контрольный цикл после замера: {calibration():.2f} с")
    if not names:
        print("Нет бенчмарков")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
