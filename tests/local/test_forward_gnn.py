"""ForwardGNN: every layer's loss reaches only its own layer (SF, top-down SF, FF+LA, link
prediction); FF negatives never carry the true label; the losses and the virtual-node graph
against numpy; SF trains a GCN through the one trainer and `fit`; the experiment's smoke test."""
import importlib

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
import pytest

from jaxnets import experiment as experiment_lib
from jaxnets import graph as graph_lib
from jaxnets.data import contextual_sbm
from jaxnets.train import TrainState, fit
from jaxnets.train import local
from jaxnets.train.local import forward_gnn as fg

KEY = jax.random.PRNGKey(0)
N, C, F = 10, 3, 6
SENDERS = np.array([0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 0], np.int32)
RECEIVERS = np.array([1, 0, 2, 1, 3, 2, 4, 3, 5, 4, 6, 5, 7, 6, 8, 7, 9, 8, 0, 9], np.int32)
LABELS = jnp.asarray(np.arange(N) % C, jnp.int32)
TRAIN = np.arange(N) < 6


def _graph(csr=False):
    return graph_lib.gcn_preprocess(jraph.GraphsTuple(
        nodes=None, edges=None, globals=None, senders=jnp.asarray(SENDERS),
        receivers=jnp.asarray(RECEIVERS), n_node=jnp.asarray([N]),
        n_edge=jnp.asarray([len(SENDERS)])), num_nodes=N, csr=csr)


def _x(rows=N):
    return jax.random.uniform(jax.random.PRNGKey(1), (rows, F))


def _assert_local(losses_fn, params, model_state, batch):
    """jax.grad of each loss alone: non-zero on its own group, identically zero elsewhere."""
    def grads(p):
        return [jax.grad(lambda q, k=k: losses_fn(q, model_state, batch, KEY)[k])(p)
                for k in range(len(params))]
    for k, per_group in enumerate(jax.jit(grads)(params)):
        for g, group in enumerate(per_group):
            leaves = jax.tree.leaves(group)
            if g == k:
                assert max(float(jnp.max(jnp.abs(l))) for l in leaves) > 0, (k, g)
            else:
                assert all(bool(jnp.all(l == 0)) for l in leaves), f"loss {k} leaks into {g}"


def _sf_batch():
    graph = fg.add_virtual_nodes(SENDERS, RECEIVERS, N, LABELS, TRAIN, C)
    x = jnp.concatenate([_x(), fg.virtual_node_features(KEY, C, F)])
    return {"x": x, "context": (graph,), "labels": LABELS, "mask": jnp.asarray(TRAIN)}


@pytest.mark.parametrize("to_sparse", [graph_lib.to_csr, graph_lib.to_bcoo])
def test_sparse_row_stack_input_equals_the_dense_input(to_sparse):
    """SF's first layer on RowStack(sparse real rows, dense virtual rows): the same outputs and
    gradients as on the dense [N + C, F] matrix (row normalisation scales the stored values)."""
    graph = fg.add_virtual_nodes(SENDERS, RECEIVERS, N, LABELS, TRAIN, C)
    real = np.asarray(_x()) * (np.arange(N * F).reshape(N, F) % 3 == 0)   # a third nonzero
    real[4] = 0.0                                                          # an empty row
    virtual = fg.virtual_node_features(KEY, C, F)
    dense = jnp.concatenate([jnp.asarray(real), virtual])
    stacked = graph_lib.RowStack(to_sparse(real), virtual)
    layer = fg.ForwardGNNLayer(5)
    params = layer.init(KEY, graph, dense)
    np.testing.assert_allclose(layer.apply(params, graph, stacked),
                               layer.apply(params, graph, dense), atol=1e-6)
    grad = jax.grad(lambda p, x: jnp.sum(jnp.sin(layer.apply(p, graph, x))))
    for a, b in zip(jax.tree.leaves(grad(params, stacked)), jax.tree.leaves(grad(params, dense))):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(graph_lib.GraphError, match="share their width"):
        graph_lib.spmm(graph_lib.RowStack(to_sparse(real), virtual[:, :2]), jnp.ones((F, 2)))


def test_sf_and_topdown_sf_losses_are_local():
    stack = fg.sf_stack((8, 8, 8), N)
    batch = _sf_batch()
    params, state = stack.init(KEY, batch)
    _assert_local(stack.losses, params, state, batch)
    _assert_local(fg.topdown_sf_losses(stack, N), params, state, batch)


def test_ff_la_and_link_losses_are_local():
    stack = fg.ff_la_stack((8, 8, 8), N)
    batch_fn = fg.ff_la_batches(_x(), _graph(), LABELS, TRAIN, C, C - 1)
    tx = local.per_layer(optax.adam(1e-3), 3)
    params, state = stack.init(KEY, {"x": _ff_input(), "context": (_graph(),)})
    batch = batch_fn(TrainState.create(params, tx, KEY, state))
    _assert_local(stack.losses, params, state, batch)
    link = fg.link_stack((8, 8))
    lbatch = {"x": _x(), "context": (_graph(),), "pairs": jnp.array([[0, 1], [2, 7], [3, 4]]),
              "pair_labels": jnp.array([1, 0, 1])}
    lparams, lstate = link.init(KEY, lbatch)
    _assert_local(link.losses, lparams, lstate, lbatch)


def test_topdown_sf_layer_one_loss_is_the_mean_with_the_detached_upper_output():
    stack = fg.sf_stack((8, 8), N)
    batch = _sf_batch()
    params, state = stack.init(KEY, batch)
    ys, _ = stack.apply(params, state, batch, train=True, key=KEY)
    expected = fg.sf_loss(N)((ys[0] + ys[1]) / 2, batch)
    got = fg.topdown_sf_losses(stack, N)(params, state, batch, KEY)
    np.testing.assert_allclose(float(got[0]), float(expected), rtol=1e-6)
    np.testing.assert_allclose(float(got[1]), float(fg.sf_loss(N)(ys[1], batch)), rtol=1e-6)


def test_ff_negatives_never_carry_the_true_label():
    labels = jnp.asarray(np.random.default_rng(0).integers(0, 7, 500), jnp.int32)
    for k in range(5):
        neg = np.asarray(fg.wrong_label_sets(jax.random.PRNGKey(k), labels, 7, 6))
        assert not np.any(neg == np.asarray(labels)[None, :])
        np.testing.assert_array_equal(np.sort(neg, axis=0),       # all six wrong labels once
                                      np.sort(np.stack([np.setdiff1d(np.arange(7), [y])
                                                        for y in np.asarray(labels)], 1), 0))
        two = np.asarray(fg.wrong_label_sets(jax.random.PRNGKey(k), labels, 7, 2))
        assert not np.any(two == np.asarray(labels)[None, :]) and np.all(two[0] != two[1])
    # in the batch: the appended one-hot of every training node of every negative copy is wrong
    batch_fn = fg.ff_la_batches(_x(), _graph(), LABELS, TRAIN, C, C - 1)
    stack = fg.ff_la_stack((4,), N)
    params, state = stack.init(KEY, {"x": _ff_input(), "context": (_graph(),)})
    tx = local.per_layer(optax.adam(1e-3), 1)
    for step in range(3):
        s = TrainState.create(params, tx, KEY, state).replace(step=jnp.asarray(step))
        appended = np.asarray(batch_fn(s)["x"]["label_part"]).reshape(C, N, C)
        np.testing.assert_array_equal(appended[0, TRAIN].argmax(-1), np.asarray(LABELS)[TRAIN])
        assert np.all(appended[1:, TRAIN].argmax(-1) != np.asarray(LABELS)[TRAIN][None, :])
        np.testing.assert_array_equal(appended[:, TRAIN].max(-1), 1.0)     # one-hot
        np.testing.assert_allclose(appended[:, ~TRAIN], 1.0 / C)


def _ff_input(x=None):
    x = _x() if x is None else x
    return fg.ff_la_input(x, fg.label_part(LABELS, jnp.asarray(TRAIN), C))


def test_label_appended_layer_equals_the_layer_on_the_concatenated_input():
    """The shared-x first layer (3 copies propagated side by side over the one graph) against
    `ForwardGNNLayer` on the materialised [x || l] over the disjoint union of 3 copies, with the
    same weights; dense and sparse x."""
    graph = _graph()
    union = fg.ff_la_graph(graph, N, 3)
    parts = jax.random.uniform(jax.random.PRNGKey(5), (3 * N, C))
    layer = fg.LabelAppendedGNNLayer(7)
    params = layer.init(KEY, graph, fg.ff_la_input(_x(), parts))["params"]
    dense = jnp.concatenate([jnp.tile(_x(), (3, 1)), parts], axis=1)
    reference = fg.ForwardGNNLayer(7).apply(
        {"params": {"GCNConv_0": {"Linear_0": {"kernel": params["kernel"]},
                                  "bias": params["bias"] + 0.5}}}, union, dense)
    params = dict(params, bias=params["bias"] + 0.5)
    got = layer.apply({"params": params}, graph, fg.ff_la_input(_x(), parts))
    np.testing.assert_allclose(np.asarray(got), np.asarray(reference), rtol=1e-5, atol=1e-6)
    sparse = layer.apply({"params": params}, graph,
                         fg.ff_la_input(graph_lib.to_bcoo(np.asarray(_x())), parts))
    np.testing.assert_allclose(np.asarray(sparse), np.asarray(reference), rtol=1e-5, atol=1e-6)


def test_virtual_node_graph_links_training_nodes_to_their_class():
    graph = fg.add_virtual_nodes(SENDERS, RECEIVERS, N, LABELS, TRAIN, C)
    pairs = set(zip(np.asarray(graph.senders).tolist(), np.asarray(graph.receivers).tolist()))
    for v in range(N):
        for c in range(C):
            linked = (v, N + c) in pairs
            assert linked == (bool(TRAIN[v]) and int(LABELS[v]) == c)
            assert linked == ((N + c, v) in pairs)
    assert int(graph.n_node[0]) == N + C
    assert len(pairs) == len(SENDERS) + 2 * TRAIN.sum() + N + C       # + self-loops
    with pytest.raises(ValueError, match="labels_N"):
        fg.add_virtual_nodes(SENDERS, RECEIVERS, N + 1, LABELS, TRAIN, C)


def test_sf_ff_and_link_losses_match_numpy():
    h = np.random.default_rng(1).normal(size=(N + C, 5))
    batch = {"labels": LABELS, "mask": jnp.asarray(TRAIN)}
    logits = h[:N] @ h[N:].T / 0.5
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    expected = -np.mean(logp[TRAIN, np.asarray(LABELS)[TRAIN]])
    np.testing.assert_allclose(float(fg.sf_loss(N, 0.5)(jnp.asarray(h), batch)), expected,
                               rtol=1e-5)
    a = np.random.default_rng(2).normal(size=(3 * N, 4))
    g = (a ** 2).sum(1).reshape(3, N) - 2.0
    sp = lambda z: np.log1p(np.exp(z))  # noqa: E731
    ff_expected = np.mean(sp(-g[0])[TRAIN]) + np.mean(((sp(g[1]) + sp(g[2])) / 2)[TRAIN])
    np.testing.assert_allclose(float(fg.ff_la_loss(N, 2.0)(jnp.asarray(a), batch)), ff_expected,
                               rtol=1e-5)
    pairs = np.array([[0, 1], [2, 7], [3, 3]])
    y = np.array([1, 0, 1])
    z = np.random.default_rng(3).normal(size=(N, 4))
    s = (z[pairs[:, 0]] * z[pairs[:, 1]]).sum(1)
    bce = np.mean(-(y * np.log(1 / (1 + np.exp(-s))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-s)))))
    got = fg.link_loss(jnp.asarray(z), {"pairs": jnp.asarray(pairs), "pair_labels": jnp.asarray(y)})
    np.testing.assert_allclose(float(got), bce, rtol=1e-5)


def test_the_same_trainer_trains_a_gcn_with_sf(tmp_path):
    ds = contextual_sbm(num_nodes=120, num_classes=3, avg_degree=6.0, homophily=0.9,
                        num_features=8, feature_signal=1.0, seed=0)
    train = np.asarray(ds.train_mask, bool)
    graph = fg.add_virtual_nodes(ds.senders, ds.receivers, ds.num_nodes, ds.labels, train, 3)
    x = jnp.concatenate([jnp.asarray(ds.features), fg.virtual_node_features(KEY, 3, 8)])
    labels = jnp.asarray(ds.labels)
    batch = {"x": x, "context": (graph,), "labels": labels, "mask": jnp.asarray(train)}
    stack = fg.sf_stack((16, 16), ds.num_nodes)
    tx = local.per_layer(optax.adam(1e-2), 2)
    params, frozen = stack.init(KEY, batch)
    state = TrainState.create(params, tx, KEY, frozen)
    step = local.local_step(stack.losses, tx, batch_fn=local.full_batch(batch),
                            schedule="sequential", steps_per_layer=30)

    def evaluate(s):
        probs = fg.sf_probabilities(stack, s.params, s.model_state, batch, ds.num_nodes)
        correct = (jnp.argmax(probs, -1) == labels) & jnp.asarray(train)
        return {"train/acc": jnp.sum(correct) / train.sum()}

    before = float(evaluate(state)["train/acc"])
    result = fit(state, step, num_steps=60, eval_fn=evaluate, eval_every=30,
                 workdir=tmp_path / "sf", description="sf")
    assert result.history[-1]["train/acc"] > max(before, 0.8)


def _run(tmp_path, quick=True):
    module = importlib.import_module("experiments.forward_gnn")
    config = experiment_lib.build_config(module, [], quick=quick)
    return experiment_lib.run_experiment(module, config, tmp_path / "forward_gnn")


def test_quick_forward_gnn_runs(tmp_path):
    results, claim = _run(tmp_path)
    for method in ("bp", "sf", "sf_topdown", "ff_la"):
        assert len(results[method]) == 2 and all(0.0 <= a <= 1.0 for a in results[method])
    assert "84.54" in claim.paper and (tmp_path / "forward_gnn" / "curves.png").exists()


@pytest.mark.slow
def test_forward_gnn_reproduces_the_claims(tmp_path):
    results, claim = _run(tmp_path, quick=False)
    assert len(results["sf"]) == 3 and results["dataset"] == "cora"
    assert claim.passed, claim.text


@pytest.mark.parametrize("csr", [False, True])
def test_stacked_copies_propagate_like_the_disjoint_union(csr):
    """`ForwardGNNLayer(num_nodes=N)` on 4 copies stacked on rows over the one graph equals the
    plain layer over the disjoint union of 4 copies (segment_sum and CSR propagation)."""
    union = fg.ff_la_graph(_graph(), N, 4)
    graph = _graph(csr)
    h = jax.random.normal(jax.random.PRNGKey(2), (4 * N, 5))
    layer = fg.ForwardGNNLayer(6, num_nodes=N)
    params = layer.init(KEY, graph, h)
    got = layer.apply(params, graph, h)
    want = fg.ForwardGNNLayer(6).apply(params, union, h)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="multiple"):
        layer.apply(params, graph, h[:-1])
