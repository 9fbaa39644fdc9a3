"""Neighbour sets of node pairs and k-hop walk counts, without a dense N x N adjacency.

The link predictors of NCN/NCNC (Wang, Yang & Zhang, ICLR 2024) and the Topological
Concentration of Wang et al. (ICLR 2024) read, for a batch of node pairs (i, j), the sets
``N(i) ∩ N(j)`` (common neighbours), ``N(i) \\ N(j)`` and ``N(j) \\ N(i)`` (NCNC's completion), and
k-step walk counts ``(A^k)_{i·}``. Here the graph is a *padded sorted adjacency*: row i holds
i's neighbours in ascending order, padded with the sentinel N up to the maximum degree D. Pair
queries are then a gather of two rows and a binary search per real entry (``row_member``) —
O(Σ deg · log D), jittable with static shapes (the real entries are compacted into static
capacity levels, ``ragged_expand`` / ``lax.switch``), and memory O(N · D) instead of O(N^2).

Every row entry also carries the id of its undirected edge (the row of the ``[M, 2]`` pair list
the adjacency was built from), so target-link removal (NCN §4.2: the training batch's own edges
are hidden from the model) is a boolean mask over edge ids, applied inside ``jit``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.graph.csr import _bcsr_matmul

_DENSE_ROWS_LIMIT = 1 << 25  # B * N entries up to which pair aggregations scatter into dense rows


class PaddedAdjacency(NamedTuple):
    """Sorted neighbour lists of an undirected graph, padded to the maximum degree.

    Attributes:
      neighbors_NxD: int32 neighbour ids, ascending per row, padded with ``num_nodes``.
      edge_ids_NxD: int32 id of the undirected edge (row of the pair list) behind each entry,
        padded with ``num_edges``.
      degree_N: int32 number of real entries per row.
    """

    neighbors_NxD: jax.Array
    edge_ids_NxD: jax.Array
    degree_N: jax.Array

    @property
    def num_nodes(self) -> int:
        return self.neighbors_NxD.shape[0]

    @property
    def max_degree(self) -> int:
        return self.neighbors_NxD.shape[1]


def padded_adjacency(pairs_Mx2: Any, num_nodes: int) -> PaddedAdjacency:
    """Builds the padded sorted adjacency of an undirected graph (host-side, numpy).

    Args:
      pairs_Mx2: [M, 2] int undirected edges (each pair once; either orientation; no
        duplicates, no self-loops — e.g. ``LinkSplit.train_pos``).
      num_nodes: N.

    Returns:
      A ``PaddedAdjacency`` with D = max degree (at least 1).
    """
    pairs = np.asarray(pairs_Mx2, np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs_Mx2 must be an [M, 2] array, got shape {pairs.shape}")
    n, m = int(num_nodes), pairs.shape[0]
    if m and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError(f"pair endpoints must lie in [0, {n}), got [{pairs.min()}, {pairs.max()}]")
    if m and np.any(pairs[:, 0] == pairs[:, 1]):
        raise ValueError("pairs_Mx2 holds self-loops; a neighbour set never contains its node")
    canon = np.sort(pairs, axis=1)
    if np.unique(canon[:, 0] * n + canon[:, 1]).size != m:
        raise ValueError("pairs_Mx2 holds duplicate undirected edges")
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    eids = np.concatenate([np.arange(m), np.arange(m)])
    order = np.lexsort((cols, rows))
    rows, cols, eids = rows[order], cols[order], eids[order]
    degree = np.bincount(rows, minlength=n)
    width = max(int(degree.max(initial=0)), 1)
    start = np.concatenate([[0], np.cumsum(degree)[:-1]])
    slot = np.arange(rows.size) - start[rows]
    neighbors = np.full((n, width), n, np.int32)
    edge_ids = np.full((n, width), m, np.int32)
    neighbors[rows, slot] = cols
    edge_ids[rows, slot] = eids
    return PaddedAdjacency(jnp.asarray(neighbors), jnp.asarray(edge_ids),
                           jnp.asarray(degree.astype(np.int32)))


class PairNeighborhoods(NamedTuple):
    """Neighbour sets of a batch of pairs (i, j), as ids with membership masks.

    Attributes:
      ids_i_BxD: neighbours of i (sentinel N where not a neighbour).
      ids_j_BxD: neighbours of j.
      common_BxD: mask over ``ids_i``: in N(i) ∩ N(j).
      only_i_BxD: mask over ``ids_i``: in N(i) \\ N(j), excluding j itself.
      only_j_BxD: mask over ``ids_j``: in N(j) \\ N(i), excluding i itself.
    """

    ids_i_BxD: jax.Array
    ids_j_BxD: jax.Array
    common_BxD: jax.Array
    only_i_BxD: jax.Array
    only_j_BxD: jax.Array


def pair_neighborhoods(adj: PaddedAdjacency, i_B: Any, j_B: Any,
                       removed_edges_M: Any = None,
                       keep_NxD: Any = None) -> PairNeighborhoods:
    """Common and exclusive neighbours of node pairs (NCN eq. 6, NCNC eq. 8).

    Each entry of i's row is looked up in j's sorted row by binary search (``row_member``) and
    vice versa; hidden entries stay in place (the rows stay sorted, no per-pair sort) and are
    masked out.

    Args:
      adj: padded sorted adjacency.
      i_B: [B] int first nodes.
      j_B: [B] int second nodes.
      removed_edges_M: optional [M] bool over the adjacency's undirected edges; True hides the
        edge from both endpoints' rows (target-link removal).
      keep_NxD: optional [N, D] bool over the adjacency's entries; False hides an entry
        (directed: edge dropout of one row's entry), combined with ``removed_edges_M``.

    Returns:
      ``PairNeighborhoods``.
    """
    i_B, j_B = jnp.asarray(i_B), jnp.asarray(j_B)
    if i_B.ndim != 1 or i_B.shape != j_B.shape:
        raise ValueError(f"i_B and j_B must be 1-d of equal length, got {i_B.shape}, {j_B.shape}")
    n, d = adj.num_nodes, adj.max_degree
    keep = adj.neighbors_NxD < n
    if keep_NxD is not None:
        keep_NxD = jnp.asarray(keep_NxD)
        if keep_NxD.shape != keep.shape:
            raise ValueError(f"keep_NxD must be [N, D] = {keep.shape}, got {keep_NxD.shape}")
        keep &= keep_NxD
    if removed_edges_M is not None:
        removed = jnp.asarray(removed_edges_M)
        if removed.ndim != 1:
            raise ValueError(f"removed_edges_M must be a 1-d mask over the M undirected edges, "
                             f"got shape {removed.shape}")
        hidden = jnp.concatenate([removed.astype(bool), jnp.ones((1,), bool)])
        keep &= ~hidden[jnp.minimum(adj.edge_ids_NxD, removed.shape[0])]
    valid_i, valid_j = keep[i_B], keep[j_B]
    ids_i = jnp.where(valid_i, adj.neighbors_NxD[i_B], n)
    ids_j = jnp.where(valid_j, adj.neighbors_NxD[j_B], n)
    in_j = _entries_in_rows(adj, keep, j_B, ids_i, valid_i)
    in_i = _entries_in_rows(adj, keep, i_B, ids_j, valid_j)
    only_i = valid_i & ~in_j & (ids_i != j_B[:, None])
    only_j = valid_j & ~in_i & (ids_j != i_B[:, None])
    return PairNeighborhoods(ids_i, ids_j, in_j, only_i, only_j)


def _entries_in_rows(adj: PaddedAdjacency, keep_NxD: jax.Array, other_B: jax.Array,
                     ids_BxD: jax.Array, valid_BxD: jax.Array) -> jax.Array:
    """``ids[b, d] ∈ N(other[b])`` for the valid entries: [B, D] bool.

    Only the valid entries are looked up: they are compacted into the smallest of a few static
    capacities (B · 4, 8, 16, 32, 64 entries) that holds them, chosen by ``lax.switch`` (one branch
    runs); a batch with more falls back to searching every padded slot. On a sparse graph most of
    the B · D slots are padding (Cora: ~4 real entries per row against D = 117).
    """
    b, d = ids_BxD.shape
    count = valid_BxD.sum()

    def padded(_):
        hit = row_member(adj, jnp.repeat(other_B, d), ids_BxD.reshape(-1), keep_NxD)
        return hit.reshape(b, d) & valid_BxD

    def compacted(capacity: int):
        def branch(_):
            flat = jnp.nonzero(valid_BxD.reshape(-1), size=capacity, fill_value=0)[0]
            real = jnp.arange(capacity) < count
            hit = row_member(adj, other_B[flat // d], ids_BxD.reshape(-1)[flat], keep_NxD) & real
            return jnp.zeros((b * d,), bool).at[flat].max(hit).reshape(b, d)
        return branch

    capacities = [b * c for c in (4, 8, 16, 32, 64) if c < d]
    if not capacities:
        return padded(None)
    index = jnp.sum(count > jnp.asarray(capacities))     # first capacity >= count, or padded
    return jax.lax.switch(index, [compacted(c) for c in capacities] + [padded], None)


def common_neighbor_count(adj: PaddedAdjacency, i_B: Any, j_B: Any,
                          removed_edges_M: Any = None) -> jax.Array:
    """|N(i) ∩ N(j)| per pair: the CN heuristic (Liben-Nowell & Kleinberg, 2007). [B] int32."""
    return jnp.sum(pair_neighborhoods(adj, i_B, j_B, removed_edges_M).common_BxD, axis=1,
                   dtype=jnp.int32)


def gather_sum(ids_BxD: jax.Array, weights_BxD: jax.Array, x_NxF: jax.Array) -> jax.Array:
    """``out[b] = Σ_d weights[b, d] · x[ids[b, d]]`` (sentinel ids N contribute nothing).

    The rows of ``ids`` / ``weights`` are the rows of a CSR matrix [B, N] (D entries each), so the
    forward pass is one call of XLA's CPU CSR kernel (5x faster than scattering dense [B, N] rows
    and multiplying, on a Cora NCN batch). The gradient with respect to ``x`` is the transposed
    product over the *nonzero* weights only: they are compacted into the smallest of a few static
    capacities (B · 1, 4, 16 entries) that holds them (``lax.switch``, one branch runs) and
    scattered with ``segment_sum``; more nonzeros fall back to dense [B, N] rows when B · N is
    small, else a ``segment_sum`` over every slot. (NCN's rows are mostly zero weights: a Cora
    NCNC batch has ~9k nonzeros in 4608 x 117 slots; the compacted transpose takes 4.9 ms
    against 24 ms through dense rows.) The weights' gradient gathers rows of ``x`` (and is
    dropped by the compiler where nothing needs it).

    Args:
      ids_BxD: int ids in [0, N] (N = sentinel).
      weights_BxD: float weights (0 where an entry should not count).
      x_NxF: node features.

    Returns:
      [B, F].
    """
    return _gather_sum(ids_BxD, weights_BxD.astype(x_NxF.dtype), x_NxF)


def _csr_rows(ids_BxD, weights_BxD, n):
    b, d = ids_BxD.shape
    return (weights_BxD.reshape(-1), jnp.where(ids_BxD < n, ids_BxD, 0).reshape(-1).astype(
        jnp.int32), (jnp.arange(b + 1) * d).astype(jnp.int32))


@jax.custom_vjp
def _gather_sum(ids_BxD, weights_BxD, x_NxF):
    n = x_NxF.shape[0]
    w = jnp.where(ids_BxD < n, weights_BxD, 0.0)
    return _bcsr_matmul(*_csr_rows(ids_BxD, w, n), x_NxF, n)


def _gather_sum_fwd(ids_BxD, weights_BxD, x_NxF):
    return _gather_sum(ids_BxD, weights_BxD, x_NxF), (ids_BxD, weights_BxD, x_NxF)


def _transposed_product(ids_BxD: jax.Array, w_BxD: jax.Array, g_BxF: jax.Array,
                        n: int) -> jax.Array:
    """``Σ_{b,d} w[b, d] · g[b]`` into row ``ids[b, d]``: [N, F] (``w`` is 0 at sentinel ids)."""
    b, d = ids_BxD.shape
    flat_w, flat_ids = w_BxD.reshape(-1), ids_BxD.reshape(-1)
    nonzero = flat_w != 0
    count = nonzero.sum()

    def every_slot(_):
        if b * n <= _DENSE_ROWS_LIMIT:
            rows = jnp.zeros((b, n), g_BxF.dtype).at[jnp.arange(b)[:, None], ids_BxD].add(
                w_BxD, mode="drop")
            return rows.T @ g_BxF
        return jax.ops.segment_sum((w_BxD[..., None] * g_BxF[:, None, :]).reshape(b * d, -1),
                                   flat_ids, n + 1)[:n]

    def compacted(capacity: int):
        def branch(_):
            flat = jnp.nonzero(nonzero, size=capacity, fill_value=0)[0]
            real = jnp.arange(capacity) < count
            values = jnp.where(real, flat_w[flat], 0.0)
            return jax.ops.segment_sum(values[:, None] * g_BxF[flat // d],
                                       jnp.where(real, flat_ids[flat], n), n + 1)[:n]
        return branch

    capacities = [b * c for c in (1, 4, 16) if c < d]
    if not capacities:
        return every_slot(None)
    index = jnp.sum(count > jnp.asarray(capacities))     # first capacity >= count, or all slots
    return jax.lax.switch(index, [compacted(c) for c in capacities] + [every_slot], None)


def _gather_sum_bwd(residuals, g_BxF):
    ids, w, x = residuals
    n = x.shape[0]
    w = jnp.where(ids < n, w, 0.0)
    grad_x = _transposed_product(ids, w, g_BxF, n)
    x_pad = jnp.concatenate([x, jnp.zeros((1, x.shape[1]), x.dtype)])
    grad_w = jnp.einsum("bf,bdf->bd", g_BxF, x_pad[jnp.minimum(ids, n)])
    return None, grad_w, grad_x


_gather_sum.defvjp(_gather_sum_fwd, _gather_sum_bwd)


def ragged_expand(count_P: jax.Array, capacity: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Flattens P variable-length runs into one static list of ``capacity`` slots.

    Run p occupies ``count_P[p]`` consecutive slots; slot t belongs to run ``owner[t]`` at
    position ``offset[t]`` inside it. O(capacity + P): one scatter and one running maximum, no
    search. Slots past the total are marked invalid; runs that do not fit are cut (callers pick
    ``capacity >= count_P.sum()``).

    Args:
      count_P: [P] int >= 0.
      capacity: static number of slots.

    Returns:
      ``(owner_T, offset_T, valid_T)``, each [capacity].
    """
    p = count_P.shape[0]
    end = jnp.cumsum(count_P)
    start = end - count_P
    marks = jnp.full((capacity,), -1, jnp.int32).at[start].max(
        jnp.where(count_P > 0, jnp.arange(p, dtype=jnp.int32), -1), mode="drop")
    owner = jnp.maximum(jax.lax.cummax(marks), 0)
    t = jnp.arange(capacity, dtype=start.dtype)
    return owner, (t - start[owner]).astype(jnp.int32), t < end[-1]


def row_member(adj: PaddedAdjacency, nodes_T: jax.Array, query_T: jax.Array,
               keep_NxD: jax.Array | None = None) -> jax.Array:
    """``query[t] ∈ N(nodes[t])`` by binary search in the sorted padded row: [T] bool.

    O(T log D) gathers and no [T, D] row copies. With ``keep_NxD`` an entry counts only where it is
    kept (dropped entries stay in place, so the row stays sorted).
    """
    d = adj.max_degree
    lo = jnp.zeros(query_T.shape, jnp.int32)
    hi = jnp.full(query_T.shape, d, jnp.int32)
    for _ in range(max(d, 1).bit_length()):           # ceil(log2(D + 1)) halvings
        mid = (lo + hi) // 2
        less = adj.neighbors_NxD[nodes_T, jnp.minimum(mid, d - 1)] < query_T
        go_right = less & (mid < hi)
        lo = jnp.where(go_right, mid + 1, lo)
        hi = jnp.where(go_right, hi, mid)
    pos = jnp.minimum(lo, d - 1)
    hit = adj.neighbors_NxD[nodes_T, pos] == query_T
    if keep_NxD is not None:
        hit &= keep_NxD[nodes_T, pos]
    return hit & (query_T < adj.num_nodes)


def common_neighbor_sum(adj: PaddedAdjacency, u_P: jax.Array, v_P: jax.Array,
                        valid_P: jax.Array, x_NxF: jax.Array, capacity: int,
                        keep_NxD: jax.Array | None = None) -> jax.Array:
    """``Σ_{m ∈ N(u) ∩ N(v)} x_m`` for a list of pairs, in work proportional to the real degrees.

    The NCN aggregation (Wang, Yang & Zhang, ICLR 2024, eq. 6) over an arbitrary, compacted pair
    list: the entries of every v's row are laid out in one ragged list of ``capacity`` slots
    (``ragged_expand``; ``capacity >= Σ_p deg(v_p)`` over valid pairs, else the tail is cut), each is
    looked up in u's sorted row (``row_member``), and hits are summed per pair. Unlike
    ``pair_neighborhoods`` nothing is padded to the maximum degree D, so a batch costs
    O(Σ deg(v) · (log D + F)) instead of O(P · D · (log D + F)).

    Args:
      adj: padded sorted adjacency.
      u_P, v_P: [P] int pairs.
      valid_P: [P] bool; invalid pairs get zeros.
      x_NxF: node features.
      capacity: static ragged length (slots for the rows of v).
      keep_NxD: optional [N, D] bool; only kept entries of both rows count (edge dropout,
        target-link removal).

    Returns:
      [P, F].
    """
    p = u_P.shape[0]
    deg_P = jnp.where(valid_P, adj.degree_N[v_P], 0)
    owner_T, slot_T, valid_T = ragged_expand(deg_P, capacity)
    v_T = v_P[owner_T]
    slot_T = jnp.minimum(slot_T, adj.max_degree - 1)
    m_T = adj.neighbors_NxD[v_T, slot_T]
    hit_T = valid_T & row_member(adj, u_P[owner_T], m_T, keep_NxD)
    if keep_NxD is not None:
        hit_T &= keep_NxD[v_T, slot_T]
    # The ragged slots are owner-ordered, so they are the rows of a CSR matrix S [P, N] with
    # S[p, m] = 1 for the hits: x_cn = S x through XLA's CSR kernel (a scatter-add of [T, F]
    # rows is several times slower on CPU). Slots past the total go to the last row with value 0.
    end_P = jnp.cumsum(deg_P)
    indptr = jnp.concatenate([jnp.zeros((1,), end_P.dtype), end_P[:-1] if p > 1 else end_P[:0],
                              jnp.full((1,), capacity, end_P.dtype)]).astype(jnp.int32)
    indptr = jnp.minimum(indptr, capacity)
    return _bcsr_matmul(hit_T.astype(x_NxF.dtype), jnp.where(hit_T, m_T, 0), indptr, x_NxF,
                        adj.num_nodes)


def walk_counts(senders_E: Any, receivers_E: Any, num_nodes: int, sources_B: Any,
                num_hops: int, edge_weight_E: Any = None) -> jax.Array:
    """Rows of A, A^2, ..., A^K for a batch of source nodes: the number of k-step walks i -> v.

    ``A[u, v] = Σ`` weights of edges u -> v; row k of the result is ``e_i^T A^{k+1}``, computed by
    K propagations of one-hot rows with ``segment_sum`` (O(K · E · B), memory O(B · N)).

    Args:
      senders_E: [E] int.
      receivers_E: [E] int.
      num_nodes: N.
      sources_B: [B] int source nodes.
      num_hops: K >= 1.
      edge_weight_E: optional [E] weights.

    Returns:
      [K, B, N] float32 walk counts.
    """
    if num_hops < 1:
        raise ValueError(f"num_hops must be >= 1, got {num_hops}")
    s, r = jnp.asarray(senders_E), jnp.asarray(receivers_E)
    w = jnp.ones(s.shape, jnp.float32) if edge_weight_E is None else jnp.asarray(
        edge_weight_E, jnp.float32)
    src = jnp.asarray(sources_B)
    x_NxB = jnp.zeros((num_nodes, src.shape[0]), jnp.float32).at[src, jnp.arange(src.shape[0])
                                                                ].set(1.0)

    def hop(x, _):
        x = jax.ops.segment_sum(w[:, None] * x[s], r, num_nodes)
        return x, x.T

    _, counts = jax.lax.scan(hop, x_NxB, None, length=num_hops)
    return counts
