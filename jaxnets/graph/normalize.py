"""Adjacency normalisations as per-edge weights, and GCN preprocessing done once per graph.

A normalised adjacency is never formed: each function returns one weight per edge, to be fed to
`propagate(..., edge_weight_E=w)`. The weights depend only on the graph, so compute them once,
outside the training epoch (`gcn_preprocess`; PERFORMANCE.md item 4).

Padding: edges whose `edge_mask_E` is False get weight 0 and do not count towards any degree, so
padding edges cannot change real nodes' outputs. `pad_graph` (like `jraph.pad_with_graphs`) routes
its padding edges to a padding node anyway, so graphs padded by it need no mask.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from jaxnets.graph import structure
from jaxnets.graph.csr import CSREdges, csr_propagation
from jaxnets.graph.validate import GraphError, check_edge_index, check_graph

__all__ = ["symmetric_norm", "gcn_norm", "random_walk_norm", "gcn_preprocess"]


def _inv_power(deg_N: jax.Array, power: float) -> jax.Array:
    """`deg ** -power`, with 0 for isolated (zero-degree) nodes instead of inf."""
    safe = jnp.where(deg_N > 0, deg_N, jnp.ones((), deg_N.dtype))
    return jnp.where(deg_N > 0, safe ** -power, jnp.zeros((), deg_N.dtype))


def symmetric_norm(senders_E: Any, receivers_E: Any, num_nodes: int, edge_weight_E: Any = None,
                   *, edge_mask_E: Any = None) -> jax.Array:
    """Per-edge weights of `D^-1/2 A D^-1/2`: `w_ji / sqrt(d_i d_j)` for the edge j -> i.

    Kipf & Welling (2017), eq. 2, with the degree `d_i = sum_j A_ij` taken at the receiving node
    (the in-degree; for the undirected graphs of the paper in- and out-degree agree). No loops
    are added here; `gcn_norm` adds them first.

    Args:
        senders_E: int [E].
        receivers_E: int [E].
        num_nodes: N.
        edge_weight_E: optional float [E] (the entries of A); 1 if None.
        edge_mask_E: optional bool [E]; False edges get weight 0 and no degree.

    Returns:
        weight_E: float [E].
    """
    check_edge_index(senders_E, receivers_E, num_nodes)
    w = structure._edge_values(np.shape(senders_E)[0], edge_weight_E, edge_mask_E)
    d = _inv_power(structure.in_degree(receivers_E, num_nodes, w), 0.5)
    return d[senders_E] * w * d[receivers_E]


def gcn_norm(senders_E: Any, receivers_E: Any, num_nodes: int, edge_weight_E: Any = None, *,
             add_self_loops: bool = True, edge_mask_E: Any = None
             ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The GCN propagation weights `D~^-1/2 (A + I) D~^-1/2` of Kipf & Welling (2017), eq. 2.

    Appends one loop per node (`structure.add_self_loops`; static shape E + N, jit-safe), then
    applies `symmetric_norm`, where `D~_ii = sum_j (A + I)_ij`.

    Args:
        senders_E: int [E].
        receivers_E: int [E].
        num_nodes: N.
        edge_weight_E: optional float [E]; 1 if None.
        add_self_loops: add `I` (True in the paper); False normalises A as given.
        edge_mask_E: optional bool [E] for padding edges (weight 0, no degree). The new loops
            are always real.

    Returns:
        (senders, receivers, weight), each of length E + N (E if `add_self_loops` is False).
    """
    check_edge_index(senders_E, receivers_E, num_nodes)
    num_edges = np.shape(senders_E)[0]
    w = structure._edge_values(num_edges, edge_weight_E, edge_mask_E)
    senders, receivers = jnp.asarray(senders_E), jnp.asarray(receivers_E)
    if add_self_loops:
        senders, receivers, w = structure.add_self_loops(senders, receivers, num_nodes, w)
    return senders, receivers, symmetric_norm(senders, receivers, num_nodes, w)


def random_walk_norm(senders_E: Any, receivers_E: Any, num_nodes: int, edge_weight_E: Any = None,
                     *, edge_mask_E: Any = None) -> jax.Array:
    """Per-edge weights of the random-walk normalisation `D^-1 A`: `w_ji / d_i` for j -> i.

    Row i of `D^-1 A` averages i's in-neighbours, so `propagate` with these weights is the
    weighted mean aggregation (each receiver's incoming weights sum to 1). D is the in-degree,
    as in `symmetric_norm`.

    Args:
        senders_E: int [E].
        receivers_E: int [E].
        num_nodes: N.
        edge_weight_E: optional float [E]; 1 if None.
        edge_mask_E: optional bool [E]; False edges get weight 0 and no degree.

    Returns:
        weight_E: float [E].
    """
    check_edge_index(senders_E, receivers_E, num_nodes)
    w = structure._edge_values(np.shape(senders_E)[0], edge_weight_E, edge_mask_E)
    return w * _inv_power(structure.in_degree(receivers_E, num_nodes, w), 1.0)[receivers_E]


def _num_nodes(graph: jraph.GraphsTuple, num_nodes: int | None) -> int:
    if num_nodes is not None:
        return int(num_nodes)
    leaves = jax.tree_util.tree_leaves(graph.nodes, is_leaf=lambda l: hasattr(l, "indices"))
    if leaves:
        return int(np.shape(leaves[0])[0])
    if graph.n_node is None:
        raise GraphError("cannot tell the number of nodes: graph has no nodes and no n_node; "
                         "pass num_nodes")
    return int(np.sum(np.asarray(graph.n_node)))


def gcn_preprocess(graph: jraph.GraphsTuple, *, num_nodes: int | None = None,
                   add_self_loops: bool = True, edge_mask_E: Any = None,
                   csr: bool = False) -> jraph.GraphsTuple:
    """Adds self-loops and stores the GCN weights of Kipf & Welling (2017), eq. 2, in `edges`.

    Runs once on the host, outside the training step (PERFORMANCE.md item 4). `GCNConv` uses
    `graph.edges` of shape [E'] as these precomputed weights. The edges come back sorted by
    receiver (stable), which keeps each graph's edges contiguous so `n_edge` stays valid, and
    `n_edge` is recounted to include the loops.

    Args:
        graph: a concrete `GraphsTuple`. `graph.edges` may be None (unweighted) or a float [E]
            array of adjacency weights; other edge features are an error.
        num_nodes: N; by default the rows of `graph.nodes`, else `sum(graph.n_node)`.
        add_self_loops: add `I` before normalising (the paper's renormalisation trick).
        edge_mask_E: optional bool [E]; False edges get weight 0 and no degree (for padding
            that points at real nodes, e.g. zero-filled index arrays; `pad_graph` needs none).
        csr: also build the CSR structure of the edge list and store `CSREdges(weights,
            structure)` in `edges`, so that `GCNConv` propagates through XLA's CPU CSR kernel
            (`jaxnets.graph.csr`; 2-5x faster on CPU). Only for a graph whose edge list stays
            fixed (no per-step edge masks or resampling).

    Returns:
        A `GraphsTuple` with `senders`, `receivers` of length E + N (E if no loops are added),
        `edges` = float32 weights of that length (or `CSREdges` with `csr=True`), and `n_edge`
        recounted.

    Raises:
        GraphError: on an invalid graph, traced inputs, or edge features that are not weights.
    """
    if any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves(graph)):
        raise GraphError("gcn_preprocess runs once on the host, not under jit; call it on the "
                         "concrete graph before training")
    n = _num_nodes(graph, num_nodes)
    check_graph(graph, n)
    if graph.edges is not None and np.ndim(graph.edges) != 1:
        raise GraphError(f"gcn_preprocess reads graph.edges as edge weights of shape [E] but "
                         f"got edges of shape {np.shape(graph.edges)}; drop edge features first")
    s, r, w = gcn_norm(graph.senders, graph.receivers, n, graph.edges,
                       add_self_loops=add_self_loops, edge_mask_E=edge_mask_E)
    s, r, w = np.asarray(s), np.asarray(r), np.asarray(w, np.float32)
    order = np.argsort(r, kind="stable")
    s, r, w = s[order], r[order], w[order]
    n_edge = graph.n_edge
    if graph.n_node is not None:
        n_node = np.asarray(graph.n_node)
        graph_of_node = np.repeat(np.arange(len(n_node)), n_node)
        n_edge = np.bincount(graph_of_node[r], minlength=len(n_node)).astype(np.int32)
    edges = CSREdges(w, csr_propagation(s, r, n)) if csr else w
    return graph._replace(senders=s, receivers=r, edges=edges, n_edge=n_edge)
