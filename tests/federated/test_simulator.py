"""The federated round (jaxnets.federated.simulator): FedAvg against centralised training,
NaN and empty clients, structure errors, and sharded == unsharded on the 8 fake devices."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnets.federated import aggregators, simulator
from jaxnets.federated.partition import stack_clients

F = 3


def _loss(params, batch):
    """Per-example squared error of a linear model with a tanh feature (non-quadratic)."""
    pred = jnp.tanh(batch["x"] @ params["w"]) @ params["v"] + params["b"]
    return (pred - batch["y"]) ** 2


def _params():
    rng = np.random.default_rng(0)
    return {"w": jnp.asarray(rng.normal(size=(F, 4)), jnp.float32),
            "v": jnp.asarray(rng.normal(size=(4,)), jnp.float32), "b": jnp.zeros(())}


def _data(sizes, seed=1):
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    x = rng.normal(size=(n, F)).astype(np.float32)
    y = (np.sin(x[:, 0]) + 0.1 * rng.normal(size=n)).astype(np.float32)
    cuts = np.cumsum(sizes)[:-1]
    index = np.split(np.arange(n), cuts)
    stacked = stack_clients({"x": x, "y": y}, index)
    return x, y, {k: jnp.asarray(v) for k, v in stacked.items()}


def _centralised_gd(params, x, y, lr, steps):
    """Plain full-batch gradient descent on the mean loss (the reference)."""
    def step(p):
        grads = jax.grad(lambda q: jnp.mean(_loss(q, {"x": x, "y": y})))(p)
        return jax.tree_util.tree_map(lambda a, g: a - lr * g, p, grads)
    step = jax.jit(step)
    for _ in range(steps):
        params = step(params)
    return params


def test_fedavg_one_client_equals_centralised_training():
    x, y, data = _data([13])
    client = simulator.fedavg_client_update(_loss, optax.sgd(0.1), local_steps=3)
    round_fn = simulator.make_round(client, aggregators.fedavg)
    params, _, _, history = simulator.run_rounds(
        round_fn, _params(), (), (), data, jnp.array([13.0]), jax.random.PRNGKey(0), {}, 4,
        progress=False)
    want = _centralised_gd(_params(), x, y, 0.1, 12)
    for name in want:
        np.testing.assert_allclose(params[name], want[name], rtol=2e-5, atol=2e-6)
    assert [h["round"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["loss_last"] < history[0]["loss_first"]


def test_fedavg_one_step_weighted_by_counts_equals_centralised_gd_with_padding():
    sizes = [5, 11, 2, 7]  # padded to 11 inside the stack
    x, y, data = _data(sizes)
    client = simulator.fedavg_client_update(_loss, optax.sgd(0.2), local_steps=1)
    round_fn = simulator.make_round(client, aggregators.fedavg)
    params, _, _, metrics = round_fn(_params(), (), (), data, jnp.asarray(sizes, jnp.float32),
                                     jax.random.PRNGKey(0), {})
    want = _centralised_gd(_params(), x, y, 0.2, 1)
    for name in want:
        np.testing.assert_allclose(params[name], want[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(metrics["clients"]["num_examples"], sizes)


def _poisoning(client_update):
    """client_update whose update is NaN for clients whose data has poison = True."""
    def update(global_params, state, data, key, hp):
        delta, state, metrics = client_update(global_params, state, data, key, hp)
        bad = data["poison"][0]
        delta = jax.tree_util.tree_map(lambda d: jnp.where(bad, jnp.nan, d), delta)
        return delta, state, metrics
    return update


def test_nan_client_excluded_and_zero_example_client():
    sizes = [6, 4, 0, 5]
    _, _, data = _data(sizes)
    data["poison"] = jnp.zeros((4, data["mask"].shape[1]), bool).at[1].set(True)
    client = simulator.fedavg_client_update(_loss, optax.sgd(0.1), local_steps=2, batch_size=3)
    round_fn = simulator.make_round(_poisoning(client), aggregators.fedavg)
    weights = jnp.asarray(sizes, jnp.float32)
    params, _, _, metrics = round_fn(_params(), (), (), data, weights, jax.random.PRNGKey(3), {})
    np.testing.assert_array_equal(metrics["finite"], [True, False, True, True])
    assert int(metrics["num_nonfinite"]) == 1
    np.testing.assert_array_equal(metrics["weights"], [6, 0, 0, 5])
    assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree_util.tree_leaves(params))
    # the same round without clients 1 and 2 (same per-client keys: one call, weights 0)
    clean = dict(data, poison=jnp.zeros_like(data["poison"]))
    want, _, _, _ = round_fn(_params(), (), (), clean, jnp.array([6.0, 0, 0, 5]),
                             jax.random.PRNGKey(3), {})
    for name in want:
        np.testing.assert_allclose(params[name], want[name], rtol=1e-6)


def test_structure_mismatch_names_the_leaf():
    _, _, data = _data([3, 3])
    client = simulator.fedavg_client_update(_loss, optax.sgd(0.1), local_steps=1)

    def missing_leaf(g, s, d, k, hp):
        delta, s, m = client(g, s, d, k, hp)
        return {"w": delta["w"], "v": delta["v"]}, s, m

    def wrong_shape(g, s, d, k, hp):
        delta, s, m = client(g, s, d, k, hp)
        return dict(delta, v=jnp.zeros((5,))), s, m

    args = (_params(), (), (), data, jnp.ones(2), jax.random.PRNGKey(0), {})
    with pytest.raises(ValueError, match=r"lacks the leaf \['b'\]"):
        simulator.make_round(missing_leaf, aggregators.fedavg)(*args)
    with pytest.raises(ValueError, match=r"leaf \['v'\].*\(2, 5\).*\(2, 4\)"):
        simulator.make_round(wrong_shape, aggregators.fedavg)(*args)
    with pytest.raises(ValueError, match="leading client axis of size 3"):
        simulator.make_round(client, aggregators.fedavg)(*args[:4], jnp.ones(3), *args[5:])


@pytest.mark.skipif(jax.device_count() < 8, reason="needs the 8 fake devices of conftest.py")
def test_sharded_round_equals_unsharded():
    sizes = [4, 6, 3, 5, 6, 2, 6, 4]
    _, _, data = _data(sizes)
    client = simulator.fedavg_client_update(_loss, optax.sgd(0.1), local_steps=2, batch_size=2)
    args = (_params(), (), (), data, jnp.asarray(sizes, jnp.float32), jax.random.PRNGKey(5), {})
    sharded = simulator.make_round(client, aggregators.fedavg, shard=True)(*args)
    plain = simulator.make_round(client, aggregators.fedavg, shard=False)(*args)
    for a, b in zip(jax.tree_util.tree_leaves(sharded[0]), jax.tree_util.tree_leaves(plain[0])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sharded[3]["clients"]["loss_last"],
                               plain[3]["clients"]["loss_last"], rtol=1e-5)
    with pytest.raises(ValueError, match="multiple of the device count"):
        simulator.make_round(client, aggregators.fedavg, shard=True)(
            args[0], (), (), jax.tree_util.tree_map(lambda a: a[:3], data), jnp.ones(3),
            args[5], {})


def test_phases_compose_to_the_round_and_client_state_persists():
    _, _, data = _data([4, 5])

    def counting_client(g, state, d, k, hp):
        delta = jax.tree_util.tree_map(lambda p: jnp.full_like(p, hp["step"]), g)
        return delta, state + 1, {"seen": state}

    clients_fn, server_fn = simulator.make_phases(counting_client, aggregators.fedavg)
    state = jnp.zeros((2,), jnp.int32)
    updates, state, metrics = clients_fn(_params(), state, data, jnp.ones(2),
                                         jax.random.PRNGKey(0), {"step": 0.5})
    new, _, _ = server_fn(_params(), (), updates, metrics["weights"], {"step": 0.5})
    np.testing.assert_allclose(new["b"], 0.5)
    np.testing.assert_array_equal(state, [1, 1])
