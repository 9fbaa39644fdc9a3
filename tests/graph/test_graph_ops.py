"""Degrees, self-loops, normalisations, propagate and segment softmax against numpy references."""
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

import jaxnets.graph as jg


def _edge_matrix(senders, receivers, weight, n):
    """Dense matrix of per-edge weights, summing duplicates: M[receiver, sender]."""
    m = np.zeros((n, n))
    np.add.at(m, (np.asarray(receivers), np.asarray(senders)), np.asarray(weight, np.float64))
    return m


def test_degrees_weighted_and_masked(rng, ref):
    s, r = ref.random_edges(rng, 9, 20)
    w = rng.uniform(0.5, 2.0, size=20)
    a = ref.dense_adjacency(s, r, 9, w)
    np.testing.assert_allclose(jg.in_degree(r, 9, w), a.sum(1), rtol=1e-6)
    np.testing.assert_allclose(jg.out_degree(s, 9, w), a.sum(0), rtol=1e-6)
    np.testing.assert_array_equal(jg.in_degree(r, 9), np.bincount(r, minlength=9))
    mask = np.arange(20) < 15
    np.testing.assert_array_equal(jg.degree(r, 9, edge_mask_E=mask),
                                  np.bincount(r[:15], minlength=9))


def test_self_loops_add_remove_mask():
    s, r = np.array([0, 1, 2, 2], np.int32), np.array([1, 1, 0, 2], np.int32)
    s2, r2, w2 = jg.add_self_loops(s, r, 3, np.full(4, 0.5), fill_value=2.0)
    np.testing.assert_array_equal(s2, [0, 1, 2, 2, 0, 1, 2])
    np.testing.assert_array_equal(r2, [1, 1, 0, 2, 0, 1, 2])
    np.testing.assert_array_equal(w2, [0.5] * 4 + [2.0] * 3)
    assert jg.add_self_loops(s, r, 3)[2] is None
    np.testing.assert_array_equal(jg.is_self_loop(s, r), [False, True, False, True])
    s3, r3, w3 = jg.remove_self_loops(s, r, np.arange(4.0))
    np.testing.assert_array_equal(s3, [0, 2]); np.testing.assert_array_equal(r3, [1, 0])
    np.testing.assert_array_equal(w3, [0.0, 2.0])


def test_gcn_norm_equals_dense_renormalised_adjacency(rng, ref):
    n = 10
    s, r = ref.random_edges(rng, n - 1, 25)          # node 9 isolated: degree 1 from its loop
    s = np.concatenate([s, [3]]).astype(np.int32)     # one existing self-loop: A + I gives 2
    r = np.concatenate([r, [3]]).astype(np.int32)
    a_hat = ref.dense_adjacency(s, r, n) + np.eye(n)
    d = a_hat.sum(1)
    expected = a_hat / np.sqrt(d)[:, None] / np.sqrt(d)[None, :]
    s2, r2, w2 = jg.gcn_norm(s, r, n)
    assert s2.shape == (len(s) + n,)
    np.testing.assert_allclose(_edge_matrix(s2, r2, w2, n), expected, rtol=1e-6, atol=1e-7)


def test_symmetric_and_random_walk_norm(rng, ref):
    n = 8
    s, r = ref.random_edges(rng, n, 20)
    w = rng.uniform(0.5, 2.0, size=20)
    a = ref.dense_adjacency(s, r, n, w)
    d = a.sum(1)
    inv_sqrt = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    np.testing.assert_allclose(_edge_matrix(s, r, jg.symmetric_norm(s, r, n, w), n),
                               inv_sqrt[:, None] * a * inv_sqrt[None, :], rtol=1e-5, atol=1e-7)
    inv = np.where(d > 0, 1 / np.where(d > 0, d, 1), 0)
    rw = _edge_matrix(s, r, jg.random_walk_norm(s, r, n, w), n)
    np.testing.assert_allclose(rw, inv[:, None] * a, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(rw.sum(1)[d > 0], 1.0, rtol=1e-5)


def test_masked_edges_do_not_change_normalisation(rng, ref):
    n = 8
    s, r = ref.random_edges(rng, n, 15)
    junk_s, junk_r = np.zeros(5, np.int32), np.zeros(5, np.int32)  # jraph-style padding at node 0
    s_p, r_p = np.concatenate([s, junk_s]), np.concatenate([r, junk_r])
    mask = np.arange(20) < 15
    _, _, w = jg.gcn_norm(s, r, n)
    _, _, w_p = jg.gcn_norm(s_p, r_p, n, edge_mask_E=mask)
    np.testing.assert_allclose(w_p[:15], w[:15], rtol=1e-6)      # real edges
    np.testing.assert_allclose(w_p[20:], w[15:], rtol=1e-6)      # loops
    np.testing.assert_array_equal(w_p[15:20], 0.0)
    np.testing.assert_allclose(jg.random_walk_norm(s_p, r_p, n, edge_mask_E=mask)[:15],
                               jg.random_walk_norm(s, r, n), rtol=1e-6)


@pytest.mark.parametrize("aggregate", ["sum", "mean", "max"])
def test_propagate_matches_loop_reference(rng, ref, aggregate):
    n = 9
    s, r = ref.random_edges(rng, n - 1, 20)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=20).astype(np.float32)
    expected = np.zeros((n, 3))
    for i in range(n):
        msgs = [w[e] * x[s[e]] for e in range(20) if r[e] == i]
        if msgs:
            expected[i] = {"sum": np.sum, "mean": np.mean, "max": np.max}[aggregate](msgs, axis=0)
    out = jg.propagate(x, s, r, n, w, aggregate=aggregate)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_propagate_per_head_weights(rng, ref):
    s, r = ref.random_edges(rng, 6, 12)
    x = rng.normal(size=(6, 2, 4)).astype(np.float32)
    w = rng.uniform(size=(12, 2)).astype(np.float32)
    for h in range(2):
        a = ref.dense_adjacency(s, r, 6, w[:, h])
        np.testing.assert_allclose(jg.propagate(x, s, r, 6, w)[:, h], a @ x[:, h], rtol=1e-5,
                                   atol=1e-6)
    with pytest.raises(jg.GraphError, match="does not broadcast"):
        jg.propagate(x, s, r, 6, np.ones((12, 3)))


def test_segment_softmax_matches_dense_masked_softmax(rng, ref):
    n, e, heads = 7, 18, 3
    s, r = ref.random_edges(rng, n - 1, e)
    logits = rng.normal(size=(e, heads)).astype(np.float32) * 3
    out = np.asarray(jg.segment_softmax(logits, r, n))
    for h in range(heads):
        dense = np.full((n, n), -np.inf)
        dense[r, s] = logits[:, h]
        rows = np.isfinite(dense).any(1)
        p = np.zeros((n, n))
        z = np.exp(dense[rows] - dense[rows].max(1, keepdims=True))
        p[rows] = z / z.sum(1, keepdims=True)
        np.testing.assert_allclose(out[:, h], p[r, s], rtol=1e-5, atol=1e-7)


def test_segment_softmax_is_stable_and_masks():
    ids = jnp.array([0, 0, 1, 1, 2])
    logits = jnp.array([1e4, 1e4 - 1.0, -1e4, -1e4, 5.0])
    out = jg.segment_softmax(logits, ids, 4)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)),
                                     0.5, 0.5, 1.0], rtol=1e-6)
    masked = jg.segment_softmax(logits, ids, 4, mask_E=jnp.array([True, False, True, True,
                                                                    False]))
    np.testing.assert_allclose(masked, [1.0, 0.0, 0.5, 0.5, 0.0], rtol=1e-6)
    grad = jax.grad(lambda l: jg.segment_softmax(l, ids, 4, mask_E=ids < 2)[0])(logits)
    assert np.all(np.isfinite(grad))


def test_fully_connected_graph_with_features_works():
    nodes = jnp.arange(6.0).reshape(6, 1)
    g = jg.get_fully_connected_graph(3, 2, node_features=nodes, global_features=jnp.ones((2, 1)),
                                     add_self_edges=False)
    assert g.senders.shape == (12,)
    np.testing.assert_array_equal(g.n_edge, [6, 6])
    assert not np.any(np.asarray(g.senders) == np.asarray(g.receivers))
    np.testing.assert_array_equal(g.nodes, nodes)
    with pytest.raises(jg.GraphError, match="node_features has 5 rows"):
        jg.get_fully_connected_graph(3, 2, node_features=jnp.ones((5, 1)))


def test_jraph_functions_we_rely_on_exist():
    for name in ["GraphsTuple", "batch", "unbatch", "unpad_with_graphs", "pad_with_graphs",
                 "get_fully_connected_graph"]:
        assert callable(getattr(jraph, name)), name
