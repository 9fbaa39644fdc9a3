"""One federated round of K clients: the vmapped round versus a Python loop over clients.

Both sides run the same FedAvg client step (`fedavg_client_update`: local SGD on an MLP over
digits shards, Dirichlet label skew) on the same stacked client data:
  * vmap: `make_round(client_update, fedavg)` — one jitted call runs all K clients and the
    weighted mean;
  * loop: `jax.jit(client_update)` called once per client (one compile, K dispatches, each
    client's data sliced on the device beforehand), then a jitted weighted mean of the K
    updates.
Compile time is reported separately (first call), then the median of `--repeats` timed rounds;
the two rounds' new global models are checked equal (same per-client keys).
Timings are machine-dependent: compare the ratio within one run, ideally on an idle machine
(PERFORMANCE.md item 7); the 1-minute load average is printed beside it. The issue's goal is a
ratio >= 10x on CPU for 100 clients.

Usage: python tools/bench_fed_round.py [--clients 100] [--local-steps 5] [--batch 16]
                                       [--hidden 64] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp
import optax

from jaxnets.data.small import digits_split
from jaxnets.federated import aggregators, partition, simulator
from jaxnets.nn.linear import MLP

from _timing import time_call  # tools/_timing.py (the script folder is on sys.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--local-steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    x, y = digits_split(0, 0.2)["train"]
    shards = partition.dirichlet_label_partition(y, args.clients, args.alpha, 0, min_size=1)
    data = {k: jnp.asarray(v) for k, v in partition.stack_clients({"x": x, "y": y}, shards).items()}
    weights = jnp.asarray([len(s) for s in shards], jnp.float32)
    model = MLP((args.hidden, 10))
    params = model.init(jax.random.PRNGKey(0), x[:1])

    def loss_fn(p, batch):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply(p, batch["x"]),
                                                               batch["y"])

    client = simulator.fedavg_client_update(loss_fn, optax.sgd(0.05), args.local_steps,
                                            args.batch)
    key = jax.random.PRNGKey(1)
    round_fn = simulator.make_round(client, aggregators.fedavg, shard=False)
    vmap_compile, vmap_s = time_call(
        lambda: round_fn(params, (), (), data, weights, key, {})[0], args.repeats)

    client_step = jax.jit(client)
    mean = jax.jit(lambda g, u, w: aggregators.fedavg(g, u, w, (), {})[0])
    per_client = [jax.tree_util.tree_map(lambda a, k=k: a[k], data)
                  for k in range(args.clients)]
    client_key, _ = jax.random.split(key)   # the round's own key schedule (make_round)
    keys = jax.random.split(client_key, args.clients)

    def loop_round():
        updates = [client_step(params, (), per_client[k], keys[k], {})[0]
                   for k in range(args.clients)]
        stacked = jax.tree_util.tree_map(lambda *u: jnp.stack(u), *updates)
        return mean(params, stacked, weights)

    loop_compile, loop_s = time_call(loop_round, args.repeats)
    vmap_params = round_fn(params, (), (), data, weights, key, {})[0]
    difference = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(
        jax.tree_util.tree_leaves(vmap_params), jax.tree_util.tree_leaves(loop_round())))
    if difference > 1e-4:
        raise AssertionError(f"the vmapped and looped rounds disagree (max abs {difference:.2e})")
    result = {
        "clients": args.clients, "local_steps": args.local_steps, "batch": args.batch,
        "hidden": args.hidden, "devices": jax.device_count(), "backend": jax.default_backend(),
        "vmap_round_ms": 1e3 * vmap_s, "loop_round_ms": 1e3 * loop_s,
        "loop_over_vmap": loop_s / vmap_s,
        "vmap_compile_s": vmap_compile, "loop_compile_s": loop_compile,
        "max_abs_difference": difference, "load_average_1min": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
