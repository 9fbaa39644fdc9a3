"""Random node splits: a per-class training count (Planetoid style) or fractions (dense splits).

The per-class mode follows PyG's ``RandomNodeSplit(split="random")``: ``train_per_class`` nodes of
each class, then ``num_val`` and ``num_test`` nodes drawn from the remaining labelled nodes
(Kipf & Welling 2017; Shchur et al., "Pitfalls of Graph Neural Network Evaluation", 2018). The
fraction mode splits a random permutation of the labelled nodes, as in the 60/20/20 dense splits
of Chien et al. (GPR-GNN, ICLR 2021). Nodes labelled -1 are never selected.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _rank_within_class(labels: np.ndarray, order: np.ndarray) -> np.ndarray:
    """For the nodes in ``order``, their position among same-class nodes of ``order``."""
    lab = labels[order]
    by_class = np.argsort(lab, kind="stable")  # random order kept within each class
    sorted_lab = lab[by_class]
    first = np.searchsorted(sorted_lab, sorted_lab, side="left")
    rank = np.empty(order.size, np.int64)
    rank[by_class] = np.arange(order.size) - first
    return rank


def random_node_split(labels: np.ndarray, *, train_per_class: int | None = None,
                      fractions: Sequence[float] | None = None, seed: int,
                      num_val: int = 500, num_test: int | None = 1000,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random train/val/test node masks.

    Exactly one of ``train_per_class`` and ``fractions`` must be given.

    Args:
      labels: [N] int class ids, -1 for unlabelled nodes (never selected).
      train_per_class: k training nodes from every class (an error if a class has fewer than
        k labelled nodes); then ``num_val`` validation and ``num_test`` test nodes drawn from
        the remaining labelled nodes (``num_test=None``: all the rest).
      fractions: ``(train, val, test)`` fractions of the labelled nodes, each >= 0, summing to
        at most 1 (up to 1e-9). Sizes are ``floor(fraction * L)`` for train and val and the
        test size is ``floor`` too, except that when the fractions sum to 1 every labelled node
        not in train/val is a test node.
      seed: numpy seed; the same seed gives the same masks.
      num_val: validation size in per-class mode.
      num_test: test size in per-class mode (None: every remaining labelled node).

    Returns:
      ``(train_mask, val_mask, test_mask)``, each [N] bool, pairwise disjoint.

    Raises:
      ValueError: both or neither mode given, invalid sizes, or too few labelled nodes.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got {labels.shape} {labels.dtype}")
    if (train_per_class is None) == (fractions is None):
        raise ValueError("give exactly one of train_per_class= and fractions=")
    n = labels.shape[0]
    rng = np.random.default_rng(seed)
    labelled = np.flatnonzero(labels >= 0)
    order = labelled[rng.permutation(labelled.size)]
    train = np.zeros(n, bool)
    val = np.zeros(n, bool)
    test = np.zeros(n, bool)

    if train_per_class is not None:
        if train_per_class < 1:
            raise ValueError(f"train_per_class must be >= 1, got {train_per_class}")
        classes, counts = np.unique(labels[labelled], return_counts=True)
        if (counts < train_per_class).any():
            bad = classes[counts < train_per_class]
            raise ValueError(f"train_per_class={train_per_class} but classes {bad.tolist()} "
                             f"have only {counts[counts < train_per_class].tolist()} nodes")
        picked = _rank_within_class(labels, order) < train_per_class
        train[order[picked]] = True
        rest = order[~picked]
        n_test = rest.size - num_val if num_test is None else num_test
        if num_val < 0 or n_test < 0 or num_val + n_test > rest.size:
            raise ValueError(f"num_val={num_val} + num_test={num_test} exceed the "
                             f"{rest.size} labelled nodes left after training selection")
        val[rest[:num_val]] = True
        test[rest[num_val:num_val + n_test]] = True
        return train, val, test

    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or (fr < 0).any() or fr.sum() > 1 + 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to <= 1, "
                         f"got {fractions}")
    m = order.size
    n_train, n_val = int(np.floor(fr[0] * m)), int(np.floor(fr[1] * m))
    n_test = m - n_train - n_val if abs(fr.sum() - 1) <= 1e-9 else int(np.floor(fr[2] * m))
    train[order[:n_train]] = True
    val[order[n_train:n_train + n_val]] = True
    test[order[n_train + n_val:n_train + n_val + n_test]] = True
    return train, val, test


def random_node_splits(labels: np.ndarray, num_splits: int, *, seed: int,
                       **kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``num_splits`` independent ``random_node_split`` draws (seeds ``seed + k``), stacked.

    Returns:
      ``(train, val, test)`` masks, each [num_splits, N] bool.
    """
    if num_splits < 1:
        raise ValueError(f"num_splits must be >= 1, got {num_splits}")
    draws = [random_node_split(labels, seed=seed + k, **kwargs) for k in range(num_splits)]
    return tuple(np.stack(m) for m in zip(*draws))  # type: ignore[return-value]
