"""Composability: an elastic GCN trained by the sandwich rule through `jaxnets.train.fit`."""
import chex
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from jaxnets.data import load_dataset
from jaxnets.graph import gcn_preprocess
from jaxnets.supernet import (WidthDepthSpace, build_supernet_step, index_arch, sample_sandwich,
                              soft_cross_entropy)
from jaxnets.train import TrainState, fit, init_population
from jaxnets.train.supervised import masked_accuracy, masked_cross_entropy

SPACE = WidthDepthSpace(width_choices=(2, 8, 16, 32), depth_choices=(1, 2, 3))


def _problem():
    data = load_dataset("csbm", num_nodes=400, num_features=32, seed=0)
    graph = gcn_preprocess(jraph.GraphsTuple(
        nodes=None, edges=None, globals=None, senders=np.asarray(data.senders),
        receivers=np.asarray(data.receivers), n_node=np.array([data.num_nodes]),
        n_edge=np.array([data.num_edges])))
    x = jnp.asarray(np.asarray(data.features, np.float32))
    return data, graph, x, SPACE.gcn(data.num_classes)


def test_elastic_gcn_sandwich_training_with_fit_trains_every_subnet(tmp_path):
    data, graph, x, model = _problem()
    labels, train, val = (jnp.asarray(a) for a in (data.labels, data.train_mask, data.val_mask))
    tx = optax.adam(0.01)

    def forward(params, arch, step, key):
        return model.apply(params, graph, x, arch)

    step_fn = build_supernet_step(
        forward, lambda logits, step: masked_cross_entropy(logits, labels, train), tx,
        lambda key, step: sample_sandwich(SPACE, key, 2),
        distill=lambda s, t, step: soft_cross_entropy(s, t, train))
    step_fn = chex.assert_max_traces(step_fn, n=1)

    def init(key):
        return TrainState.create(model.init(key, graph, x), tx, key)

    def accuracy(params, arch):
        return masked_accuracy(model.apply(params, graph, x, arch), labels, val)

    @jax.jit
    def evaluate_ends(params):
        archs = sample_sandwich(SPACE, jax.random.PRNGKey(0), 0)  # [largest, smallest]
        return jax.vmap(jax.vmap(accuracy, in_axes=(None, 0)), in_axes=(0, None))(params, archs)

    state = init_population(init, [0, 1])
    before = np.asarray(evaluate_ends(state.params))
    result = fit(state, step_fn, num_steps=60, eval_every=20, workdir=tmp_path, progress=False)
    after = np.asarray(evaluate_ends(result.state.params))  # [seeds, (largest, smallest)]
    assert (tmp_path / "metrics.jsonl").exists()
    losses = np.asarray([r["train/loss"] for r in result.history])
    assert np.all(losses[-1] < losses[0])
    majority = np.bincount(data.labels[data.train_mask]).max() / data.train_mask.sum()
    assert after.min() > majority + 0.25, (after, majority)
    assert np.all(after > before + 0.15), (before, after)
    # The 4 subnet losses of the last steps are all reported.
    assert np.asarray(result.history[-1]["train/subnet_loss"]).shape == (2, 4)


def test_inplace_distillation_stops_the_teacher_gradient():
    data, graph, x, model = _problem()
    labels, train = jnp.asarray(data.labels), jnp.asarray(data.train_mask)
    params = jax.jit(lambda k: model.init(k, graph, x))(jax.random.PRNGKey(0))
    archs = sample_sandwich(SPACE, jax.random.PRNGKey(5), 1)
    step_fn = build_supernet_step(
        lambda p, a, step, key: model.apply(p, graph, x, a),
        lambda logits, step: masked_cross_entropy(logits, labels, train),
        optax.sgd(1.0), lambda key, step: archs,
        distill=lambda s, t, step: soft_cross_entropy(s, t, train))
    state = TrainState.create(params, optax.sgd(1.0), jax.random.PRNGKey(0))
    new_state, metrics = jax.jit(step_fn)(state)
    got = jax.tree.map(lambda old, new: old - new, params, new_state.params)  # = the gradient
    teacher = np.asarray(jax.jit(lambda p: model.apply(p, graph, x, index_arch(archs, 0)))(
        params))  # a constant

    def objective(p):
        total = masked_cross_entropy(model.apply(p, graph, x, index_arch(archs, 0)), labels,
                                     train)
        for i in (1, 2):
            logits = model.apply(p, graph, x, index_arch(archs, i))
            target = jax.nn.softmax(jnp.asarray(teacher))
            total += -jnp.sum(jnp.sum(target * jax.nn.log_softmax(logits), -1) * train) / (
                train.sum())
        return total

    expected = jax.jit(jax.grad(objective))(params)
    chex.assert_trees_all_close(got, expected, atol=1e-6)
    assert np.asarray(metrics["subnet_loss"]).shape == (3,)
