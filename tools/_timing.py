"""Timing shared by the benchmark scripts: compile time apart, then the median of repeats."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import jax


def time_call(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(seconds of the first call, which includes compilation; median seconds of `repeats`
    further calls), each call waited for with `block_until_ready`."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    compile_s = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        runs.append(time.perf_counter() - start)
    return compile_s, statistics.median(runs)
