"""K subnets of a transformer supernet: one vmapped jitted call versus K separate jitted calls.

Two measurements on the same params and inputs (LightHuBERT-style elastic transformer):
  1. Forward pass of K=16 sampled subnets:
     * vmap: `jax.jit(jax.vmap(apply, over archs))` — one call for all K;
     * loop: a Python loop of K calls of `jax.jit(apply)` (one compile, K dispatches);
     * chunked: one jitted call of `jax.lax.map(apply, archs, batch_size=--chunk)` (a `vmap`
       over each chunk of subnets, chunks in sequence).
  2. Supernet training: one step of `build_supernet_step` that trains `--train-k` (4) subnets
     under `vmap` and applies one update, versus `--train-k` separate steps that each train one
     subnet (the same number of subnet forward/backward passes, `--train-k` updates).
For the whole-K programs the result also records XLA's temporary buffer (MiB) and the minor page
faults per call: glibc serves an allocation over 32 MiB with a fresh `mmap` each time, so a
program whose temporaries exceed that touches new pages on every call.
Compile time is reported separately (first call), then the median of `--repeats` timed runs.
Timings are machine-dependent: compare the ratios within one run, on an idle machine
(PERFORMANCE.md item 7), and never assert them in tests.

Usage: python tools/bench_subnets.py [--k 16] [--train-k 4] [--batch 8] [--seq 32] [--chunk 2]
       [--repeats 20]
"""
from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp
import optax

from jaxnets.supernet import TransformerSpace, build_supernet_step, index_arch, sample_uniform
from jaxnets.train import TrainState

from _timing import time_call  # tools/_timing.py (the script folder is on sys.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--train-k", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=2, help="subnets per vmapped chunk")
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
    chunked = jax.jit(lambda p, a: jax.lax.map(lambda ai: model.apply(p, x, ai), a,
                                               batch_size=args.chunk))

    vmap_compile, vmap_median = time_call(lambda: batched(params, archs), args.repeats)
    loop_compile, loop_median = time_call(lambda: [single(params, a) for a in singles], args.repeats)
    chunk_compile, chunk_median = time_call(lambda: chunked(params, archs), args.repeats)
    result = {
        "k": args.k, "batch": args.batch, "seq": args.seq, "chunk": args.chunk,
        "device": str(jax.devices()[0]), "load_average_1min": os.getloadavg()[0],
        "vmap_compile_s": vmap_compile, "vmap_median_ms": 1e3 * vmap_median,
        "loop_compile_s": loop_compile, "loop_median_ms": 1e3 * loop_median,
        "chunk_compile_s": chunk_compile, "chunk_median_ms": 1e3 * chunk_median,
        "loop_over_vmap": loop_median / vmap_median,
        "loop_over_chunk": loop_median / chunk_median,
        "vmap_temp_mib": temp_mib(batched, params, archs),
        "vmap_faults_per_call": faults_per_call(lambda: batched(params, archs)),
        "chunk_temp_mib": temp_mib(chunked, params, archs),
    }
    result.update(_bench_training(model, space, params, x, args))
    print(json.dumps(result, indent=2))


def _bench_training(model, space, params, x, args) -> dict:
    """One step over K vmapped subnets versus K one-subnet steps (same passes, K updates)."""
    target = jax.random.normal(jax.random.PRNGKey(3), x.shape[:-1] + (64,))
    tx = optax.adam(1e-3)

    def forward(p, arch, step, key):
        return model.apply(p, x, arch)

    def loss(out, step):
        return jnp.mean(jnp.abs(out - target))

    def step_with(k):
        return jax.jit(build_supernet_step(
            forward, loss, tx, lambda key, step: sample_uniform(space, key, k), reduce="mean"))

    state = TrainState.create(params, tx, jax.random.PRNGKey(4))
    together, alone = step_with(args.train_k), step_with(1)

    def separate():
        s = state
        for _ in range(args.train_k):
            s, _ = alone(s)
        return s

    vmap_compile, vmap_median = time_call(lambda: together(state)[0], args.repeats)
    loop_compile, loop_median = time_call(separate, args.repeats)
    return {
        "train_k": args.train_k,
        "train_vmap_compile_s": vmap_compile, "train_vmap_step_ms": 1e3 * vmap_median,
        "train_separate_compile_s": loop_compile,
        "train_separate_steps_ms": 1e3 * loop_median,
        "train_separate_over_vmap": loop_median / vmap_median,
        "train_vmap_temp_mib": temp_mib(together, state),
        "train_vmap_faults_per_call": faults_per_call(lambda: together(state)[0]),
    }


def temp_mib(jitted, *args) -> float:
    """XLA's temporary buffer of `jitted` on these arguments, MiB (compiled-memory analysis)."""
    return jitted.lower(*args).compile().memory_analysis().temp_size_in_bytes / 2 ** 20


def faults_per_call(fn, calls: int = 3) -> float | None:
    """Minor page faults of this process per call of `fn` (after one warm call); None where
    the `resource` module is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    jax.block_until_ready(fn())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        jax.block_until_ready(fn())
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


if __name__ == "__main__":
    main()
