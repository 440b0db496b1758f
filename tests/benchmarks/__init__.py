"""Benchmarks run by `make bench`: each module bench_*.py has a main() that prints its figures."""

from __future__ import annotations

import statistics

RUNS = 3   # the VM's speed drifts by up to 1.5x between runs of the same code: report best, median and worst


def spread(values: list[float], unit: str = "с") -> str:
    """Best of the runs, with their median and worst: "1.8 с (медиана 1.9, худший 2.1)"."""
    values = sorted(values)
    return f"{values[0]:.1f} {unit} (медиана {statistics.median(values):.1f}, худший {values[-1]:.1f})"
