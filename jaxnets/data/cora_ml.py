"""Cora-ML, a directed citation graph, in the TUM "SparseGraph" npz layout.

McCallum, Nigam, Rennie & Seymore, "Automating the construction of internet portals with machine
learning", Information Retrieval 2000 (Cora); the Cora-ML extract of Bojchevski & Günnemann,
"Deep Gaussian Embedding of Graphs", ICLR 2018 (file from abojchevski/sparse_smoothing). Used as a
directed benchmark by DiGCN (Tong et al., NeurIPS 2020) and MagNet (Zhang et al., NeurIPS 2021).
"""
from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

from jaxnets.data import _edges, _files
from jaxnets.data.splits import random_node_splits
from jaxnets.data.types import NodeDataset

_FILE = "cora-ml/cora_ml.npz"


def _csr(z, prefix: str) -> sp.csr_matrix:
    return sp.csr_matrix((z[f"{prefix}.data"], z[f"{prefix}.indices"], z[f"{prefix}.indptr"]),
                         shape=tuple(z[f"{prefix}.shape"]))


def load_cora_ml(root: str | os.PathLike[str] | None = None, directed: bool = True, *,
                 seed: int = 0, num_splits: int = 1, train_per_class: int = 20,
                 num_val: int = 500) -> NodeDataset:
    """Loads Cora-ML with seeded random splits.

    Edge handling: ``A[i, j] != 0`` is the edge ``i -> j``. With ``directed=True`` (default) the
    8416 edges are returned as stored (no duplicates, no self-loops in the file; 258 pairs are
    reciprocated). With ``directed=False`` the graph is symmetrised and deduplicated: 8158
    undirected pairs, 16316 stored edges.

    The file has no standard split. Masks come from ``random_node_split`` with
    ``train_per_class`` nodes per class, ``num_val`` validation nodes and every other node in the
    test set (the protocol of DiGCN and MagNet); split k uses seed ``seed + k``.

    Args:
      root: data root (see ``jaxnets.data``).
      directed: keep the citation direction (True) or symmetrise (False).
      seed: seed of the first random split.
      num_splits: number of random splits; masks are [N] for 1, [num_splits, N] otherwise.
      train_per_class: training nodes per class.
      num_val: validation nodes.

    Returns:
      A ``NodeDataset`` (2995 nodes, 7 classes) with CSR float32 features (2879 real-valued
      attribute dimensions).
    """
    path = _files.require([_FILE], root)[_FILE]
    with np.load(path, allow_pickle=False) as z:  # members load lazily; skip the object ones
        adj = _csr(z, "adj_matrix").tocoo()
        features = _csr(z, "attr_matrix").astype(np.float32)
        labels = z["labels"].astype(np.int32)
    n = labels.shape[0]
    if directed:
        s, r = _edges.dedupe(adj.row, adj.col, n)
    else:
        s, r = _edges.symmetrize(adj.row, adj.col, n)
    train, val, test = random_node_splits(labels, num_splits, seed=seed,
                                          train_per_class=train_per_class, num_val=num_val,
                                          num_test=None)
    if num_splits == 1:
        train, val, test = train[0], val[0], test[0]
    features.sort_indices()
    return NodeDataset(name="cora_ml", features=features, senders=s, receivers=r, labels=labels,
                       train_mask=train, val_mask=val, test_mask=test,
                       num_classes=int(labels.max()) + 1, directed=directed)
