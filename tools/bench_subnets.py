"""K subnets of a transformer supernet: one vmapped jitted call versus K separate jitted calls.

Two measurements on the same params and inputs (LightHuBERT-style elastic transformer):
  1. Forward pass of K=16 sampled subnets:
     * vmap: `jax.jit(jax.vmap(apply, over archs))` — one call for all K;
     * loop: a Python loop of K calls of `jax.jit(apply)` (one compile, K dispatches).
  2. Supernet training: one step of `build_supernet_step` that trains `--train-k` (4) subnets
     under `vmap` and applies one update, versus `--train-k` separate steps that each train one
     subnet (the same number of subnet forward/backward passes, `--train-k` updates).
Compile time is reported separately (first call), then the median of `--repeats` timed runs.
Timings are machine-dependent: compare the ratios within one run, on an idle machine
(PERFORMANCE.md item 7), and never assert them in tests.

Usage: python tools/bench_subnets.py [--k 16] [--train-k 4] [--batch 8] [--seq 32] [--repeats 20]
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

    vmap_compile, vmap_median = time_call(lambda: batched(params, archs), args.repeats)
    loop_compile, loop_median = time_call(lambda: [single(params, a) for a in singles], args.repeats)
    result = {
        "k": args.k, "batch": args.batch, "seq": args.seq, "device": str(jax.devices()[0]),
        "load_average_1min": os.getloadavg()[0],
        "vmap_compile_s": vmap_compile, "vmap_median_ms": 1e3 * vmap_median,
        "loop_compile_s": loop_compile, "loop_median_ms": 1e3 * loop_median,
        "loop_over_vmap": loop_median / vmap_median,
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
    }


if __name__ == "__main__":
    main()
