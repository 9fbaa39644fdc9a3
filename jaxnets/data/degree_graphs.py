"""Directed graphs with prescribed heavy-tailed degrees, for power-law estimator checks.

* ``directed_configuration_multigraph``: in- and out-degrees drawn i.i.d. from discrete power
  laws with known exponents, stubs matched uniformly (Newman, Strogatz & Watts 2001). The two
  stub totals differ; the surplus goes to one extra "external" node (id N), which callers drop
  from degree statistics, so every real node keeps exactly its drawn degrees (multi-edges and
  self-loops are kept for the same reason).
* ``ownership_forest``: a growth model of an owner -> subsidiary network after Klemens (2024):
  each new entity gets one owner chosen with probability proportional to (out-degree + c_out)
  (Price's preferential attachment, Price 1976), and with probability ``p_extra`` an extra
  ownership link from a preferentially chosen owner to a preferentially chosen existing entity
  (proportional to in-degree + c_in). Edges / nodes ≈ 1 + p_extra: mostly a tree.
"""
from __future__ import annotations

import numpy as np

from jaxnets.stats import powerlaw


def directed_configuration_multigraph(num_nodes: int, alpha_in: float, alpha_out: float, *,
                                      seed: int, xmin: int = 1
                                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A directed multigraph whose node degrees are i.i.d. discrete power-law draws.

    Args:
      num_nodes: N real nodes (ids 0..N-1); id N is the external node.
      alpha_in: exponent of the in-degree law.
      alpha_out: exponent of the out-degree law.
      seed: numpy seed.
      xmin: lower cut-off of both laws (degrees are >= xmin).

    Returns:
      ``(senders, receivers, in_degree_N, out_degree_N)``: int64 edge arrays over N + 1 nodes and
      the drawn degrees of the N real nodes.
    """
    rng = np.random.default_rng(seed)
    d_in = powerlaw.sample(alpha_in, xmin, num_nodes, rng)
    d_out = powerlaw.sample(alpha_out, xmin, num_nodes, rng)
    gap = int(d_in.sum() - d_out.sum())
    out_stubs = np.repeat(np.arange(num_nodes + 1), np.append(d_out, max(gap, 0)))
    in_stubs = np.repeat(np.arange(num_nodes + 1), np.append(d_in, max(-gap, 0)))
    return out_stubs[rng.permutation(out_stubs.size)], in_stubs, d_in, d_out


def ownership_forest(num_nodes: int, *, seed: int, c_out: float = 1.0, c_in: float = 1.0,
                     p_extra: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Grows an owner -> subsidiary network by preferential attachment (see module docstring).

    Sequential by nature (each choice depends on the degrees so far), so it is a host-side loop
    over arrivals; the preferential choice is O(1) by the urn trick (pick a past edge's endpoint
    with probability ``E / (E + c N)``, else a uniform node).

    Args:
      num_nodes: N >= 2 entities; node 0 is the first owner.
      seed: numpy seed.
      c_out: initial attractiveness for ownership (out-links).
      c_in: initial attractiveness for receiving extra owners (in-links).
      p_extra: probability that an arrival also creates one extra link between existing nodes.

    Returns:
      ``(senders, receivers)`` int64, owner -> subsidiary.
    """
    if num_nodes < 2:
        raise ValueError(f"num_nodes must be >= 2, got {num_nodes}")
    rng = np.random.default_rng(seed)
    max_edges = int(num_nodes * (1 + p_extra) * 1.2) + 16
    src = np.empty(max_edges, np.int64)
    dst = np.empty(max_edges, np.int64)
    u = rng.random((num_nodes, 6))
    e = 0

    def pick(stubs: np.ndarray, c: float, n: int, r1: float, r2: float) -> int:
        if e and r1 < e / (e + c * n):
            return int(stubs[int(r2 * e)])
        return int(r2 * n)

    for new in range(1, num_nodes):
        r = u[new]
        src[e], dst[e] = pick(src, c_out, new, r[0], r[1]), new
        e += 1
        if r[2] < p_extra and new >= 2:
            owner = pick(src, c_out, new + 1, r[3], r[4])
            target = pick(dst, c_in, new + 1, r[5], rng.random())
            if owner != target and e < max_edges:
                src[e], dst[e] = owner, target
                e += 1
    return src[:e], dst[:e]
