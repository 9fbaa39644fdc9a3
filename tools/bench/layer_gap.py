"""Benchmark 1c: where the library's GCN/SAGE layers lose time against the hand-written ones.

Forward + backward of the pieces in which `jaxnets.nn.GCNConv`/`SAGEConv` and the hand-written
models of `gnn_jax` differ, on Cora-shaped arrays, timed interleaved:

* `propagate_unsorted` vs `propagate_sorted`: `jaxnets.graph.propagate` over the GCN-normalised,
  receiver-sorted edges (width 16) without and with `indices_are_sorted=True`. `GCNConv` and
  `SAGEConv` call it without the hint even though `gcn_preprocess` sorts the edges.
* `mean_recount` vs `mean_precomputed`: `propagate(aggregate="mean")` (recounts in-degrees every
  call, unsorted) against a sorted `segment_sum` times a precomputed 1 / in-degree (width 64).
* `two_spmm` vs `one_spmm`: SAGE's first layer, `X W_neigh` and `X W_root` as two sparse
  products of width 64 (what `SAGEConv` does) against one of width 128 (`[W_neigh | W_root]`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.graph import gcn_norm, propagate, spmm, to_bcoo
from tools.bench import gnn_data
from tools.bench.timing import time_interleaved


def _pairs(data: gnn_data.GraphArrays) -> dict[str, dict]:
    n = data.num_nodes
    s, r, w = (np.asarray(a) for a in gcn_norm(data.senders, data.receivers, n))
    order = np.argsort(r, kind="stable")
    s, r, w = (jnp.asarray(a[order]) for a in (s, r, w))
    raw_s, raw_r = jnp.asarray(data.senders), jnp.asarray(data.receivers)
    x = to_bcoo(data.features)
    f = x.shape[1]
    key = jax.random.PRNGKey(0)
    h16 = jax.random.normal(key, (n, 16))
    h64 = jax.random.normal(key, (n, 64))
    w64 = jax.random.normal(key, (f, 64)) * 0.03
    w128 = jax.random.normal(key, (f, 128)) * 0.03
    deg = np.bincount(data.receivers, minlength=n).astype(np.float32)
    inv_deg = jnp.asarray(1.0 / np.maximum(deg, 1.0))

    def mean_precomputed(h):
        total = jax.ops.segment_sum(h[raw_s], raw_r, num_segments=n, indices_are_sorted=True)
        return total * inv_deg[:, None]

    return {
        "propagate": {
            "propagate_unsorted": (lambda h: propagate(h, s, r, n, w), h16),
            "propagate_sorted": (lambda h: propagate(h, s, r, n, w, indices_are_sorted=True), h16),
        },
        "mean": {
            "mean_recount": (lambda h: propagate(h, raw_s, raw_r, n, aggregate="mean"), h64),
            "mean_precomputed": (mean_precomputed, h64),
        },
        "sage_input": {
            "two_spmm": (lambda w: spmm(x, w) + spmm(x, w * 0.5), w64),
            "one_spmm": (lambda w: spmm(x, w), w128),
        },
    }


def run(data: gnn_data.GraphArrays, *, rounds: int, log=print) -> dict:
    """Times each pair; returns ms per variant and the ratio first / second per pair."""
    rows = []
    for name, pair in _pairs(data).items():
        grads = {k: (jax.jit(jax.grad(lambda a, f=f: jnp.sum(f(a) ** 2))), arg)
                 for k, (f, arg) in pair.items()}
        timings = time_interleaved({k: (lambda g=g, a=a: g(a)) for k, (g, a) in grads.items()},
                                   rounds)
        (a, ta), (b, tb) = timings.items()
        row = {"piece": name, "ms": {k: 1e3 * t.median_s for k, t in timings.items()},
               "timings": {k: t.as_dict() for k, t in timings.items()},
               "first_over_second": ta.median_s / tb.median_s}
        rows.append(row)
        log(f"  {name:10s} {a} {1e3 * ta.median_s:8.3f} ms  {b} {1e3 * tb.median_s:8.3f} ms"
            f"  ratio {row['first_over_second']:.2f}")
    return {"graph": data.name, "rows": rows}
