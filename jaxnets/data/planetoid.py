"""Planetoid citation graphs (Cora, CiteSeer) from the raw ``ind.*`` files.

Yang, Cohen & Salakhutdinov, "Revisiting Semi-Supervised Learning with Graph Embeddings",
ICML 2016 (files from kimiyoung/planetoid); assembled as in Kipf & Welling, "Semi-Supervised
Classification with Graph Convolutional Networks", ICLR 2017 (their ``utils.load_data``), which is
also what PyG's ``Planetoid`` does.
"""
from __future__ import annotations

import io
import itertools
import os
import pickle

import numpy as np
import scipy.sparse as sp

from jaxnets.data import _edges, _files
from jaxnets.data.splits import random_node_split
from jaxnets.data.types import NodeDataset

PLANETOID_NAMES = ("cora", "citeseer")
_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")


def _numpy_reconstruct():
    core = getattr(np, "_core", None)
    if core is None:  # numpy < 2
        core = np.core
    return core.multiarray._reconstruct


class _PlanetoidUnpickler(pickle.Unpickler):
    """Loads only the globals the Planetoid pickles use (numpy arrays, a scipy CSR matrix, a
    ``defaultdict`` of lists); anything else is refused rather than executed. Old module paths
    are mapped to current ones, so no deprecation warning is raised."""

    _ALLOWED = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("scipy.sparse.csr", "csr_matrix"): lambda: sp.csr_matrix,
        ("collections", "defaultdict"): lambda: __import__("collections").defaultdict,
        ("builtins", "list"): lambda: list,
        ("__builtin__", "list"): lambda: list,
    }

    def find_class(self, module: str, name: str):  # noqa: D102
        try:
            return self._ALLOWED[(module, name)]()
        except KeyError:
            raise pickle.UnpicklingError(
                f"Planetoid file refers to {module}.{name}, which is not allowed") from None


def _unpickle(path: os.PathLike[str]):
    with open(path, "rb") as f:
        return _PlanetoidUnpickler(io.BytesIO(f.read()), encoding="latin1").load()


def _planetoid_files(name: str) -> list[str]:
    return [f"planetoid/ind.{name}.{part}" for part in _PARTS]


def load_planetoid(name: str, root: str | os.PathLike[str] | None = None,
                   split: str = "public", *, seed: int = 0, num_train_per_class: int = 20,
                   num_val: int = 500, num_test: int = 1000) -> NodeDataset:
    """Loads Cora or CiteSeer with the Planetoid split.

    Assembly (Kipf & Welling's ``load_data``): features = ``vstack(allx, tx)`` with the ``tx``
    rows moved to the (sorted) test ids of ``test.index``; labels are the argmax of the one-hot
    rows. Edges come from ``ind.<name>.graph``: both directions are stored, **deduplicated** (the
    lists repeat some neighbours) and **without self-loops** (CiteSeer's 124 self-loops are
    removed; Cora has none). CiteSeer's 15 test-range ids that have no ``tx`` row (isolated
    nodes) get all-zero features and label -1 and are in no mask.

    Features stay a scipy CSR float32 matrix with the raw binary bag-of-words values (no row
    normalisation; apply one yourself).

    Args:
      name: ``"cora"`` or ``"citeseer"`` (PubMed is not supported: its ``allx`` is not in the
        offline data).
      root: data root (see ``jaxnets.data`` for the lookup order).
      split: ``"public"``: train = the first 20 per class (``range(len(y))``), val = the next
        500 ids, test = the 1000 ids of ``test.index``; ``"full"``: as public but every node not in
        val/test is a training node (Chen et al., FastGCN); ``"random"``: ``num_train_per_class``
        per class, then ``num_val`` and ``num_test`` random labelled nodes (PyG's random split),
        drawn with ``seed``.
      seed: seed of the ``"random"`` split.
      num_train_per_class: training nodes per class for ``"random"``.
      num_val: validation nodes for ``"random"``.
      num_test: test nodes for ``"random"``.

    Returns:
      A ``NodeDataset``: Cora 2708 nodes, 10556 directed edges, 1433 features, 7 classes;
      CiteSeer 3327 nodes, 9104 directed edges, 3703 features, 6 classes.
    """
    key = name.lower()
    if key not in PLANETOID_NAMES:
        raise ValueError(f"name must be one of {PLANETOID_NAMES}, got {name!r}")
    if split not in ("public", "full", "random"):
        raise ValueError(f"split must be 'public', 'full' or 'random', got {split!r}")
    paths = _files.require(_planetoid_files(key), root)
    part = {p: paths[f"planetoid/ind.{key}.{p}"] for p in _PARTS}

    y = _unpickle(part["y"])  # ind.<name>.x (rows of allx) is verified but not needed
    tx, ty = _unpickle(part["tx"]), _unpickle(part["ty"])
    allx, ally = _unpickle(part["allx"]), _unpickle(part["ally"])
    graph = _unpickle(part["graph"])
    test_index = np.loadtxt(part["test.index"], dtype=np.int64, ndmin=1)

    num_allx = allx.shape[0]
    num_nodes = max(num_allx + tx.shape[0], int(test_index.max()) + 1)
    # tx row j belongs to node test_index[j]; ids with no tx row keep zero features, label -1.
    order = np.concatenate([np.arange(num_allx), test_index])
    features = sp.vstack([sp.csr_matrix(allx), sp.csr_matrix(tx)]).tocsr()
    perm = sp.csr_matrix((np.ones(order.size, np.float32), (order, np.arange(order.size))),
                         shape=(num_nodes, order.size))
    features = (perm @ features).astype(np.float32).tocsr()
    features.sort_indices()

    onehot = np.concatenate([np.asarray(ally), np.asarray(ty)])
    labels = np.full(num_nodes, -1, np.int32)
    has_label = onehot.sum(axis=1) > 0
    labels[order[has_label]] = onehot[has_label].argmax(axis=1).astype(np.int32)

    keys = np.fromiter(graph.keys(), dtype=np.int64, count=len(graph))
    lists = list(graph.values())
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    senders = np.repeat(keys, lengths)
    receivers = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64,
                            count=int(lengths.sum()))
    senders, receivers = _edges.symmetrize(senders, receivers, num_nodes, drop_self_loops=True)

    num_classes = int(np.asarray(y).shape[1])
    if split == "random":
        train, val, test = random_node_split(labels, train_per_class=num_train_per_class,
                                             num_val=num_val, num_test=num_test, seed=seed)
    else:
        train = np.zeros(num_nodes, bool)
        val = np.zeros(num_nodes, bool)
        test = np.zeros(num_nodes, bool)
        num_train = np.asarray(y).shape[0]
        train[:num_train] = True
        val[num_train:num_train + 500] = True
        test[test_index] = True
        if split == "full":
            train = (labels >= 0) & ~val & ~test
    return NodeDataset(name=key, features=features, senders=senders, receivers=receivers,
                       labels=labels, train_mask=train, val_mask=val, test_mask=test,
                       num_classes=num_classes, directed=False)
