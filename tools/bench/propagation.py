"""Benchmark 1b: which formulation of `A^ H` is fastest at which graph size?

On random graphs with Cora's average degree (~3.9 arcs per node, plus self-loops) and GCN
weights, times forward + backward (gradient of `sum((A^ H)^2)` with respect to H, width
`width`) of four formulations of the same product:

* `segment_sum`: `jaxnets.graph.propagate` (gather over senders, `segment_sum` at receivers);
* `bcoo`: A^ as a `jax.experimental.sparse.BCOO` matrix times H;
* `csr`: `jaxnets.graph.csr_propagate` (XLA's CPU CSR kernel, both orientations built once:
  what `gcn_preprocess(..., csr=True)` and `CSREdges` run);
* `dense`: A^ as a dense N x N array times H (skipped above `max_dense_nodes`).

The four are checked to agree, then timed interleaved. `fastest` names the winner per size,
so the library can pick a formulation by graph size.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

from jaxnets.graph import gcn_norm, propagate
from jaxnets.graph.csr import csr_propagate, csr_propagation
from tools.bench import gnn_data
from tools.bench.timing import time_interleaved

CORA_ARCS_PER_NODE = 10556 / 2708


def _formulations(num_nodes: int, width: int, max_dense_nodes: int
                  ) -> tuple[dict, jax.Array, int]:
    g = gnn_data.synthetic(num_nodes, int(CORA_ARCS_PER_NODE * num_nodes), 8, 0.1)
    s, r, w = (np.asarray(a) for a in gcn_norm(g.senders, g.receivers, num_nodes))
    h = jax.random.normal(jax.random.PRNGKey(0), (num_nodes, width))
    s_j, r_j, w_j = jnp.asarray(s), jnp.asarray(r), jnp.asarray(w)
    adj_sparse = jsparse.BCOO((w_j, jnp.stack([r_j, s_j], axis=1)), shape=(num_nodes, num_nodes))
    products = {
        "segment_sum": lambda h: propagate(h, s_j, r_j, num_nodes, w_j),
        "bcoo": lambda h: adj_sparse @ h,
    }
    structure = csr_propagation(s, r, num_nodes)
    products["csr"] = lambda h: csr_propagate(h, structure, w_j)
    if num_nodes <= max_dense_nodes:
        dense = np.zeros((num_nodes, num_nodes), np.float32)
        np.add.at(dense, (r, s), w)
        adj_dense = jnp.asarray(dense)
        products["dense"] = lambda h: adj_dense @ h
    return products, h, int(s.size)


def run(sizes: tuple[int, ...], *, width: int, rounds: int, max_dense_nodes: int = 8192,
        log=print) -> dict:
    """Times the formulations at each size; returns rows with ms and the fastest per size."""
    rows = []
    for n in sizes:
        products, h, arcs = _formulations(n, width, max_dense_nodes)
        reference = np.asarray(products["segment_sum"](h))
        for name, product in products.items():
            np.testing.assert_allclose(np.asarray(product(h)), reference, rtol=1e-4, atol=1e-4,
                                       err_msg=f"{name} disagrees with segment_sum at N={n}")
        grads = {name: jax.jit(jax.grad(lambda h, p=p: jnp.sum(p(h) ** 2)))
                 for name, p in products.items()}
        timings = time_interleaved({k: (lambda f=f: f(h)) for k, f in grads.items()}, rounds)
        ms = {k: 1e3 * t.median_s for k, t in timings.items()}
        fastest = min(ms, key=ms.get)
        rows.append({"nodes": n, "arcs_with_loops": arcs, "width": width, "ms": ms,
                     "fastest": fastest,
            "timings": {k: t.as_dict() for k, t in timings.items()}})
        log(f"  N={n:6d} " + "  ".join(f"{k} {v:8.3f} ms" for k, v in ms.items())
            + f"  -> {fastest}")
    return {"rows": rows}
