"""The s-t connectivity generator (checked with networkx) and the `cgs_graph` experiment."""
import jax
import networkx as nx
import numpy as np
import pytest

from experiments import cgs_graph
from jaxnets import experiment as experiment_lib
from jaxnets import graph as graph_lib
from jaxnets.models import cgs_tasks as tasks


def _nx_graph(g) -> nx.MultiGraph:
    graph = nx.MultiGraph()
    graph.add_nodes_from(range(int(g.n_node[0])))
    graph.add_edges_from(zip(g.senders.tolist(), g.receivers.tolist()))
    return graph


@pytest.mark.parametrize("seed,low,high,reach", [(0, 2, 6, 1), (1, 5, 12, 2), (2, 12, 24, 3)])
def test_st_connectivity_labels_and_distances_match_networkx(seed, low, high, reach):
    graphs = tasks.st_connectivity_graphs(seed, 40, (low, high), reach=reach)
    labels = []
    for g in graphs:
        n = int(g.n_node[0])
        x = g.nodes["x"]
        assert x.shape == (n, 3) and np.all(x[:, 0] == 1)
        assert x[:, 1].sum() == 1 and x[:, 2].sum() == 1
        s, t = int(np.argmax(x[:, 1])), int(np.argmax(x[:, 2]))
        assert s != t
        # Undirected: every edge appears once in each direction; no self-loops.
        pairs = sorted(zip(g.senders.tolist(), g.receivers.tolist()))
        assert pairs == sorted(zip(g.receivers.tolist(), g.senders.tolist()))
        assert not np.any(g.senders == g.receivers)
        assert g.edges.shape == (g.senders.size, 1) and g.n_edge.tolist() == [g.senders.size]
        simple = nx.Graph(_nx_graph(g))
        # A forest of two trees, each of size in [low, high).
        assert simple.number_of_edges() == g.senders.size // 2 == n - 2
        components = list(nx.connected_components(simple))
        assert len(components) == 2 and nx.is_forest(simple)
        assert all(low <= len(c) < high for c in components)
        connected = nx.has_path(simple, s, t)
        assert g.globals["label"].tolist() == [int(connected)]
        expected = nx.shortest_path_length(simple, s, t) if connected else -1
        assert g.globals["distance"].tolist() == [expected]
        labels.append(connected)
    assert 0 < np.mean(labels) < 1


def test_elongated_trees_have_long_paths_and_reach_one_gives_paths():
    paths = tasks.st_connectivity_graphs(3, 10, (6, 10), reach=1)
    for g in paths:
        simple = nx.Graph(_nx_graph(g))
        assert max(d for _, d in simple.degree()) <= 2  # reach 1: every tree is a path
    graphs = tasks.st_connectivity_graphs(4, 300, (12, 24), reach=2)
    far = [g.globals["distance"][0] > 6 for g in graphs if g.globals["label"][0] == 1]
    assert np.mean(far) > 0.15  # many connected pairs beyond a 3-layer MPNN's reach


def test_st_connectivity_reproducible_forced_label_and_bad_input():
    a = tasks.st_connectivity_graphs(5, 6, (4, 9))
    b = tasks.st_connectivity_graphs(5, 6, (4, 9))
    for ga, gb in zip(a, b):
        np.testing.assert_array_equal(ga.senders, gb.senders)
        np.testing.assert_array_equal(ga.nodes["x"], gb.nodes["x"])
    rng = np.random.default_rng(0)
    for want in (True, False):
        g = tasks.st_connectivity_graph(rng, (5, 7), connected=want)
        assert g.globals["label"].tolist() == [int(want)]
    with pytest.raises(ValueError, match="sizes"):
        tasks.st_connectivity_graph(rng, (1, 5))
    with pytest.raises(ValueError, match="reach"):
        tasks.st_connectivity_graph(rng, (3, 5), reach=0)
    with pytest.raises(ValueError, match="nodes_range"):
        tasks.st_connectivity_graphs(0, 3, (5, 5))


def test_padded_batches_keep_labels_and_mask_padding():
    graphs = tasks.st_connectivity_graphs(6, 12, (4, 8))
    batches = tasks.batch_and_pad(graphs, 4)
    assert batches.n_node.shape[0] == 3
    labels = np.array([g.globals["label"][0] for g in graphs]).reshape(3, 4)
    for i in range(3):
        mask = np.asarray(graph_lib.graph_mask(jax.tree.map(lambda a: a[i], batches)))
        assert mask.tolist()[:4] == [True] * 4 and not mask[4:].any()
        np.testing.assert_array_equal(batches.globals["label"][i][:4], labels[i])


def test_quick_cgs_graph_runs_end_to_end(tmp_path):
    config = experiment_lib.build_config(cgs_graph, [], quick=True)
    results, claim = experiment_lib.run_experiment(cgs_graph, config, tmp_path / "run")
    for name in cgs_graph.VARIANTS:
        accuracy = results[name]["test"]["accuracy"]
        assert len(accuracy) == 2 and all(0 <= a <= 100 for a in accuracy)
        assert len(results[name]["best_val_accuracy"]) == 2
    assert isinstance(claim.passed, bool) and "n/r" in claim.paper
    assert "cgs: acc" in claim.ours and "mpnn: acc" in claim.ours
    assert (tmp_path / "run" / "val_accuracy.png").exists()
    assert (tmp_path / "run" / "results.json").exists()


@pytest.mark.slow
def test_cgs_competitive_with_mpnn_on_graph_classification(tmp_path):
    config = experiment_lib.build_config(cgs_graph, [], quick=False)
    results, claim = experiment_lib.run_experiment(cgs_graph, config, tmp_path / "run")
    assert len(results["cgs"]["test"]["accuracy"]) == 3
    assert claim.passed, claim.text
