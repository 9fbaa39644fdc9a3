"""Client partitions (jaxnets.federated.partition): Dirichlet label skew, padded stacks, and
Louvain community subgraphs (disjoint and FED-PUB's overlapping variant)."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from jaxnets.data import load_digits
from jaxnets.federated import partition


def test_dirichlet_partition_covers_disjointly_and_skew_grows_as_alpha_falls():
    _, labels = load_digits()
    skews = {}
    for alpha in (100.0, 1.0, 0.1):
        values = []
        for seed in range(3):
            parts = partition.dirichlet_label_partition(labels, 10, alpha, seed, min_size=2)
            joined = np.concatenate(parts)
            assert len(joined) == len(labels) and len(np.unique(joined)) == len(labels)
            assert min(len(p) for p in parts) >= 2
            values.append(partition.label_skew(labels, parts))
        skews[alpha] = np.mean(values)
    assert skews[100.0] < 0.1 < skews[1.0] < skews[0.1]
    assert partition.label_skew(labels, [np.arange(len(labels))]) == 0.0
    with pytest.raises(ValueError, match="alpha > 0"):
        partition.dirichlet_label_partition(labels, 3, 0.0, 0)


def test_stack_clients_pads_with_masks():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    out = partition.stack_clients({"x": x, "y": y}, [np.array([4, 1]), np.array([], int),
                                                     np.array([0, 2, 5])])
    assert out["x"].shape == (3, 3, 2) and out["y"].shape == (3, 3)
    np.testing.assert_array_equal(out["mask"], [[1, 1, 0], [0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(out["y"], [[4, 1, 0], [0, 0, 0], [0, 2, 5]])
    np.testing.assert_array_equal(out["x"][0, 2], [0, 0])
    with pytest.raises(ValueError, match="capacity 2"):
        partition.stack_clients({"y": y}, [np.arange(3)], capacity=2)


def _sbm_edges(seed=0):
    graph = nx.stochastic_block_model([20, 25, 15, 30], [[0.3 if i == j else 0.01
                                                          for j in range(4)] for i in range(4)],
                                      seed=seed)
    edges = np.array(graph.edges())
    senders = np.concatenate([edges[:, 0], edges[:, 1]])
    receivers = np.concatenate([edges[:, 1], edges[:, 0]])
    return graph, senders, receivers


def test_louvain_partition_is_disjoint_cover_with_induced_edges():
    graph, senders, receivers = _sbm_edges()
    clients = partition.louvain_partition(senders, receivers, 90, 3, seed=0)
    nodes = [clients.nodes[k][clients.node_mask[k]] for k in range(3)]
    joined = np.concatenate(nodes)
    assert sorted(joined.tolist()) == list(range(90))
    for k in range(3):
        induced = graph.subgraph(nodes[k].tolist())
        assert clients.num_edges[k] == 2 * induced.number_of_edges()
        s = clients.senders[k][clients.edge_mask[k]]
        r = clients.receivers[k][clients.edge_mask[k]]
        got = {tuple(sorted((int(nodes[k][a]), int(nodes[k][b])))) for a, b in zip(s, r)}
        assert got == {tuple(sorted(e)) for e in induced.edges()}
        pad = clients.node_mask.shape[1] - 1
        assert not clients.node_mask[k, pad]
        assert np.all(clients.senders[k][~clients.edge_mask[k]] == pad)
    x = np.arange(90, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    taken = clients.take(x)
    np.testing.assert_array_equal(taken[0][clients.node_mask[0]][:, 0], nodes[0])
    assert np.all(taken[~clients.node_mask] == 0)
    sizes = [len(n) for n in nodes]
    assert max(sizes) - min(sizes) <= 30  # unions of whole communities, balanced greedily
    many = partition.louvain_groups(senders, receivers, 90, 12, seed=0)  # > communities: split
    assert len(many) == 12 and sorted(np.concatenate(many).tolist()) == list(range(90))


def test_overlapping_partition_samples_halves_of_groups():
    _, senders, receivers = _sbm_edges(1)
    groups = partition.louvain_groups(senders, receivers, 90, 2, seed=0)
    clients = partition.overlapping_louvain_partition(senders, receivers, 90, 2, 3, seed=0)
    assert clients.nodes.shape[0] == 6
    for k in range(6):
        nodes = clients.nodes[k][clients.node_mask[k]]
        group = groups[k // 3]
        assert set(nodes.tolist()) <= set(group.tolist())
        assert len(nodes) == len(group) // 2
    first = [set(clients.nodes[k][clients.node_mask[k]].tolist()) for k in range(3)]
    assert first[0] & first[1]  # clients of one group overlap
    with pytest.raises(ValueError, match="lie in"):
        partition.induced_subgraphs(np.array([0]), np.array([5]), 3, [np.array([0])])
