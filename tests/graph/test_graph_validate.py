"""Bad graphs raise GraphError naming the argument: eagerly, at trace time, and under `checked`."""
import re

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

import jaxnets.graph as jg
from jaxnets.graph import GraphError


def _graph(s, r, n_node, nodes=None, edges=None, n_edge=None):
    return jraph.GraphsTuple(nodes=nodes, edges=edges, senders=np.asarray(s, np.int32),
                             receivers=np.asarray(r, np.int32), n_node=np.asarray(n_node),
                             n_edge=np.asarray([len(s)] if n_edge is None else n_edge),
                             globals=None)


def test_out_of_range_sender_names_argument_and_value():
    s = np.array([0, 1, 3000]); r = np.array([1, 2, 0])
    with pytest.raises(GraphError, match="senders has index 3000 but the graph has 2708 nodes"):
        jg.check_graph((s, r), 2708)
    with pytest.raises(GraphError, match="receivers has index 2708 but the graph has 2708 nodes"):
        jg.check_graph(_graph([0, 1], [1, 2708], [2708]))


def test_negative_index_is_reported():
    with pytest.raises(GraphError, match="receivers has index -1 but the graph has 5 nodes"):
        jg.check_graph((np.array([0, 1]), np.array([1, -1])), 5)


def test_shape_mismatches():
    with pytest.raises(GraphError, match=re.escape("senders has shape (10,) but receivers (9,)")):
        jg.check_graph((np.zeros(10, np.int32), np.zeros(9, np.int32)), 5)
    nodes = np.zeros((2708, 3), np.float32)
    with pytest.raises(GraphError, match="nodes has 2708 rows but n_node sums to 2700"):
        jg.check_graph(_graph([0], [1], [2000, 700], nodes=nodes, n_edge=[1, 0]))
    with pytest.raises(GraphError, match="senders has 2 rows but n_edge sums to 3"):
        jg.check_graph(_graph([0, 1], [1, 0], [3], n_edge=[3]))
    msg = "edges has shape (3,) but the graph has 2 edges"
    with pytest.raises(GraphError, match=re.escape(msg)):
        jg.check_graph(_graph([0, 1], [1, 0], [3], edges=np.ones(3)))
    with pytest.raises(GraphError, match="senders must have an integer dtype"):
        jg.check_graph((np.array([0.0, 1.0]), np.array([1, 0])), 3)
    with pytest.raises(GraphError, match="senders must be a 1-D array"):
        jg.check_graph((np.zeros((2, 2), np.int32), np.zeros((2, 2), np.int32)), 3)


def test_valid_graph_passes_and_is_returned(small_graph):
    assert jg.check_graph(small_graph) is small_graph


def test_ops_check_concrete_indices_eagerly():
    x = jnp.ones((4, 2))
    with pytest.raises(GraphError, match="receivers has index 4 but the graph has 4 nodes"):
        jg.propagate(x, jnp.array([0, 1]), jnp.array([1, 4]), 4)
    with pytest.raises(GraphError, match="segment_ids_E has index 7 but the graph has 3 segments"):
        jg.segment_softmax(jnp.ones(2), jnp.array([0, 7]), 3)
    with pytest.raises(GraphError, match="senders has index 9"):
        jg.gcn_norm(np.array([9]), np.array([0]), 4)


def test_shapes_are_checked_while_tracing_under_jit():
    f = jax.jit(lambda x, s, r: jg.propagate(x, s, r, 4))
    with pytest.raises(GraphError, match=re.escape("senders has shape (3,) but receivers (2,)")):
        f(jnp.ones((4, 2)), jnp.zeros(3, jnp.int32), jnp.zeros(2, jnp.int32))
    g = jax.jit(lambda x, s, r, w: jg.propagate(x, s, r, 4, w))
    with pytest.raises(GraphError, match="edge_weight_E has shape"):
        g(jnp.ones((4, 2)), jnp.zeros(3, jnp.int32), jnp.zeros(3, jnp.int32), jnp.ones(5))


def test_plain_jit_would_silently_drop_and_checked_raises():
    x = jnp.ones((4, 2))
    s, r_bad = jnp.array([0, 1, 2]), jnp.array([1, 2, 9])
    plain = jax.jit(lambda x, s, r: jg.propagate(x, s, r, 4))
    # The failure being guarded against: segment_sum drops the message to node 9 silently.
    assert float(plain(x, s, r_bad).sum()) == 4.0
    guarded = jg.checked(lambda x, s, r: jg.propagate(x, s, r, 4))
    with pytest.raises(GraphError, match="receivers has index 9 but the graph has 4 nodes"):
        guarded(x, s, r_bad)
    r_ok = jnp.array([1, 2, 3])
    np.testing.assert_array_equal(guarded(x, s, r_ok), plain(x, s, r_ok))
    with pytest.raises(GraphError, match="senders has index -2"):
        guarded(x, jnp.array([0, -2, 1]), r_ok)


def test_checked_catches_n_node_mismatch_under_jit():
    def f(graph):
        return jg.check_graph(graph, 4).senders
    g = _graph([0, 1], [1, 2], [3])
    with pytest.raises(GraphError, match="nodes has 4 rows but n_node sums to 3"):
        jg.checked(f)(jax.tree_util.tree_map(jnp.asarray, g))


def test_no_checks_are_staged_outside_checked():
    assert not jg.graph_checks_enabled()
    jaxpr = jax.make_jaxpr(lambda x, s, r: jg.propagate(x, s, r, 4))(
        jnp.ones((4, 2)), jnp.zeros(3, jnp.int32), jnp.zeros(3, jnp.int32))
    assert "check" not in str(jaxpr)


def test_remove_self_loops_refuses_tracers():
    with pytest.raises(GraphError, match="is_self_loop"):
        jax.jit(lambda s, r: jg.remove_self_loops(s, r)[0])(jnp.zeros(2, jnp.int32),
                                                             jnp.zeros(2, jnp.int32))
