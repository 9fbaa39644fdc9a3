"""The baseline models: the papers' shapes, dropout switching, and that they learn."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.sparse as sp

import jaxnets.graph as jg
import jaxnets.nn as jn


def _shapes(params):
    return jax.tree_util.tree_map(lambda a: tuple(a.shape), params)


def test_gcn_is_kipf_and_welling_cora_model(small_graph):
    model = jn.GCN(num_classes=7)
    params = model.init(jax.random.key(0), small_graph, small_graph.nodes)["params"]
    assert _shapes(params) == {
        "GCNConv_0": {"Linear_0": {"kernel": (5, 16)}, "bias": (16,)},
        "GCNConv_1": {"Linear_0": {"kernel": (16, 7)}, "bias": (7,)},
    }
    assert model.dropout_rate == 0.5


def test_gat_is_velickovic_cora_model(small_graph):
    model = jn.GAT(num_classes=7)
    params = model.init(jax.random.key(0), small_graph, small_graph.nodes)["params"]
    assert _shapes(params)["GATConv_0"] == {"Linear_0": {"kernel": (5, 64)}, "att_src": (8, 8),
                                           "att_dst": (8, 8), "bias": (64,)}
    assert _shapes(params)["GATConv_1"] == {"Linear_0": {"kernel": (64, 7)}, "att_src": (1, 7),
                                           "att_dst": (1, 7), "bias": (7,)}
    out = model.apply({"params": params}, small_graph, small_graph.nodes)
    assert out.shape == (12, 7)


def test_models_are_deterministic_unless_asked(small_graph):
    g, x = small_graph, small_graph.nodes
    for model in (jn.GCN(), jn.GAT(hidden_features=(4,), heads=(2,))):
        params = model.init(jax.random.key(0), g, x)
        a = model.apply(params, g, x)
        np.testing.assert_array_equal(a, model.apply(params, g, x))
        b, c = (model.apply(params, g, x, deterministic=False, rngs={"dropout": jax.random.key(i)})
                for i in (1, 2))
        assert not np.allclose(a, b) and not np.allclose(b, c)


def test_gcn_learns_a_planted_partition(rng):
    """Two communities, labels visible on 4 nodes only; sparse features are pure noise."""
    n = 40
    labels = np.repeat([0, 1], n // 2)
    same = labels[:, None] == labels[None, :]
    adj = np.triu(rng.uniform(size=(n, n)) < np.where(same, 0.3, 0.02), 1)
    s, r = np.nonzero(adj | adj.T)
    graph = jg.gcn_preprocess(jg.GraphsTuple(
        nodes=None, edges=None, senders=s.astype(np.int32), receivers=r.astype(np.int32),
        n_node=np.array([n]), n_edge=np.array([len(s)]), globals=None))
    x = jg.to_bcoo(sp.random(n, 30, density=0.1, format="csr", random_state=1))
    train = np.zeros(n, bool); train[[0, 1, 20, 21]] = True
    model, tx = jn.GCN(num_classes=2), optax.adam(0.05)
    params = model.init(jax.random.key(0), graph, x)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, key):
        def loss_fn(p):
            logits = model.apply(p, graph, x, deterministic=False, rngs={"dropout": key})
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
            return jnp.sum(jnp.where(train, ce, 0.0)) / train.sum()
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    for i in range(100):
        params, opt_state, loss = step(params, opt_state, jax.random.key(i))
    pred = np.argmax(model.apply(params, graph, x), axis=1)
    assert (pred[~train] == labels[~train]).mean() > 0.9


def test_a_training_step_under_checked_reports_bad_indices(small_graph):
    model = jn.GCN(hidden_features=(4,), num_classes=3)
    graph = jax.tree_util.tree_map(jnp.asarray, small_graph._replace(nodes=None))
    x = jnp.asarray(small_graph.nodes)
    params = model.init(jax.random.key(0), graph, x)

    def grads(params, graph, key):
        return jax.grad(lambda p: jnp.sum(model.apply(p, graph, x, deterministic=False,
                                                      rngs={"dropout": key}) ** 2))(params)

    step = jg.checked(grads)
    good = step(params, graph, jax.random.key(1))
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(good))
    bad = graph._replace(senders=graph.senders.at[7].set(99))
    with pytest.raises(jg.GraphError, match="senders has index 99 but the graph has 12 nodes"):
        step(params, bad, jax.random.key(1))
