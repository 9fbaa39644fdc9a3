"""Implicit-feedback recommendation data: interactions, splits, the user-item graph, BPR batches.

From a ``RatingsDataset`` (MovieLens style) this module builds what graph recommenders train on:

* ``implicit_feedback``: ratings >= a threshold become binary interactions, split 80/10/10 at
  random (Sheaf4Rec's ``dataset.py``: ratings >= 3, ``train_test_split`` twice) or along the
  dataset's own fold (``u1.base`` / ``u1.test``, a validation share carved out of the base).
  As in Sheaf4Rec, users and items are relabelled to those seen in training (ids ``0..U-1``,
  ``0..I-1`` in order of the original ids) and validation/test interactions of unseen users or
  items are dropped.
* ``bipartite_graph``: the user-item graph with items offset by ``num_users``, both directions.
* ``bpr_tables`` / ``sample_bpr``: a jittable BPR sampler (Rendle et al., UAI 2009) — a batch of
  users, one training positive each, one negative outside the user's training items, checked
  against the sorted pair keys ``u * I + i`` with ``searchsorted`` (no dense U x I matrix).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.data.types import RatingsDataset

__all__ = ["Interactions", "implicit_feedback", "movielens_100k_interactions", "bipartite_graph",
           "BPRTables", "bpr_tables", "sample_bpr"]

_SPLITS = ("random", "fold")


def _sorted_pairs(users: np.ndarray, items: np.ndarray, num_items: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Unique (user, item) pairs sorted by user, then item, as int32 arrays."""
    keys = np.unique(users.astype(np.int64) * num_items + items.astype(np.int64))
    return (keys // num_items).astype(np.int32), (keys % num_items).astype(np.int32)


@dataclasses.dataclass(frozen=True, eq=False)
class Interactions:
    """Binary user-item interactions split into train / validation / test.

    Every pair list is unique and sorted by user, then item; every user and item occurs in
    training (ids relabelled, see the module docstring).

    Attributes:
      name: e.g. ``"movielens-100k/u1 r>=3 random(seed=0)"``.
      num_users: U.
      num_items: I.
      train_users_P, train_items_P: [P] int32 training pairs.
      val_users_V, val_items_V: [V] int32 validation pairs (disjoint from training).
      test_users_T, test_items_T: [T] int32 test pairs (disjoint from training and validation).
      user_ids: [U] original user id of each new id.
      item_ids: [I] original item id of each new id.
    """

    name: str
    num_users: int
    num_items: int
    train_users_P: np.ndarray
    train_items_P: np.ndarray
    val_users_V: np.ndarray
    val_items_V: np.ndarray
    test_users_T: np.ndarray
    test_items_T: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray

    def __post_init__(self) -> None:
        for part in ("train", "val", "test"):
            users, items = self.pairs(part)
            if users.shape != items.shape or users.ndim != 1:
                raise ValueError(f"{self.name}: {part} users {users.shape} and items "
                                 f"{items.shape} must be equal 1-D shapes")
            if users.size and not (0 <= users.min() and users.max() < self.num_users
                                   and 0 <= items.min() and items.max() < self.num_items):
                raise ValueError(f"{self.name}: {part} ids out of range [0, {self.num_users}) x "
                                 f"[0, {self.num_items})")
        keys = {part: self._keys(part) for part in ("train", "val", "test")}
        if (np.intersect1d(keys["train"], keys["val"]).size
                or np.intersect1d(keys["train"], keys["test"]).size
                or np.intersect1d(keys["val"], keys["test"]).size):
            raise ValueError(f"{self.name}: train / val / test pairs overlap")

    def _keys(self, part: str) -> np.ndarray:
        users, items = self.pairs(part)
        return users.astype(np.int64) * self.num_items + items

    def pairs(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """``(users, items)`` of ``part`` in {"train", "val", "test"}."""
        if part not in ("train", "val", "test"):
            raise ValueError(f"part must be 'train', 'val' or 'test', got {part!r}")
        short = {"train": "P", "val": "V", "test": "T"}[part]
        return getattr(self, f"{part}_users_{short}"), getattr(self, f"{part}_items_{short}")

    @property
    def num_train(self) -> int:
        """P, the number of training interactions."""
        return int(self.train_users_P.shape[0])

    def item_degree(self) -> np.ndarray:
        """[I] number of training interactions of each item (item popularity)."""
        return np.bincount(self.train_items_P, minlength=self.num_items)


def implicit_feedback(ratings: RatingsDataset, *, min_rating: float = 3.0,
                      split: str = "random", seed: int = 0, val_fraction: float = 0.1,
                      test_fraction: float = 0.1) -> Interactions:
    """Binary interactions (rating >= ``min_rating``) with a seeded train / val / test split.

    Args:
      ratings: explicit ratings, e.g. ``load_movielens_100k(root, fold=1)``.
      min_rating: ratings at or above it are positives (Sheaf4Rec: 3 for MovieLens).
      split: ``"random"`` splits all positives at random into 1 - val - test / val / test
        (Sheaf4Rec: 80/10/10); ``"fold"`` keeps the dataset's test rows as test and moves a
        random ``val_fraction`` of its training positives to validation.
      seed: seed of the random split.
      val_fraction: share of the positives (``"random"``) or of the training positives
        (``"fold"``) in validation.
      test_fraction: share of the positives in test (``"random"`` only).

    Returns:
      ``Interactions`` relabelled to the users and items seen in training.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"need 0 <= val_fraction, test_fraction and val + test < 1, got "
                         f"{val_fraction}, {test_fraction}")
    keep = ratings.ratings >= min_rating
    users, items = ratings.users[keep], ratings.items[keep]
    rng = np.random.default_rng(seed)
    part = np.zeros(users.shape[0], np.int8)      # 0 train, 1 val, 2 test
    if split == "random":
        order = rng.permutation(users.shape[0])
        n_val = int(round(val_fraction * users.shape[0]))
        n_test = int(round(test_fraction * users.shape[0]))
        part[order[users.shape[0] - n_val - n_test:users.shape[0] - n_test]] = 1
        part[order[users.shape[0] - n_test:]] = 2
    else:
        part[ratings.test_mask[keep]] = 2
        base = np.flatnonzero(part == 0)
        part[rng.choice(base, int(round(val_fraction * base.size)), replace=False)] = 1
    user_ids, user_new = np.unique(users[part == 0], return_inverse=True)
    item_ids, item_new = np.unique(items[part == 0], return_inverse=True)
    if user_ids.size == 0:
        raise ValueError(f"{ratings.name}: no training interaction with rating >= {min_rating}")
    num_users, num_items = int(user_ids.size), int(item_ids.size)
    tr_u, tr_i = _sorted_pairs(user_new, item_new, num_items)

    def relabel(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u, i = users[mask], items[mask]
        pu, pi = np.searchsorted(user_ids, u), np.searchsorted(item_ids, i)
        seen = ((pu < num_users) & (user_ids[np.minimum(pu, num_users - 1)] == u)
                & (pi < num_items) & (item_ids[np.minimum(pi, num_items - 1)] == i))
        return pu[seen], pi[seen]

    va_u, va_i = _sorted_pairs(*relabel(part == 1), num_items)
    te_u, te_i = _sorted_pairs(*relabel(part == 2), num_items)
    # A pair rated twice cannot happen in MovieLens; drop evaluation pairs that are also training
    # (or, for test, validation) pairs so the parts stay disjoint for any input.
    train_keys = tr_u.astype(np.int64) * num_items + tr_i
    va_k = va_u.astype(np.int64) * num_items + va_i
    va_keep = ~np.isin(va_k, train_keys)
    te_keep = ~np.isin(te_u.astype(np.int64) * num_items + te_i,
                       np.concatenate([train_keys, va_k[va_keep]]))
    name = f"{ratings.name} r>={min_rating:g} {split}(seed={seed})"
    return Interactions(name=name, num_users=num_users, num_items=num_items,
                        train_users_P=tr_u, train_items_P=tr_i,
                        val_users_V=va_u[va_keep], val_items_V=va_i[va_keep],
                        test_users_T=te_u[te_keep], test_items_T=te_i[te_keep],
                        user_ids=user_ids.astype(np.int32), item_ids=item_ids.astype(np.int32))


def bipartite_graph(inter: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The training user-item graph on U + I nodes, items offset by U, both directions.

    Edges ``0..P-1`` go user -> item and edges ``P..2P-1`` are their reverses (item -> user), as
    Sheaf4Rec's ``train_edge_index`` stacks them.

    Returns:
      ``(senders_E, receivers_E, reverse_E, num_nodes)`` with E = 2P int32 arrays;
      ``reverse_E[e]`` is the index of the edge opposite to e.
    """
    u = inter.train_users_P
    i = inter.train_items_P + inter.num_users
    p = inter.num_train
    senders = np.concatenate([u, i]).astype(np.int32)
    receivers = np.concatenate([i, u]).astype(np.int32)
    reverse = np.concatenate([np.arange(p, 2 * p), np.arange(p)]).astype(np.int32)
    return senders, receivers, reverse, inter.num_users + inter.num_items


class BPRTables(NamedTuple):
    """Training pairs in CSR form for ``sample_bpr`` (device arrays, a pytree).

    Attributes:
      indptr_U1: [U + 1] int32; user u's items are ``items_P[indptr[u]:indptr[u + 1]]``.
      items_P: [P] int32 training items, sorted within each user.
      keys_P: [P] int32 sorted ``u * I + i`` keys of the training pairs (membership checks).
    """

    indptr_U1: jax.Array
    items_P: jax.Array
    keys_P: jax.Array


def bpr_tables(inter: Interactions) -> BPRTables:
    """The ``BPRTables`` of the training pairs of ``inter``."""
    if inter.num_users * inter.num_items >= 2 ** 31:
        raise ValueError(f"U * I = {inter.num_users * inter.num_items} overflows the int32 "
                         "pair keys of the BPR sampler")
    indptr = np.zeros(inter.num_users + 1, np.int32)
    np.cumsum(np.bincount(inter.train_users_P, minlength=inter.num_users), out=indptr[1:])
    keys = inter.train_users_P.astype(np.int64) * inter.num_items + inter.train_items_P
    return BPRTables(jnp.asarray(indptr), jnp.asarray(inter.train_items_P),
                     jnp.asarray(keys.astype(np.int32)))


def _is_train_pair(tables: BPRTables, users_B: jax.Array, items_B: jax.Array,
                   num_items: int) -> jax.Array:
    keys = users_B * num_items + items_B
    pos = jnp.searchsorted(tables.keys_P, keys)
    return tables.keys_P[jnp.minimum(pos, tables.keys_P.shape[0] - 1)] == keys


def sample_bpr(key: jax.Array, tables: BPRTables, num_items: int, batch_size: int
               ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One BPR batch: users, a training positive of each, a negative outside its training items.

    Users are drawn uniformly with replacement (Sheaf4Rec samples 1024 users; ML-100K has
    fewer, so it draws with replacement too), the positive uniformly among the user's training
    items, the negative uniformly among all items and redrawn (``lax.while_loop``) until it is
    not a training item of the user. Jittable; ``num_items`` and ``batch_size`` are static.

    Args:
      key: PRNG key.
      tables: ``bpr_tables(inter)``.
      num_items: I.
      batch_size: B.

    Returns:
      ``(users_B, pos_items_B, neg_items_B)`` int32 ids (items not offset by U).
    """
    num_users = tables.indptr_U1.shape[0] - 1
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    k_user, k_pos, k_neg = jax.random.split(key, 3)
    users = jax.random.randint(k_user, (batch_size,), 0, num_users, jnp.int32)
    start, stop = tables.indptr_U1[users], tables.indptr_U1[users + 1]
    offset = jnp.floor(jax.random.uniform(k_pos, (batch_size,)) * (stop - start)).astype(jnp.int32)
    pos = tables.items_P[start + jnp.minimum(offset, stop - start - 1)]

    def redraw(carry):
        neg, bad, k = carry
        k, sub = jax.random.split(k)
        neg = jnp.where(bad, jax.random.randint(sub, (batch_size,), 0, num_items, jnp.int32), neg)
        return neg, _is_train_pair(tables, users, neg, num_items), k

    neg0 = jnp.zeros((batch_size,), jnp.int32)
    neg, _, _ = jax.lax.while_loop(lambda c: c[1].any(), redraw,
                                   (neg0, jnp.ones((batch_size,), bool), k_neg))
    return users, pos, neg


def movielens_100k_interactions(root: str | None = None, *, max_users: int = 0,
                                **kwargs) -> Interactions:
    """``implicit_feedback`` of MovieLens-100K (fold u1's file order; ``split="fold"`` uses the
    u1.base / u1.test fold).

    Args:
      root: data root (see ``jaxnets.data``).
      max_users: > 0 keeps only the ratings of users with id < ``max_users`` (small smoke runs).
      **kwargs: ``implicit_feedback``'s keyword arguments.
    """
    from jaxnets.data.movielens import load_movielens_100k

    ratings = load_movielens_100k(root, fold=1)
    if max_users < 0:
        raise ValueError(f"max_users must be >= 0, got {max_users}")
    if max_users:
        keep = ratings.users < max_users
        ratings = dataclasses.replace(
            ratings, name=f"{ratings.name}[users<{max_users}]", users=ratings.users[keep],
            items=ratings.items[keep], ratings=ratings.ratings[keep],
            timestamps=ratings.timestamps[keep], train_mask=ratings.train_mask[keep],
            test_mask=ratings.test_mask[keep])
    return implicit_feedback(ratings, **kwargs)
