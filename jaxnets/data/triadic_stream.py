"""A seeded synthetic temporal stream in which new edges close triangles.

The mini-reproduction of NAT (Luo & Li, LoG 2022; notes ``papers-solvers-fed-net.md`` §2) needs a
stream whose next link is predictable from the *joint* neighbourhood of the pair (a common
neighbour) but not from either endpoint alone: the case their Fig. 1 uses to argue for joint
structural features over single-vector memories (TGN, JODIE).

Generative process (``triadic_closure_stream``), event k = 0 .. T-1:
  1. the source u is drawn with probability proportional to a fixed activity a_u; the activities
     are Pareto(``activity_alpha``) + 1 draws, so a few nodes are much more active than most;
  2. with probability ``p_close``, if u has a recent partner with a recent partner other than u,
     the destination is a *friend of a recent contact*: x uniform over the ``recent`` most
     recent distinct partners of u, then w uniform over the ``recent`` most recent distinct
     partners of x other than u (this closes the wedge u - x - w);
  3. otherwise (or when u has no such wedge) the destination is uniform over the other N - 1 nodes;
  4. the time of event k is the previous time plus an Exp(``mean_gap_s``) gap, rounded down to
     whole seconds (int64, non-decreasing);
  5. u and w become each other's most recent partner.
"Partner" means an earlier event in either direction. No self-loops. Why recency: with
uniform choices over *all* past neighbours, 400 nodes and 12k events make the graph so dense
that ~70 % of uniformly random pairs also close a triangle, and no bounded-memory model (nor a
cache of a node's recent partners) can see the signal; closures through recent contacts are also
what social and message streams show (friends introduced by those one talks to now).
"""
from __future__ import annotations

import numpy as np

from jaxnets.data.types import TemporalEdges


def triadic_closure_stream(num_nodes: int = 400, num_events: int = 12_000, p_close: float = 0.6,
                           recent: int = 5, activity_alpha: float = 2.0,
                           mean_gap_s: float = 60.0, seed: int = 0) -> TemporalEdges:
    """Samples the stream described in the module docstring.

    Args:
      num_nodes: N >= 3.
      num_events: T >= 1.
      p_close: probability in [0, 1] that an event closes a wedge (step 2).
      recent: how many most recent distinct partners step 2 chooses among, >= 1.
      activity_alpha: Pareto shape > 0 of the source activities (step 1).
      mean_gap_s: mean inter-event time in seconds, > 0.
      seed: numpy seed; the stream is a function of all arguments.

    Returns:
      ``TemporalEdges`` named ``"triadic"`` with 0-based ids, int64 seconds.
    """
    if num_nodes < 3:
        raise ValueError(f"num_nodes must be >= 3, got {num_nodes}")
    if num_events < 1:
        raise ValueError(f"num_events must be >= 1, got {num_events}")
    if not 0.0 <= p_close <= 1.0:
        raise ValueError(f"p_close must be in [0, 1], got {p_close}")
    if recent < 1:
        raise ValueError(f"recent must be >= 1, got {recent}")
    if activity_alpha <= 0 or mean_gap_s <= 0:
        raise ValueError("activity_alpha and mean_gap_s must be > 0")
    rng = np.random.default_rng(seed)
    activity = rng.pareto(activity_alpha, size=num_nodes) + 1.0
    sources = rng.choice(num_nodes, size=num_events, p=activity / activity.sum())
    partners: list[dict[int, None]] = [{} for _ in range(num_nodes)]   # distinct, oldest first
    src = np.empty(num_events, np.int32)
    dst = np.empty(num_events, np.int32)
    for k, u in enumerate(sources):
        u = int(u)
        w = -1
        if partners[u] and rng.random() < p_close:
            recent_u = list(partners[u])[-recent:]
            x = recent_u[rng.integers(len(recent_u))]
            options = [y for y in list(partners[x])[-recent:] if y != u]
            if options:
                w = options[rng.integers(len(options))]
        if w < 0:
            w = int(rng.integers(num_nodes - 1))
            w += w >= u
        src[k], dst[k] = u, w
        for a, b in ((u, w), (w, u)):
            partners[a].pop(b, None)
            partners[a][b] = None
    gaps = rng.exponential(mean_gap_s, size=num_events)
    t = np.floor(np.cumsum(gaps)).astype(np.int64)
    return TemporalEdges(name="triadic", src=src, dst=dst, t=t, num_nodes=num_nodes)
