"""Temporal interaction graphs: the UCI CollegeMsg message stream.

Panzarasa, Opsahl & Carley, "Patterns and dynamics of users' behavior and interaction: Network
analysis of an online community", JASIST 60(5), 2009; distributed by SNAP as "CollegeMsg" and used
as "UCI" by CAW (Wang et al., ICLR 2021), NAT (Luo & Li, LoG 2022) and DyGLib (Yu et al., NeurIPS
2023). File from theokjulien/SPAHR-Model-Analysis.
"""
from __future__ import annotations

import os

import numpy as np

from jaxnets.data import _files
from jaxnets.data.types import TemporalEdges

_FILE = "collegemsg/CollegeMsg.txt"


def load_collegemsg(root: str | os.PathLike[str] | None = None) -> TemporalEdges:
    """Loads CollegeMsg as a time-sorted stream of directed message events.

    The copy has a header line ``source target weight`` added by its repository owner; it is
    skipped, and the third column is read as what it is in SNAP's original, a Unix timestamp in
    seconds (not a weight). Node ids are made 0-based (file id minus one; N = 1899). Events are
    stably sorted by time (the file already is, so file order is kept among equal times). All
    59835 events are kept: repeated (src, dst, t) rows (37 in the file) are separate events, and
    there are no self-loops.

    Args:
      root: data root (see ``jaxnets.data``).

    Returns:
      ``TemporalEdges`` with ``src``/``dst`` int32 and ``t`` int64 seconds.
    """
    path = _files.require([_FILE], root)[_FILE]
    raw = np.loadtxt(path, dtype=np.int64, skiprows=1, ndmin=2)
    order = np.argsort(raw[:, 2], kind="stable")
    raw = raw[order]
    if raw[:, :2].min() < 1:
        raise ValueError(f"{path}: node ids must be 1-based")
    return TemporalEdges(name="collegemsg", src=(raw[:, 0] - 1).astype(np.int32),
                         dst=(raw[:, 1] - 1).astype(np.int32), t=raw[:, 2].astype(np.int64),
                         num_nodes=int(raw[:, :2].max()))
