"""Topological Concentration (TC), its random-projection approximation (ATC), TC-guided weights.

Wang, Zhao, Zhao, Liu, Cheng, Shah & Derr, "A Topological Perspective on Demystifying GNN-Based
Link Prediction Performance", ICLR 2024 (arXiv 2310.04612; code ``yuwvandy/Topo_LP_GNN``).

**TC** (paper §3.2, as computed by the reference ``cal_tc``). Let ``W_i^k`` be the multiset of
nodes reached by k-step walks from i on the *training* graph, the weight of v being the walk
count ``(A^k)_{iv}``, and ``β`` a hop decay (the reference: 1 / mean degree). For a pair (i, j)

    I(i, j) = Σ_{k1,k2=1..K} β^{k1+k2-2} Σ_{v ∈ supp W_i^{k1} ∩ supp W_j^{k2}} (A^{k1})_{iv}
              ─────────────────────────────────────────────────────────────────────────────
              Σ_{k1,k2=1..K} β^{k1+k2-2} Σ_v (A^{k1})_{iv}   [− 1 in the (1,1) term if (i,j)
                                                              is itself a training edge]

and ``TC_i = mean_{j ∈ N'(i)} I(i, j)`` over a neighbour set N'(i): the training neighbours give
``TC^Train`` (nodes of training degree <= 1 get 0), the test (or validation) neighbours give
``TC^Test`` (nodes without training or test neighbours get 0). With K = 1,
``I(i, j) = |N_i ∩ N_j| / |N_i|`` (``/ (|N_i| - 1)`` for a training pair: j itself cannot be a
common neighbour). Computed exactly from walk-count rows (``neighbors.walk_counts``) of both
endpoints of a batch of pairs at a time: memory O(K · B · N), no N x N matrix.

**ATC** (paper §3.4). The paper's equation could not be read here: the stored copies of the
arXiv HTML (2310.04612v1) hold only its opening (abstract, start of §1), and the official code has
no ATC. What the retrievable sources say: the abstract — ATC is proposed "to make the computation
of TC scalable" and is justified "theoretically/empirically ... in approximating TC and reducing
the computation complexity"; an ICLR 2024 reviewer's summary (OpenReview apA6SSXx2e, mirrored on
paperhub.cn) — "ATC (approximated topological concentration) relies on powers-hops of the
transition matrix. This is O(Kd(|E| + |V|)), where K is the maximum hop". This implementation is
consistent with both but remains a reconstruction: set intersections are replaced by inner
products of propagated random vectors. With ``R ∈ R^{N×d}``, ``R_ij ~ N(0, 1/d)`` and
``Z = Σ_{k=1..K} β^{k-1} Â^k R``,
``E[Z_i · Z_j] = Σ_{k1,k2} β^{k1+k2-2} Σ_v Â^{k1}_{iv} Â^{k2}_{jv}``, the weighted overlap of
i's and j's computation trees, and ``ATC_i = Z_i · mean_{j∈N'(i)} Z_j`` costs O(K · E · d) for
all nodes. ``Â`` is ``D^-1 A`` (``norm="row"``, the "transition matrix"
of the review), ``D^-1/2 A D^-1/2`` (``"sym"``) or A (``"none"``, whose expectation is the
unnormalised walk overlap). Whether the paper row-normalises Z or uses other hop weights is not
known to us; the experiment reports all three normalisations against exact TC.

**TC-guided re-weighting** (paper §4, reference ``update_adj``): for the edge j -> i of the
encoder graph, ``s_ji = σ(score((Â h)_i ⊙ h_j))``, softmax over i's incoming edges, rescaled by
i's original total incoming weight; ``w'_ji = α · softmax_i(s)_ji · Σ_{j'} w_{j'i} + w_ji``.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.graph.neighbors import walk_counts
from jaxnets.graph.normalize import random_walk_norm, symmetric_norm
from jaxnets.graph.propagate import propagate, segment_softmax
from jaxnets.graph.validate import check_edge_index

__all__ = ["approximate_tc", "default_beta", "pair_concentration", "tc_reweight",
           "topological_concentration"]

NORMS = ("sym", "row", "none")


def _pairs(name: str, pairs: Any, num_nodes: int) -> jax.Array:
    p = jnp.asarray(pairs)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"{name} must be an [M, 2] array of node pairs, got shape {p.shape}")
    if not isinstance(p, jax.core.Tracer) and p.size and (int(p.min()) < 0
                                                           or int(p.max()) >= num_nodes):
        raise ValueError(f"{name} holds node ids outside [0, {num_nodes})")
    return p.astype(jnp.int32)


def default_beta(senders_E: Any, num_nodes: int) -> float:
    """The reference's hop decay ``β = 1 / mean degree`` of the (directed-both-ways) graph."""
    mean_degree = np.shape(senders_E)[0] / num_nodes
    if mean_degree <= 0:
        raise ValueError("the graph has no edges; β = 1 / mean degree is undefined")
    return 1.0 / mean_degree


def pair_concentration(senders_E: Any, receivers_E: Any, num_nodes: int, pairs_Px2: Any, *,
                       num_hops: int = 1, beta: float | None = None,
                       target_in_graph: Any = False, batch_size: int = 256) -> jax.Array:
    """``I(i, j)`` of the module docstring for each pair (i, j) (directed: normalised by i).

    Args:
      senders_E: [E] int training-graph edges (both directions of each undirected edge).
      receivers_E: [E] int.
      num_nodes: N.
      pairs_Px2: [P, 2] int pairs (i, j).
      num_hops: K >= 1.
      beta: hop decay; default ``default_beta``.
      target_in_graph: bool, scalar or [P]: the pair is a training edge (the (1,1) norm uses
        ``|N_i| - 1``).
      batch_size: pairs per walk-count batch (memory 2 · K · batch_size · N floats).

    Returns:
      [P] float32; 0 where the normaliser is 0 (i has no walks).
    """
    check_edge_index(senders_E, receivers_E, num_nodes)
    if num_hops < 1:
        raise ValueError(f"num_hops must be >= 1, got {num_hops}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pairs = _pairs("pairs_Px2", pairs_Px2, num_nodes)
    beta = default_beta(senders_E, num_nodes) if beta is None else float(beta)
    num_pairs = pairs.shape[0]
    flag = jnp.broadcast_to(jnp.asarray(target_in_graph, jnp.float32), (num_pairs,))
    b = min(batch_size, max(num_pairs, 1))
    num_batches = -(-num_pairs // b)
    pad = num_batches * b - num_pairs
    pairs_b = jnp.concatenate([pairs, jnp.zeros((pad, 2), jnp.int32)]).reshape(num_batches, b, 2)
    flag_b = jnp.concatenate([flag, jnp.zeros((pad,), jnp.float32)]).reshape(num_batches, b)
    decay_K = beta ** jnp.arange(num_hops, dtype=jnp.float32)  # β^{k-1}, k = 1..K

    def one_batch(args):
        pair_Bx2, flag_B = args
        walks = walk_counts(senders_E, receivers_E, num_nodes,
                            jnp.concatenate([pair_Bx2[:, 0], pair_Bx2[:, 1]]), num_hops)
        w_i, w_j = walks[:, :b], walks[:, b:]                          # [K, B, N]
        reach_j = jnp.einsum("k,kbn->bn", decay_K, (w_j > 0).astype(jnp.float32))
        num = jnp.einsum("k,kbn,bn->b", decay_K, w_i, reach_j)
        walks_i = jnp.einsum("k,kbn->b", decay_K, w_i)
        den = jnp.sum(decay_K) * walks_i - flag_B
        return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)

    out = jax.lax.map(one_batch, (pairs_b, flag_b))
    return out.reshape(-1)[:num_pairs]


def _mean_by_node(values_M: jax.Array, nodes_M: jax.Array, num_nodes: int
                  ) -> tuple[jax.Array, jax.Array]:
    total = jax.ops.segment_sum(values_M, nodes_M, num_nodes)
    count = jax.ops.segment_sum(jnp.ones_like(values_M), nodes_M, num_nodes)
    return jnp.where(count > 0, total / jnp.maximum(count, 1.0), 0.0), count


def _both_directions(pairs: jax.Array) -> jax.Array:
    return jnp.concatenate([pairs, pairs[:, ::-1]])


def topological_concentration(senders_E: Any, receivers_E: Any, num_nodes: int,
                              neighbor_pairs_Mx2: Any, *, num_hops: int = 1,
                              beta: float | None = None, neighbors_in_graph: bool = False,
                              batch_size: int = 256) -> jax.Array:
    """Node-level TC: ``TC_i = mean_{j ∈ N'(i)} I(i, j)`` (paper §3.2; reference ``cal_tc``).

    Args:
      senders_E: [E] training-graph edges, both directions.
      receivers_E: [E].
      num_nodes: N.
      neighbor_pairs_Mx2: [M, 2] undirected pairs defining N'(i) (each pair counts for both
        endpoints): ``LinkSplit.train_pos`` for TC^Train, ``test_pos`` for TC^Test.
      num_hops: K.
      beta: hop decay; default 1 / mean degree of the training graph.
      neighbors_in_graph: the pairs are training edges (TC^Train): the (1,1) norm uses
        ``|N_i| - 1`` and nodes of training degree <= 1 get 0.
      batch_size: pairs per walk-count batch.

    Returns:
      [N] float32 TC; 0 for nodes without a neighbour in N' or without training neighbours.
    """
    pairs = _both_directions(_pairs("neighbor_pairs_Mx2", neighbor_pairs_Mx2, num_nodes))
    values = pair_concentration(senders_E, receivers_E, num_nodes, pairs, num_hops=num_hops,
                                beta=beta, target_in_graph=neighbors_in_graph,
                                batch_size=batch_size)
    tc, _ = _mean_by_node(values, pairs[:, 0], num_nodes)
    deg = jax.ops.segment_sum(jnp.ones(np.shape(senders_E)[0], jnp.float32),
                              jnp.asarray(receivers_E), num_nodes)
    keep = deg > (1.0 if neighbors_in_graph else 0.0)
    return jnp.where(keep, tc, 0.0)


def approximate_tc(senders_E: Any, receivers_E: Any, num_nodes: int, neighbor_pairs_Mx2: Any,
                   key: jax.Array, *, num_hops: int = 1, beta: float | None = None,
                   dim: int = 256, norm: str = "sym") -> jax.Array:
    """ATC (paper §3.4, reconstructed; see the module): ``Z_i · mean_{j ∈ N'(i)} Z_j``, propagated
    random vectors ``Z = Σ_{k=1..K} β^{k-1} Â^k R``, ``R ~ N(0, 1/d)``.

    Args:
      senders_E: [E] training-graph edges, both directions.
      receivers_E: [E].
      num_nodes: N.
      neighbor_pairs_Mx2: [M, 2] undirected pairs defining N'(i).
      key: PRNG key of R.
      num_hops: K.
      beta: hop decay; default 1 / mean degree.
      dim: d, the projection width.
      norm: ``"sym"`` (``D^-1/2 A D^-1/2``), ``"row"`` (``D^-1 A``) or ``"none"`` (A).

    Returns:
      [N] float32; 0 for nodes without a neighbour in N'.
    """
    check_edge_index(senders_E, receivers_E, num_nodes)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if dim < 1 or num_hops < 1:
        raise ValueError(f"dim and num_hops must be >= 1, got {dim}, {num_hops}")
    pairs = _both_directions(_pairs("neighbor_pairs_Mx2", neighbor_pairs_Mx2, num_nodes))
    beta = default_beta(senders_E, num_nodes) if beta is None else float(beta)
    s, r = jnp.asarray(senders_E), jnp.asarray(receivers_E)
    if norm == "sym":
        w = symmetric_norm(s, r, num_nodes)
    elif norm == "row":
        w = random_walk_norm(s, r, num_nodes)
    else:
        w = jnp.ones(s.shape, jnp.float32)
    x = jax.random.normal(key, (num_nodes, dim), jnp.float32) / jnp.sqrt(float(dim))
    z = jnp.zeros_like(x)
    for k in range(num_hops):
        x = propagate(x, s, r, num_nodes, w)
        z = z + beta ** k * x
    total = jax.ops.segment_sum(z[pairs[:, 1]], pairs[:, 0], num_nodes)
    count = jax.ops.segment_sum(jnp.ones(pairs.shape[0], jnp.float32), pairs[:, 0], num_nodes)
    mean_j = total / jnp.maximum(count, 1.0)[:, None]
    return jnp.where(count > 0, jnp.sum(z * mean_j, axis=1), 0.0)


def tc_reweight(h_NxF: jax.Array, senders_E: Any, receivers_E: Any, base_weight_E: Any,
                num_nodes: int, score_fn: Callable[[jax.Array], jax.Array], alpha: float
                ) -> jax.Array:
    """TC-guided edge weights (paper §4; reference ``update_adj``, "GCN-aug").

    ``w'_e = α · softmax_{e' → i}(σ(score((Â h)_i ⊙ h_j)))_e · Σ_{e' → i} w_{e'} + w_e`` for the
    edge e = j -> i, ``Â`` being the graph with the base weights. Gradients are stopped (the
    weights are data, recomputed between epochs).

    Args:
      h_NxF: node embeddings of the encoder.
      senders_E: [E] int (the encoder graph, self-loops included if it has them).
      receivers_E: [E] int.
      base_weight_E: [E] original (normalised) weights.
      num_nodes: N.
      score_fn: maps Hadamard products [E, F] to logits [E] (the link predictor).
      alpha: α >= 0.

    Returns:
      [E] new weights.
    """
    check_edge_index(senders_E, receivers_E, num_nodes)
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    s, r = jnp.asarray(senders_E), jnp.asarray(receivers_E)
    w = jnp.asarray(base_weight_E, jnp.float32)
    if w.shape != s.shape:
        raise ValueError(f"base_weight_E must have shape {s.shape}, got {w.shape}")
    h = jax.lax.stop_gradient(h_NxF)
    h_node = propagate(h, s, r, num_nodes, w)[r]
    prob = jax.nn.sigmoid(score_fn(h_node * h[s]))
    soft = segment_softmax(prob, r, num_nodes)
    total_in = jax.ops.segment_sum(w, r, num_nodes)[r]
    return jax.lax.stop_gradient(alpha * soft * total_in + w)
