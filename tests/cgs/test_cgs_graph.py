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


@pytest.mark.parametrize("seed,low,high,threshold,reach",
                         [(0, 2, 6, 4, 1), (1, 5, 12, 8, 2), (2, 6, 24, 15, 3)])
def test_component_size_labels_match_networkx(seed, low, high, threshold, reach):
    graphs = tasks.component_size_graphs(seed, 40, (low, high), threshold, reach=reach)
    labels = []
    for g in graphs:
        n = int(g.n_node[0])
        x = g.nodes["x"]
        assert x.shape == (n, 2) and np.all(x[:, 0] == 1) and x[:, 1].sum() == 1
        s = int(np.argmax(x[:, 1]))
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
        size = len(nx.node_connected_component(simple, s))
        assert g.globals["size"].tolist() == [size]
        assert g.globals["label"].tolist() == [int(size >= threshold)]
        labels.append(size >= threshold)
    assert 0 < np.mean(labels) < 1


def test_elongated_trees_are_long_and_reach_one_gives_paths():
    for g in tasks.component_size_graphs(3, 10, (6, 10), 8, reach=1):
        simple = nx.Graph(_nx_graph(g))
        assert max(d for _, d in simple.degree()) <= 2  # reach 1: every tree is a path
    diameters = [max(nx.diameter(simple.subgraph(c)) for c in nx.connected_components(simple))
                 for simple in (nx.Graph(_nx_graph(g))
                                for g in tasks.component_size_graphs(4, 50, (20, 24), 15))]
    assert np.mean(diameters) > 8  # far beyond a 3-layer MPNN's view of the marked node


def test_component_size_reproducible_and_bad_input():
    a = tasks.component_size_graphs(5, 6, (4, 9), 6)
    b = tasks.component_size_graphs(5, 6, (4, 9), 6)
    for ga, gb in zip(a, b):
        np.testing.assert_array_equal(ga.senders, gb.senders)
        np.testing.assert_array_equal(ga.nodes["x"], gb.nodes["x"])
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="sizes"):
        tasks.component_size_graph(rng, (1, 5), 3)
    with pytest.raises(ValueError, match="reach"):
        tasks.component_size_graph(rng, (3, 5), 3, reach=0)
    with pytest.raises(ValueError, match="nodes_range"):
        tasks.component_size_graphs(0, 3, (5, 5), 5)


def test_node_count_rule_is_the_majority_label_per_count():
    def graph(n, label):
        g = tasks.component_size_graph(np.random.default_rng(n), (2, n - 2), 1)
        return g._replace(globals={"label": np.array([label], np.int32)})

    train = [graph(6, 1), graph(6, 1), graph(6, 0), graph(7, 0), graph(7, 0), graph(7, 1)]
    test = [graph(6, 1), graph(6, 0), graph(7, 0), graph(9, 1)]  # 9 unseen: overall majority 1/0
    # Per count: 6 -> 1, 7 -> 0; overall 3 of 6 positives is no majority -> 0.
    assert cgs_graph.node_count_rule_accuracy(train, test) == 50.0


def test_padded_batches_keep_labels_and_mask_padding():
    graphs = tasks.component_size_graphs(6, 12, (4, 8), 6)
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
    assert 0 < results["cgs"]["mean_fixed_point_iterations"] < config.max_iter
    assert "mean_fixed_point_iterations" not in results["mpnn"]
    assert 0 <= results["node_count_rule_accuracy"] <= 100
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
