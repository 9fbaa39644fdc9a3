"""Heterophilous benchmark graphs as single ``.npz`` files, with their 10 standard splits.

Platonov, Kuznedelev, Diskin, Babenko & Prokhorenkova, "A critical look at the evaluation of GNNs
under heterophily: are we really making progress?", ICLR 2023 (files from
yandex-research/heterophilous-graphs). The ``*_filtered`` files are that paper's versions of
Chameleon and Squirrel with duplicate nodes removed; the ``*_directed`` files keep the original
edge direction and self-loops.

Beware: ``cornell`` here is **not** the Geom-GCN Cornell (``load_geom_gcn("cornell")``). The
Geom-GCN repository's Cornell feature/label file is a byte-for-byte copy of Texas's, while this
file has its own labels (counts [38, 16, 30, 82, 17]) and a renumbered graph; see the data notes.
"""
from __future__ import annotations

import os

import numpy as np

from jaxnets.data import _checksums, _edges, _files
from jaxnets.data.types import NodeDataset

_FOLDER = "heterophilous-graphs"


def heterophilous_names() -> tuple[str, ...]:
    """Every dataset name ``load_heterophilous`` knows (offline-verified ones and the three
    larger files of the same repository whose checksums are not on record)."""
    known = [p for p in (*_checksums.FILES, *sorted(_checksums.UNVERIFIED))
             if p.startswith(_FOLDER + "/")]
    return tuple(p[len(_FOLDER) + 1:-len(".npz")] for p in known)


def read_heterophilous_npz(path: os.PathLike[str]) -> dict[str, np.ndarray]:
    """The raw arrays of one file: node_features, node_labels, edges, {train,val,test}_masks."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_heterophilous(name: str, root: str | os.PathLike[str] | None = None) -> NodeDataset:
    """Loads one graph of Platonov et al. (2023) with its 10 splits.

    Edge handling: the undirected files store each edge once without self-loops; the returned
    dataset stores **both directions** (``directed=False``), deduplicated. The ``*_directed``
    files are returned as stored, with direction and **self-loops kept** (``directed=True``),
    deduplicated (a no-op for the released files).

    ``num_classes`` is ``max(label) + 1``. For ``texas_4_classes`` that is still 5: the single node
    of class 1 is kept in the graph but is in no mask, so only 4 classes are ever evaluated.

    Args:
      name: a file stem such as ``"chameleon"``, ``"squirrel_filtered_directed"``, ``"actor"``,
        ``"minesweeper"`` or ``"tolokers"`` (see ``heterophilous_names()``).
        ``"roman_empire"``, ``"amazon_ratings"`` and ``"questions"`` are recognised but not in the
        offline data; with no root/``JAXNETS_DATA`` they are downloaded into the cache and loaded
        with an ``UnverifiedDataWarning`` (no checksum on record).
      root: data root (see ``jaxnets.data``).

    Returns:
      A ``NodeDataset`` with dense float32 features and [10, N] masks.

    Raises:
      ValueError: unknown name (the message lists the valid ones).
      DataFileError: the file is missing or corrupted.
    """
    key = name.lower().replace("-", "_")
    if key not in heterophilous_names():
        raise ValueError(f"unknown heterophilous graph {name!r}; valid: "
                         f"{', '.join(heterophilous_names())}")
    relpath = f"{_FOLDER}/{key}.npz"
    z = read_heterophilous_npz(_files.require([relpath], root)[relpath])
    labels = z["node_labels"].astype(np.int32)
    n = labels.shape[0]
    edges = z["edges"]
    directed = key.endswith("_directed")
    if directed:
        s, r = _edges.dedupe(edges[:, 0], edges[:, 1], n)
    else:
        s, r = _edges.symmetrize(edges[:, 0], edges[:, 1], n)
    return NodeDataset(
        name=f"heterophilous/{key}", features=z["node_features"].astype(np.float32),
        senders=s, receivers=r, labels=labels,
        train_mask=z["train_masks"].astype(bool), val_mask=z["val_masks"].astype(bool),
        test_mask=z["test_masks"].astype(bool), num_classes=int(labels.max()) + 1,
        directed=directed)
