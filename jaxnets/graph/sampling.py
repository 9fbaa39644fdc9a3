"""Fixed fan-out neighbour sampling for mini-batch GNN training on large graphs.

GraphSAGE (Hamilton, Ying & Leskovec, NeurIPS 2017), Algorithm 2: to compute the K-layer
representation of a batch of seed nodes, sample for each hop k a *fixed-size* set of neighbours
of every node reached at hop k - 1 ("we uniformly sample a fixed-size set of neighbors ... to
keep the computational footprint of each batch fixed", §3.1). Here that set is drawn uniformly
*without replacement*: a node of degree d >= f gets f distinct neighbours, a node of degree
d < f gets all d of them and f - d masked slots. (The paper's reference code samples with
replacement; without replacement makes the sampled mean exact whenever f >= d, and the masks
say how many real neighbours a node has.)

The graph is a CSR adjacency built once on the host and kept on the device; a batch is a tuple
of hops with static shapes [B], [B f1], [B f1 f2], ..., so one jitted step serves every batch
and memory depends on B and the fan-outs, never on the graph's size.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.graph.validate import GraphError, check_index_range

__all__ = ["CSRAdjacency", "SampledBlocks", "csr_adjacency", "sample_blocks", "sample_neighbors"]


class CSRAdjacency(NamedTuple):
    """In-neighbour lists in compressed sparse row form (device arrays).

    Row i is ``indices_E[indptr_N1[i]:indptr_N1[i + 1]]``: the senders j of the edges j -> i,
    i.e. the neighbours whose messages node i aggregates (for an undirected graph stored with
    both directions, its neighbours).

    Attributes:
      indptr_N1: int32 [N + 1] row offsets.
      indices_E: int32 [E] sender ids, grouped by receiver (ascending within a row).
    """

    indptr_N1: jax.Array
    indices_E: jax.Array

    @property
    def num_nodes(self) -> int:
        return self.indptr_N1.shape[0] - 1

    @property
    def num_edges(self) -> int:
        return self.indices_E.shape[0]

    def degree(self) -> jax.Array:
        """int32 [N] number of in-neighbours of each node."""
        return self.indptr_N1[1:] - self.indptr_N1[:-1]


def csr_adjacency(senders_E: Any, receivers_E: Any, num_nodes: int) -> CSRAdjacency:
    """Builds the in-neighbour CSR of a directed edge list (host side, numpy, once per graph).

    Args:
      senders_E: [E] int sources.
      receivers_E: [E] int destinations (the rows).
      num_nodes: N >= 1.

    Returns:
      A `CSRAdjacency` on the default device.

    Raises:
      GraphError: on mismatched shapes or node ids outside [0, N).
    """
    s, r = np.asarray(senders_E), np.asarray(receivers_E)
    if s.ndim != 1 or s.shape != r.shape:
        raise GraphError(f"senders_E and receivers_E must be 1-d of equal length, got shapes "
                         f"{s.shape} and {r.shape}")
    if num_nodes < 1:
        raise GraphError(f"num_nodes must be >= 1, got {num_nodes}")
    if num_nodes >= 2**31 or s.size >= 2**31:
        raise GraphError("csr_adjacency stores int32 ids: need N and E below 2**31")
    check_index_range("senders_E", s, num_nodes)
    check_index_range("receivers_E", r, num_nodes)
    order = np.lexsort((s, r))
    indptr = np.zeros(num_nodes + 1, np.int64)
    np.cumsum(np.bincount(r, minlength=num_nodes), out=indptr[1:])
    return CSRAdjacency(jnp.asarray(indptr.astype(np.int32)),
                        jnp.asarray(s[order].astype(np.int32)))


class SampledBlocks(NamedTuple):
    """The sampled computation graph of a batch: one entry per hop, seeds first.

    Hop k holds ``B * f1 * ... * fk`` node ids; entry ``m * f_{k+1} + j`` of hop k + 1 is the
    j-th sampled neighbour of entry m of hop k. Masked slots (a node with fewer than f
    neighbours, or any slot under a masked parent) hold the sentinel id N.

    Attributes:
      nodes: tuple of int32 arrays [B], [B f1], [B f1 f2], ...
      masks: tuple of bool arrays of the same shapes; True for a real sampled node.
    """

    nodes: tuple[jax.Array, ...]
    masks: tuple[jax.Array, ...]


def _floyd_positions(key: jax.Array, degree_M: jax.Array, fanout: int) -> jax.Array:
    """Uniform f-subsets of ``range(d)`` per row, without replacement, for rows with d >= f.

    Floyd's algorithm (Bentley & Floyd, CACM 1987): for j = d - f, ..., d - 1 draw t uniform in
    [0, j]; take t unless already taken, else take j. Every f-subset is equally likely; f steps
    of an O(f) membership test, vectorised over rows. Rows with d < f give garbage, masked later.

    Returns:
      int32 [M, f] distinct positions in [0, d) per row (for d >= f).
    """
    m = degree_M.shape[0]
    uniforms = jax.random.uniform(key, (fanout, m))
    chosen = jnp.full((m, fanout), -1, jnp.int32)
    for step in range(fanout):  # static and small: the fan-out, never the graph
        j = degree_M - fanout + step
        t = jnp.minimum((uniforms[step] * (j + 1)).astype(jnp.int32), j)
        taken = jnp.any(chosen == t[:, None], axis=1)
        chosen = chosen.at[:, step].set(jnp.where(taken, j, t))
    return chosen


def sample_neighbors(key: jax.Array, csr: CSRAdjacency, nodes_M: jax.Array, fanout: int,
                     mask_M: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Samples up to ``fanout`` distinct in-neighbours of each node, uniformly (jittable).

    Args:
      key: PRNG key.
      csr: the graph.
      nodes_M: int [M] node ids (entries under a False ``mask_M`` may be the sentinel N).
      fanout: f >= 1 (static).
      mask_M: optional bool [M]; masked nodes get no neighbours.

    Returns:
      ``(ids_Mxf, mask_Mxf)``: neighbour ids (sentinel N in masked slots) and the mask, True in
      the first ``min(d, f)`` slots of a real node of degree d.
    """
    n = csr.num_nodes
    safe = jnp.clip(nodes_M, 0, n - 1)
    start = csr.indptr_N1[safe]
    degree = csr.indptr_N1[safe + 1] - start
    if mask_M is not None:
        degree = jnp.where(mask_M, degree, 0)
    slots = jnp.arange(fanout, dtype=jnp.int32)
    positions = jnp.where((degree >= fanout)[:, None], _floyd_positions(key, degree, fanout),
                          slots[None, :])
    mask = slots[None, :] < degree[:, None]
    edge = jnp.where(mask, start[:, None] + positions, 0)
    ids = jnp.where(mask, csr.indices_E[edge], n)
    return ids, mask


def _check_fanouts(fanouts: Sequence[int]) -> tuple[int, ...]:
    fanouts = tuple(fanouts)
    if not fanouts:
        raise GraphError("fanouts must name at least one hop, e.g. (10, 5)")
    for hop, f in enumerate(fanouts):
        if not isinstance(f, (int, np.integer)) or f < 1:
            raise GraphError(f"fanouts[{hop}] must be an int >= 1, got {f!r}")
    return tuple(int(f) for f in fanouts)


def sample_blocks(key: jax.Array, csr: CSRAdjacency, seeds_B: Any,
                  fanouts: Sequence[int] = (10, 5)) -> SampledBlocks:
    """Samples the K-hop neighbourhood of a seed batch with fixed fan-outs (GraphSAGE, Alg. 2).

    Hop k + 1 draws ``fanouts[k]`` neighbours of every node of hop k, uniformly without
    replacement (all of them, plus masked slots, when the degree is below the fan-out). Shapes
    depend only on B and the fan-outs, so the function is jittable and compiles once.

    Args:
      key: PRNG key.
      csr: the graph (`csr_adjacency`).
      seeds_B: int [B] seed node ids, B <= N.
      fanouts: static ints (f1, ..., fK), each >= 1; f1 is sampled around the seeds.

    Returns:
      `SampledBlocks` with hops of shapes [B], [B f1], [B f1 f2], ...

    Raises:
      GraphError: a fan-out below 1, seeds not 1-d, more seeds than nodes, or (when the seeds
        are concrete) a seed outside [0, N).
    """
    fanouts = _check_fanouts(fanouts)
    seeds = jnp.asarray(seeds_B)
    n = csr.num_nodes
    if seeds.ndim != 1 or not jnp.issubdtype(seeds.dtype, jnp.integer):
        raise GraphError(f"seeds_B must be a 1-d int array, got shape {seeds.shape} and dtype "
                         f"{seeds.dtype}")
    if seeds.shape[0] > n:
        raise GraphError(f"seeds_B has {seeds.shape[0]} seeds but the graph has only {n} nodes")
    check_index_range("seeds_B", seeds_B, n)
    nodes, masks = [seeds.astype(jnp.int32)], [jnp.ones(seeds.shape, bool)]
    for hop_key, fanout in zip(jax.random.split(key, len(fanouts)), fanouts):
        ids, mask = sample_neighbors(hop_key, csr, nodes[-1], fanout, masks[-1])
        nodes.append(ids.reshape(-1))
        masks.append(mask.reshape(-1))
    return SampledBlocks(tuple(nodes), tuple(masks))
