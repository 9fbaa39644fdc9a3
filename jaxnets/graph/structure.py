"""Edge-list structure: degrees, self-loops and fully connected graphs.

Edges are directed, `senders_E[e] -> receivers_E[e]`; messages flow from sender to receiver and
are aggregated at the receiver, so the "in-degree" of node i counts the edges that arrive at i.
An undirected graph stores each edge in both directions (as Planetoid and PyG do).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from jaxnets.graph.validate import GraphError, check_edge_index, check_index_range, check_rows

__all__ = [
    "degree", "in_degree", "out_degree", "add_self_loops", "remove_self_loops", "is_self_loop",
    "get_fully_connected_graph",
]


def _edge_values(num_edges: int, edge_weight_E: Any, edge_mask_E: Any) -> jax.Array:
    """Per-edge weights with masked-out edges set to zero."""
    if edge_weight_E is None:
        w = jnp.ones((num_edges,), jnp.float32)
    else:
        check_rows("edge_weight_E", edge_weight_E, num_edges)
        if np.ndim(edge_weight_E) != 1:
            raise GraphError(f"edge_weight_E must be 1-D, got shape {np.shape(edge_weight_E)}")
        w = jnp.asarray(edge_weight_E)
    if edge_mask_E is not None:
        check_rows("edge_mask_E", edge_mask_E, num_edges)
        w = jnp.where(edge_mask_E, w, jnp.zeros((), w.dtype))
    return w


def degree(index_E: Any, num_nodes: int, edge_weight_E: Any = None, *,
           edge_mask_E: Any = None) -> jax.Array:
    """Weighted count of edges per node: `deg[i] = sum_{e: index[e] = i} w_e`.

    With `index_E = receivers_E` this is the in-degree, the diagonal of D in Kipf & Welling
    (2017), eq. 2 (`D_ii = sum_j A_ij`, edges j -> i).

    Args:
        index_E: node index of each edge, shape [E] (receivers for in-degree, senders for out).
        num_nodes: N, a Python int.
        edge_weight_E: optional weight per edge, shape [E]; 1 for each edge if None.
        edge_mask_E: optional bool [E]; False edges (padding) count zero.

    Returns:
        deg_N: float array of shape [N].
    """
    if np.ndim(index_E) != 1:
        raise GraphError(f"index_E must be 1-D, got shape {np.shape(index_E)}")
    check_index_range("index_E", index_E, num_nodes)
    w = _edge_values(np.shape(index_E)[0], edge_weight_E, edge_mask_E)
    return jax.ops.segment_sum(w, index_E, num_segments=num_nodes)


def in_degree(receivers_E: Any, num_nodes: int, edge_weight_E: Any = None, *,
              edge_mask_E: Any = None) -> jax.Array:
    """In-degree `deg_N[i] = sum of w_e over edges arriving at i`: D of Kipf & Welling, eq. 2.

    Args:
        receivers_E: int [E].
        num_nodes: N.
        edge_weight_E: optional float [E]; 1 per edge if None.
        edge_mask_E: optional bool [E]; False edges count zero.

    Returns:
        deg_N: float [N].
    """
    return degree(receivers_E, num_nodes, edge_weight_E, edge_mask_E=edge_mask_E)


def out_degree(senders_E: Any, num_nodes: int, edge_weight_E: Any = None, *,
               edge_mask_E: Any = None) -> jax.Array:
    """Out-degree `deg_N[i] = sum of w_e over edges leaving i` (column sums of A).

    Args:
        senders_E: int [E].
        num_nodes: N.
        edge_weight_E: optional float [E]; 1 per edge if None.
        edge_mask_E: optional bool [E]; False edges count zero.

    Returns:
        deg_N: float [N].
    """
    return degree(senders_E, num_nodes, edge_weight_E, edge_mask_E=edge_mask_E)


def add_self_loops(senders_E: Any, receivers_E: Any, num_nodes: int, edge_weight_E: Any = None,
                   *, fill_value: float = 1.0) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """Appends one loop i -> i per node: the `A + I` of Kipf & Welling (2017), eq. 2.

    Loops are appended after the E existing edges (static shape E + N, so it works under jit);
    existing loops are kept, so a node that already has one ends with two (`A + I` literally).
    Call `remove_self_loops` first (on the host) for "add only the missing loops".

    Args:
        senders_E: shape [E] int.
        receivers_E: shape [E] int.
        num_nodes: N.
        edge_weight_E: optional shape [E]; the loops get `fill_value`.
        fill_value: weight of each new loop.

    Returns:
        (senders, receivers, edge_weight) of length E + N; edge_weight is None if the input's was.
    """
    check_edge_index(senders_E, receivers_E, num_nodes)
    loops = jnp.arange(num_nodes, dtype=jnp.result_type(senders_E))
    senders = jnp.concatenate([jnp.asarray(senders_E), loops])
    receivers = jnp.concatenate(
        [jnp.asarray(receivers_E), loops.astype(jnp.result_type(receivers_E))])
    if edge_weight_E is None:
        return senders, receivers, None
    w = _edge_values(np.shape(senders_E)[0], edge_weight_E, None)
    return senders, receivers, jnp.concatenate([w, jnp.full((num_nodes,), fill_value, w.dtype)])


def is_self_loop(senders_E: Any, receivers_E: Any) -> jax.Array:
    """Marks loops i -> i; the jit-safe counterpart of `remove_self_loops` (use as a mask).

    Args:
        senders_E: int [E].
        receivers_E: int [E].

    Returns:
        Bool [E], True where `senders_E[e] == receivers_E[e]`.
    """
    check_edge_index(senders_E, receivers_E)
    return jnp.asarray(senders_E) == jnp.asarray(receivers_E)


def remove_self_loops(senders_E: Any, receivers_E: Any, edge_weight_E: Any = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Drops edges i -> i, on the host (the edge count changes, so this cannot run under jit).

    Under jit, use `is_self_loop` as an edge mask instead.

    Args:
        senders_E: concrete int array, shape [E].
        receivers_E: concrete int array, shape [E].
        edge_weight_E: optional concrete array, shape [E].

    Returns:
        (senders, receivers, edge_weight) as numpy arrays without the loops.

    Raises:
        GraphError: if any argument is a tracer.
    """
    check_edge_index(senders_E, receivers_E)
    if any(isinstance(a, jax.core.Tracer) for a in (senders_E, receivers_E, edge_weight_E)):
        raise GraphError("remove_self_loops changes the number of edges and cannot run under "
                         "jit; mask the loops with is_self_loop(senders, receivers) instead")
    s, r = np.asarray(senders_E), np.asarray(receivers_E)
    keep = s != r
    w = None if edge_weight_E is None else np.asarray(edge_weight_E)[keep]
    return s[keep], r[keep], w


def get_fully_connected_graph(n_node_per_graph: int, n_graph: int, node_features: Any = None,
                              global_features: Any = None, add_self_edges: bool = True
                              ) -> jraph.GraphsTuple:
    """`jraph.get_fully_connected_graph`, working again with features under current JAX.

    jraph 0.0.6.dev0 calls the removed `jax.tree_leaves` when features are given; this checks
    the features with `jax.tree_util` and builds the edges with jraph itself.

    Args:
        n_node_per_graph: nodes in each graph.
        n_graph: number of graphs.
        node_features: optional pytree of [n_node_per_graph * n_graph, ...] arrays.
        global_features: optional pytree of [n_graph, ...] arrays.
        add_self_edges: include i -> i edges.

    Returns:
        A `jraph.GraphsTuple` with every ordered pair of nodes of each graph as an edge.
    """
    node_leaves = jax.tree_util.tree_leaves(node_features)
    if node_leaves and np.shape(node_leaves[0])[0] != n_node_per_graph * n_graph:
        raise GraphError(f"node_features has {np.shape(node_leaves[0])[0]} rows but "
                         f"n_node_per_graph * n_graph = {n_node_per_graph * n_graph}")
    global_leaves = jax.tree_util.tree_leaves(global_features)
    if global_leaves and np.shape(global_leaves[0])[0] != n_graph:
        raise GraphError(f"global_features has {np.shape(global_leaves[0])[0]} rows but "
                         f"n_graph is {n_graph}")
    graph = jraph.get_fully_connected_graph(n_node_per_graph, n_graph,
                                            add_self_edges=add_self_edges)
    return graph._replace(nodes=node_features, globals=global_features)
