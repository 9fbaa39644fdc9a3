"""Memory of a neighbour-sampled GraphSAGE step versus a full-batch epoch as the graph grows.

GraphSAGE (Hamilton, Ying & Leskovec, NeurIPS 2017), Algorithm 2: with fixed fan-outs the
computation graph of a batch has B (1 + f1 + f1 f2) nodes whatever the graph's size. This script
checks that claim on XLA's own accounting: for synthetic graphs of growing size it compiles

  * sampled: one jitted training step of `jaxnets.train.sampled` (2-layer GraphSAGE-mean,
    fan-outs (10, 5), B seeds: sample, gather, aggregate, loss, Adam update), and
  * full: one full-batch epoch of the same model (exact neighbour mean over all E edges with
    `jaxnets.graph.propagate`, loss on the training nodes, Adam update),

and reads `jit(f).lower(...).compile().memory_analysis()`: `temp` (scratch XLA allocates per
call) and `arguments` minus the graph arrays (CSR or edge list, features, labels, training ids)
that stay on the device across steps, i.e. the per-step working set beyond the data itself.
The sampled step's memory should be flat; the full epoch's grows with E (the [E, F] messages and
their gradients). Optionally (`--time`) each is run and timed (median of `--repeats`, compile
apart); timings are machine- and load-dependent, memory sizes are not.

The graphs are undirected Chung-Lu power-law graphs (node weights (i + 1)^(-1/(gamma - 1)),
pairs drawn with endpoint probabilities proportional to the weights, self-loops dropped, both
directions stored), N = E / mean degree, Gaussian features, random labels and a 50% training set.

Usage: python tools/bench_sampling.py [--edges 100000 300000 1000000 3000000] [--degree 10]
       [--features 64] [--hidden 64] [--classes 8] [--batch 512] [--fanouts 10 5] [--time]
       [--repeats 3] [--out reports/bench_sampling.json]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

from _timing import time_call  # tools/_timing.py (the script folder is on sys.path)
from jaxnets.graph import propagate
from jaxnets.graph.sampling import csr_adjacency
from jaxnets.train import TrainState
from jaxnets.train import sampled as st


def power_law_edges(num_nodes: int, num_edges: int, gamma: float, seed: int):
    """About `num_edges` directed edges (both directions of num_edges / 2 pairs, loops dropped;
    repeated pairs kept as multi-edges, which sampling and the mean treat alike)."""
    rng = np.random.default_rng(seed)
    w = (np.arange(num_nodes) + 1.0) ** (-1.0 / (gamma - 1.0))
    cdf = np.cumsum(w / w.sum())
    a = np.minimum(np.searchsorted(cdf, rng.random(num_edges // 2)), num_nodes - 1)
    b = np.minimum(np.searchsorted(cdf, rng.random(num_edges // 2)), num_nodes - 1)
    keep = a != b
    a, b = a[keep], b[keep]
    return np.concatenate([a, b]).astype(np.int32), np.concatenate([b, a]).astype(np.int32)


def _nbytes(tree) -> int:
    return sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(tree))


def _memory(fn, *args) -> dict:
    compiled = jax.jit(fn).lower(*args).compile()
    mem = compiled.memory_analysis()
    return {"temp_bytes": int(mem.temp_size_in_bytes),
            "argument_bytes": int(mem.argument_size_in_bytes),
            "output_bytes": int(mem.output_size_in_bytes)}, compiled


def full_batch_epoch(model, tx):
    """One full-batch epoch: exact mean aggregation over every edge, loss on the train mask."""
    def epoch(state, graph):
        senders, receivers, x, labels, train_mask = graph
        n = x.shape[0]

        def loss_fn(params):
            h = x
            for layer in range(len(model.features)):
                mean = propagate(h, senders, receivers, n, aggregate="mean",
                                 indices_are_sorted=True)
                h = model.apply(params, h, mean, layer)
            losses = optax.softmax_cross_entropy_with_integer_labels(h, labels)
            return jnp.sum(jnp.where(train_mask, losses, 0.0)) / jnp.sum(train_mask)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(tx, grads), {"loss": loss}
    return epoch


def bench_one(num_edges: int, args) -> dict:
    n = num_edges // args.degree
    senders, receivers = power_law_edges(n, num_edges, args.gamma, seed=num_edges)
    order = np.argsort(receivers, kind="stable")
    senders, receivers = senders[order], receivers[order]
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(n, args.features)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, args.classes, size=n).astype(np.int32))
    train_mask = rng.random(n) < 0.5
    train = jnp.asarray(np.flatnonzero(train_mask).astype(np.int32))

    model, tx = st.SAGEMean((args.hidden, args.classes)), optax.adam(0.01)
    params = model.init(jax.random.PRNGKey(0), x[:2], method=st.SAGEMean.init_all)
    state = TrainState.create(params, tx, jax.random.PRNGKey(1))

    data = st.NodeData(csr_adjacency(senders, receivers, n), x, labels, train)
    step = st.make_sampled_step(model, tx, tuple(args.fanouts), args.batch, int(train.shape[0]))
    sampled_mem, sampled_fn = _memory(step, state, data)
    graph = (jnp.asarray(senders), jnp.asarray(receivers), x, labels, jnp.asarray(train_mask))
    full_mem, full_fn = _memory(full_batch_epoch(model, tx), state, graph)

    row = {"nodes": n, "edges": int(senders.size),
           "max_degree": int(np.bincount(receivers, minlength=n).max()),
           "graph_bytes_sampled": _nbytes(data), "graph_bytes_full": _nbytes(graph),
           "sampled": sampled_mem, "full": full_mem}
    row["sampled"]["working_bytes"] = (sampled_mem["temp_bytes"] + sampled_mem["argument_bytes"]
                                       - row["graph_bytes_sampled"])
    row["full"]["working_bytes"] = (full_mem["temp_bytes"] + full_mem["argument_bytes"]
                                    - row["graph_bytes_full"])
    if args.time:
        for name, fn, arg in (("sampled", sampled_fn, data), ("full", full_fn, graph)):
            compile_s, run_s = time_call(lambda: fn(state, arg), args.repeats)
            row[name]["first_call_s"], row[name]["call_s"] = compile_s, run_s
    return row


def _mib(b: int) -> str:
    return f"{b / 2**20:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edges", type=int, nargs="+",
                        default=[100_000, 300_000, 1_000_000, 3_000_000])
    parser.add_argument("--degree", type=int, default=10, help="mean degree: N = E / degree")
    parser.add_argument("--gamma", type=float, default=2.5, help="power-law exponent (> 2)")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--fanouts", type=int, nargs=2, default=[10, 5])
    parser.add_argument("--time", action="store_true", help="also run and time each function")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path("reports/bench_sampling.json"))
    args = parser.parse_args()
    if min(args.edges) < 2 * args.degree * args.batch or args.degree < 1:
        raise ValueError("every --edges must be >= 2 * degree * batch (half the nodes train)")
    if not args.gamma > 2.0 or min(args.fanouts) < 1 or args.repeats < 1:
        raise ValueError("--gamma > 2, --fanouts >= 1 and --repeats >= 1 are required")

    rows = []
    print(f"2-layer GraphSAGE-mean, F={args.features}, hidden={args.hidden}, "
          f"C={args.classes}, batch={args.batch}, fan-outs={tuple(args.fanouts)}; MiB from "
          "XLA memory_analysis (working = temp + arguments - graph arrays)")
    header = ("| nodes | edges | graph (MiB) | sampled step temp | sampled working | "
              "full epoch temp | full working | full / sampled |")
    if args.time:
        header += " sampled step (ms) | full epoch (ms) |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for e in args.edges:
        row = bench_one(e, args)
        rows.append(row)
        s, f = row["sampled"], row["full"]
        line = (f"| {row['nodes']} | {row['edges']} | {_mib(row['graph_bytes_full'])} | "
                f"{_mib(s['temp_bytes'])} | {_mib(s['working_bytes'])} | "
                f"{_mib(f['temp_bytes'])} | {_mib(f['working_bytes'])} | "
                f"{f['working_bytes'] / s['working_bytes']:.1f} |")
        if args.time:
            line += f" {1e3 * s['call_s']:.1f} | {1e3 * f['call_s']:.1f} |"
        print(line, flush=True)
    result = {"device": str(jax.devices()[0]), "jax": jax.__version__,
              "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
              "config": {k: v for k, v in vars(args).items() if k != "out"}, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
