"""Padding to a budget, masks, and that padding never changes real nodes' results."""
import jax
import jraph
import numpy as np
import pytest
import scipy.sparse as sp

import jaxnets.graph as jg


def _two_graphs(rng, ref):
    g1s, g1r = ref.random_edges(rng, 5, 8)
    g2s, g2r = ref.random_edges(rng, 4, 6)
    make = lambda s, r, n: jraph.GraphsTuple(
        nodes=rng.normal(size=(n, 3)).astype(np.float32), edges=np.ones(len(s), np.float32),
        senders=s, receivers=r, n_node=np.array([n]), n_edge=np.array([len(s)]),
        globals=np.ones((1, 2), np.float32))
    return [make(g1s, g1r, 5), make(g2s, g2r, 4)]


def test_pad_graph_layout_and_masks(rng, ref):
    g = jraph.batch(_two_graphs(rng, ref))
    p = jg.pad_graph(g, n_node=16, n_edge=20, n_graph=4)
    assert p.nodes.shape == (16, 3) and p.edges.shape == (20,) and p.globals.shape == (4, 2)
    np.testing.assert_array_equal(p.n_node, [5, 4, 7, 0])
    np.testing.assert_array_equal(p.n_edge, [8, 6, 6, 0])
    np.testing.assert_array_equal(p.senders[14:], 9)   # first padding node, not real node 0
    np.testing.assert_array_equal(p.receivers[14:], 9)
    np.testing.assert_array_equal(jg.graph_mask(p), [True, True, False, False])
    np.testing.assert_array_equal(jg.node_mask(p), np.arange(16) < 9)
    np.testing.assert_array_equal(jg.edge_mask(p), np.arange(20) < 14)
    masks = jax.jit(lambda p: (jg.node_mask(p), jg.edge_mask(p)))(p)   # jit-safe
    np.testing.assert_array_equal(masks[0], np.arange(16) < 9)
    # jraph's own padding follows the same convention, so the masks read it too.
    pj = jraph.pad_with_graphs(g, n_node=16, n_edge=20, n_graph=4)
    np.testing.assert_array_equal(jg.edge_mask(pj), np.arange(20) < 14)
    u = jg.unpad_graph(p)
    np.testing.assert_array_equal(u.senders, g.senders)
    np.testing.assert_array_equal(u.nodes, g.nodes)


def test_pad_graph_rejects_a_budget_that_does_not_fit(rng, ref):
    g = jraph.batch(_two_graphs(rng, ref))
    with pytest.raises(jg.GraphError, match="does not fit the budget n_node=9"):
        jg.pad_graph(g, n_node=9, n_edge=20, n_graph=4)
    with pytest.raises(jg.GraphError, match="n_graph=2"):
        jg.pad_graph(g, n_node=16, n_edge=20, n_graph=2)


def test_padding_budget(rng, ref):
    graphs = _two_graphs(rng, ref)
    assert jg.padding_budget(graphs) == jg.PaddingBudget(8, 8, 2)            # 5+1 -> 8, 8 -> 8
    assert jg.padding_budget(graphs, batch_size=2) == jg.PaddingBudget(16, 16, 3)  # 10, 14
    assert jg.padding_budget(graphs, batch_size=2, round_to=5) == jg.PaddingBudget(10, 15, 3)
    budget = jg.padding_budget(graphs, batch_size=2)
    padded = [jg.pad_graph(jraph.batch(b), *budget) for b in ([graphs[0]], graphs, [graphs[1]])]
    assert len({jax.tree_util.tree_map(np.shape, p) for p in padded}) == 1   # one shape


def test_zero_out_padding(rng, ref):
    g = jraph.batch(_two_graphs(rng, ref))
    p = jg.pad_graph(g, n_node=16, n_edge=20, n_graph=4)
    p = p._replace(nodes=np.full((16, 3), np.nan, np.float32), edges=np.ones(20, np.float32))
    z = jg.zero_out_padding(p)
    assert np.isnan(z.nodes[:9]).all() and np.all(z.nodes[9:] == 0)
    np.testing.assert_array_equal(z.edges, (np.arange(20) < 14).astype(np.float32))
    np.testing.assert_array_equal(z.globals[:, 0], [1, 1, 0, 0])


def test_padding_keeps_normalised_propagation_of_real_nodes(rng, ref):
    g = jraph.batch(_two_graphs(rng, ref))._replace(edges=None)
    p = jg.pad_graph(g, n_node=16, n_edge=32, n_graph=3)
    pre, pre_p = jg.gcn_preprocess(g), jg.gcn_preprocess(p)
    np.testing.assert_array_equal(pre_p.n_edge, [5 + 8, 4 + 6, 7 + 18])
    out = jg.propagate(pre.nodes, pre.senders, pre.receivers, 9, pre.edges)
    out_p = jg.propagate(pre_p.nodes, pre_p.senders, pre_p.receivers, 16, pre_p.edges)
    np.testing.assert_allclose(out_p[:9], out, rtol=1e-6)
    # jraph's padding routes padding edges to the padding graph as well.
    pj = jg.gcn_preprocess(jraph.pad_with_graphs(g, n_node=16, n_edge=32, n_graph=3))
    np.testing.assert_allclose(jg.propagate(pj.nodes, pj.senders, pj.receivers, 16, pj.edges)[:9],
                               out, rtol=1e-6)
    # Index arrays zero-filled by hand point padding edges at real node 0; a mask fixes that.
    z = p._replace(senders=np.where(jg.edge_mask(p), p.senders, 0),
                   receivers=np.where(jg.edge_mask(p), p.receivers, 0))
    pre_z = jg.gcn_preprocess(z, edge_mask_E=jg.edge_mask(z))
    out_z = jg.propagate(pre_z.nodes, pre_z.senders, pre_z.receivers, 16, pre_z.edges)
    np.testing.assert_allclose(out_z[:9], out, rtol=1e-6)
    unmasked = jg.gcn_preprocess(z)
    out_bad = jg.propagate(unmasked.nodes, unmasked.senders, unmasked.receivers, 16,
                           unmasked.edges)
    assert not np.allclose(out_bad[0], out[0])   # what the mask (or pad_graph) prevents


def test_gcn_preprocess_sorts_by_receiver_and_rejects_features(small_graph):
    pre = jg.gcn_preprocess(small_graph)
    assert np.all(np.diff(pre.receivers) >= 0)
    assert pre.edges.dtype == np.float32 and pre.edges.shape == (30 + 12,)
    with pytest.raises(jg.GraphError, match=r"edges of shape \(30, 2\)"):
        jg.gcn_preprocess(small_graph._replace(edges=np.ones((30, 2))))
    with pytest.raises(jg.GraphError, match="not under jit"):
        jax.jit(lambda g: jg.gcn_preprocess(g).edges)(small_graph)


def test_pad_graph_with_sparse_nodes():
    x = jg.to_bcoo(sp.random(5, 4, density=0.5, format="csr", random_state=0))
    g = jraph.GraphsTuple(nodes=x, edges=None, senders=np.array([0, 1], np.int32),
                          receivers=np.array([1, 2], np.int32), n_node=np.array([5]),
                          n_edge=np.array([2]), globals=None)
    p = jg.pad_graph(g, 8, 4)
    assert p.nodes.shape == (8, 4)
    np.testing.assert_array_equal(p.nodes.todense()[:5], x.todense())
    np.testing.assert_array_equal(p.nodes.todense()[5:], 0)
