"""Link-prediction splits and negative sampling (vectorised numpy, seeded).

The split follows the transductive protocol of PyG's ``RandomLinkSplit`` and of SEAL/NCN-style
link prediction (Zhang & Chen, NeurIPS 2018; Wang et al., "Neural Common Neighbor", ICLR 2024):
held-out validation and test edges are removed from the graph that message passing sees, so a
model can never read the answer off its input.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from jaxnets.data import _edges

_ENUMERATE_LIMIT = 1 << 22  # enumerate the complement when the pair space is this small


@dataclasses.dataclass(frozen=True, eq=False)
class LinkSplit:
    """Positive and negative node pairs of a link-prediction split.

    Pair arrays are [E_x, 2] int32 rows ``(u, v)``; for an undirected split ``u < v`` and a pair
    stands for both directions.

    Attributes:
      train_pos: training edges; these and only these are in the message-passing graph.
      val_pos: validation edges, absent from the message-passing graph.
      val_neg: validation non-edges (not edges of the full graph, not self-loops).
      test_pos: test edges, absent from the message-passing graph.
      test_neg: test non-edges, disjoint from ``val_neg``.
      message_passing_senders: [E_mp] int32; the training edges (both directions if undirected).
      message_passing_receivers: [E_mp] int32.
      num_nodes: N.
      undirected: whether pairs are unordered (added to the interface: a consumer drawing
        training negatives needs to know).
    """

    train_pos: np.ndarray
    val_pos: np.ndarray
    val_neg: np.ndarray
    test_pos: np.ndarray
    test_neg: np.ndarray
    message_passing_senders: np.ndarray
    message_passing_receivers: np.ndarray
    num_nodes: int
    undirected: bool = True


def _as_pairs(edges) -> np.ndarray:
    """[E, 2] int64 from an [E, 2] array or a ``(senders, receivers)`` pair."""
    if isinstance(edges, tuple) and len(edges) == 2:
        s, r = (np.asarray(a).reshape(-1) for a in edges)
        if s.shape != r.shape:
            raise ValueError(f"senders and receivers differ in length: {s.shape} vs {r.shape}")
        return np.stack([s, r], axis=1).astype(np.int64)
    arr = np.asarray(edges)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"edges must be an [E, 2] array or a (senders, receivers) tuple, "
                         f"got shape {arr.shape}")
    return arr.astype(np.int64)


def _distinct_in_order(ids: np.ndarray) -> np.ndarray:
    """Distinct values of ``ids`` in order of first occurrence."""
    _, first = np.unique(ids, return_index=True)
    return ids[np.sort(first)]


def negative_sampling(pos_pairs_or_edges, num_nodes: int, num_samples: int, *, seed: int,
                      exclude_self_loops: bool = True, undirected: bool = False) -> np.ndarray:
    """Uniformly samples distinct node pairs that are not edges.

    Vectorised rejection sampling: batches of uniform pairs are drawn, pairs that are edges (or
    self-loops, or already drawn) are dropped, until ``num_samples`` remain; when the pair space
    is small (<= 2^22 pairs) or mostly edges, the complement is enumerated and sampled directly.

    Args:
      pos_pairs_or_edges: the edges to avoid: an [E, 2] int array or ``(senders, receivers)``.
      num_nodes: N; ids lie in [0, N).
      num_samples: number of pairs to return.
      seed: numpy seed; same inputs and seed give the same pairs.
      exclude_self_loops: never return ``(i, i)``.
      undirected: treat pairs as unordered: avoid both directions of every edge and return
        canonical pairs ``u <= v`` (with ``exclude_self_loops=False`` and a large graph, a
        self-loop is drawn with half the probability of another pair).

    Returns:
      [num_samples, 2] int32 distinct pairs, none an edge.

    Raises:
      ValueError: fewer than ``num_samples`` non-edges exist, or ids out of range.
    """
    pos = _as_pairs(pos_pairs_or_edges)
    n = int(num_nodes)
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    if pos.size and (pos.min() < 0 or pos.max() >= n):
        raise ValueError(f"edge ids must lie in [0, {n})")
    u, v = pos[:, 0], pos[:, 1]
    if undirected:
        u, v = np.minimum(u, v), np.maximum(u, v)
    pos_ids = np.unique(u * n + v)
    if exclude_self_loops:
        pos_ids = pos_ids[pos_ids // n != pos_ids % n]
    if undirected:
        space = n * (n - 1) // 2 + (0 if exclude_self_loops else n)
    else:
        space = n * n - (n if exclude_self_loops else 0)
    available = space - pos_ids.size
    if num_samples > available:
        raise ValueError(f"asked for num_samples={num_samples} negatives but only {available} "
                         f"non-edge pairs exist among num_nodes={n}")
    rng = np.random.default_rng(seed)

    def valid(ids: np.ndarray) -> np.ndarray:
        a, b = ids // n, ids % n
        ok = ~np.isin(ids, pos_ids, assume_unique=False)
        if undirected:
            ok &= a <= b
        if exclude_self_loops:
            ok &= a != b
        return ok

    if n * n <= _ENUMERATE_LIMIT or 2 * num_samples > available:
        all_ids = np.arange(n * n, dtype=np.int64)
        candidates = all_ids[valid(all_ids)]
        chosen = rng.choice(candidates, size=num_samples, replace=False)
    else:
        accept = available / (n * n)
        chosen = np.zeros(0, np.int64)
        while chosen.size < num_samples:  # a few rounds of vectorised draws
            need = num_samples - chosen.size
            a = rng.integers(0, n, size=int(need / accept * 1.2) + 64)
            b = rng.integers(0, n, size=a.size)
            if undirected:
                a, b = np.minimum(a, b), np.maximum(a, b)
            ids = a * n + b
            chosen = _distinct_in_order(np.concatenate([chosen, ids[valid(ids)]]))
        chosen = chosen[:num_samples]
    return np.stack([chosen // n, chosen % n], axis=1).astype(np.int32)


def link_split(senders: np.ndarray, receivers: np.ndarray, num_nodes: int, *,
               val_fraction: float = 0.05, test_fraction: float = 0.1, seed: int,
               undirected: bool = True, num_neg_per_pos: int = 1) -> LinkSplit:
    """Random train/val/test split of the edges, with negatives and a leak-free graph.

    Edges are first made unique pairs (unordered ``u < v`` if ``undirected``, else directed),
    with **self-loops dropped** (they are not predicted and not kept for message passing; add
    them in the model if it wants them). A seeded permutation then assigns
    ``floor(test_fraction * M)`` pairs to test, ``floor(val_fraction * M)`` to validation and the
    rest to training. The message-passing graph holds exactly the training pairs (both directions
    if undirected), so no validation or test edge, in either direction, reaches the model.

    Validation and test negatives (``num_neg_per_pos`` per positive) are distinct non-edges of
    the *full* graph, drawn in one call so the two sets are disjoint. Training negatives are not
    fixed here: draw them per step with ``negative_sampling(split.train_pos, ...)``.

    Args:
      senders: [E] int.
      receivers: [E] int.
      num_nodes: N.
      val_fraction: fraction of the unique pairs held out for validation.
      test_fraction: fraction held out for test.
      seed: numpy seed.
      undirected: treat edges as unordered pairs.
      num_neg_per_pos: negatives per validation/test positive.

    Returns:
      A ``LinkSplit``.
    """
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise ValueError(f"need val_fraction, test_fraction >= 0 with sum < 1, got "
                         f"{val_fraction}, {test_fraction}")
    if num_neg_per_pos < 0:
        raise ValueError(f"num_neg_per_pos must be >= 0, got {num_neg_per_pos}")
    if undirected:
        pairs = _edges.undirected_pairs(senders, receivers, num_nodes)
    else:
        s, r = _edges.dedupe(senders, receivers, num_nodes, drop_self_loops=True)
        pairs = np.stack([s, r], axis=1)
    m = pairs.shape[0]
    n_test, n_val = int(np.floor(test_fraction * m)), int(np.floor(val_fraction * m))
    if m - n_test - n_val < 1:
        raise ValueError(f"only {m} unique edges: nothing left for training")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(m)
    test_pos = pairs[perm[:n_test]]
    val_pos = pairs[perm[n_test:n_test + n_val]]
    train_pos = pairs[np.sort(perm[n_test + n_val:])]
    negs = negative_sampling(pairs, num_nodes, (n_val + n_test) * num_neg_per_pos,
                             seed=int(rng.integers(2**31)), undirected=undirected)
    if undirected:
        mp_s, mp_r = _edges.symmetrize(train_pos[:, 0], train_pos[:, 1], num_nodes)
    else:
        mp_s, mp_r = train_pos[:, 0].astype(np.int32), train_pos[:, 1].astype(np.int32)
    return LinkSplit(train_pos=train_pos.astype(np.int32), val_pos=val_pos.astype(np.int32),
                     val_neg=negs[:n_val * num_neg_per_pos],
                     test_pos=test_pos.astype(np.int32),
                     test_neg=negs[n_val * num_neg_per_pos:], message_passing_senders=mp_s,
                     message_passing_receivers=mp_r, num_nodes=int(num_nodes),
                     undirected=undirected)
