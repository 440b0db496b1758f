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


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    print(f"Машина: {machine()}")
    for name in names:
        print(f"\n== {name}")
        importlib.import_module(f"tests.benchmarks.{name}").main()
    if not names:
        print("Нет бенчмарков")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
