"""NetInfoF_Probe: network usable information of a similarity score (Lee et al., ICLR 2024, §3-4).

NetInfoF ("NetInfoF Framework: Measuring and Exploiting Network Usable Information", ICLR 2024)
measures how much usable information an embedding carries for link prediction *without training
a model*: the similarity ``s_ij = x_c[i] · x_t[j]`` of a pair is discretised into B = 8 quantile
bins (fitted on training edges and random pairs), a B × 2 contingency table (bin × label) is built
on the validation edges and as many non-edges, and

    NetInfoF_Score = 2^(−H(Y | bin))                                   (paper Def. 2, eq. 2)

with the conditional entropy in bits. Theorem 1 of the paper: the score lower-bounds the accuracy
of predicting Y from the bin — ``2^(−H(Y|B)) ≤ Σ_b p(b) max_y p(y|b)``, by Jensen's inequality
(2^(−x) is convex) and ``2^(−H(Y|B=b)) ≤ max_y p(y|b)`` (Shannon entropy ≥ min-entropy).

This module holds the score, the bin-wise Bayes accuracy it bounds, and the accuracy of the best
single-threshold classifier on the raw similarity (the comparison of our claim check).
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

NUM_BINS = 8  # paper §4.1 / official ``nui.py``


def _vector(name: str, x: Any) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-d array, got shape {x.shape}")
    return x


@functools.partial(jax.jit, static_argnames=("num_bins",))
def quantile_bin_edges(scores_S: Any, num_bins: int = NUM_BINS) -> jax.Array:
    """Edges of ``num_bins`` equal-frequency bins (sklearn ``KBinsDiscretizer(strategy=
    'quantile')``): the 0, 1/B, ..., 1 quantiles (linear interpolation). [num_bins + 1]."""
    s = _vector("scores_S", scores_S).astype(jnp.float32)
    if num_bins < 2:
        raise ValueError(f"num_bins must be >= 2, got {num_bins}")
    return jnp.quantile(s, jnp.linspace(0.0, 1.0, num_bins + 1))


@jax.jit
def discretize(scores_S: Any, edges: jax.Array) -> jax.Array:
    """Bin ids in [0, B) (values outside the fitted range go to the first / last bin)."""
    s = _vector("scores_S", scores_S).astype(jnp.float32)
    return jnp.searchsorted(edges[1:-1], s, side="right").astype(jnp.int32)


def contingency_table(bins_S: Any, labels_S: Any, num_bins: int = NUM_BINS) -> jax.Array:
    """Counts [num_bins, 2]: row b, column y = number of pairs in bin b with label y (0 / 1)."""
    bins = _vector("bins_S", bins_S)
    labels = _vector("labels_S", labels_S)
    if bins.shape != labels.shape:
        raise ValueError(f"bins_S {bins.shape} and labels_S {labels.shape} differ in length")
    flat = bins.astype(jnp.int32) * 2 + labels.astype(jnp.int32)
    return jnp.zeros(2 * num_bins, jnp.float32).at[flat].add(1.0).reshape(num_bins, 2)


@jax.jit
def conditional_entropy_bits(table_BxY: Any) -> jax.Array:
    """``H(Y | B) = −Σ_{b,y} p(b,y) log₂(p(b,y) / p(b))`` from a count table (0 log 0 = 0)."""
    t = jnp.asarray(table_BxY, jnp.float32)
    if t.ndim != 2:
        raise ValueError(f"table_BxY must be 2-d, got shape {t.shape}")
    p = t / jnp.sum(t)
    p_b = jnp.sum(p, axis=1, keepdims=True)
    ratio = jnp.where(p > 0, p / jnp.where(p_b > 0, p_b, 1.0), 1.0)
    return -jnp.sum(jnp.where(p > 0, p * jnp.log2(ratio), 0.0))


@jax.jit
def netinfof_score(table_BxY: Any) -> jax.Array:
    """NetInfoF_Score = 2^(−H(Y|B)) (paper Def. 2), in [1/|Y|, 1]."""
    return jnp.exp2(-conditional_entropy_bits(table_BxY))


@jax.jit
def bin_accuracy(table_BxY: Any) -> jax.Array:
    """Accuracy of the best classifier of Y from the bin (majority label per bin)."""
    t = jnp.asarray(table_BxY, jnp.float32)
    return jnp.sum(jnp.max(t, axis=1)) / jnp.sum(t)


@jax.jit
def best_threshold_accuracy(scores_S: Any, labels_S: Any) -> jax.Array:
    """Accuracy of the best rule ``predict 1 iff s > τ`` or ``iff s <= τ`` over all τ.

    Exact, in O(S log S): thresholds are taken between distinct sorted scores (and below / above
    all of them), so tied scores always get the same prediction.
    """
    s = _vector("scores_S", scores_S).astype(jnp.float32)
    y = _vector("labels_S", labels_S).astype(jnp.float32)
    if s.shape != y.shape:
        raise ValueError(f"scores_S {s.shape} and labels_S {y.shape} differ in length")
    order = jnp.argsort(s)
    s_sorted, y_sorted = s[order], y[order]
    n = s.shape[0]
    total_pos = jnp.sum(y)
    # split k: the lowest k scores are predicted 0, the rest 1 (k = 0..n).
    neg_below = jnp.concatenate([jnp.zeros(1), jnp.cumsum(1.0 - y_sorted)])
    pos_below = jnp.concatenate([jnp.zeros(1), jnp.cumsum(y_sorted)])
    correct = neg_below + (total_pos - pos_below)
    k = jnp.arange(n + 1)
    valid = (k == 0) | (k == n) | (
        jnp.concatenate([jnp.ones(1, bool), s_sorted[1:] > s_sorted[:-1], jnp.ones(1, bool)]))
    acc = correct / n
    acc = jnp.maximum(acc, 1.0 - acc)  # the reversed rule
    return jnp.max(jnp.where(valid, acc, 0.0))


def similarity(xc_NxD: jax.Array, xt_NxD: jax.Array, pairs_Bx2: Any) -> jax.Array:
    """``s_ij = x_c[i] · x_t[j]`` for each pair [B]."""
    pairs = jnp.asarray(pairs_Bx2)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs_Bx2 must be [B, 2], got shape {pairs.shape}")
    return jnp.sum(xc_NxD[pairs[:, 0]] * xt_NxD[pairs[:, 1]], axis=1)


@functools.partial(jax.jit, static_argnames=("num_bins",))
def probe(key: jax.Array, xc_NxD: Any, xt_NxD: Any, train_pos_Mx2: Any, eval_pairs_Bx2: Any,
          eval_labels_B: Any, num_bins: int = NUM_BINS) -> dict[str, jax.Array]:
    """NetInfoF_Probe of one embedding family (official ``nui.compute_netinfo``).

    The discretiser is fitted on the similarities of the training edges and twice as many uniform
    random pairs; the table is built on the evaluation pairs (validation edges + non-edges).

    Args:
      key: PRNG key of the random pairs.
      xc_NxD: adjusted embedding ``X H``.
      xt_NxD: embedding X.
      train_pos_Mx2: training edges.
      eval_pairs_Bx2: evaluation pairs.
      eval_labels_B: 1 for edges, 0 for non-edges.
      num_bins: B.

    Returns:
      ``{"score", "bin_accuracy", "threshold_accuracy", "entropy_bits"}``.
    """
    xc, xt = jnp.asarray(xc_NxD), jnp.asarray(xt_NxD)
    if xc.shape != xt.shape or xc.ndim != 2:
        raise ValueError(f"xc_NxD {xc.shape} and xt_NxD {xt.shape} must be equal 2-d shapes")
    train = jnp.asarray(train_pos_Mx2)
    rand = jax.random.randint(key, (2 * train.shape[0], 2), 0, xc.shape[0])
    fit_scores = similarity(xc, xt, jnp.concatenate([train, rand]))
    edges = quantile_bin_edges(fit_scores, num_bins)
    s_eval = similarity(xc, xt, eval_pairs_Bx2)
    labels = _vector("eval_labels_B", eval_labels_B)
    table = contingency_table(discretize(s_eval, edges), labels, num_bins)
    return {"score": netinfof_score(table), "bin_accuracy": bin_accuracy(table),
            "threshold_accuracy": best_threshold_accuracy(s_eval, labels),
            "entropy_bits": conditional_entropy_bits(table)}
