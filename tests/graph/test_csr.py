"""CSR propagation: equals `propagate`, its custom gradient and population rule are exact."""
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from jaxnets.graph import GraphError, gcn_preprocess, propagate
from jaxnets.graph.csr import CSREdges, csr_propagate, csr_propagation
from jaxnets.nn import GCN


def _edges(num_rows=7, num_cols=7, num_edges=23, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, num_cols, num_edges)
    r = rng.integers(0, num_rows, num_edges)    # duplicates and empty rows included
    w = rng.random(num_edges).astype(np.float32)
    return s, r, w, rng


def _dense(s, r, w, num_rows, num_cols):
    a = np.zeros((num_rows, num_cols))
    np.add.at(a, (r, s), w)
    return a


def test_matches_dense_product_including_bipartite_and_trailing_axes():
    s, r, w, rng = _edges(num_rows=5, num_cols=9)
    prop = csr_propagation(s, r, 5, 9)
    x = rng.standard_normal((9, 2, 3)).astype(np.float32)
    out = csr_propagate(jnp.asarray(x), prop, w)
    expected = np.einsum("rc,cjk->rjk", _dense(s, r, w, 5, 9), x)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    ones = csr_propagate(jnp.asarray(x), prop)
    np.testing.assert_allclose(ones, np.einsum("rc,cjk->rjk", _dense(s, r, np.ones_like(w), 5, 9),
                                               x), rtol=1e-5, atol=1e-6)


def test_gradients_equal_segment_sum_propagate():
    s, r, w, rng = _edges()
    prop = csr_propagation(s, r, 7)
    x = jnp.asarray(rng.standard_normal((7, 4)).astype(np.float32))

    def loss_csr(x, w):
        return jnp.sum(jnp.sin(csr_propagate(x, prop, w)))

    def loss_seg(x, w):
        return jnp.sum(jnp.sin(propagate(x, s, r, 7, w)))

    for a, b in zip(jax.grad(loss_csr, (0, 1))(x, w), jax.grad(loss_seg, (0, 1))(x, w)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sorted_edge_list_skips_the_weight_permutation_with_the_same_results():
    s, r, w, rng = _edges()
    by_row = np.lexsort((s, r))
    shuffled, ordered = csr_propagation(s, r, 7), csr_propagation(s[by_row], r[by_row], 7)
    assert shuffled.order_E is not None and ordered.order_E is None
    assert ordered.t_order_E is not None       # sorted by row is not sorted by column
    x = jnp.asarray(rng.standard_normal((7, 3)).astype(np.float32))

    def loss(x, w, prop):
        return jnp.sum(jnp.sin(csr_propagate(x, prop, w)))

    out_shuffled = jax.jit(jax.value_and_grad(loss, (0, 1)))(x, w, shuffled)
    out_ordered = jax.jit(jax.value_and_grad(loss, (0, 1)))(x, w[by_row], ordered)
    np.testing.assert_allclose(out_shuffled[0], out_ordered[0], rtol=1e-6)
    np.testing.assert_allclose(out_shuffled[1][0], out_ordered[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out_shuffled[1][1][by_row], out_ordered[1][1], rtol=1e-5,
                               atol=1e-6)


def test_population_rule_under_vmap_shared_and_per_model_weights():
    s, r, w, rng = _edges()
    prop = csr_propagation(s, r, 7)
    xs = jnp.asarray(rng.standard_normal((3, 7, 4)).astype(np.float32))
    ws = jnp.asarray(rng.random((3, len(s))).astype(np.float32))
    shared = jax.jit(jax.vmap(lambda x: csr_propagate(x, prop, w)))(xs)
    per_model = jax.vmap(lambda x, w: csr_propagate(x, prop, w))(xs, ws)
    for k in range(3):
        np.testing.assert_allclose(shared[k], propagate(xs[k], s, r, 7, w), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(per_model[k], propagate(xs[k], s, r, 7, ws[k]), rtol=1e-5,
                                   atol=1e-6)
    grad = jax.vmap(jax.grad(lambda x: jnp.sum(csr_propagate(x, prop, w) ** 2)))(xs)
    ref = jax.vmap(jax.grad(lambda x: jnp.sum(propagate(x, s, r, 7, w) ** 2)))(xs)
    np.testing.assert_allclose(grad, ref, rtol=1e-5, atol=1e-5)


def test_gcn_csr_path_equals_edge_list_path():
    s, r, _, rng = _edges(num_edges=30)
    graph = jraph.GraphsTuple(nodes=None, edges=None, senders=s, receivers=r,
                              n_node=np.array([7]), n_edge=np.array([30]), globals=None)
    plain = gcn_preprocess(graph, num_nodes=7)
    fast = gcn_preprocess(graph, num_nodes=7, csr=True)
    assert isinstance(fast.edges, CSREdges)
    x = jnp.asarray(rng.standard_normal((7, 5)).astype(np.float32))
    model = GCN(hidden_features=(6,), num_classes=3)
    params = model.init(jax.random.PRNGKey(0), plain, x)
    assert jax.tree.structure(params) == jax.tree.structure(
        model.init(jax.random.PRNGKey(0), fast, x))

    def loss(p, g):
        return jnp.sum(model.apply(p, g, x) ** 2)

    np.testing.assert_allclose(model.apply(params, fast, x), model.apply(params, plain, x),
                               rtol=1e-5, atol=1e-6)
    ga, gb = jax.grad(loss)(params, fast), jax.grad(loss)(params, plain)
    for a, b in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bad_inputs_are_named():
    s, r, w, _ = _edges()
    with pytest.raises(GraphError, match="out of range|outside"):
        csr_propagation(s, r, 3)
    prop = csr_propagation(s, r, 7)
    with pytest.raises(GraphError, match="expects 7 rows"):
        csr_propagate(jnp.zeros((6, 2)), prop)
    with pytest.raises(GraphError, match="one weight per edge"):
        csr_propagate(jnp.zeros((7, 2)), prop, w[:-1])
    with pytest.raises(GraphError, match="outside jit"):
        jax.jit(lambda s: csr_propagation(s, r, 7))(s)


def test_csr_features_equal_bcoo_features_in_gcn_with_dropout():
    import scipy.sparse
    from jaxnets.graph import to_bcoo, to_csr
    from jaxnets.graph.csr import CSRMatrix
    s, r, _, rng = _edges(num_edges=30)
    features = scipy.sparse.random(7, 11, density=0.3, random_state=1, format="csr",
                                   dtype=np.float32)
    as_bcoo, as_csr = to_bcoo(features), to_csr(features)
    assert isinstance(as_csr, CSRMatrix) and as_csr.shape == (7, 11)
    np.testing.assert_array_equal(as_csr.todense(), features.toarray())
    np.testing.assert_array_equal(as_csr.indices, as_bcoo.indices)
    graph = gcn_preprocess(jraph.GraphsTuple(nodes=None, edges=None, senders=s, receivers=r,
                                             n_node=np.array([7]), n_edge=np.array([30]),
                                             globals=None), num_nodes=7)
    model = GCN(hidden_features=(6,), num_classes=3, dropout_rate=0.5)
    params = model.init(jax.random.PRNGKey(0), graph, as_bcoo)

    def loss(p, x):
        out = model.apply(p, graph, x, deterministic=False, rngs={"dropout": jax.random.PRNGKey(3)})
        return jnp.sum(out ** 2)

    np.testing.assert_allclose(loss(params, as_csr), loss(params, as_bcoo), rtol=1e-5)
    ga, gb = jax.grad(loss)(params, as_csr), jax.grad(loss)(params, as_bcoo)
    for a, b in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
