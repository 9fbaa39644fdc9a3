"""Interleaved timing of competing variants: compile apart, then median/min/max of rounds.

Each variant is first called once through `tools/_timing.py`'s `time_call` (its first call,
compile included, is reported as `compile_s`; one warm call follows). Then `rounds` rounds run
the variants one after another, the order rotated each round (A B C, B C A, C A B, ...), so a
burst of load from other processes hits every variant alike, and no variant always runs right
after the same other one (torch's worker threads keep spinning for a while after a call and
slow down whichever call comes next). The *ratios* then stay meaningful on a busy machine.
One sample is `calls` back-to-back calls (chosen so that a sample lasts about `min_sample_s`),
divided by `calls`: a per-call time.
"""
from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Mapping

from tools.bench.paths import add_import_paths

add_import_paths()
from _timing import time_call  # noqa: E402  tools/_timing.py


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds per call of one variant: compile (first call), median, min and max of rounds."""
    compile_s: float
    median_s: float
    min_s: float
    max_s: float
    calls_per_sample: int
    rounds: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _sample(fn: Callable[[], object], calls: int, block: Callable[[object], object]) -> float:
    start = time.perf_counter()
    out = None
    for _ in range(calls):
        out = fn()
    block(out)
    return (time.perf_counter() - start) / calls


def time_interleaved(variants: Mapping[str, Callable[[], object]], rounds: int, *,
                     min_sample_s: float = 0.05, max_calls: int = 200,
                     block: Callable[[object], object] | None = None) -> dict[str, Timing]:
    """Times each variant in interleaved rounds after its own compile and warm-up call.

    Args:
        variants: name -> zero-argument callable returning something `block` waits for (a jax
            array/pytree, or anything for synchronous code such as torch on CPU).
        rounds: samples per variant (>= 1); median, min and max are taken over them.
        min_sample_s: a sample repeats the call until it lasts about this long (short calls are
            dominated by timer and scheduling noise otherwise).
        max_calls: cap on the calls in one sample.
        block: waits for a result; `jax.block_until_ready` by default.

    Returns:
        name -> `Timing` in seconds per call.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if block is None:
        import jax
        block = jax.block_until_ready
    compile_s, calls = {}, {}
    for name, fn in variants.items():
        first_s, warm_s = time_call(fn, 1)
        compile_s[name] = first_s
        calls[name] = int(min(max_calls, max(1, round(min_sample_s / max(warm_s, 1e-6)))))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for i in range(rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            samples[name].append(_sample(variants[name], calls[name], block))
    return {name: Timing(compile_s[name], statistics.median(s), min(s), max(s), calls[name],
                         rounds) for name, s in samples.items()}


def ratio(slow: Timing, fast: Timing) -> float:
    """`slow.median / fast.median`: how many times faster `fast` is (> 1 means faster)."""
    return slow.median_s / fast.median_s
