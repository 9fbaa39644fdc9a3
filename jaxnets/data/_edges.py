"""Edge-list clean-up shared by the loaders: dedup, self-loops, symmetrisation (vectorised).

Every function returns ``(senders_E, receivers_E)`` as int32 arrays sorted by
``(sender, receiver)``, so the output of a loader does not depend on the line order of its file.
"""
from __future__ import annotations

import numpy as np


def _check(senders: np.ndarray, receivers: np.ndarray, num_nodes: int) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    s = np.asarray(senders).astype(np.int64, copy=False).reshape(-1)
    r = np.asarray(receivers).astype(np.int64, copy=False).reshape(-1)
    if s.shape != r.shape:
        raise ValueError(f"senders and receivers differ in length: {s.shape} vs {r.shape}")
    if s.size and (min(s.min(), r.min()) < 0 or max(s.max(), r.max()) >= num_nodes):
        raise ValueError(f"edge endpoints must lie in [0, {num_nodes}); got "
                         f"[{min(s.min(), r.min())}, {max(s.max(), r.max())}]")
    return s, r


def dedupe(senders: np.ndarray, receivers: np.ndarray, num_nodes: int,
           *, drop_self_loops: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Unique directed edges (direction kept), optionally without self-loops.

    Args:
      senders: [E] int source ids.
      receivers: [E] int target ids.
      num_nodes: N; every id must lie in [0, N).
      drop_self_loops: remove edges i -> i.

    Returns:
      ``(senders, receivers)``, int32, unique, sorted by (sender, receiver).
    """
    s, r = _check(senders, receivers, num_nodes)
    if drop_self_loops:
        keep = s != r
        s, r = s[keep], r[keep]
    ids = np.unique(s * num_nodes + r)
    return (ids // num_nodes).astype(np.int32), (ids % num_nodes).astype(np.int32)


def symmetrize(senders: np.ndarray, receivers: np.ndarray, num_nodes: int,
               *, drop_self_loops: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of every edge, deduplicated (a self-loop is stored once).

    Args:
      senders: [E] int source ids.
      receivers: [E] int target ids.
      num_nodes: N.
      drop_self_loops: remove edges i -> i.

    Returns:
      ``(senders, receivers)``, int32, sorted; (i, j) is present iff (j, i) is.
    """
    s, r = _check(senders, receivers, num_nodes)
    return dedupe(np.concatenate([s, r]), np.concatenate([r, s]), num_nodes,
                  drop_self_loops=drop_self_loops)


def undirected_pairs(senders: np.ndarray, receivers: np.ndarray,
                     num_nodes: int) -> np.ndarray:
    """Unique unordered pairs ``i < j`` (self-loops dropped), as an [M, 2] int32 array."""
    s, r = _check(senders, receivers, num_nodes)
    keep = s != r
    lo, hi = np.minimum(s[keep], r[keep]), np.maximum(s[keep], r[keep])
    ids = np.unique(lo * num_nodes + hi)
    return np.stack([ids // num_nodes, ids % num_nodes], axis=1).astype(np.int32)
