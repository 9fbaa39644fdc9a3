"""Padding graphs to a fixed budget (one shape, one compile) and masks that undo it.

Convention (jraph's): a padded `GraphsTuple` ends with one *padding graph* that holds all padding
nodes and edges, followed by empty graphs (0 nodes, 0 edges) up to `n_graph`. The masks below
read that convention back, so they work on graphs padded by `pad_graph` or by jraph's
`pad_with_graphs`, and only on padded graphs (an unpadded graph's last graph would be taken for
padding, jraph issue #55).

Padding edges are loops on the first padding node (as in `jraph.pad_with_graphs`), so no degree,
normalisation, mean, max or softmax of a real node ever sees them, even without a mask. Edge
lists padded some other way (e.g. index arrays zero-filled, which points padding edges at real
node 0) need `edge_mask_E` in the normalisations.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from jaxnets.graph.sparse import is_sparse
from jaxnets.graph.validate import GraphError, check_graph

__all__ = [
    "PaddingBudget", "padding_budget", "pad_graph", "unpad_graph", "graph_mask", "node_mask",
    "edge_mask", "zero_out_padding",
]


class PaddingBudget(NamedTuple):
    """Sizes every padded batch is brought to: total nodes, edges and graphs."""
    n_node: int
    n_edge: int
    n_graph: int


def _round_up(value: int, round_to: str | int) -> int:
    if round_to == "pow2":
        return 1 << max(0, math.ceil(math.log2(max(value, 1))))
    if isinstance(round_to, int) and round_to > 0:
        return -(-value // round_to) * round_to
    raise GraphError(f"round_to must be 'pow2' or a positive int, got {round_to!r}")


def _size(graph: jraph.GraphsTuple) -> tuple[int, int, int]:
    return (int(np.sum(np.asarray(graph.n_node))), int(np.shape(graph.senders)[0]),
            int(np.shape(graph.n_node)[0]))


def padding_budget(graphs: Sequence[jraph.GraphsTuple], batch_size: int = 1, *,
                   round_to: str | int = "pow2") -> PaddingBudget:
    """A budget that fits any `batch_size` of `graphs` batched together, plus padding.

    The node (edge, graph) budget is the sum of the `batch_size` largest node (edge, graph)
    counts, plus the one padding node and one padding graph `pad_graph` needs; nodes and edges
    are then rounded up to the next power of two (`round_to="pow2"`) or to a multiple of an int.
    Every batch padded to the budget has one shape, so a jitted step compiles once.

    Args:
        graphs: the data set, each element a `GraphsTuple` (itself one graph or a batch).
        batch_size: how many elements are batched before padding.
        round_to: "pow2" or a positive int multiple.

    Returns:
        `PaddingBudget(n_node, n_edge, n_graph)` to pass to `pad_graph`.
    """
    if not graphs:
        raise GraphError("padding_budget needs at least one graph")
    if batch_size < 1:
        raise GraphError(f"batch_size must be >= 1, got {batch_size}")
    sizes = np.array([_size(g) for g in graphs])
    top = -np.sort(-sizes, axis=0)[:batch_size].sum(axis=0)
    return PaddingBudget(n_node=_round_up(int(top[0]) + 1, round_to),
                         n_edge=_round_up(int(top[1]), round_to), n_graph=int(top[2]) + 1)


def _pad_leaf(leaf: Any, total: int, what: str) -> Any:
    if is_sparse(leaf):
        return type(leaf)((leaf.data, leaf.indices), shape=(total,) + tuple(leaf.shape[1:]),
                          indices_sorted=leaf.indices_sorted, unique_indices=leaf.unique_indices)
    a = np.asarray(leaf)
    if a.shape[0] > total:
        raise GraphError(f"{what} has {a.shape[0]} rows, more than the budget {total}")
    return np.concatenate([a, np.zeros((total - a.shape[0],) + a.shape[1:], a.dtype)])


def pad_graph(graph: jraph.GraphsTuple, n_node: int, n_edge: int, n_graph: int = 2
              ) -> jraph.GraphsTuple:
    """Pads `graph` to exactly `n_node` nodes, `n_edge` edges and `n_graph` graphs (host side).

    Adds one padding graph with the extra nodes and edges, then empty graphs. Padding features
    are zeros; padding edges are loops on the first padding node (see the module docstring), so
    layers give real nodes the same outputs as on the unpadded graph. Unlike
    `jraph.pad_with_graphs` it also pads `BCOO` node features and checks the graph first.

    Args:
        graph: a concrete `GraphsTuple`; `nodes` may hold numpy/jax arrays or 2-D `BCOO`.
        n_node: total nodes after padding; at least one more than the graph has.
        n_edge: total edges after padding; at least as many as the graph has.
        n_graph: total graphs after padding; at least one more than the graph has.

    Returns:
        The padded `GraphsTuple` (numpy arrays; `BCOO` node leaves keep their entries).

    Raises:
        GraphError: if the graph is invalid or does not fit the budget.
    """
    check_graph(graph)
    real_n, real_e, real_g = _size(graph)
    if n_node <= real_n or n_edge < real_e or n_graph <= real_g:
        raise GraphError(f"graph with {real_n} nodes, {real_e} edges, {real_g} graphs does not fit "
                         f"the budget n_node={n_node}, n_edge={n_edge}, n_graph={n_graph}: "
                         "padding needs n_node > nodes, n_edge >= edges, n_graph > graphs")
    pad_e = n_edge - real_e
    tail_zeros = np.zeros(n_graph - real_g - 1, np.int32)
    fill = np.full(pad_e, real_n, dtype=np.asarray(graph.senders).dtype)
    is_leaf = is_sparse
    return jraph.GraphsTuple(
        nodes=jax.tree_util.tree_map(lambda l: _pad_leaf(l, n_node, "nodes"), graph.nodes,
                                     is_leaf=is_leaf),
        edges=jax.tree_util.tree_map(lambda l: _pad_leaf(l, n_edge, "edges"), graph.edges),
        globals=jax.tree_util.tree_map(lambda l: _pad_leaf(l, n_graph, "globals"),
                                       graph.globals),
        senders=np.concatenate([np.asarray(graph.senders), fill]),
        receivers=np.concatenate([np.asarray(graph.receivers), fill]),
        n_node=np.concatenate([np.asarray(graph.n_node, np.int32), [n_node - real_n],
                               tail_zeros]).astype(np.int32),
        n_edge=np.concatenate([np.asarray(graph.n_edge, np.int32), [pad_e],
                               tail_zeros]).astype(np.int32),
    )


def unpad_graph(padded: jraph.GraphsTuple) -> jraph.GraphsTuple:
    """Removes the padding graph and the empty graphs (host side, via `jraph.unpad_with_graphs`).

    Args:
        padded: a concrete `GraphsTuple` padded by `pad_graph` or `jraph.pad_with_graphs`.

    Returns:
        The real graphs only.
    """
    return jraph.unpad_with_graphs(padded)


def graph_mask(padded: jraph.GraphsTuple) -> jax.Array:
    """Bool [G]: True for real graphs. Padding is the trailing empty graphs plus the one before.

    Args:
        padded: a padded `GraphsTuple` (jit-safe).

    Returns:
        graph_mask_G.
    """
    n_node = jnp.asarray(padded.n_node)
    trailing_empty = jnp.argmin(n_node[::-1] == 0)
    return jnp.arange(n_node.shape[0]) < n_node.shape[0] - trailing_empty - 1


def node_mask(padded: jraph.GraphsTuple, num_nodes: int | None = None) -> jax.Array:
    """Bool [N]: True for real nodes (jit-safe).

    Args:
        padded: a padded `GraphsTuple`.
        num_nodes: N; by default the rows of `padded.nodes` (needed when nodes is None).

    Returns:
        node_mask_N.
    """
    if num_nodes is None:
        leaves = jax.tree_util.tree_leaves(padded.nodes, is_leaf=is_sparse)
        if not leaves:
            raise GraphError("node_mask needs num_nodes when the graph carries no node features")
        num_nodes = leaves[0].shape[0]
    return jnp.repeat(graph_mask(padded), jnp.asarray(padded.n_node),
                      total_repeat_length=num_nodes)


def edge_mask(padded: jraph.GraphsTuple) -> jax.Array:
    """Bool [E]: True for real edges (jit-safe).

    Args:
        padded: a padded `GraphsTuple`.

    Returns:
        edge_mask_E.
    """
    return jnp.repeat(graph_mask(padded), jnp.asarray(padded.n_edge),
                      total_repeat_length=np.shape(padded.senders)[0])


def _zero(mask: jax.Array) -> Any:
    def apply(leaf: Any) -> Any:
        leaf = jnp.asarray(leaf)
        m = mask.reshape(mask.shape + (1,) * (leaf.ndim - 1))
        return jnp.where(m, leaf, jnp.zeros((), leaf.dtype))
    return apply


def zero_out_padding(graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
    """Zeroes the padding nodes, edges and globals (a working `jraph.zero_out_padding`).

    jraph 0.0.6.dev0's version calls the removed `jax.tree_map`. Use between layers to stop
    values growing on the padding node, which receives every padding edge.

    Args:
        graph: a padded `GraphsTuple` with dense leaves.

    Returns:
        The graph with padding entries of `nodes`, `edges` and `globals` set to 0.
    """
    def masked(tree: Any, mask_fn: Any) -> Any:
        if not jax.tree_util.tree_leaves(tree):
            return tree
        return jax.tree_util.tree_map(_zero(mask_fn()), tree)

    return graph._replace(nodes=masked(graph.nodes, lambda: node_mask(graph)),
                          edges=masked(graph.edges, lambda: edge_mask(graph)),
                          globals=masked(graph.globals, lambda: graph_mask(graph)))
