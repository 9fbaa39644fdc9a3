"""Graph layers against dense numpy references; equivariance, padding, sparse input, tracing."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import jaxnets.graph as jg
import jaxnets.nn as jn


def _leaky(z, slope=0.2):
    return np.where(z > 0, z, slope * z)


def _np(tree):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def gcn_reference(p, x, a):
    a_hat = a + np.eye(len(a))
    d = a_hat.sum(1)
    return (a_hat / np.sqrt(np.outer(d, d))) @ x @ p["Linear_0"]["kernel"] + p["bias"]


def sage_reference(p, x, a):
    deg = a.sum(1, keepdims=True)
    mean = np.where(deg > 0, a @ x / np.maximum(deg, 1), 0.0)
    return mean @ p["neighbor"]["kernel"] + x @ p["root"]["kernel"] + p["bias"]


def gat_reference(p, x, a, heads, features, concat):
    n = len(a)
    neighbours = (a > 0) | np.eye(n, dtype=bool)          # N(i) includes i, once
    z = (x @ p["Linear_0"]["kernel"]).reshape(n, heads, features)
    outs = []
    for h in range(heads):
        e = _leaky((z[:, h] @ p["att_dst"][h])[:, None] + (z[:, h] @ p["att_src"][h])[None, :])
        e = np.where(neighbours, e, -np.inf)
        att = np.exp(e - e.max(1, keepdims=True))
        att /= att.sum(1, keepdims=True)
        outs.append(att @ z[:, h])
    out = np.concatenate(outs, 1) if concat else np.mean(outs, 0)
    return out + p["bias"]


def gin_reference(p, x, a, eps):
    z = (1 + eps) * x + a @ x
    h = z @ p["Linear_0"]["kernel"] + p["bias"]
    h = np.maximum(h, 0) @ p["MLP_0"]["Linear_0"]["kernel"] + p["MLP_0"]["Linear_0"]["bias"]
    return h


LAYERS = {
    "gcn": lambda: jn.GCNConv(6),
    "sage": lambda: jn.SAGEConv(6),
    "gat": lambda: jn.GATConv(3, heads=4),
    "gat_mean": lambda: jn.GATConv(3, heads=4, concat=False),
    "gin": lambda: jn.GINConv((8, 5), eps=0.3),
    "gin_train_eps": lambda: jn.GINConv((8, 5), eps=-0.2, train_eps=True),
}


def _reference(name, p, x, a):
    if name == "gcn":
        return gcn_reference(p, x, a)
    if name == "sage":
        return sage_reference(p, x, a)
    if name.startswith("gat"):
        return gat_reference(p, x, a, 4, 3, concat=name == "gat")
    eps = p["eps"] if "eps" in p else 0.3
    return gin_reference(p, x, a, eps)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_dense_reference(name, small_graph, ref):
    g, x = small_graph, small_graph.nodes
    layer = LAYERS[name]()
    params = layer.init(jax.random.key(0), g, x)
    out = layer.apply(params, g, x)
    a = ref.dense_adjacency(g.senders, g.receivers, 12)
    expected = _reference(name, _np(params["params"]), np.asarray(x, np.float64), a)
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=2e-5)


def test_gcn_precomputed_weights_equal_computed(small_graph):
    layer = jn.GCNConv(4)
    params = layer.init(jax.random.key(0), small_graph, small_graph.nodes)
    pre = jn.gcn_preprocess(small_graph)
    np.testing.assert_allclose(layer.apply(params, pre, small_graph.nodes),
                               layer.apply(params, small_graph, small_graph.nodes), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(jg.GraphError, match="precomputed normalised weights of shape"):
        layer.apply(params, small_graph._replace(edges=np.ones((30, 2))), small_graph.nodes)


def test_gat_counts_an_existing_self_loop_once(small_graph, ref):
    s = np.concatenate([small_graph.senders, [2, 5]]).astype(np.int32)
    r = np.concatenate([small_graph.receivers, [2, 5]]).astype(np.int32)
    g = small_graph._replace(senders=s, receivers=r, n_edge=np.array([32]))
    layer = jn.GATConv(3, heads=4)
    params = layer.init(jax.random.key(0), g, g.nodes)
    a = ref.dense_adjacency(s, r, 12)
    expected = gat_reference(_np(params["params"]), np.asarray(g.nodes, np.float64), a, 4, 3, True)
    np.testing.assert_allclose(layer.apply(params, g, g.nodes), expected, rtol=2e-5, atol=2e-5)


def _permuted(graph, perm, edge_order):
    inv = np.argsort(perm)
    return graph._replace(nodes=graph.nodes[perm],
                          senders=inv[graph.senders][edge_order].astype(np.int32),
                          receivers=inv[graph.receivers][edge_order].astype(np.int32))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_is_permutation_equivariant(name, small_graph, rng):
    layer = LAYERS[name]()
    params = layer.init(jax.random.key(1), small_graph, small_graph.nodes)
    perm, edge_order = rng.permutation(12), rng.permutation(30)
    g2 = _permuted(small_graph, perm, edge_order)
    out = layer.apply(params, small_graph, small_graph.nodes)
    np.testing.assert_allclose(layer.apply(params, g2, g2.nodes), np.asarray(out)[perm],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_padding_leaves_real_nodes_unchanged(name, small_graph):
    layer = LAYERS[name]()
    params = layer.init(jax.random.key(2), small_graph, small_graph.nodes)
    padded = jg.pad_graph(small_graph, n_node=16, n_edge=48, n_graph=3)
    out = layer.apply(params, small_graph, small_graph.nodes)
    np.testing.assert_allclose(layer.apply(params, padded, padded.nodes)[:12], out, rtol=1e-5,
                               atol=1e-6)
    if name == "gcn":
        pre = jg.gcn_preprocess(padded)
        np.testing.assert_allclose(layer.apply(params, pre, padded.nodes)[:12], out, rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_sparse_input_equals_dense_input(name, small_graph):
    m = sp.random(12, 20, density=0.2, format="csr", random_state=3, dtype=np.float32)
    x_sparse, x_dense = jg.to_bcoo(m), jnp.asarray(m.toarray())
    layer = LAYERS[name]()
    params = layer.init(jax.random.key(3), small_graph, x_dense)
    np.testing.assert_allclose(layer.apply(params, small_graph, x_sparse),
                               layer.apply(params, small_graph, x_dense), rtol=1e-5, atol=1e-6)


def test_linear_and_mlp_accept_sparse(rng):
    m = sp.random(7, 9, density=0.3, format="csr", random_state=4, dtype=np.float32)
    for module in (jn.Linear(4), jn.MLP((5, 3))):
        params = module.init(jax.random.key(0), jnp.asarray(m.toarray()))
        np.testing.assert_allclose(module.apply(params, jg.to_bcoo(m)),
                                   module.apply(params, jnp.asarray(m.toarray())), rtol=1e-5,
                                   atol=1e-6)
    p = jn.Linear(4).init(jax.random.key(0), jnp.ones((2, 9)))["params"]
    assert p["kernel"].shape == (9, 4) and p["bias"].shape == (4,)


@pytest.mark.parametrize("name", ["gcn", "gat", "sage", "gin"])
def test_jitted_layer_traces_once(name, small_graph, rng, ref):
    layer = LAYERS[name]()
    params = layer.init(jax.random.key(0), small_graph, small_graph.nodes)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def apply(params, graph, x):
        return layer.apply(params, graph, x, deterministic=False,
                           rngs={"dropout": jax.random.key(0)})

    chex.clear_trace_counter()
    for _ in range(3):
        s, r = ref.random_edges(rng, 12, 30)
        g = small_graph._replace(senders=s, receivers=r, nodes=None)
        apply(params, g, jnp.asarray(rng.normal(size=(12, 5)), jnp.float32))


def test_layers_reject_bad_graphs(small_graph):
    layer = jn.GCNConv(3)
    params = layer.init(jax.random.key(0), small_graph, small_graph.nodes)
    bad = small_graph._replace(receivers=small_graph.receivers.copy())
    bad.receivers[4] = 12
    with pytest.raises(jg.GraphError, match="receivers has index 12 but the graph has 12 nodes"):
        layer.apply(params, bad, small_graph.nodes)
    with pytest.raises(jg.GraphError, match="nodes has 12 rows but n_node sums to 10"):
        layer.apply(params, small_graph._replace(n_node=np.array([10])), small_graph.nodes)
    with pytest.raises(jg.GraphError, match=r"expects node features x of shape \[N, F\]"):
        layer.apply(params, small_graph, small_graph.nodes[0])
    # Under jit: checked(...) turns the silent drop into an error.
    guarded = jg.checked(lambda p, g, x: jn.GATConv(3).apply(p, g, x))
    gat_params = jn.GATConv(3).init(jax.random.key(0), small_graph, small_graph.nodes)
    as_jax = jax.tree_util.tree_map(jnp.asarray, bad)
    with pytest.raises(jg.GraphError, match="receivers has index 12 but the graph has 12 nodes"):
        guarded(gat_params, as_jax, small_graph.nodes)
    np.testing.assert_allclose(
        guarded(gat_params, jax.tree_util.tree_map(jnp.asarray, small_graph), small_graph.nodes),
        jn.GATConv(3).apply(gat_params, small_graph, small_graph.nodes), rtol=1e-6)
