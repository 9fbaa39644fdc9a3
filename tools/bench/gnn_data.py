"""The graphs of the GNN benchmarks as plain NumPy/SciPy arrays, shared by every side.

`cora` is the Planetoid Cora graph from `jaxnets.data.load_planetoid` (2708 nodes, 10556 arcs,
1433 binary bag-of-words features, 1.27 % nonzero). `synthetic` is a graph `scale` times larger
with the same average degree, feature width and feature density: undirected uniform random
edges (both directions stored, deduplicated, no self-loops), binary features with the same
expected nonzeros per row, random labels and 20 training nodes per class times `scale`. Its
accuracy means nothing; it exists to time an epoch at 10x Cora's size.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp


@dataclasses.dataclass(frozen=True)
class GraphArrays:
    """One node-classification graph; edges sorted by receiver."""
    name: str
    features: sp.csr_matrix   # [N, F] float32, binary
    senders: np.ndarray       # [E] int32
    receivers: np.ndarray     # [E] int32
    labels: np.ndarray        # [N] int32
    train_mask: np.ndarray    # [N] bool
    num_classes: int

    @property
    def num_nodes(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.senders.shape[0])

    def summary(self) -> dict:
        """Sizes for the report."""
        return {"name": self.name, "nodes": self.num_nodes, "arcs": self.num_edges,
                "features": int(self.features.shape[1]), "feature_nnz": int(self.features.nnz),
                "feature_density": float(self.features.nnz / np.prod(self.features.shape)),
                "classes": self.num_classes, "train_nodes": int(self.train_mask.sum())}


def _sorted_by_receiver(senders: np.ndarray, receivers: np.ndarray):
    order = np.lexsort((senders, receivers))
    return senders[order].astype(np.int32), receivers[order].astype(np.int32)


def cora(root: str | None = None) -> GraphArrays:
    """Cora from the offline Planetoid files (`root`, else $JAXNETS_DATA, else the cache)."""
    from jaxnets.data import load_planetoid
    data = load_planetoid("cora", root)
    senders, receivers = _sorted_by_receiver(data.senders, data.receivers)
    labels = data.labels
    return GraphArrays("cora", sp.csr_matrix(data.features, dtype=np.float32), senders,
                       receivers, labels, data.train_mask, int(data.num_classes))


def synthetic(num_nodes: int, num_arcs: int, num_features: int, density: float,
              num_classes: int = 7, train_per_class: int = 20, seed: int = 0,
              name: str = "synthetic") -> GraphArrays:
    """A random graph of about `num_arcs` directed edges with binary sparse features.

    Args:
        num_nodes: N.
        num_arcs: target number of stored directed edges (both directions of each pair).
        num_features: F.
        density: fraction of nonzero features (Cora: 0.0127).
        num_classes: C; labels are uniform.
        train_per_class: training nodes per class.
        seed: NumPy seed.
    """
    rng = np.random.default_rng(seed)
    pairs = max(1, num_arcs // 2)
    a = rng.integers(0, num_nodes, size=int(pairs * 1.05) + 16)
    b = rng.integers(0, num_nodes, size=a.size)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys = np.unique((lo * num_nodes + hi)[lo != hi])[:pairs]
    rng.shuffle(keys)
    lo, hi = keys // num_nodes, keys % num_nodes
    senders, receivers = _sorted_by_receiver(np.concatenate([lo, hi]), np.concatenate([hi, lo]))
    nnz = max(1, int(round(density * num_nodes * num_features)))
    flat = np.unique(rng.integers(0, num_nodes * num_features, size=nnz, dtype=np.int64))
    rows, cols = flat // num_features, flat % num_features
    features = sp.csr_matrix((np.ones(flat.size, np.float32), (rows, cols)),
                             shape=(num_nodes, num_features))
    labels = rng.integers(0, num_classes, size=num_nodes).astype(np.int32)
    train_mask = np.zeros(num_nodes, bool)
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        train_mask[members[:train_per_class]] = True
    return GraphArrays(name, features, senders, receivers, labels, train_mask, num_classes)


def scaled_like(base: GraphArrays, scale: int, seed: int = 0) -> GraphArrays:
    """A synthetic graph `scale` times `base`'s nodes and arcs, same F and feature density."""
    f = int(base.features.shape[1])
    density = base.features.nnz / (base.num_nodes * f)
    return synthetic(scale * base.num_nodes, scale * base.num_edges, f, density,
                     base.num_classes, 20 * scale, seed, name=f"synthetic {scale}x {base.name}")
