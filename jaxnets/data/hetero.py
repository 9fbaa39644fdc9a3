"""ACM heterogeneous academic graph (paper / author / subject), HeCo version.

Wang, Liu, Han & Shi, "Self-supervised Heterogeneous Graph Neural Network with Co-contrastive
Learning" (HeCo), KDD 2021 (files from liun-online/HeCo, ``data/acm``); the P-A-P / P-S-P
meta-path setting follows Wang et al., "Heterogeneous Graph Attention Network" (HAN), WWW 2019.
This is HeCo's 4019-paper extract, not HAN's ``ACM3025``.
"""
from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

from jaxnets.data import _edges, _files
from jaxnets.data.types import HeteroDataset

_DIR = "acm-heco"
_TRAIN_SIZES = (20, 40, 60)


def _mask(index: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, bool)
    out[index] = True
    return out


def _pairs(path: os.PathLike[str], n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``(src, dst)`` id pairs of a two-column text file (0-based ids)."""
    raw = np.loadtxt(path, dtype=np.int64, ndmin=2)
    if raw.size and (raw[:, 0].max() >= n_src or raw[:, 1].max() >= n_dst or raw.min() < 0):
        raise ValueError(f"{path}: ids out of range [0, {n_src}) x [0, {n_dst})")
    # Dedup through one id space of size max(n_src, n_dst); direction is kept.
    n = max(n_src, n_dst)
    return _edges.dedupe(raw[:, 0], raw[:, 1], n)


def load_acm(root: str | os.PathLike[str] | None = None,
             train_per_class: int = 20) -> HeteroDataset:
    """Loads ACM (HeCo) with the HeCo split of ``train_per_class`` labelled papers per class.

    Node types: ``paper`` (4019, labelled, 3 classes), ``author`` (7167), ``subject`` (60).
    Features: ``paper`` [4019, 1902] bag-of-words rows normalised to sum 1 (as released);
    ``author`` [7167, 1902], each row the sum of the author's papers' rows (as released);
    ``subject`` has none (HeCo uses one-hot ids for it). Both are float32 CSR.

    Edges: ``("paper", "author")`` (13407, from ``pa.txt``) and ``("paper", "subject")`` (4019,
    from ``ps.txt``; one subject per paper), each with its reverse ``("author", "paper")``,
    ``("subject", "paper")``; duplicates removed (none in the released files).

    Meta-paths: ``"PAP"`` and ``"PSP"``, the released [4019, 4019] adjacencies as float32 CSR with
    value 1. Their support is PA·PAᵀ > 0 and PS·PSᵀ > 0, **diagonal included** (every paper is its
    own meta-path neighbour); nnz 57853 and 4338213.

    Split: HeCo's ``train_{k}`` / ``val_{k}`` / ``test_{k}`` files: k papers per class for
    training, 1000 for validation, 1000 for test. HeCo's positive-pair matrix ``pos.npz`` and
    neighbour lists are method-specific and not loaded.

    Args:
      root: data root (see ``jaxnets.data``).
      train_per_class: 20, 40 or 60.

    Returns:
      A ``HeteroDataset`` with target type ``"paper"``.
    """
    if train_per_class not in _TRAIN_SIZES:
        raise ValueError(f"train_per_class must be one of {_TRAIN_SIZES}, got "
                         f"{train_per_class!r}")
    k = train_per_class
    names = ["pa.txt", "ps.txt", "p_feat.npz", "a_feat.npz", "labels.npy", "pap.npz", "psp.npz",
             f"train_{k}.npy", f"val_{k}.npy", f"test_{k}.npy"]
    paths = {key.removeprefix(_DIR + "/"): v
             for key, v in _files.require([f"{_DIR}/{n}" for n in names], root).items()}

    labels_f = np.load(paths["labels.npy"], allow_pickle=False)
    labels = labels_f.astype(np.int32)
    if not np.array_equal(labels, labels_f):
        raise ValueError(f"{paths['labels.npy']}: labels are not integers")
    p_feat = sp.load_npz(paths["p_feat.npz"]).tocsr().astype(np.float32)
    a_feat = sp.load_npz(paths["a_feat.npz"]).tocsr().astype(np.float32)
    num_nodes = {"paper": p_feat.shape[0], "author": a_feat.shape[0]}
    pa_s, pa_r = _pairs(paths["pa.txt"], num_nodes["paper"], num_nodes["author"])
    ps_raw = np.loadtxt(paths["ps.txt"], dtype=np.int64, ndmin=2)
    num_nodes["subject"] = int(ps_raw[:, 1].max()) + 1
    ps_s, ps_r = _pairs(paths["ps.txt"], num_nodes["paper"], num_nodes["subject"])

    def metapath(name: str) -> sp.csr_matrix:
        m = sp.load_npz(paths[name]).tocsr().astype(np.float32)
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    n = num_nodes["paper"]
    return HeteroDataset(
        name="acm", target="paper", num_nodes=num_nodes,
        features={"paper": p_feat, "author": a_feat},
        edges={("paper", "author"): (pa_s, pa_r), ("author", "paper"): (pa_r, pa_s),
               ("paper", "subject"): (ps_s, ps_r), ("subject", "paper"): (ps_r, ps_s)},
        metapaths={"PAP": metapath("pap.npz"), "PSP": metapath("psp.npz")},
        labels=labels,
        train_mask=_mask(np.load(paths[f"train_{k}.npy"], allow_pickle=False), n),
        val_mask=_mask(np.load(paths[f"val_{k}.npy"], allow_pickle=False), n),
        test_mask=_mask(np.load(paths[f"test_{k}.npy"], allow_pickle=False), n),
        num_classes=int(labels.max()) + 1)
