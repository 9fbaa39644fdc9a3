"""Top-N recommendation metrics: Recall, Precision, F1, NDCG and MRR @K with known-item masking.

Protocol (full ranking, as in Sheaf4Rec's ``evaluation.get_metrics`` and GTE's ``utils.metrics``):
every user's items are scored, the items to exclude (the user's training interactions) are
removed from the ranking, the top K remain; users without any held-out item are left out of the
averages. With ``H_u(K)`` the held-out items of user u among its top K and ``T_u`` its held-out
items:

* ``recall@K = mean_u |H_u(K)| / |T_u|``, ``precision@K = mean_u |H_u(K)| / K``;
* ``f1@K = 2 P R / (P + R)`` of the *averaged* precision P and recall R (Sheaf4Rec's
  ``train.py`` computes its F1@K this way);
* ``ndcg@K = mean_u DCG / IDCG`` with ``DCG = sum_{r < K} hit_r / log2(r + 2)`` and IDCG the
  DCG of ``min(K, |T_u|)`` hits in front (Jarvelin & Kekalainen, 2002);
* ``mrr@K = mean_u 1 / rank of the first hit`` (0 without a hit in the top K).

Everything is jittable: the score matrix is built ``batch_size`` users at a time by a
``score_fn`` and reduced under ``lax.map``; no U x I array beyond one batch is formed. Ties are
broken by ``lax.top_k`` (lower item id first).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["top_k_items", "pair_mask", "metrics_from_ranking", "evaluate_topn",
           "evaluate_topn_targets", "METRICS"]

METRICS = ("recall", "precision", "f1", "ndcg", "mrr")


def top_k_items(scores_BxI: jax.Array, k: int, exclude_BxI: jax.Array | None = None
                ) -> jax.Array:
    """The ``k`` highest-scoring items of each row, excluded items never chosen.

    Args:
      scores_BxI: float scores.
      k: static K <= I.
      exclude_BxI: optional bool mask of items to leave out (e.g. training items).

    Returns:
      [B, K] int32 item ids, best first.
    """
    if scores_BxI.ndim != 2 or not 1 <= k <= scores_BxI.shape[1]:
        raise ValueError(f"need scores [B, I] and 1 <= k <= I, got {scores_BxI.shape} and k={k}")
    if exclude_BxI is not None:
        if exclude_BxI.shape != scores_BxI.shape:
            raise ValueError(f"exclude_BxI {exclude_BxI.shape} must match scores "
                             f"{scores_BxI.shape}")
        scores_BxI = jnp.where(exclude_BxI, -jnp.inf, scores_BxI)
    return jax.lax.top_k(scores_BxI, k)[1].astype(jnp.int32)


def pair_mask(users_P: jax.Array, items_P: jax.Array, first_user: jax.Array, batch_size: int,
              num_items: int) -> jax.Array:
    """[B, I] bool: True where (first_user + b, i) is one of the pairs. Jittable (static B, I).

    Pairs of users outside ``[first_user, first_user + B)`` are dropped by the scatter.
    """
    rows = users_P - first_user
    rows = jnp.where((rows >= 0) & (rows < batch_size), rows, batch_size)   # out of range: drop
    return jnp.zeros((batch_size, num_items), bool).at[rows, items_P].set(True, mode="drop")


def metrics_from_ranking(top_BxK: jax.Array, relevant_BxI: jax.Array,
                         ks: Sequence[int]) -> dict[str, jax.Array]:
    """Per-user hit counts and ranking gains for each K from a top-K list.

    Args:
      top_BxK: [B, Kmax] ranked item ids (``top_k_items``), Kmax >= max(ks).
      relevant_BxI: [B, I] bool held-out items.
      ks: cut-offs.

    Returns:
      ``{"recall@K", "precision@K", "ndcg@K", "mrr@K"}`` each [B] per-user values, and
      ``"num_relevant"`` [B] (0 for users to leave out of averages).
    """
    kmax = top_BxK.shape[1]
    if max(ks) > kmax or min(ks) < 1:
        raise ValueError(f"ks must lie in [1, {kmax}], got {tuple(ks)}")
    hits = jnp.take_along_axis(relevant_BxI, top_BxK, axis=1).astype(jnp.float32)   # [B, Kmax]
    n_rel = relevant_BxI.sum(axis=1).astype(jnp.float32)
    discount = 1.0 / jnp.log2(jnp.arange(kmax, dtype=jnp.float32) + 2.0)              # [Kmax]
    ideal_cum = jnp.cumsum(discount)
    rank_gain = hits / jnp.arange(1, kmax + 1, dtype=jnp.float32)[None, :]
    out = {"num_relevant": n_rel}
    safe_rel = jnp.maximum(n_rel, 1.0)
    for k in ks:
        h = hits[:, :k].sum(axis=1)
        idcg = ideal_cum[jnp.clip(jnp.minimum(n_rel, k).astype(jnp.int32) - 1, 0, kmax - 1)]
        out[f"recall@{k}"] = h / safe_rel
        out[f"precision@{k}"] = h / k
        out[f"ndcg@{k}"] = (hits[:, :k] * discount[None, :k]).sum(axis=1) / idcg
        out[f"mrr@{k}"] = rank_gain[:, :k].max(axis=1)
    return out


def evaluate_topn(score_fn: Callable[[jax.Array], jax.Array], num_users: int, num_items: int,
                  eval_users: jax.Array, eval_items: jax.Array, exclude_users: jax.Array,
                  exclude_items: jax.Array, ks: Sequence[int] = (10, 20),
                  batch_size: int = 256) -> dict[str, jax.Array]:
    """Recall/Precision/F1/NDCG/MRR @K of a scorer over all users, in user batches.

    Args:
      score_fn: ``users_B -> scores_BxI`` (traceable). It is called with the contiguous block
        ``users_B = first + arange(B)`` of B = ``batch_size`` users, clipped to
        ``num_users - 1`` in the last batch (those padding rows are ignored).
      num_users: U.
      num_items: I.
      eval_users, eval_items: [T] int held-out pairs (the relevant items).
      exclude_users, exclude_items: [P] int pairs removed from the ranking (training items).
      ks: static cut-offs.
      batch_size: users per batch.

    Returns:
      ``{"<metric>@K": scalar}`` for the metrics of ``METRICS`` and ``"num_users"``, the
      number of users with at least one held-out item (those averaged over).
    """
    targets = {"": (eval_users, eval_items, exclude_users, exclude_items)}
    return {k.lstrip("/"): v for k, v in evaluate_topn_targets(
        score_fn, num_users, num_items, targets, ks, batch_size).items()}


def evaluate_topn_targets(score_fn: Callable[[jax.Array], jax.Array], num_users: int,
                          num_items: int, targets: Mapping[str, tuple[Any, Any, Any, Any]],
                          ks: Sequence[int] = (10, 20), batch_size: int = 256
                          ) -> dict[str, jax.Array]:
    """``evaluate_topn`` for several held-out sets at once, scoring each user batch once.

    Args:
      score_fn, num_users, num_items, ks, batch_size: as ``evaluate_topn``.
      targets: ``name -> (eval_users, eval_items, exclude_users, exclude_items)``, e.g.
        ``{"val": ..., "test": ...}``.

    Returns:
      ``{"<name>/<metric>@K": scalar, "<name>/num_users": scalar}``.
    """
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1 or max(ks) > num_items:
        raise ValueError(f"ks must be non-empty and lie in [1, num_items={num_items}], got {ks}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for target, (eu, ei, xu, xi) in targets.items():
        _check_pairs(f"{target}: eval", eu, ei, num_users, num_items)
        _check_pairs(f"{target}: exclude", xu, xi, num_users, num_items)
    num_batches = -(-num_users // batch_size)
    kmax = max(ks)

    def one_batch(first):
        users = first + jnp.arange(batch_size, dtype=jnp.int32)
        real = users < num_users
        scores = score_fn(jnp.minimum(users, num_users - 1))
        if scores.shape != (batch_size, num_items):
            raise ValueError(f"score_fn must return [{batch_size}, {num_items}], got "
                             f"{scores.shape}")
        sums = {}
        for target, (eu, ei, xu, xi) in targets.items():
            exclude = pair_mask(xu, xi, first, batch_size, num_items)
            relevant = pair_mask(eu, ei, first, batch_size, num_items)
            per_user = metrics_from_ranking(top_k_items(scores, kmax, exclude), relevant, ks)
            valid = (real & (per_user.pop("num_relevant") > 0)).astype(jnp.float32)
            sums.update({f"{target}/{name}": (v * valid).sum() for name, v in per_user.items()})
            sums[f"{target}/num_users"] = valid.sum()
        return sums

    firsts = jnp.arange(num_batches, dtype=jnp.int32) * batch_size
    sums = jax.tree_util.tree_map(lambda x: x.sum(axis=0), jax.lax.map(one_batch, firsts))
    out = {}
    for target in targets:
        count = sums[f"{target}/num_users"]
        for name in METRICS:
            if name == "f1":
                continue
            for k in ks:
                out[f"{target}/{name}@{k}"] = sums[f"{target}/{name}@{k}"] / jnp.maximum(count,
                                                                                         1.0)
        for k in ks:
            p, r = out[f"{target}/precision@{k}"], out[f"{target}/recall@{k}"]
            out[f"{target}/f1@{k}"] = jnp.where(p + r > 0, 2 * p * r / jnp.maximum(p + r, 1e-30),
                                                0.0)
        out[f"{target}/num_users"] = count
    return out


def _check_pairs(name: str, users, items, num_users: int, num_items: int) -> None:
    if np.ndim(users) != 1 or np.shape(users) != np.shape(items):
        raise ValueError(f"{name} users {np.shape(users)} and items {np.shape(items)} must be "
                         "equal 1-D shapes")
    if isinstance(users, jax.core.Tracer) or isinstance(items, jax.core.Tracer):
        return
    users, items = np.asarray(users), np.asarray(items)
    if users.size and (users.min() < 0 or users.max() >= num_users or items.min() < 0
                       or items.max() >= num_items):
        raise ValueError(f"{name} pairs must lie in [0, {num_users}) x [0, {num_items})")
