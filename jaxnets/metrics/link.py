"""Link-prediction metrics: Hits@K (OGB), MRR (OGB), ROC-AUC, and per-node Hits@K.

All functions are pure ``jnp`` code, jittable, and checked against brute-force references in
``tests/metrics/test_link_metrics.py``. Definitions follow the OGB link-property evaluator (Hu et
al., "Open Graph Benchmark", NeurIPS 2020), which NCN, TC and NetInfoF report:

* Hits@K: the K-th highest *negative* score is a threshold; Hits@K is the fraction of positive
  scores strictly above it. With fewer than K negatives every positive is a hit.
* MRR (one row of negatives per positive): the rank of the positive among its negatives is the
  mean of the optimistic and pessimistic ranks, ``1 + 0.5 (#neg > pos + #neg >= pos)``.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def _vector(name: str, x: Any) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of scores, got shape {x.shape}")
    return x


def kth_negative_threshold(neg_scores_Q: Any, k: int) -> jax.Array:
    """The K-th highest negative score (``-inf`` if there are fewer than K negatives)."""
    neg = _vector("neg_scores_Q", neg_scores_Q)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if neg.shape[0] < k:
        return jnp.asarray(-jnp.inf, neg.dtype)
    return jax.lax.top_k(neg, k)[0][k - 1]


def hits_at_k(pos_scores_P: Any, neg_scores_Q: Any, k: int) -> jax.Array:
    """OGB Hits@K: fraction of positives scored strictly above the K-th highest negative.

    Args:
      pos_scores_P: [P] scores of positive pairs.
      neg_scores_Q: [Q] scores of negative pairs (shared by all positives).
      k: K.

    Returns:
      Scalar in [0, 1].
    """
    pos = _vector("pos_scores_P", pos_scores_P)
    threshold = kth_negative_threshold(neg_scores_Q, k)
    return jnp.mean((pos > threshold).astype(jnp.float32))


def node_hits_at_k(pos_scores_P: Any, pos_nodes_P: Any, neg_scores_Q: Any, k: int,
                   num_nodes: int) -> tuple[jax.Array, jax.Array]:
    """Per-node Hits@K: for each node, the fraction of its positive pairs that are hits.

    A node's test edges are ranked against one global negative set (OGB's threshold). (The
    Topological Concentration paper's reference code instead ranks all nodes for each node; see
    ``experiments/topo_concentration.py``.)

    Args:
      pos_scores_P: [P] positive scores.
      pos_nodes_P: [P] int node each positive is attributed to (pass both endpoints by calling
        with the positives listed twice).
      neg_scores_Q: [Q] negative scores.
      k: K.
      num_nodes: N.

    Returns:
      ``(hits_N, count_N)``: per-node hit rate (0 where ``count_N == 0``) and number of positives.
    """
    pos = _vector("pos_scores_P", pos_scores_P)
    nodes = _vector("pos_nodes_P", pos_nodes_P)
    if nodes.shape != pos.shape:
        raise ValueError(f"pos_nodes_P {nodes.shape} must match pos_scores_P {pos.shape}")
    hit = (pos > kth_negative_threshold(neg_scores_Q, k)).astype(jnp.float32)
    total = jax.ops.segment_sum(hit, nodes, num_nodes)
    count = jax.ops.segment_sum(jnp.ones_like(hit), nodes, num_nodes)
    return jnp.where(count > 0, total / jnp.maximum(count, 1.0), 0.0), count


def mrr(pos_scores_P: Any, neg_scores_PxQ: Any) -> jax.Array:
    """OGB mean reciprocal rank: each positive is ranked against its own row of negatives.

    Args:
      pos_scores_P: [P].
      neg_scores_PxQ: [P, Q].

    Returns:
      Scalar mean of ``1 / rank`` with ties ranked halfway (OGB's optimistic/pessimistic mean).
    """
    pos = _vector("pos_scores_P", pos_scores_P)
    neg = jnp.asarray(neg_scores_PxQ)
    if neg.ndim != 2 or neg.shape[0] != pos.shape[0]:
        raise ValueError(f"neg_scores_PxQ must be [P={pos.shape[0]}, Q], got {neg.shape}")
    optimistic = jnp.sum(neg > pos[:, None], axis=1)
    pessimistic = jnp.sum(neg >= pos[:, None], axis=1)
    rank = 1.0 + 0.5 * (optimistic + pessimistic)
    return jnp.mean(1.0 / rank)


def roc_auc(pos_scores_P: Any, neg_scores_Q: Any) -> jax.Array:
    """Area under the ROC curve = P(pos score > neg score) + 0.5 P(tie) (Mann–Whitney U).

    Computed from average ranks of the pooled scores in O((P + Q) log(P + Q)).

    Args:
      pos_scores_P: [P], P >= 1.
      neg_scores_Q: [Q], Q >= 1.

    Returns:
      Scalar in [0, 1].
    """
    pos = _vector("pos_scores_P", pos_scores_P)
    neg = _vector("neg_scores_Q", neg_scores_Q)
    if pos.shape[0] == 0 or neg.shape[0] == 0:
        raise ValueError("roc_auc needs at least one positive and one negative score")
    pooled = jnp.sort(jnp.concatenate([pos, neg]).astype(jnp.float32))
    p = pos.astype(jnp.float32)
    # 1-based average rank of each positive among the pooled scores (ties share their mean rank).
    lower = jnp.searchsorted(pooled, p, side="left")
    upper = jnp.searchsorted(pooled, p, side="right")
    avg_rank = 0.5 * (lower + upper + 1).astype(jnp.float32)
    n_pos, n_neg = pos.shape[0], neg.shape[0]
    # U = sum(rank_i) - P (P + 1) / 2 = sum(rank_i - i): summed term by term so that float32
    # holds it for large P; the denominator as a float (P * Q can exceed 2**31).
    own_rank = jnp.arange(1, n_pos + 1, dtype=jnp.float32)
    u = jnp.sum(avg_rank - own_rank)
    return u / (float(n_pos) * float(n_neg))
