"""Message passing over an edge list: `propagate` and `segment_softmax`.

Both are a gather over `senders_E` and a `jax.ops.segment_*` over `receivers_E`; nothing here
builds an N x N matrix (PERFORMANCE.md item 4: a dense adjacency is 4-8x slower).
"""
from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.graph.validate import GraphError, check_edge_index, check_index_range, check_rows

__all__ = ["propagate", "segment_softmax"]

Aggregate = Literal["sum", "mean", "max"]


def _expand_to(w: jax.Array, ndim: int) -> jax.Array:
    """Appends singleton axes to `w` so it broadcasts against an array of rank `ndim`."""
    return w.reshape(w.shape + (1,) * (ndim - w.ndim))


def propagate(x_NxF: Any, senders_E: Any, receivers_E: Any, num_nodes: int,
              edge_weight_E: Any = None, aggregate: Aggregate = "sum", *,
              indices_are_sorted: bool = False) -> jax.Array:
    """Aggregates weighted messages `w_e * x[senders[e]]` at `receivers[e]`.

    `aggregate="sum"` computes `out_i = sum_{e: j -> i} w_e x_j`, i.e. `A x` with `A_ij = w_e`
    for each edge j -> i; with the weights of `gcn_norm` this is the propagation
    `D^-1/2 (A + I) D^-1/2 X` of Kipf & Welling (2017), eq. 2. `"mean"` divides by the number of
    incoming edges (the GraphSAGE mean aggregator, Hamilton et al. 2017, Alg. 1 line 4) and
    `"max"` takes the elementwise maximum (their pooling aggregator, eq. 3, without the MLP).
    Nodes with no incoming edge get 0 for every aggregate.

    Args:
        x_NxF: node features, shape [N_src, ...] (rows indexed by `senders_E`).
        senders_E: int [E], source of each edge; indices into the rows of `x_NxF`.
        receivers_E: int [E], destination of each edge; indices into [0, num_nodes).
        num_nodes: number of output rows N (a Python int).
        edge_weight_E: optional weights of shape [E] or [E, d1, ...] where (d1, ...) is a prefix
            of `x_NxF.shape[1:]` (e.g. [E, H] attention weights for x of shape [N, H, F]).
        aggregate: "sum", "mean" or "max".
        indices_are_sorted: promise that `receivers_E` is sorted (a hint to XLA).

    Returns:
        Aggregated features of shape [num_nodes, ...] (trailing shape of `x_NxF`).

    Raises:
        GraphError: on mismatched shapes, or (concrete or under `checked`) indices out of range.
    """
    x = jnp.asarray(x_NxF)
    if x.ndim < 1:
        raise GraphError(f"x_NxF must have a node axis, got shape {x.shape}")
    check_edge_index(senders_E, receivers_E)
    check_index_range("senders", senders_E, x.shape[0])
    check_index_range("receivers", receivers_E, num_nodes)
    num_edges = np.shape(senders_E)[0]
    messages = x[senders_E]
    if edge_weight_E is not None:
        w = jnp.asarray(edge_weight_E)
        check_rows("edge_weight_E", w, num_edges)
        if w.ndim > x.ndim or w.shape[1:] != x.shape[1:w.ndim]:
            raise GraphError(f"edge_weight_E has shape {w.shape}, which does not broadcast "
                             f"against messages of shape {messages.shape}")
        messages = messages * _expand_to(w, messages.ndim).astype(messages.dtype)
    seg = dict(num_segments=num_nodes, indices_are_sorted=indices_are_sorted)
    if aggregate == "sum":
        return jax.ops.segment_sum(messages, receivers_E, **seg)
    count = jax.ops.segment_sum(jnp.ones((num_edges,), messages.dtype), receivers_E, **seg)
    count = _expand_to(count, messages.ndim)
    if aggregate == "mean":
        total = jax.ops.segment_sum(messages, receivers_E, **seg)
        return total / jnp.maximum(count, 1)
    if aggregate == "max":
        top = jax.ops.segment_max(messages, receivers_E, **seg)
        return jnp.where(count > 0, top, jnp.zeros((), top.dtype))
    raise GraphError(f"aggregate must be 'sum', 'mean' or 'max', got {aggregate!r}")


def segment_softmax(logits_E: Any, segment_ids_E: Any, num_segments: int, *,
                    mask_E: Any = None, indices_are_sorted: bool = False) -> jax.Array:
    """Softmax of edge logits within each segment (the incoming edges of each node).

    Implements the normalisation of Velickovic et al. (2018), eq. 2:
    `alpha_ij = exp(e_ij) / sum_{k in N_i} exp(e_ik)`, stably: each segment's maximum is
    subtracted first (under `stop_gradient`, which leaves the softmax and its gradient
    unchanged), so logits of 1e4 do not overflow.

    Args:
        logits_E: shape [E] or [E, H] (one column per attention head).
        segment_ids_E: int [E], the segment (receiving node) of each edge, in [0, num_segments).
        num_segments: number of segments S.
        mask_E: optional bool [E]; False entries get weight 0 and do not enter the sums (a
            segment whose entries are all masked gets all zeros, not NaN).
        indices_are_sorted: promise that `segment_ids_E` is sorted.

    Returns:
        Weights with the shape of `logits_E`; each non-empty segment's weights sum to 1 (per head).

    Raises:
        GraphError: on mismatched shapes, or (concrete or under `checked`) ids out of range.
    """
    logits = jnp.asarray(logits_E)
    if logits.ndim < 1 or np.ndim(segment_ids_E) != 1:
        raise GraphError(f"logits_E has shape {logits.shape} and segment_ids_E "
                         f"{np.shape(segment_ids_E)}; expected [E, ...] and [E]")
    num_edges = np.shape(segment_ids_E)[0]
    check_rows("logits_E", logits, num_edges)
    check_index_range("segment_ids_E", segment_ids_E, num_segments, what="segments")
    seg = dict(num_segments=num_segments, indices_are_sorted=indices_are_sorted)
    if mask_E is not None:
        check_rows("mask_E", mask_E, num_edges)
        if np.ndim(mask_E) != 1:
            raise GraphError(f"mask_E must be 1-D, got shape {np.shape(mask_E)}")
        mask = _expand_to(jnp.asarray(mask_E, bool), logits.ndim)
        logits = jnp.where(mask, logits, -jnp.inf)
    top = jax.ops.segment_max(jax.lax.stop_gradient(logits), segment_ids_E, **seg)
    top = jnp.where(jnp.isfinite(top), top, jnp.zeros((), top.dtype))
    e = jnp.exp(logits - top[segment_ids_E])
    total = jax.ops.segment_sum(e, segment_ids_E, **seg)[segment_ids_E]
    return e / jnp.where(total > 0, total, jnp.ones((), total.dtype))
