"""Timing a call for the micro-benchmarks: seconds per call, medians over rounds, two calls side by side.

The benchmarks that run as scripts from this directory import it by name (``from timing import ...``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def _once(fn: Callable[[], object], n: int) -> float:
    """Seconds per call over ``n`` calls."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def per_call(fn: Callable[[], object], n: int, rounds: int = 5) -> float:
    """Median seconds per call over ``rounds`` rounds of ``n`` calls."""
    return statistics.median(_once(fn, n) for _ in range(rounds))


def paired(
    first: Callable[[], object], second: Callable[[], object], n: int, rounds: int = 5
) -> tuple[float, float]:
    """Median seconds per call of each, over ``rounds`` interleaved rounds of ``n`` calls (the machine's
    drift during the run falls on both alike)."""
    a, b = [], []
    for _ in range(rounds):
        a.append(_once(first, n))
        b.append(_once(second, n))
    return statistics.median(a), statistics.median(b)
