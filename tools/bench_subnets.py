"""K subnets of a transformer supernet: one vmapped jitted call versus K separate jitted calls.

Measures the forward pass of K=16 sampled subnets (LightHuBERT-style elastic transformer) two
ways on the same params and inputs:
  * vmap: `jax.jit(jax.vmap(apply, over archs))` — one call for all K;
  * loop: a Python loop of K calls of `jax.jit(apply)` (one compile, K dispatches).
Compile time is reported separately (first call), then the median of `--repeats` timed runs.
Timings are machine-dependent: compare the ratio within one run, on an idle machine
(PERFORMANCE.md item 7), and never assert them in tests.

Usage: python tools/bench_subnets.py [--k 16] [--batch 8] [--seq 32] [--repeats 20]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax

from jaxnets.supernet import TransformerSpace, index_arch, sample_uniform


def _time(fn, repeats: int) -> tuple[float, float]:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    compile_s = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        runs.append(time.perf_counter() - start)
    return compile_s, statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    space = TransformerSpace(embed_choices=(64, 96, 128), head_choices=(2, 3, 4),
                             ffn_ratio_choices=(3.0, 3.5, 4.0), depth_choices=(2, 3, 4),
                             num_layers=4)
    model = space.supernet(head_dim=32, out_features=64, max_len=args.seq)
    x = jax.random.normal(jax.random.PRNGKey(0), (args.batch, args.seq, 64))
    params = jax.jit(model.init)(jax.random.PRNGKey(1), x)
    archs = sample_uniform(space, jax.random.PRNGKey(2), args.k)
    singles = [index_arch(archs, i) for i in range(args.k)]

    batched = jax.jit(jax.vmap(lambda p, a: model.apply(p, x, a), in_axes=(None, 0)))
    single = jax.jit(lambda p, a: model.apply(p, x, a))

    vmap_compile, vmap_median = _time(lambda: batched(params, archs), args.repeats)
    loop_compile, loop_median = _time(lambda: [single(params, a) for a in singles], args.repeats)
    result = {
        "k": args.k, "batch": args.batch, "seq": args.seq, "device": str(jax.devices()[0]),
        "load_average_1min": os.getloadavg()[0],
        "vmap_compile_s": vmap_compile, "vmap_median_ms": 1e3 * vmap_median,
        "loop_compile_s": loop_compile, "loop_median_ms": 1e3 * loop_median,
        "loop_over_vmap": loop_median / vmap_median,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
