"""The local-loss trainer: per-group optimizer states, the sequential schedule, FF negatives, and
composability (the same trainer fits an MLP with Mono-Forward and a GCN with local CE)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
import pytest

from jaxnets import data as data_lib
from jaxnets import graph as graph_lib
from jaxnets import nn as jnn
from jaxnets.train import TrainState, fit
from jaxnets.train.local import (
    LocalLayer, LocalStack, accuracy, array_batches, cross_entropy_loss, full_batch, grouped,
    local_step, per_layer,
)
from jaxnets.train.local import forward_forward as ff
from jaxnets.train.local import mono_forward as mf

C = 4


def _mf_problem(batch=8, features=6, hidden=(5, 5, 5)):
    x = jax.random.uniform(jax.random.PRNGKey(3), (32, features))
    y = jnp.arange(32, dtype=jnp.int32) % C
    stack = mf.mono_forward_stack(hidden, C)
    tx = per_layer(optax.adam(1e-2), len(stack))
    params, model_state = stack.init(jax.random.PRNGKey(0), {"x": x[:2]})
    state = TrainState.create(params, tx, jax.random.PRNGKey(0), model_state)
    return stack, tx, state, array_batches(x, y, batch)


def test_simultaneous_step_equals_independent_per_layer_updates():
    stack, tx, state, batches = _mf_problem()
    new, metrics = jax.jit(local_step(stack.losses, tx, batch_fn=batches))(state)
    # Reference: each layer on its own with its own Adam, gradient of its own loss only.
    batch = batches(state)
    key = jax.random.fold_in(state.step_key(), 1)

    @jax.jit
    def reference(params):
        out = []
        for l in range(len(stack)):
            grad = jax.grad(lambda p: stack.losses(
                params[:l] + (p,) + params[l + 1:], state.model_state, batch, key)[l])(params[l])
            adam = optax.adam(1e-2)
            update, _ = adam.update(grad, adam.init(params[l]), params[l])
            out.append(optax.apply_updates(params[l], update))
        return out

    for l, expected in enumerate(reference(state.params)):
        for got, want in zip(jax.tree.leaves(new.params[l]), jax.tree.leaves(expected)):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert int(new.step) == 1 and set(metrics) == {"loss", "loss/0", "loss/1", "loss/2"}
    np.testing.assert_allclose(metrics["loss"], sum(metrics[f"loss/{l}"] for l in range(3)),
                               rtol=1e-6)


def test_sequential_schedule_updates_only_the_active_layer():
    stack, tx, state, batches = _mf_problem()
    step = jax.jit(local_step(stack.losses, tx, batch_fn=batches, schedule="sequential",
                              steps_per_layer=2))
    expected_active = [0, 0, 1, 1, 2, 2, 2]
    for t, active in enumerate(expected_active):
        new, metrics = step(state)
        assert int(metrics["active_layer"]) == active, t
        for g in range(len(stack)):
            same = all(bool(jnp.array_equal(a, b)) for a, b in zip(
                jax.tree.leaves((new.params[g], new.opt_state[g])),
                jax.tree.leaves((state.params[g], state.opt_state[g]))))
            assert same == (g != active), (t, g)
        state = new


def test_trainer_rejects_bad_configuration():
    stack, tx, state, batches = _mf_problem()
    with pytest.raises(ValueError, match="schedule"):
        local_step(stack.losses, tx, batch_fn=batches, schedule="greedy")
    with pytest.raises(ValueError, match="steps_per_layer"):
        local_step(stack.losses, tx, batch_fn=batches, schedule="sequential")
    with pytest.raises(ValueError, match="tuple of 2 parameter groups"):
        grouped([optax.sgd(0.1), optax.sgd(0.1)]).init({"w": jnp.ones(2)})
    with pytest.raises(ValueError, match="3 transforms for 2 groups"):
        per_layer([optax.sgd(0.1)] * 3, 2)
    with pytest.raises(ValueError, match="batch_size"):
        array_batches(jnp.ones((4, 2)), jnp.zeros(4), 5)


def test_ff_negatives_never_carry_the_true_label():
    x = jax.random.uniform(jax.random.PRNGKey(0), (50, 6))
    y = jnp.arange(50, dtype=jnp.int32) % C
    batches = ff.ff_batches(x, y, 25, C)
    state = TrainState.create((), optax.identity(), jax.random.PRNGKey(7))
    seen = np.zeros((C, C), int)
    for t in range(40):
        batch = jax.jit(batches)(state.replace(step=jnp.int32(t)))
        true, neg = np.asarray(batch["labels"]), np.asarray(batch["negative_labels"])
        assert not np.any(true == neg)
        xs = np.asarray(batch["x"])
        np.testing.assert_array_equal(xs[:25, 6:], np.eye(C)[true])     # positives: true label
        np.testing.assert_array_equal(xs[25:, 6:], np.eye(C)[neg])      # negatives: wrong label
        np.testing.assert_array_equal(xs[:25, :6], xs[25:, :6])         # same images
        np.testing.assert_array_equal(batch["positive"], np.arange(50) < 25)
        np.add.at(seen, (true, neg), 1)
    off_diagonal = seen[~np.eye(C, dtype=bool)]
    assert off_diagonal.min() > 0.5 * off_diagonal.mean()   # every wrong label is drawn


def test_same_trainer_fits_mono_forward_mlp_on_digits():
    x, y = data_lib.load_digits()
    x, y = jnp.asarray(x), jnp.asarray(y)
    x_tr, y_tr, x_te, y_te = x[:1200], y[:1200], x[1200:], y[1200:]
    stack = mf.mono_forward_stack((64, 64), 10)
    tx = per_layer(optax.adam(3e-3), len(stack))
    params, model_state = stack.init(jax.random.PRNGKey(0), {"x": x_tr[:2]})
    state = TrainState.create(params, tx, jax.random.PRNGKey(0), model_state)
    result = fit(state, local_step(stack.losses, tx, batch_fn=array_batches(x_tr, y_tr, 64)),
                 num_steps=300, eval_every=300, progress=False)
    logits = mf.mono_forward_logits(stack, result.state.params, model_state, x_te)
    assert float(accuracy(logits, y_te)) > 0.85


def test_same_trainer_fits_two_layer_gcn_with_local_cross_entropy():
    dataset = data_lib.load_dataset("csbm", num_nodes=300, num_classes=3, avg_degree=6.0,
                                    homophily=0.9, num_features=16, feature_signal=0.5, seed=0)
    graph = graph_lib.gcn_preprocess(jraph.GraphsTuple(
        nodes=None, edges=None, globals=None, senders=jnp.asarray(dataset.senders),
        receivers=jnp.asarray(dataset.receivers), n_node=jnp.asarray([dataset.num_nodes]),
        n_edge=jnp.asarray([dataset.num_edges])))
    train_mask = jnp.asarray(dataset.train_mask, bool)
    test_mask = jnp.asarray(dataset.test_mask, bool)
    stack = LocalStack((
        LocalLayer(jnn.GCNConv(16), head=jnn.Linear(dataset.num_classes), activation=nn.relu,
                   loss=cross_entropy_loss),
        LocalLayer(jnn.GCNConv(dataset.num_classes), loss=cross_entropy_loss),
    ))
    batch = {"x": jnp.asarray(dataset.features), "context": (graph,),
             "labels": jnp.asarray(dataset.labels), "mask": train_mask}
    tx = per_layer(optax.adam(1e-2), len(stack))
    params, model_state = stack.init(jax.random.PRNGKey(0), batch)
    state = TrainState.create(params, tx, jax.random.PRNGKey(0), model_state)
    result = fit(state, local_step(stack.losses, tx, batch_fn=full_batch(batch)),
                 num_steps=100, eval_every=100, progress=False)
    _, outs = stack.apply(result.state.params, model_state, batch)
    labels = jnp.asarray(dataset.labels)
    test_acc = jnp.sum((jnp.argmax(outs[-1], -1) == labels) & test_mask) / jnp.sum(test_mask)
    majority = np.bincount(np.asarray(dataset.labels)[np.asarray(test_mask)]).max() / int(
        jnp.sum(test_mask))
    assert float(test_acc) > majority + 0.3


def test_sequential_population_is_lockstep_and_stays_a_branch():
    """Under `fit`, a population trains one layer per step (a real `cond`, not a select over
    every layer's branch) and each member ends where its own run ends."""
    from jaxnets.train import init_population
    from jaxnets.train import loop as loop_lib

    stack, tx, state, batches = _mf_problem()

    def init(key):
        params, model_state = stack.init(key, {"x": jnp.zeros((2, 6))})
        return TrainState.create(params, tx, key, model_state)

    step = local_step(stack.losses, tx, batch_fn=batches, schedule="sequential",
                      steps_per_layer=2)
    population = init_population(init, [0, 1])
    together = fit(population, step, num_steps=6, eval_every=3, progress=False).state
    for member, seed in enumerate([0, 1]):
        alone = fit(init(jax.random.PRNGKey(seed)), step, num_steps=6, eval_every=3,
                    progress=False).state
        for a, b in zip(jax.tree.leaves(alone.params),
                        jax.tree.leaves(jax.tree.map(lambda x: x[member], together.params))):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    chunk = loop_lib._build_chunk_fn(step, None, None, population=True)
    loop_state = loop_lib._initial_loop_state(population, None)
    jaxpr = str(jax.make_jaxpr(chunk, static_argnums=(2, 3, 4))(loop_state, None, 1, 1, 0))
    assert "cond[" in jaxpr


def test_fit_rejects_a_population_out_of_step():
    from jaxnets.train import init_population
    stack, tx, state, batches = _mf_problem()
    population = init_population(lambda key: state, [0, 1])
    population = population.replace(step=jnp.asarray([0, 3]))
    with pytest.raises(ValueError, match="lockstep"):
        fit(population, local_step(stack.losses, tx, batch_fn=batches), num_steps=2,
            eval_every=1, progress=False)
