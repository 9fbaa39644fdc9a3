"""Random graphs and dense numpy references shared by the graph-op tests (as fixtures)."""
import types

import jraph
import numpy as np
import pytest


def _random_edges(rng, num_nodes, num_edges, self_loops=False):
    """Distinct directed edges (no duplicates) on nodes [0, num_nodes), as int32 arrays."""
    pairs = [(a, b) for a in range(num_nodes) for b in range(num_nodes) if self_loops or a != b]
    pick = rng.choice(len(pairs), size=num_edges, replace=False)
    s, r = np.array([pairs[i] for i in pick], dtype=np.int32).T
    return s, r


def _dense_adjacency(senders, receivers, num_nodes, weight=None):
    """A[i, j] = sum of the weights of edges j -> i (row = receiver), float64."""
    a = np.zeros((num_nodes, num_nodes))
    w = np.ones(len(senders)) if weight is None else np.asarray(weight, np.float64)
    np.add.at(a, (np.asarray(receivers), np.asarray(senders)), w)
    return a


@pytest.fixture
def ref():
    """Helpers computed independently of jaxnets, in numpy."""
    return types.SimpleNamespace(random_edges=_random_edges, dense_adjacency=_dense_adjacency)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def small_graph(rng):
    """12 nodes, 30 distinct directed edges among nodes 0..10, 5 features; node 11 is isolated."""
    s, r = _random_edges(rng, 11, 30)
    x = rng.normal(size=(12, 5)).astype(np.float32)
    return jraph.GraphsTuple(nodes=x, edges=None, senders=s, receivers=r,
                             n_node=np.array([12]), n_edge=np.array([30]), globals=None)
