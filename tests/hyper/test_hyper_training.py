"""Composability: a hypernetwork that generates a GCN's parameters trains on a graph with `fit`;
and the hyper-training step itself against an independent computation."""
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
import pytest

from jaxnets import data as data_lib
from jaxnets import graph as graph_lib
from jaxnets import nn as jnn
from jaxnets.hyper import TargetSpec, hyper_training, mip_hypernetwork, standard_hypernetwork
from jaxnets.train import fit, init_population
from jaxnets.train.supervised import masked_accuracy, masked_cross_entropy


def _csbm_graph():
    dataset = data_lib.load_dataset("csbm", num_nodes=300)
    graph = graph_lib.gcn_preprocess(jraph.GraphsTuple(
        nodes=None, edges=None, globals=None, senders=jnp.asarray(dataset.senders),
        receivers=jnp.asarray(dataset.receivers), n_node=jnp.asarray([dataset.num_nodes]),
        n_edge=jnp.asarray([dataset.num_edges])))
    return dataset, graph, jnp.asarray(dataset.features)


def test_hypernetwork_generating_a_gcn_trains_on_a_graph_with_fit():
    dataset, graph, x = _csbm_graph()
    labels = jnp.asarray(dataset.labels)
    masks = {k: jnp.asarray(getattr(dataset, f"{k}_mask"), bool) for k in ("train", "test")}
    gcn = jnn.GCN(hidden_features=(16,), num_classes=dataset.num_classes, dropout_rate=0.5)
    spec = TargetSpec.from_module(gcn, graph, x)
    hypernet = mip_hypernetwork(spec, hidden_sizes=(8, 16))

    def target_loss(theta, gamma_K, batch, key):
        deterministic = key is None
        logits = spec.apply(theta, graph, x, deterministic=deterministic,
                            rngs=None if deterministic else {"dropout": key})
        decay = 10.0 ** (-5.0 + 3.0 * gamma_K[0])   # gamma = a weight-decay coefficient
        squared = sum(jnp.sum(jnp.square(w)) for w in jax.tree.leaves(theta))
        return masked_cross_entropy(logits, labels, masks["train"]) + decay * squared

    task = hyper_training(hypernet, target_loss, optax.adam(1e-2), num_inputs=1)
    grid = jnp.array([[0.0], [0.5], [1.0]])

    def evaluate(state):
        thetas = jax.vmap(lambda g: hypernet.apply({"params": state.params}, g))(grid)
        logits = jax.vmap(lambda t: spec.apply(t, graph, x))(thetas)
        accuracy = jax.vmap(lambda out: masked_accuracy(out, labels, masks["test"]))(logits)
        objective = jax.vmap(lambda g: task.loss_at(state.params, g, None))(grid)
        return {"test/accuracy": jnp.mean(accuracy), "objective": jnp.mean(objective)}

    population = init_population(task.init, [0, 1])
    before = jax.vmap(evaluate)(population)
    result = fit(population, task.step, num_steps=60, eval_fn=evaluate, eval_every=30,
                 progress=False)
    after = jax.vmap(evaluate)(result.state)
    assert result.state.step.tolist() == [60, 60]
    labels_np = np.asarray(dataset.labels)
    majority = np.mean(labels_np[np.asarray(dataset.test_mask)] ==
                       np.bincount(labels_np[np.asarray(dataset.train_mask)]).argmax())
    assert np.all(np.asarray(after["objective"]) < 0.7 * np.asarray(before["objective"]))
    assert np.all(np.asarray(after["test/accuracy"]) > majority + 0.25), (after, majority)


def test_hyper_training_step_is_sgd_on_the_mean_loss_over_drawn_gammas():
    """One step with SGD equals phi - lr * grad of the mean target loss at the gammas drawn from
    the step key, recomputed here by hand (a quadratic target loss with a closed form)."""
    spec = TargetSpec.from_module(jnn.MLP((3,)), jnp.zeros((1, 2)))
    hypernet = standard_hypernetwork(spec, hidden_sizes=(4,))

    def target_loss(theta, gamma_K, batch, key):
        return jnp.sum(gamma_K[0] * jnp.square(spec.ravel(theta) - 1.0))

    task = hyper_training(hypernet, target_loss, optax.sgd(0.1), num_inputs=1,
                          gammas_per_step=3)
    state = task.init(jax.random.PRNGKey(0))
    new_state, metrics = task.step(state)
    gamma_key, _ = jax.random.split(state.step_key())
    gammas = np.asarray(jax.random.uniform(gamma_key, (3, 1)))
    phi = jax.tree.map(np.asarray, state.params)

    def forward(g):
        h = np.asarray(g) @ phi["hidden_0"]["kernel"] + phi["hidden_0"]["bias"]
        h = np.where(h > 0, h, 0.01 * h)
        return h, h @ phi["output_kernel"] + phi["output_bias"]

    grad_kernel = np.zeros_like(phi["output_kernel"])
    grad_bias = np.zeros_like(phi["output_bias"])
    losses = []
    for g in gammas:
        h, theta = forward(g)
        losses.append(g[0] * np.sum((theta - 1.0) ** 2))
        d_theta = 2.0 * g[0] * (theta - 1.0) / 3.0
        grad_kernel += np.outer(h, d_theta)
        grad_bias += d_theta
    np.testing.assert_allclose(float(metrics["loss"]), np.mean(losses), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(new_state.params["output_kernel"]),
                               phi["output_kernel"] - 0.1 * grad_kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(new_state.params["output_bias"]),
                               phi["output_bias"] - 0.1 * grad_bias, rtol=1e-5, atol=1e-6)
    assert int(new_state.step) == 1
    with pytest.raises(ValueError, match="gammas_per_step"):
        hyper_training(hypernet, target_loss, optax.sgd(0.1), num_inputs=1, gammas_per_step=0)
