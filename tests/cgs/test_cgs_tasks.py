"""The GVI generator and metrics, checked with plain Python loops over edges (independent code)."""
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from jaxnets import graph as graph_lib
from jaxnets.models import cgs_tasks as tasks


@pytest.mark.parametrize("seed,states,actions", [(0, 8, 3), (1, 15, 4), (2, 6, 1)])
def test_gvi_graph_structure_values_and_policy(seed, states, actions):
    g = tasks.gvi_graph(np.random.default_rng(seed), states, actions)
    s, r = g.senders, g.receivers
    rewards, values = g.edges["reward"][:, 0].astype(np.float64), g.nodes["value"]
    assert g.n_node.tolist() == [states] and g.n_edge.tolist() == [states * actions]
    assert np.all(np.bincount(r, minlength=states) == actions)  # nA incoming edges per state
    assert not np.any(s == r) and s.min() >= 0 and s.max() < states
    assert np.all((rewards >= -1) & (rewards <= 1)) and np.all(g.nodes["x"] == 1)
    for i in range(states):  # Bellman optimality, edge by edge
        incoming = [e for e in range(len(s)) if r[e] == i]
        q = [rewards[e] + 0.9 * values[s[e]] for e in incoming]
        assert abs(values[i] - max(q)) < 1e-4, (i, values[i], max(q))
        chosen = [e for e in incoming if g.edges["policy"][e]]
        assert chosen == [incoming[int(np.argmax(q))]]


def test_gvi_graphs_are_reproducible_and_within_ranges():
    a = tasks.gvi_graphs(3, 20, (10, 20), (3, 5))
    b = tasks.gvi_graphs(3, 20, (10, 20), (3, 5))
    c = tasks.gvi_graphs(4, 20, (10, 20), (3, 5))
    for ga, gb in zip(a, b):
        np.testing.assert_array_equal(ga.senders, gb.senders)
        np.testing.assert_array_equal(ga.nodes["value"], gb.nodes["value"])
    assert any(ga.senders.shape != gc.senders.shape or np.any(ga.senders != gc.senders)
               for ga, gc in zip(a, c))
    n = np.array([int(g.n_node[0]) for g in a])
    per_node = np.array([int(g.n_edge[0]) // int(g.n_node[0]) for g in a])
    assert n.min() >= 10 and n.max() < 20 and per_node.min() >= 3 and per_node.max() < 5


def test_bad_generator_arguments():
    with pytest.raises(ValueError, match="num_actions"):
        tasks.gvi_graph(np.random.default_rng(0), 5, 4)
    with pytest.raises(ValueError, match="actions_range"):
        tasks.gvi_graphs(0, 3, (5, 10), (3, 6))
    with pytest.raises(ValueError, match="discount"):
        tasks.value_iteration(np.array([0]), np.array([1]), np.array([1.0]), 2, discount=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        tasks.batch_and_pad(tasks.gvi_graphs(0, 3, (5, 8), (2, 3)), 4)


def _tiny():
    """Two states, two parallel edges into node 0 (from 1) and one edge into node 1 (from 0)."""
    senders, receivers = np.array([1, 1, 0]), np.array([0, 0, 1])
    rewards = np.array([0.5, 0.2, 0.1])
    # V1 = 0.1 + 0.9 V0, V0 = 0.5 + 0.9 V1  =>  V0 = (0.5 + 0.09) / 0.19, V1 = 0.1 + 0.9 V0.
    v0 = 0.59 / 0.19
    values = np.array([v0, 0.1 + 0.9 * v0])
    return jraph.GraphsTuple(
        nodes={"x": np.ones((2, 1), np.float32), "value": values.astype(np.float32)},
        edges={"reward": rewards[:, None].astype(np.float32),
               "policy": np.array([True, False, True])},
        senders=senders.astype(np.int32), receivers=receivers.astype(np.int32),
        n_node=np.array([2], np.int32), n_edge=np.array([3], np.int32), globals=None)


def test_value_iteration_matches_closed_form():
    g = _tiny()
    v = tasks.value_iteration(g.senders, g.receivers, g.edges["reward"][:, 0], 2, tol=1e-10)
    np.testing.assert_allclose(v, g.nodes["value"], rtol=1e-6)


def test_metrics_on_a_padded_batch_with_known_answers():
    g = _tiny()
    batch = graph_lib.pad_graph(jraph.batch([g, g]), 8, 8, 4)
    true = jnp.asarray(batch.nodes["value"])
    assert float(tasks.policy_accuracy(true, batch)) == 1.0
    assert float(tasks.value_mape(true, batch)) == 0.0
    np.testing.assert_allclose(float(tasks.value_mape(1.1 * true, batch)), 10.0, rtol=1e-5)
    # Padding nodes' predictions must not matter.
    noisy = true.at[4:].set(1e6)
    assert float(tasks.value_mape(noisy, batch)) == 0.0
    # In-edges of node 0 have equal senders, so its greedy edge is the reward argmax whatever V;
    # node 1 has one edge. Any values give policy accuracy 1 here ...
    assert float(tasks.policy_accuracy(jnp.zeros(8), batch)) == 1.0
    # ... unless the rewards are swapped in the first graph only: node 0 of graph 1 is then
    # wrong, so graph 1 scores 1/2 and graph 2 scores 1: mean 0.75.
    swapped = batch._replace(edges={**batch.edges, "policy": np.array(
        [False, True, True, True, False, True, False, False])})
    np.testing.assert_allclose(float(tasks.policy_accuracy(true, swapped)), 0.75)


def test_greedy_edges_breaks_ties_to_the_lowest_edge():
    chosen = tasks.greedy_edges(jnp.zeros(2), jnp.array([1, 1, 1]), jnp.array([0, 0, 0]),
                                jnp.array([0.3, 0.3, 0.1]), 2)
    assert chosen.tolist() == [True, False, False]


def test_batch_and_pad_stacks_batches_to_one_budget():
    graphs = tasks.gvi_graphs(0, 10, (5, 9), (2, 4))
    stacked = tasks.batch_and_pad(graphs, 4)
    assert stacked.n_node.shape[0] == 2 and stacked.senders.ndim == 2
    for i in range(2):
        b = jraph.GraphsTuple(*[None if leaf is None else
                                (dict((k, v[i]) for k, v in leaf.items()) if isinstance(leaf, dict)
                                 else leaf[i]) for leaf in stacked])
        assert int(np.sum(np.asarray(graph_lib.graph_mask(b)))) == 4
        assert int(np.sum(b.n_node[:4])) == sum(int(g.n_node[0]) for g in graphs[4 * i:4 * i + 4])
