"""NetInfoF's five node-embedding families U, R, F, P, S (Lee et al., ICLR 2024, §4.1).

NetInfoF ("NetInfoF Framework: Measuring and Exploiting Network Usable Information", Lee, Yu,
Zhang, Ioannidis, Song, Adeshina, Zheng & Faloutsos, ICLR 2024) derives, from the graph and the
node features, five embeddings of dimension d = min(#features, 128), each of which either the
probe scores or the Act model exploits:

* **U** — structure: rank-d truncated SVD of the (training) adjacency, ``U √S``.
* **R** — neighbourhood: SVD of the counts of (start, visited) pairs of T non-backtracking random
  walks of length k = 3 started from every node, counts kept only when > 1 ("PPR-like").
* **F** — features: PCA of X.
* **P** — propagated features: PCA of ``(D⁻¹A)² X`` (no self-loops).
* **S** — propagated features with self-loops: PCA of ``(D̃⁻¹(A + I))² X``.

Every family is post-processed by ``StandardScaler(with_mean=False)`` (divide each column by its
population std) and row-L2 normalisation (paper §4.1, "we normalise ... to make the similarity a
cosine-like score").

Everything here is matrix-free: the adjacency and the walk-count matrix are edge lists multiplied
with ``segment_sum``; the truncated SVD is a randomised range finder (Halko, Martinsson & Tropp,
2011) with power iterations (``torch.svd_lowrank`` in the official code is the same method with
fewer iterations and no oversampling); the PCA is an ``eigh`` of the F × F covariance.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.graph import add_self_loops, propagate, random_walk_norm
from jaxnets.graph.neighbors import PaddedAdjacency, padded_adjacency

FAMILIES = ("U", "R", "F", "P", "S")


def _check_pairs(pairs_Mx2: Any, num_nodes: int) -> np.ndarray:
    pairs = np.asarray(pairs_Mx2)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"train_pos_Mx2 must be an [M, 2] array of node pairs, got {pairs.shape}")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_nodes):
        raise ValueError(f"pair endpoints must lie in [0, {num_nodes}), got "
                         f"[{pairs.min()}, {pairs.max()}]")
    return pairs.astype(np.int32)


@jax.jit
def preprocess(x_NxD: jax.Array) -> jax.Array:
    """``StandardScaler(with_mean=False)`` then row-L2 normalisation (NetInfoF §4.1).

    Columns with zero variance keep their scale (sklearn's convention); all-zero rows stay zero.
    """
    x = jnp.asarray(x_NxD, jnp.float32)
    if x.ndim != 2:
        raise ValueError(f"x_NxD must be 2-d, got shape {x.shape}")
    std = jnp.std(x, axis=0)
    x = x / jnp.where(std > 0, std, 1.0)[None, :]
    norm = jnp.linalg.norm(x, axis=1, keepdims=True)
    return x / jnp.where(norm > 0, norm, 1.0)


def randomized_svd(matvec: Callable[[jax.Array], jax.Array],
                   rmatvec: Callable[[jax.Array], jax.Array], num_rows: int, num_cols: int,
                   rank: int, key: jax.Array, *, oversample: int = 10,
                   power_iters: int = 4) -> tuple[jax.Array, jax.Array]:
    """Top-``rank`` left singular vectors and values of a matrix given only by products.

    Halko et al. (2011), Alg. 4.4 (randomised subspace iteration) + Alg. 5.1.

    Args:
      matvec: ``Y_[num_rows, k] = A @ X_[num_cols, k]``.
      rmatvec: ``Y_[num_cols, k] = Aᵀ @ X_[num_rows, k]``.
      num_rows: rows of A.
      num_cols: columns of A.
      rank: number of singular triplets, <= min(num_rows, num_cols).
      key: PRNG key of the Gaussian test matrix.
      oversample: extra columns of the sketch.
      power_iters: subspace iterations (accuracy on slowly decaying spectra).

    Returns:
      ``(u_[num_rows, rank], s_[rank])``, singular values descending.
    """
    if not 1 <= rank <= min(num_rows, num_cols):
        raise ValueError(f"rank must lie in [1, {min(num_rows, num_cols)}], got {rank}")
    width = min(rank + oversample, num_rows, num_cols)
    omega = jax.random.normal(key, (num_cols, width), jnp.float32)
    q, _ = jnp.linalg.qr(matvec(omega))
    for _ in range(power_iters):
        z, _ = jnp.linalg.qr(rmatvec(q))
        q, _ = jnp.linalg.qr(matvec(z))
    b = rmatvec(q).T  # [width, num_cols] = Qᵀ A
    u_b, s, _ = jnp.linalg.svd(b, full_matrices=False)
    return (q @ u_b)[:, :rank], s[:rank]


def _coo_products(rows_E: jax.Array, cols_E: jax.Array, w_E: jax.Array, num_rows: int,
                  num_cols: int):
    """matvec / rmatvec of the sparse matrix ``A[rows, cols] += w`` (duplicates add)."""
    def matvec(x):
        return jax.ops.segment_sum(w_E[:, None] * x[cols_E], rows_E, num_rows)

    def rmatvec(y):
        return jax.ops.segment_sum(w_E[:, None] * y[rows_E], cols_E, num_cols)

    return matvec, rmatvec


def _svd_embedding(rows_E, cols_E, w_E, num_nodes, dim, key):
    matvec, rmatvec = _coo_products(rows_E, cols_E, w_E, num_nodes, num_nodes)
    u, s = randomized_svd(matvec, rmatvec, num_nodes, num_nodes, dim, key)
    return u * jnp.sqrt(s)[None, :]


@functools.partial(jax.jit, static_argnames=("num_nodes", "dim"))
def structure_embedding(key: jax.Array, senders_E: jax.Array, receivers_E: jax.Array, *,
                        num_nodes: int, dim: int) -> jax.Array:
    """U: ``U √S`` of the rank-``dim`` SVD of the adjacency given as directed edges [N, dim]."""
    w = jnp.ones(senders_E.shape, jnp.float32)
    return _svd_embedding(senders_E, receivers_E, w, num_nodes, dim, key)


@functools.partial(jax.jit, static_argnames=("num_walks", "walk_length"))
def nonbacktracking_walks(key: jax.Array, adj: PaddedAdjacency, num_walks: int,
                          walk_length: int = 3) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(start, visited) pairs of ``num_walks`` non-backtracking walks from every node.

    A walk of length k holds k nodes (the start included, as in the official ``rwcpp``): its first
    step is a uniform neighbour, every later step a uniform neighbour other than the node it came
    from; a walk that reaches a node with no other neighbour stops. Every node after the start is
    recorded as a (start, visited) pair.

    Args:
      key: PRNG key.
      adj: padded sorted adjacency of the training graph.
      num_walks: T, walks per node.
      walk_length: k >= 2 nodes per walk.

    Returns:
      ``(start_W, visited_W, valid_W)`` with W = N · T · (k − 1); invalid entries (walks that
      stopped, isolated starts) have ``valid False``.
    """
    if walk_length < 2:
        raise ValueError(f"walk_length must be >= 2, got {walk_length}")
    n = adj.num_nodes
    deg = adj.degree_N
    start = jnp.repeat(jnp.arange(n, dtype=jnp.int32), num_walks)
    keys = jax.random.split(key, walk_length - 1)
    u = jax.random.uniform(keys[0], start.shape)
    d0 = deg[start]
    slot = jnp.minimum((u * d0).astype(jnp.int32), jnp.maximum(d0 - 1, 0))
    alive = d0 > 0
    cur = jnp.where(alive, adj.neighbors_NxD[start, slot], 0)
    prev = start
    visited, valid = [cur], [alive]
    for step in range(1, walk_length - 1):
        safe_cur = jnp.where(alive, cur, 0)
        row = adj.neighbors_NxD[safe_cur]
        d = deg[safe_cur]
        alive = alive & (d > 1)
        pos = jax.vmap(jnp.searchsorted)(row, prev)  # where prev sits in cur's sorted row
        u = jax.random.uniform(keys[step], start.shape)
        r = jnp.minimum((u * (d - 1)).astype(jnp.int32), jnp.maximum(d - 2, 0))
        r = jnp.where(r < pos, r, r + 1)  # skip prev
        nxt = jnp.take_along_axis(row, r[:, None], axis=1)[:, 0]
        prev, cur = safe_cur, jnp.where(alive, nxt, 0)
        visited.append(cur)
        valid.append(alive)
    starts = jnp.tile(start, walk_length - 1)
    return starts, jnp.concatenate(visited), jnp.concatenate(valid)


@functools.partial(jax.jit, static_argnames=("num_nodes", "threshold"))
def walk_count_weights(start_W: jax.Array, visited_W: jax.Array, valid_W: jax.Array,
                       num_nodes: int, threshold: int = 1) -> jax.Array:
    """Per-entry weights so that ``Σ`` over duplicates is the pair count, kept only if > threshold.

    Returns [W] float32: 1 for a valid occurrence of a pair seen more than ``threshold`` times, 0
    otherwise (so the COO matrix of (start, visited, weight) is the official thresholded count
    matrix).
    """
    if num_nodes * num_nodes >= 2**31:
        raise ValueError(f"num_nodes={num_nodes} too large for int32 pair keys")
    keys = jnp.where(valid_W, start_W * num_nodes + visited_W, -1)
    sorted_keys = jnp.sort(keys)
    count = (jnp.searchsorted(sorted_keys, keys, side="right")
             - jnp.searchsorted(sorted_keys, keys, side="left"))
    return (valid_W & (count > threshold)).astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("num_walks", "walk_length", "dim", "threshold"))
def neighborhood_embedding(key: jax.Array, adj: PaddedAdjacency, *, num_walks: int,
                           walk_length: int, dim: int, threshold: int = 1) -> jax.Array:
    """R: ``U √S`` of the rank-``dim`` SVD of the thresholded walk-count matrix [N, dim]."""
    k_walk, k_svd = jax.random.split(key)
    s, v, ok = nonbacktracking_walks(k_walk, adj, num_walks, walk_length)
    w = walk_count_weights(s, v, ok, adj.num_nodes, threshold)
    return _svd_embedding(s, v, w, adj.num_nodes, dim, k_svd)


@functools.partial(jax.jit, static_argnames=("dim",))
def pca(x_NxF: jax.Array, *, dim: int) -> jax.Array:
    """Scores of the top-``dim`` principal components (centred X times the loadings) [N, dim]."""
    x = jnp.asarray(x_NxF, jnp.float32)
    if not 1 <= dim <= min(x.shape):
        raise ValueError(f"dim must lie in [1, {min(x.shape)}], got {dim}")
    xc = x - jnp.mean(x, axis=0, keepdims=True)
    _, vecs = jnp.linalg.eigh(xc.T @ xc)  # ascending eigenvalues
    return xc @ vecs[:, ::-1][:, :dim]


@functools.partial(jax.jit, static_argnames=("num_nodes", "hops", "self_loops"))
def mean_propagate(x_NxF: jax.Array, senders_E: jax.Array, receivers_E: jax.Array,
                   num_nodes: int, *, hops: int = 2, self_loops: bool = False) -> jax.Array:
    """``(D⁻¹A)^hops X`` (or ``(D̃⁻¹(A + I))^hops X``): the inputs of the P and S families."""
    s, r = jnp.asarray(senders_E), jnp.asarray(receivers_E)
    if self_loops:
        s, r, _ = add_self_loops(s, r, num_nodes)
    w = random_walk_norm(s, r, num_nodes)
    x = jnp.asarray(x_NxF, jnp.float32)
    for _ in range(hops):
        x = propagate(x, s, r, num_nodes, w)
    return x


def embedding_families(key: jax.Array, features_NxF: Any, train_pos_Mx2: Any, num_nodes: int, *,
                       dim: int = 128, num_walks: int = 50, walk_length: int = 3,
                       families: tuple[str, ...] = FAMILIES) -> dict[str, jax.Array]:
    """The post-processed embeddings of NetInfoF (§4.1), one [N, d] array per family.

    Args:
      key: PRNG key (SVD sketches, random walks).
      features_NxF: dense node features.
      train_pos_Mx2: [M, 2] undirected training edges (each once); only these are seen.
      num_nodes: N.
      dim: the cap on d; d = min(F, dim) as in the official code.
      num_walks: T walks per node for R (official default 200; our notes use 50).
      walk_length: k nodes per walk (3).
      families: which of ``FAMILIES`` to build.

    Returns:
      ``{name: x_NxD}``, each row-L2 normalised.
    """
    x = jnp.asarray(features_NxF, jnp.float32)
    if x.ndim != 2 or x.shape[0] != num_nodes:
        raise ValueError(f"features_NxF must be [{num_nodes}, F], got {x.shape}")
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown families {sorted(unknown)}; choose from {FAMILIES}")
    pairs = _check_pairs(train_pos_Mx2, num_nodes)
    d = min(x.shape[1], dim, num_nodes)
    senders = jnp.asarray(np.concatenate([pairs[:, 0], pairs[:, 1]]))
    receivers = jnp.asarray(np.concatenate([pairs[:, 1], pairs[:, 0]]))
    k_u, k_r = jax.random.split(key)
    out = {}
    for name in families:
        if name == "U":
            emb = structure_embedding(k_u, senders, receivers, num_nodes=num_nodes, dim=d)
        elif name == "R":
            emb = neighborhood_embedding(k_r, padded_adjacency(pairs, num_nodes),
                                         num_walks=num_walks, walk_length=walk_length, dim=d)
        elif name == "F":
            emb = pca(x, dim=d)
        else:
            emb = pca(mean_propagate(x, senders, receivers, num_nodes, self_loops=name == "S"),
                      dim=d)
        out[name] = preprocess(emb)
    return out
