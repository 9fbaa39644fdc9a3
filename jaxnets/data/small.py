"""Small datasets that ship with installed packages (no data root needed): digits, karate club."""
from __future__ import annotations

import networkx as nx
import numpy as np
import sklearn.datasets

from jaxnets.data import _edges
from jaxnets.data.types import NodeDataset


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI optical-digits images shipped with scikit-learn (Alpaydin & Kaynak, 1998).

    Returns:
      ``(X, y)``: X [1797, 64] float32 8x8 images scaled from 0..16 to [0, 1];
      y [1797] int32 digits 0..9.
    """
    x, y = sklearn.datasets.load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int32)


def digits_split(seed: int, test_fraction: float, val_fraction: float = 0.0
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`load_digits` cut by one seeded permutation into test, validation and training images.

    The first `round(test_fraction * 1797)` images of `default_rng(seed).permutation` are the
    test set, the next `round(val_fraction * 1797)` the validation set, the rest training.

    Returns:
      {"train": (x, y), "test": (x, y)} and, when `val_fraction > 0`, "val".
    """
    if not 0.0 < test_fraction < 1.0 or not 0.0 <= val_fraction < 1.0 - test_fraction:
        raise ValueError(f"need 0 < test_fraction < 1 and 0 <= val_fraction < 1 - test_fraction,"
                         f" got {test_fraction}, {val_fraction}")
    x, y = load_digits()
    order = np.random.default_rng(seed).permutation(len(y))
    n_test, n_val = int(round(test_fraction * len(y))), int(round(val_fraction * len(y)))
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
             "train": order[n_test + n_val:]}
    if n_val == 0:
        del parts["val"]
    return {name: (x[i], y[i]) for name, i in parts.items()}


def load_karate() -> NodeDataset:
    """Zachary's karate club as a node-classification dataset.

    Zachary, "An Information Flow Model for Conflict and Fission in Small Groups", J. Anthropol.
    Research 33(4), 1977 (networkx's ``karate_club_graph``). 34 members, 78 friendships stored in
    both directions (156 edges, no self-loops). Labels are the club each member joined after the
    split: 0 = "Mr. Hi" (17 members), 1 = "Officer" (17). Features are the identity matrix
    [34, 34]. Masks: the classic one-label-per-class setup (Kipf & Welling 2017's karate demo):
    train = {0 (the instructor, Mr. Hi), 33 (the administrator)}, no validation nodes, test = the
    other 32 members.

    Returns:
      An undirected ``NodeDataset`` named ``"karate"``.
    """
    graph = nx.karate_club_graph()
    n = graph.number_of_nodes()
    adj = nx.to_scipy_sparse_array(graph, nodelist=range(n), weight=None, format="coo")
    senders, receivers = _edges.symmetrize(adj.row, adj.col, n, drop_self_loops=True)
    clubs = nx.get_node_attributes(graph, "club")
    labels = (np.array(list(map(clubs.__getitem__, range(n)))) == "Officer").astype(np.int32)
    train = np.zeros(n, bool)
    train[[0, n - 1]] = True
    return NodeDataset(name="karate", features=np.eye(n, dtype=np.float32), senders=senders,
                       receivers=receivers, labels=labels, train_mask=train,
                       val_mask=np.zeros(n, bool), test_mask=~train, num_classes=2,
                       directed=False)
