"""Synthetic graphs with known usable information, after NetInfoF's ``synthetic.py`` (Lee et al.,
ICLR 2024, §5.1 "synthetic datasets").

The paper's scenarios cross an edge pattern with a feature type, on 4 equal classes:

* edges ``"diag"``: within every class, random cliques of 4-8 nodes until the block's density
  exceeds ``edge_density`` and every node is covered (homophily); ``"offdiag"``: class pairs
  (0, 1), (2, 3) joined by random bicliques of 4-8 × 4-8 nodes (heterophily). Noise: every pair of
  two blocks that are not linked by the pattern is an edge with probability ``edge_noise``.
* features ``"random"``: Bernoulli(½) bits (no usable information); ``"global"``: ``U √S`` of the
  SVD of non-backtracking random-walk counts (structure leaks into the features); ``"local"``: the
  same with F / 4 components, placed in the column block of the node's class (zeros elsewhere), so
  the features reveal the class. Structure-derived features are shifted to be non-negative and a
  fraction ``feature_noise`` of entries is replaced by Uniform(0, 1).

We add one scenario of our own where the *features* carry the signal and the structure little:
``feature_knn_graph`` links every node to its k most cosine-similar nodes in a Gaussian feature
space, so a held-out edge is predictable from the features but not from a low-rank view of the
sparse graph.

Generation is host-side numpy (seeded); cliques are drawn in a loop over cliques, not nodes.
"""
from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp

from jaxnets.graph.neighbors import padded_adjacency
from jaxnets.models.netinfof_embed import nonbacktracking_walks, randomized_svd

EDGE_TYPES = ("diag", "offdiag")
FEATURE_TYPES = ("random", "global", "local")


def _cliques(rng, nodes_a, nodes_b, density, bipartite):
    """Union of random (bi)cliques over block(s) until density > ``density`` and all covered."""
    edges = set()
    seen_a = np.zeros(nodes_a.size, bool)
    seen_b = np.zeros(nodes_b.size, bool)
    max_edges = nodes_a.size * nodes_b.size if bipartite else nodes_a.size * (nodes_a.size - 1) / 2
    while True:
        wa = np.where(seen_a, 0.1, 1.0)
        ia = rng.choice(nodes_a.size, rng.integers(4, 9), replace=False, p=wa / wa.sum())
        seen_a[ia] = True
        if bipartite:
            wb = np.where(seen_b, 0.1, 1.0)
            ib = rng.choice(nodes_b.size, rng.integers(4, 9), replace=False, p=wb / wb.sum())
            seen_b[ib] = True
            a, b = np.meshgrid(nodes_a[ia], nodes_b[ib], indexing="ij")
        else:
            a, b = np.triu_indices(ia.size, k=1)
            a, b = nodes_a[ia][a], nodes_a[ia][b]
        lo, hi = np.minimum(a, b).ravel(), np.maximum(a, b).ravel()
        edges.update(zip(lo.tolist(), hi.tolist()))
        covered = seen_a.all() and (seen_b.all() or not bipartite)
        if len(edges) / max_edges > density and covered:
            return np.array(sorted(edges), np.int64).reshape(-1, 2)


def _noise_edges(rng, nodes_a, nodes_b, prob):
    a, b = np.meshgrid(nodes_a, nodes_b, indexing="ij")
    hit = (rng.random(a.shape) < prob) & (a != b)
    lo, hi = np.minimum(a[hit], b[hit]), np.maximum(a[hit], b[hit])
    return np.stack([lo, hi], axis=1)


def _walk_svd_features(key, pairs, num_nodes, dim, num_walks):
    adj = padded_adjacency(pairs, num_nodes)
    k_w, k_s = jax.random.split(key)
    s, v, ok = nonbacktracking_walks(k_w, adj, num_walks, 3)
    w = ok.astype(jnp.float32)

    def matvec(x):
        return jax.ops.segment_sum(w[:, None] * x[v], s, num_nodes)

    def rmatvec(y):
        return jax.ops.segment_sum(w[:, None] * y[s], v, num_nodes)

    u, sv = randomized_svd(matvec, rmatvec, num_nodes, num_nodes, dim, k_s)
    out = np.asarray(u * jnp.sqrt(sv)[None, :])
    return out - out.min()


def block_graph(seed: int, *, edge_type: str = "diag", feature_type: str = "random",
                num_nodes: int = 1000, num_features: int = 200, num_classes: int = 4,
                edge_density: float = 0.04, edge_noise: float | None = None,
                feature_noise: float = 0.002, num_walks: int = 200
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One synthetic graph of the paper's grid.

    Args:
      seed: numpy / JAX seed.
      edge_type: ``"diag"`` or ``"offdiag"``.
      feature_type: ``"random"``, ``"global"`` or ``"local"``.
      num_nodes: N (paper 4000).
      num_features: F (paper 800).
      num_classes: C (paper 4; even for offdiag).
      edge_density: within-pattern density (paper 0.01 at N = 4000; 0.04 at N = 1000 keeps the
        paper's ~10 pattern edges per node).
      edge_noise: noise-edge probability (paper 2e-4 diag / 1e-4 offdiag at N = 4000; default
        scaled by 4000 / N so the expected noise degree is the paper's).
      feature_noise: fraction of feature entries replaced by noise (paper 0.002).
      num_walks: walks per node for the structure-derived features (paper 1000).

    Returns:
      ``(pairs_Mx2 undirected u < v, features_NxF float32, labels_N int32)``.
    """
    if edge_type not in EDGE_TYPES:
        raise ValueError(f"edge_type must be one of {EDGE_TYPES}, got {edge_type!r}")
    if feature_type not in FEATURE_TYPES:
        raise ValueError(f"feature_type must be one of {FEATURE_TYPES}, got {feature_type!r}")
    if edge_type == "offdiag" and num_classes % 2:
        raise ValueError(f"offdiag needs an even num_classes, got {num_classes}")
    if num_features % num_classes:
        raise ValueError(f"num_features={num_features} must be a multiple of num_classes")
    if edge_noise is None:
        edge_noise = (2e-4 if edge_type == "diag" else 1e-4) * 4000 / num_nodes
    rng = np.random.default_rng(seed)
    labels = (np.arange(num_nodes) * num_classes // num_nodes).astype(np.int32)
    blocks = [np.flatnonzero(labels == c) for c in range(num_classes)]
    if edge_type == "diag":
        linked = [(c, c) for c in range(num_classes)]
    else:
        linked = [(2 * i, 2 * i + 1) for i in range(num_classes // 2)]
    parts = []
    for c1 in range(num_classes):
        for c2 in range(c1, num_classes):
            if (c1, c2) in linked:
                parts.append(_cliques(rng, blocks[c1], blocks[c2], edge_density, c1 != c2))
            else:
                parts.append(_noise_edges(rng, blocks[c1], blocks[c2], edge_noise))
    pairs = np.unique(np.concatenate(parts), axis=0)
    pairs = pairs[pairs[:, 0] < pairs[:, 1]]
    key = jax.random.key(seed)
    if feature_type == "random":
        x = rng.integers(0, 2, (num_nodes, num_features)).astype(np.float32)
    else:
        f = num_features if feature_type == "global" else num_features // num_classes
        u = _walk_svd_features(key, pairs, num_nodes, f, num_walks)
        if feature_type == "global":
            x = u
        else:
            x = np.zeros((num_nodes, num_features), np.float32)
            for c, nodes in enumerate(blocks):
                x[nodes, c * f:(c + 1) * f] = u[nodes]
        noise = rng.random(x.shape) < feature_noise
        x = np.where(noise, rng.random(x.shape), x).astype(np.float32)
    return pairs.astype(np.int32), x.astype(np.float32), labels


def feature_knn_graph(seed: int, *, num_nodes: int = 1000, num_features: int = 32,
                      k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Ours: Gaussian features, each node linked to its k most cosine-similar nodes (symmetrised).

    Returns:
      ``(pairs_Mx2 undirected u < v, features_NxF float32)``.
    """
    if not 1 <= k < num_nodes:
        raise ValueError(f"k must lie in [1, {num_nodes}), got {k}")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_nodes, num_features)).astype(np.float32)
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = z @ z.T  # N x N only for this small generator
    np.fill_diagonal(sim, -np.inf)
    nbr = np.argpartition(-sim, k, axis=1)[:, :k]
    a = np.repeat(np.arange(num_nodes), k)
    b = nbr.reshape(-1)
    pairs = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    return pairs.astype(np.int32), x
