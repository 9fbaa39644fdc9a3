"""Containers returned by the loaders: node-level graphs, ratings, heterogeneous graphs, events.

All arrays are host numpy arrays (or scipy CSR matrices for sparse features); convert with
``jnp.asarray`` or ``NodeDataset.to_graphs_tuple`` at the edge of a jitted function. The
containers are frozen and check their fields when built, so a malformed dataset fails where it is
made rather than deep inside a training step.
"""
from __future__ import annotations

import dataclasses

import jraph
import numpy as np
import scipy.sparse as sp

from jaxnets.data import _edges

Features = np.ndarray | sp.csr_matrix


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


@dataclasses.dataclass(frozen=True, eq=False)
class NodeDataset:
    """One graph with node features, node labels and train/val/test masks.

    Attributes:
      name: dataset name, e.g. ``"cora"`` or ``"geom-gcn/cornell"``.
      features: [N, F] float32, a dense array or a scipy CSR matrix (Planetoid, Cora-ML).
      senders: [E] int32; edge e goes ``senders[e] -> receivers[e]``.
      receivers: [E] int32.
      labels: [N] int32 class ids, -1 where a node has no label.
      train_mask: [N] bool, or [S, N] bool for S standard splits (row k is split k).
      val_mask: same shape as ``train_mask``.
      test_mask: same shape as ``train_mask``.
      num_classes: C; labels lie in [-1, C).
      directed: False means both directions of every undirected edge are stored, deduplicated.
    """

    name: str
    features: Features
    senders: np.ndarray
    receivers: np.ndarray
    labels: np.ndarray
    train_mask: np.ndarray
    val_mask: np.ndarray
    test_mask: np.ndarray
    num_classes: int
    directed: bool

    def __post_init__(self) -> None:
        n = self.labels.shape[0] if self.labels.ndim == 1 else -1
        _require(self.labels.ndim == 1 and self.labels.dtype == np.int32,
                 f"{self.name}: labels must be [N] int32, got {self.labels.shape} "
                 f"{self.labels.dtype}")
        _require(isinstance(self.features, (np.ndarray, sp.csr_matrix))
                 and self.features.ndim == 2 and self.features.shape[0] == n
                 and self.features.dtype == np.float32,
                 f"{self.name}: features must be [N={n}, F] float32 (ndarray or CSR), got "
                 f"{type(self.features).__name__} {self.features.shape} {self.features.dtype}")
        for field in ("senders", "receivers"):
            arr = getattr(self, field)
            _require(arr.ndim == 1 and arr.dtype == np.int32,
                     f"{self.name}: {field} must be [E] int32, got {arr.shape} {arr.dtype}")
        _require(self.senders.shape == self.receivers.shape,
                 f"{self.name}: senders {self.senders.shape} and receivers "
                 f"{self.receivers.shape} differ")
        if self.senders.size:
            lo = min(self.senders.min(), self.receivers.min())
            hi = max(self.senders.max(), self.receivers.max())
            _require(lo >= 0 and hi < n,
                     f"{self.name}: edge endpoints must lie in [0, {n}), got [{lo}, {hi}]")
        shape = self.train_mask.shape
        _require(len(shape) in (1, 2) and shape[-1] == n,
                 f"{self.name}: train_mask must be [N={n}] or [S, N={n}], got {shape}")
        for field in ("train_mask", "val_mask", "test_mask"):
            arr = getattr(self, field)
            _require(arr.dtype == np.bool_ and arr.shape == shape,
                     f"{self.name}: {field} must be bool of shape {shape}, got {arr.shape} "
                     f"{arr.dtype}")
        overlap = ((self.train_mask & self.val_mask) | (self.train_mask & self.test_mask)
                   | (self.val_mask & self.test_mask))
        _require(not overlap.any(), f"{self.name}: train/val/test masks overlap")
        used = (self.train_mask | self.val_mask | self.test_mask).reshape(-1, n).any(axis=0)
        _require(not (used & (self.labels < 0)).any(),
                 f"{self.name}: a mask selects a node without a label (-1)")
        _require(n == 0 or (self.labels.min() >= -1 and self.labels.max() < self.num_classes),
                 f"{self.name}: labels must lie in [-1, num_classes={self.num_classes})")

    @property
    def num_nodes(self) -> int:
        """N."""
        return int(self.labels.shape[0])

    @property
    def num_edges(self) -> int:
        """E, the number of stored (directed) edges."""
        return int(self.senders.shape[0])

    @property
    def num_features(self) -> int:
        """F."""
        return int(self.features.shape[1])

    @property
    def num_splits(self) -> int:
        """S for [S, N] masks, 1 for [N] masks."""
        return 1 if self.train_mask.ndim == 1 else int(self.train_mask.shape[0])

    def split(self, k: int) -> NodeDataset:
        """The same dataset with the 1-D masks of standard split ``k``.

        Raises:
          IndexError: ``k`` is outside ``[0, num_splits)``.
        """
        if not 0 <= k < self.num_splits:
            raise IndexError(f"{self.name}: split index k={k} out of range; valid: "
                             f"0..{self.num_splits - 1}")
        if self.train_mask.ndim == 1:
            return self
        return dataclasses.replace(self, train_mask=self.train_mask[k],
                                   val_mask=self.val_mask[k], test_mask=self.test_mask[k])

    def dense_features(self) -> np.ndarray:
        """[N, F] float32 dense features (a copy for CSR features)."""
        if sp.issparse(self.features):
            return np.asarray(self.features.toarray(), dtype=np.float32)
        return self.features

    def to_graphs_tuple(self) -> jraph.GraphsTuple:
        """One-graph ``jraph.GraphsTuple``: nodes = dense float32 [N, F] features,
        edges=None, senders/receivers int32 [E], n_node=[N], n_edge=[E], globals=None."""
        return jraph.GraphsTuple(
            nodes=self.dense_features(), edges=None,
            senders=self.senders, receivers=self.receivers,
            n_node=np.array([self.num_nodes], dtype=np.int32),
            n_edge=np.array([self.num_edges], dtype=np.int32), globals=None)

    def as_undirected(self) -> NodeDataset:
        """Symmetrised and deduplicated copy (self-loops kept, stored once); ``directed=False``."""
        s, r = _edges.symmetrize(self.senders, self.receivers, self.num_nodes)
        return dataclasses.replace(self, senders=s, receivers=r, directed=False)


@dataclasses.dataclass(frozen=True, eq=False)
class RatingsDataset:
    """Explicit-feedback ratings with one train/test fold (MovieLens style).

    Rows are the fold's training ratings followed by its test ratings.

    Attributes:
      name: e.g. ``"movielens-100k/u1"``.
      users: [R] int32 user ids in [0, num_users) (the files' 1-based ids minus one).
      items: [R] int32 item ids in [0, num_items).
      ratings: [R] float32 ratings (1..5 stars for MovieLens).
      timestamps: [R] int64 Unix seconds.
      train_mask: [R] bool, the fold's training rows.
      test_mask: [R] bool, the fold's test rows (``~train_mask``).
      num_users: U.
      num_items: I.
      item_genres: [I, G] float32 multi-hot genre flags.
      genre_names: the G genre names.
      item_titles: the I titles.
      user_features: [U, D] float32 user side features (layout in ``user_feature_names``).
      user_feature_names: the D column names of ``user_features``.
    """

    name: str
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    train_mask: np.ndarray
    test_mask: np.ndarray
    num_users: int
    num_items: int
    item_genres: np.ndarray
    genre_names: tuple[str, ...]
    item_titles: tuple[str, ...]
    user_features: np.ndarray
    user_feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        r = self.users.shape[0]
        for field in ("users", "items", "ratings", "timestamps", "train_mask", "test_mask"):
            _require(getattr(self, field).shape == (r,),
                     f"{self.name}: {field} must have shape [{r}]")
        _require(self.users.size == 0 or (0 <= self.users.min() and
                                          self.users.max() < self.num_users),
                 f"{self.name}: user ids must lie in [0, {self.num_users})")
        _require(self.items.size == 0 or (0 <= self.items.min() and
                                          self.items.max() < self.num_items),
                 f"{self.name}: item ids must lie in [0, {self.num_items})")
        _require(not (self.train_mask & self.test_mask).any(),
                 f"{self.name}: train and test rows overlap")

    @property
    def num_ratings(self) -> int:
        """R."""
        return int(self.users.shape[0])

    def arrays(self, part: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(users, items, ratings, timestamps)`` of ``part`` in {"train", "test", "all"}."""
        masks = {"train": self.train_mask, "test": self.test_mask,
                 "all": np.ones_like(self.train_mask)}
        if part not in masks:
            raise ValueError(f"part must be one of {sorted(masks)}, got {part!r}")
        m = masks[part]
        return self.users[m], self.items[m], self.ratings[m], self.timestamps[m]


@dataclasses.dataclass(frozen=True, eq=False)
class HeteroDataset:
    """A heterogeneous graph with one labelled target node type (HAN/HeCo style).

    Attributes:
      name: e.g. ``"acm"``.
      target: the labelled node type, e.g. ``"paper"``.
      num_nodes: node type -> count.
      features: node type -> [N_type, F] float32 CSR features (types without features absent).
      edges: ``(src_type, dst_type)`` -> ``(senders, receivers)`` int32 arrays; both directions of
        each relation are present as separate keys.
      metapaths: meta-path name (e.g. ``"PAP"``) -> [N_target, N_target] float32 CSR adjacency.
      labels: [N_target] int32.
      train_mask: [N_target] bool.
      val_mask: [N_target] bool.
      test_mask: [N_target] bool.
      num_classes: C.
    """

    name: str
    target: str
    num_nodes: dict[str, int]
    features: dict[str, sp.csr_matrix]
    edges: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    metapaths: dict[str, sp.csr_matrix]
    labels: np.ndarray
    train_mask: np.ndarray
    val_mask: np.ndarray
    test_mask: np.ndarray
    num_classes: int

    def __post_init__(self) -> None:
        n = self.num_nodes[self.target]
        for field in ("labels", "train_mask", "val_mask", "test_mask"):
            _require(getattr(self, field).shape == (n,),
                     f"{self.name}: {field} must have shape [{n}]")
        for (a, b), (s, r) in self.edges.items():
            _require(s.shape == r.shape and s.dtype == np.int32 and r.dtype == np.int32,
                     f"{self.name}: edges[{a!r}, {b!r}] must be two equal-length int32 arrays")
            _require(s.size == 0 or (s.min() >= 0 and s.max() < self.num_nodes[a]
                                     and r.min() >= 0 and r.max() < self.num_nodes[b]),
                     f"{self.name}: edges[{a!r}, {b!r}] has ids out of range")
        _require(not ((self.train_mask & self.val_mask) | (self.train_mask & self.test_mask)
                      | (self.val_mask & self.test_mask)).any(),
                 f"{self.name}: train/val/test masks overlap")


@dataclasses.dataclass(frozen=True, eq=False)
class TemporalEdges:
    """A stream of timestamped directed events ``src -> dst at time t``, sorted by time.

    Attributes:
      name: e.g. ``"collegemsg"``.
      src: [T] int32 sender ids in [0, num_nodes).
      dst: [T] int32 receiver ids in [0, num_nodes).
      t: [T] int64 Unix seconds, non-decreasing.
      num_nodes: N.
    """

    name: str
    src: np.ndarray
    dst: np.ndarray
    t: np.ndarray
    num_nodes: int

    def __post_init__(self) -> None:
        k = self.src.shape[0]
        _require(self.dst.shape == (k,) and self.t.shape == (k,),
                 f"{self.name}: src, dst and t must have equal length")
        _require(self.t.dtype == np.int64, f"{self.name}: t must be int64 seconds")
        _require(bool(np.all(np.diff(self.t) >= 0)), f"{self.name}: t must be sorted")

    @property
    def num_events(self) -> int:
        """T."""
        return int(self.src.shape[0])
