"""CGS's contracting linear maps on edge lists: z <- gamma * A z + b, one system per head.

CGS (Park, Choo & Park, ICLR 2022, Sec. 3: "constructing the input-dependent linear contracting
iterative maps") lets an encoder emit, per head m, edge values and node values b_m, and builds a
transition map T_m(z) = gamma * A_m z + b_m (optionally phi(.) around it, phi 1-Lipschitz) whose
contractivity gives a unique fixed point by Banach's theorem. Its released code
(`prepare_degree_A_b`; notes `shared/research/papers-solvers-fed-net.md` Sec. 1, Algorithm
step 2) builds A_m by clipping the edge values to [0, 1] and dividing each by a node degree, so
that every row of A_m sums to at most 1, hence ||gamma A_m||_inf <= gamma < 1.

Which degree. In the released code the dense matrix is indexed A[src, dst] = clip(l_e) /
outdeg(src) and applied as z_new = A z, so z_new[src] = sum over edges src -> dst of
A[src, dst] z[dst]: the node being *updated* is the one whose degree normalises, and the row sums
(the infinity norm) are bounded. Here we state the same construction in message-passing terms:
messages flow senders_E -> receivers_E, the updated node is the receiver, and each edge weight is
divided by the receiver's in-degree (number of incoming, unmasked edges):

    w_{e,m} = gamma * clip(raw_{e,m}, 0, 1) / indeg(receivers_e)
    (A_m z)[i] = sum_{e : receivers_e = i} w_{e,m} z[senders_e]

so row i of A_m sums to gamma * mean of the clipped incoming values <= gamma. To reproduce the
released code's orientation (updates flow against the edge direction), pass the edge list with
senders and receivers swapped. Matrices are never formed: everything is `jax.ops.segment_sum`
over the edge list. The paper's own equation numbers could not be checked against the PDF in
this pass; cite by section.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _check_edges(
    raw_ExH: jax.Array, senders_E: jax.Array | None, receivers_E: jax.Array, num_nodes: int,
    edge_mask_E: jax.Array | None, name: str = "weights_ExH",
) -> None:
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)) or num_nodes < 1:
        raise ValueError(f"num_nodes must be a Python int >= 1, got {num_nodes!r}")
    if jnp.ndim(raw_ExH) != 2:
        raise ValueError(f"{name} must have shape (E, H) (edges x heads), got {jnp.shape(raw_ExH)}")
    if not jnp.issubdtype(jnp.result_type(raw_ExH), jnp.floating):
        raise ValueError(f"{name} must be floating, got dtype {jnp.result_type(raw_ExH)}")
    num_edges = jnp.shape(raw_ExH)[0]
    for arg, idx in (("senders_E", senders_E), ("receivers_E", receivers_E)):
        if idx is None:
            continue
        if jnp.shape(idx) != (num_edges,) or not jnp.issubdtype(jnp.result_type(idx), jnp.integer):
            raise ValueError(
                f"{arg} must be an integer array of shape ({num_edges},) matching {name}, got "
                f"{jnp.result_type(idx)}{jnp.shape(idx)}"
            )
        if not isinstance(idx, jax.core.Tracer):
            values = np.asarray(idx)
            if values.size and (values.min() < 0 or values.max() >= num_nodes):
                raise ValueError(
                    f"{arg} must hold node indices in [0, {num_nodes}), got range "
                    f"[{values.min()}, {values.max()}]"
                )
    if edge_mask_E is not None and (
        jnp.shape(edge_mask_E) != (num_edges,) or jnp.result_type(edge_mask_E) != jnp.bool_
    ):
        raise ValueError(
            f"edge_mask_E must be a bool array of shape ({num_edges},), got "
            f"{jnp.result_type(edge_mask_E)}{jnp.shape(edge_mask_E)}"
        )


def contractive_edge_weights(
    raw_weights_ExH: jax.Array,
    receivers_E: jax.Array,
    num_nodes: int,
    *,
    gamma: float,
    edge_mask_E: jax.Array | None = None,
) -> jax.Array:
    """CGS's contracting edge weights, w = gamma * clip(raw, 0, 1) / indeg(receiver), per head.

    CGS Sec. 3 (construction of the linear contracting map; released code `prepare_degree_A_b`,
    notes Sec. 1 step 2). The degree is the *count* of incoming unmasked edges of each receiver
    (multi-edges count separately), not a sum of weights, so the weights stay independent of the
    other edges' values. Every receiver's weights then sum to <= gamma in each head: the operator
    ``A z`` of `apply_edge_operator` has ||A||_inf <= gamma < 1 and z <- A z + b is a
    gamma-contraction in the infinity norm. Note (CGS quirk): clip has zero gradient outside
    [0, 1], so raw values there stop learning.

    Args:
      raw_weights_ExH: float (E, H), one raw value per edge and head (e.g. an encoder's output).
      receivers_E: int (E,), the node each edge's message updates, in [0, num_nodes).
      num_nodes: N, a Python int.
      gamma: the contraction factor, a Python float in [0, 1) (CGS uses 0.5 in every config).
      edge_mask_E: optional bool (E,); False marks padding edges, which get weight 0 and are not
        counted in any degree.

    Returns:
      float (E, H) weights, >= 0, dtype of raw_weights_ExH.
    """
    _check_edges(raw_weights_ExH, None, receivers_E, num_nodes, edge_mask_E, "raw_weights_ExH")
    if isinstance(gamma, jax.core.Tracer) or not isinstance(gamma, (int, float)):
        raise ValueError(f"gamma must be a Python float in [0, 1), got {gamma!r}")
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1) for a contraction, got {gamma!r}")
    dtype = jnp.result_type(raw_weights_ExH)
    ones_E = jnp.ones(receivers_E.shape, dtype)
    if edge_mask_E is not None:
        ones_E = jnp.where(edge_mask_E, ones_E, 0)
    indeg_N = jax.ops.segment_sum(ones_E, receivers_E, num_segments=num_nodes)
    scale_E = ones_E * gamma / jnp.maximum(indeg_N[receivers_E], 1)
    return jnp.clip(raw_weights_ExH, 0.0, 1.0) * scale_E[:, None]


def apply_edge_operator(
    weights_ExH: jax.Array, senders_E: jax.Array, receivers_E: jax.Array, z_NxH: jax.Array
) -> jax.Array:
    """(A_m z_m)[i] = sum over edges e with receivers_e = i of w_{e,m} * z[senders_e, m], per head.

    Args:
      weights_ExH: float (E, H) edge weights (e.g. from `contractive_edge_weights`).
      senders_E, receivers_E: int (E,) node indices in [0, N).
      z_NxH: float (N, H), one column per head.

    Returns:
      float (N, H).
    """
    if jnp.ndim(weights_ExH) != 2 or jnp.ndim(z_NxH) != 2 or (
        jnp.shape(z_NxH)[1] != jnp.shape(weights_ExH)[1]
    ):
        raise ValueError(
            "weights_ExH (E, H) and z_NxH (N, H) must be 2-D with the same number of heads H, got "
            f"{jnp.shape(weights_ExH)} and {jnp.shape(z_NxH)}"
        )
    num_nodes = jnp.shape(z_NxH)[0]
    _check_edges(weights_ExH, senders_E, receivers_E, num_nodes, None)
    messages_ExH = weights_ExH * z_NxH[senders_E]
    return jax.ops.segment_sum(messages_ExH, receivers_E, num_segments=num_nodes)


def edge_operator_inf_norm(
    weights_ExH: jax.Array, receivers_E: jax.Array, num_nodes: int
) -> jax.Array:
    """Per head, the induced infinity norm of A_m: max_i sum_{e: receivers_e = i} |w_{e,m}|.

    The certificate of CGS's contraction (notes Sec. 1, mini-reproduction pass condition 1):
    the map z <- A_m z + b_m is a contraction with Lipschitz constant (in ||.||_inf) equal to
    this value when it is < 1. Computed on the edge list (a segment sum), never densely.

    Args:
      weights_ExH: float (E, H).
      receivers_E: int (E,).
      num_nodes: N.

    Returns:
      float (H,).
    """
    _check_edges(weights_ExH, None, receivers_E, num_nodes, None)
    row_sums_NxH = jax.ops.segment_sum(jnp.abs(weights_ExH), receivers_E, num_segments=num_nodes)
    return jnp.max(row_sums_NxH, axis=0)


def linear_edge_map(
    params: tuple[jax.Array, jax.Array, jax.Array, jax.Array], z_NxH: jax.Array
) -> jax.Array:
    """CGS's linear transition map T(z) = A z + b on an edge list, ready for `fixed_point`.

    CGS Sec. 3 (T_theta(H) = gamma A_theta H + b_theta per head, gamma folded into the weights
    by `contractive_edge_weights`). Use as ``fixed_point(linear_edge_map, (w, b, s, r), z0)``;
    the integer index arrays inside params get no gradient.

    Args:
      params: (weights_ExH, b_NxH, senders_E, receivers_E).
      z_NxH: float (N, H).

    Returns:
      float (N, H), A z + b.
    """
    weights_ExH, b_NxH, senders_E, receivers_E = params
    return apply_edge_operator(weights_ExH, senders_E, receivers_E, z_NxH) + b_NxH
