"""TANGNN: Top-m attention plus neighbourhood aggregation, E et al. (ESWA 2024, arXiv 2411.15458).

Each layer has two aggregators whose outputs are concatenated (the paper's sec. 3, Fig. 2):

* **Neighbourhood aggregation** — GraphSAGE-mean over a fixed-size random sample of in-neighbours
  (drawn with replacement; `sample_size` 5 in the official defaults). Evaluation uses the exact
  mean over all neighbours, the expectation of the sampled mean.
* **Top-m attention aggregation** — an auxiliary vector `a`, re-centred against the mean node
  embedding `x_bar` as `a <- normalise(a - (a^T x_hat) x_hat)` with `x_hat = x_bar / ||x_bar||`,
  scores every node by `s_v = cos(x_v, a)`; node v attends (multi-head scaled dot-product) to the
  m nodes u != v whose scores are nearest its own, `argmin_m |s_u - s_v|`. Sorting the scores and
  reading a window of 2m + 1 sorted positions finds them exactly in O(N log N + N m)
  (`top_m_sorted_window`), against O(N^2) for full attention.

`top_m_blockwise` finds per-node top-m sets for any pairwise score in row blocks with
`lax.top_k`, O(N * block) memory; it is the brute-force reference of the sorted window and the
engine of `criterion="cosine"` (exact top-m by pairwise cosine similarity, the quantity the
auxiliary-vector ranking stands in for). `attention="full"` attends to every node (the O(N^2)
cost baseline), `"official"` mimics the official code (global top-m by `cos(h, a)`, tiled so
node v receives top node `v mod m`), and `"none"` leaves plain sampled GraphSAGE (the m = 0
ablation and the baseline).
"""
from __future__ import annotations

from typing import Any, Callable, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from jaxnets.graph import in_degree, is_sparse, propagate
from jaxnets.nn._inputs import graph_inputs
from jaxnets.nn.dropout import Dropout
from jaxnets.nn.linear import Linear

__all__ = ["TANGNN", "TANGNNConv", "auxiliary_scores", "full_attention",
           "sampled_mean_weights", "top_m_attention", "top_m_blockwise", "top_m_sorted_window"]

Attention = Literal["top_m", "full", "official", "none"]


def _row_dots(x_NxF: Any, w_FxK: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`(x @ w [N, K], ||x_v||^2 [N], column sums of x [F])` for dense or 2-D BCOO x."""
    if is_sparse(x_NxF):
        rows, cols = x_NxF.indices[:, 0], x_NxF.indices[:, 1]
        n, f = x_NxF.shape
        data = x_NxF.data
        dots = jax.ops.segment_sum(data[:, None] * w_FxK[cols], rows, n)
        return (dots, jax.ops.segment_sum(data * data, rows, n),
                jax.ops.segment_sum(data, cols, f))
    x = jnp.asarray(x_NxF)
    return x @ w_FxK, jnp.sum(x * x, axis=1), jnp.sum(x, axis=0)


def auxiliary_scores(x_NxF: Any, a_F: jax.Array, eps: float = 1e-12) -> jax.Array:
    """Per-node relevance `s_v = cos(x_v, a')` with the re-centred auxiliary vector (TANGNN sec. 3.2).

    `a' = normalise(a - (a^T x_hat) x_hat)`, `x_hat` the unit mean row of x: the paper's update
    of the auxiliary vector, applied functionally at every call, which removes the component all
    nodes share so the ranking is informative. No gradient flows through the scores.

    Args:
      x_NxF: node features, dense or 2-D BCOO.
      a_F: the auxiliary vector.

    Returns:
      [N] cosine scores in [-1, 1] (0 for zero rows).
    """
    if a_F.shape != (x_NxF.shape[1],):
        raise ValueError(f"a_F must have shape ({x_NxF.shape[1]},) to match x_NxF "
                         f"{tuple(x_NxF.shape)}, got {a_F.shape}")
    n = x_NxF.shape[0]
    _, _, col_sum_F = _row_dots(x_NxF, jnp.zeros((x_NxF.shape[1], 1), jnp.float32))
    x_hat = col_sum_F / n
    x_hat = x_hat / jnp.maximum(jnp.linalg.norm(x_hat), eps)
    a = a_F - jnp.dot(a_F, x_hat) * x_hat
    a = a / jnp.maximum(jnp.linalg.norm(a), eps)
    dots_Nx1, sq_norm_N, _ = _row_dots(x_NxF, a[:, None])
    return jax.lax.stop_gradient(dots_Nx1[:, 0] / jnp.maximum(jnp.sqrt(sq_norm_N), eps))


def top_m_sorted_window(s_N: jax.Array, m: int) -> jax.Array:
    """For each node v the m nodes u != v with the smallest `|s_u - s_v|` (the Top-m sets).

    The m nearest values to `s_v` in sorted order form, with v, a run of m + 1 consecutive sorted
    positions, so they lie in the window of 2m + 1 positions centred on v (shifted inside the
    array at the ends); a `top_k` over that window is exact. Cost O(N log N + N m).

    Args:
      s_N: [N] scores; N >= 2m + 1.
      m: set size.

    Returns:
      int32 [N, m] node ids, nearest first.
    """
    n = s_N.shape[0]
    if m < 1 or n < 2 * m + 1:
        raise ValueError(f"top_m_sorted_window needs 1 <= m and N >= 2m + 1, got m={m}, N={n}")
    order_N = jnp.argsort(s_N)
    rank_N = jnp.zeros((n,), jnp.int32).at[order_N].set(jnp.arange(n, dtype=jnp.int32))
    start_N = jnp.clip(rank_N - m, 0, n - 2 * m - 1)
    pos_NxW = start_N[:, None] + jnp.arange(2 * m + 1, dtype=jnp.int32)[None, :]
    cand_NxW = order_N[pos_NxW]
    gap_NxW = jnp.abs(s_N[cand_NxW] - s_N[:, None])
    is_self = cand_NxW == jnp.arange(n, dtype=cand_NxW.dtype)[:, None]
    _, pick_NxM = jax.lax.top_k(jnp.where(is_self, -jnp.inf, -gap_NxW), m)
    return jnp.take_along_axis(cand_NxW, pick_NxM, axis=1).astype(jnp.int32)


def top_m_blockwise(score_fn: Callable[[jax.Array], jax.Array], num_nodes: int, m: int,
                    block_size: int = 256) -> jax.Array:
    """Per-node top-m of a pairwise score, in row blocks: O(num_nodes * block) memory, never N x N.

    Args:
      score_fn: maps row ids [B] to scores [B, N] (higher = more relevant); the diagonal is
        masked here, so a node never selects itself.
      num_nodes: N.
      m: set size, 1 <= m < N.
      block_size: rows per block.

    Returns:
      int32 [N, m] node ids, best first.
    """
    if not 1 <= m < num_nodes:
        raise ValueError(f"top_m_blockwise needs 1 <= m < num_nodes, got m={m}, N={num_nodes}")
    block = min(block_size, num_nodes)
    num_blocks = -(-num_nodes // block)
    rows_BxR = jnp.minimum(jnp.arange(num_blocks * block, dtype=jnp.int32),
                           num_nodes - 1).reshape(num_blocks, block)
    cols_N = jnp.arange(num_nodes, dtype=jnp.int32)

    def one_block(rows_R: jax.Array) -> jax.Array:
        scores_RxN = score_fn(rows_R)
        scores_RxN = jnp.where(rows_R[:, None] == cols_N[None, :], -jnp.inf, scores_RxN)
        return jax.lax.top_k(scores_RxN, m)[1]

    idx = jax.lax.map(one_block, rows_BxR).reshape(num_blocks * block, m)
    return idx[:num_nodes].astype(jnp.int32)


def top_m_attention(q_NxHxD: jax.Array, k_NxHxD: jax.Array, v_NxHxD: jax.Array,
                    idx_NxM: jax.Array) -> jax.Array:
    """`out_v = sum_{j<m} softmax_j(q_v . k_{idx_vj} / sqrt(D)) v_{idx_vj}` per head; [N, H*D]."""
    n, h, d = q_NxHxD.shape
    k_NxMxHxD, v_NxMxHxD = k_NxHxD[idx_NxM], v_NxHxD[idx_NxM]
    logits_NxMxH = jnp.einsum("nhd,nmhd->nmh", q_NxHxD, k_NxMxHxD) / jnp.sqrt(float(d))
    alpha_NxMxH = jax.nn.softmax(logits_NxMxH, axis=1)
    return jnp.einsum("nmh,nmhd->nhd", alpha_NxMxH, v_NxMxHxD).reshape(n, h * d)


def full_attention(q_NxHxD: jax.Array, k_NxHxD: jax.Array, v_NxHxD: jax.Array) -> jax.Array:
    """Every node attends to all N nodes (a dense N x N softmax per head): the O(N^2) baseline."""
    n, h, d = q_NxHxD.shape
    logits_HxNxN = jnp.einsum("nhd,khd->hnk", q_NxHxD, k_NxHxD) / jnp.sqrt(float(d))
    alpha_HxNxN = jax.nn.softmax(logits_HxNxN, axis=-1)
    return jnp.einsum("hnk,khd->nhd", alpha_HxNxN, v_NxHxD).reshape(n, h * d)


def sampled_mean_weights(key: jax.Array | None, senders_E: jax.Array, receivers_E: jax.Array,
                         num_nodes: int, sample_size: int) -> jax.Array:
    """Edge weights `w_E` such that `sum_e w_e x[senders_e]` at each receiver is a GraphSAGE mean.

    With a key: the mean over `sample_size` in-neighbours drawn uniformly with replacement
    (Hamilton et al. 2017, sec. 3.1; TANGNN's neighbourhood aggregation), as the count of draws of
    each edge / sample_size. Without a key: 1 / in-degree, the exact mean (the sample's
    expectation). Nodes without in-neighbours receive nothing.
    """
    deg_N = in_degree(receivers_E, num_nodes)
    if key is None:
        return 1.0 / jnp.maximum(deg_N[receivers_E], 1.0)
    # Each draw picks, per receiver, the incoming edge with the largest iid random word: a
    # uniform choice among its edges, with no sort of the edge list (a sort of the constant
    # receivers would be constant-folded, slowly, by XLA).
    bits_SxE = jax.random.bits(key, (sample_size, receivers_E.shape[0]), jnp.uint32)
    best_SxN = jax.vmap(lambda b: jax.ops.segment_max(b, receivers_E, num_nodes))(bits_SxE)
    won_SxE = bits_SxE == best_SxN[:, receivers_E]
    counts_E = jnp.sum(won_SxE.astype(jnp.float32), axis=0)
    # Ties (probability ~2^-32 per pair) would add a draw; renormalising keeps an exact mean.
    total_E = jax.ops.segment_sum(counts_E, receivers_E, num_nodes)[receivers_E]
    return counts_E / jnp.maximum(total_E, 1.0)


class TANGNNConv(nn.Module):
    """One TANGNN layer: `[SAGE_sampled(x) || TopM-Attn(x)]` (TANGNN sec. 3, eqs. for h_N and h_A).

    Attributes:
      features: width of each branch (the output is 2 * features, or features for "none").
      m: Top-m set size (20 in the official TANGNN defaults).
      heads: attention heads; features must divide by heads.
      sample_size: neighbours drawn per node in training.
      attention: "top_m" (the paper), "full", "official" or "none"; see the module docstring.
      criterion: "auxiliary" (the paper's auxiliary-vector ranking, sorted window) or "cosine"
        (exact top-m by pairwise cosine, blockwise).
      block_size: rows per block for criterion="cosine".
    """
    features: int
    m: int = 20
    heads: int = 1
    sample_size: int = 5
    attention: Attention = "top_m"
    criterion: Literal["auxiliary", "cosine"] = "auxiliary"
    block_size: int = 256

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, select_x: Any = None,
                 deterministic: bool = True) -> jax.Array:
        """Maps x [N, F] (dense or BCOO) to [N, 2 * features]; `select_x` (default x) ranks nodes."""
        senders, receivers, n = graph_inputs("TANGNNConv", graph, x)
        if self.attention not in ("top_m", "full", "official", "none"):
            raise ValueError(f"attention must be top_m, full, official or none, got {self.attention!r}")
        if self.criterion not in ("auxiliary", "cosine"):
            raise ValueError(f"criterion must be auxiliary or cosine, got {self.criterion!r}")
        if self.features % self.heads:
            raise ValueError(f"features={self.features} must be divisible by heads={self.heads}")
        key = None if deterministic else self.make_rng("dropout")
        weights_E = sampled_mean_weights(key, senders, receivers, n, self.sample_size)
        neigh = propagate(Linear(self.features, use_bias=False, name="neighbor")(x),
                          senders, receivers, n, weights_E)
        h_sage = neigh + Linear(self.features, name="root")(x)
        if self.attention == "none":
            return h_sage
        select_x = x if select_x is None else select_x
        d = self.features // self.heads
        proj = lambda name: Linear(self.features, use_bias=False, name=name)(x).reshape(
            n, self.heads, d)
        q, k, v = proj("query"), proj("key"), proj("value")
        if self.attention == "full":
            return jnp.concatenate([h_sage, full_attention(q, k, v)], axis=1)
        a_F = self.param("auxiliary", nn.initializers.normal(1.0), (x.shape[1],), jnp.float32)
        s_N = auxiliary_scores(select_x, jax.lax.stop_gradient(a_F))
        if self.attention == "official":
            top_M = jax.lax.top_k(s_N, self.m)[1]
            h_attn = v.reshape(n, self.features)[top_M][jnp.arange(n) % self.m]
        else:
            h_attn = top_m_attention(q, k, v, self._select(select_x, s_N, n))
        return jnp.concatenate([h_sage, h_attn], axis=1)

    def _select(self, select_x: Any, s_N: jax.Array, n: int) -> jax.Array:
        if self.criterion == "auxiliary":
            return top_m_sorted_window(s_N, self.m)
        if is_sparse(select_x):
            select_x = select_x.todense()
        z = jax.lax.stop_gradient(jnp.asarray(select_x))
        z = z / jnp.maximum(jnp.linalg.norm(z, axis=1, keepdims=True), 1e-12)
        return top_m_blockwise(lambda rows: z[rows] @ z.T, n, self.m, self.block_size)


class TANGNN(nn.Module):
    """TANGNN node classifier: stacked `TANGNNConv` -> ReLU -> dropout, then a linear read-out.

    With `layer_concat=True` the read-out sees every layer's output concatenated (TANGNN-LC).
    `attention="none"` is GraphSAGE with the same sampler, widths and read-out (the baseline).

    Attributes:
      hidden: per-branch width of each layer (32 in the official defaults).
      num_layers: layers (2).
      num_classes: output width.
      dropout_rate: dropout on each layer's input.
      m, heads, sample_size, attention, criterion: passed to every `TANGNNConv`.
      layer_concat: the LC variant.
    """
    hidden: int = 32
    num_layers: int = 2
    num_classes: int = 7
    dropout_rate: float = 0.5
    m: int = 20
    heads: int = 1
    sample_size: int = 5
    attention: Attention = "top_m"
    criterion: Literal["auxiliary", "cosine"] = "auxiliary"
    layer_concat: bool = False

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
                 ) -> jax.Array:
        """Logits [N, num_classes] from node features x [N, F] (dense or BCOO)."""
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        outputs = []
        for _ in range(self.num_layers):
            dropped = Dropout(self.dropout_rate)(x, deterministic=deterministic)
            x = nn.relu(TANGNNConv(self.hidden, m=self.m, heads=self.heads,
                                   sample_size=self.sample_size, attention=self.attention,
                                   criterion=self.criterion)(
                graph, dropped, select_x=x, deterministic=deterministic))
            outputs.append(x)
        x = jnp.concatenate(outputs, axis=1) if self.layer_concat else x
        x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
        return Linear(self.num_classes, name="readout")(x)
