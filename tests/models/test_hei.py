"""HEI (jaxnets.models.hei): neighbour-pattern score vs a numpy loop, the soft-environment IRMv1
penalty vs finite differences, the ascent/freeze schedule of the environment net, node homophily
and the Test_Max/Test_Min split on hand cases, and a smoke run of experiments/hei.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnets.models.hei import (EnvironmentInference, HEIConfig, environment_risks, hei_losses,
                                hei_step, homophily_groups, neighbor_pattern_score,
                                node_homophily, soft_irm_penalty, squared_l2, standardize_on)
from jaxnets.train import TrainState


@pytest.mark.parametrize("method", ["norm2", "cos"])
def test_neighbor_pattern_score_matches_numpy_loop(method):
    rng = np.random.default_rng(0)
    n = 7
    x = rng.normal(size=(n, 4)).astype(np.float32)
    senders = np.array([0, 0, 1, 2, 2, 2, 3, 5, 1], np.int32)   # node 4 and 6 send nothing
    receivers = np.array([1, 2, 0, 0, 3, 5, 2, 2, 6], np.int32)
    want = np.zeros(n)
    for i in range(n):
        values = []
        for s, r in zip(senders, receivers):
            if s == i:
                values.append(np.linalg.norm(x[s] - x[r]) if method == "norm2" else x[s] @ x[r])
        want[i] = np.mean(values) if values else 0.0
    got = neighbor_pattern_score(x, senders, receivers, n, method=method, edge_chunk=4)  # 4 ∤ 9
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="method must be"):
        neighbor_pattern_score(x, senders, receivers, n, method="l1")
    with pytest.raises(ValueError, match="x_NxF must have shape"):
        neighbor_pattern_score(x[:5], senders, receivers, n)


def test_standardize_on_uses_training_nodes_only():
    s = np.array([1.0, 2.0, 3.0, 100.0])
    mask = np.array([True, True, True, False])
    np.testing.assert_allclose(standardize_on(s, mask), (s - 2.0) / 1.0, rtol=1e-6)


def _problem(seed=0, n=10, c=3, k=4):
    rng = np.random.default_rng(seed)
    logits = jnp.asarray(rng.normal(size=(n, c)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, c, n).astype(np.int32))
    env = jax.nn.softmax(jnp.asarray(rng.normal(size=(n, k)).astype(np.float32)), axis=-1)
    mask = jnp.asarray(rng.random(n) < 0.7)
    return logits, labels, env, mask


@pytest.mark.parametrize("irm_scale", ["logits", "log_probs"])
def test_irm_penalty_matches_finite_differences(irm_scale):
    logits, labels, env, mask = _problem()
    h = 1e-2
    risks = lambda w: np.asarray(environment_risks(logits, labels, env, mask, w,
                                                   irm_scale=irm_scale), np.float64)
    dr = (risks(1 + h) - risks(1 - h)) / (2 * h)   # central difference, O(h^2) error
    got = soft_irm_penalty(logits, labels, env, mask, irm_scale=irm_scale)
    np.testing.assert_allclose(got, np.sum(dr ** 2), rtol=2e-3)


def test_irm_penalty_hand_formulas():
    logits, labels, env, mask = _problem(1)
    m = np.asarray(mask, np.float64)
    p = np.asarray(jax.nn.softmax(logits), np.float64)
    z = np.asarray(logits, np.float64)
    y = np.asarray(labels)
    q = np.asarray(env, np.float64)
    nll = -np.log(p[np.arange(len(y)), y])
    # IRMv1 on logits: d l_i / dw at w = 1 is  sum_c p_ic z_ic - z_iy.
    dl = (p * z).sum(1) - z[np.arange(len(y)), y]
    want = np.sum((((m * dl)[:, None] * q).sum(0) / m.sum()) ** 2)
    np.testing.assert_allclose(soft_irm_penalty(logits, labels, env, mask), want, rtol=1e-4)
    # The reference code's placement (scale on log-probabilities): P = sum_e R_e^2.
    r = ((m * nll)[:, None] * q).sum(0) / m.sum()
    np.testing.assert_allclose(
        soft_irm_penalty(logits, labels, env, mask, irm_scale="log_probs"), np.sum(r ** 2),
        rtol=1e-4)
    np.testing.assert_allclose(environment_risks(logits, labels, env, mask, 1.0,
                                                 irm_scale="log_probs"), r, rtol=1e-5)


def test_penalty_vanishes_when_environment_gradients_vanish():
    """Logits constant across classes: w z has the same softmax for every w, so every
    dR_e/dw = 0 and P = 0, with zero gradient for the environment net too."""
    _, labels, env, mask = _problem(2)
    offsets = jnp.asarray(np.random.default_rng(3).normal(size=(10, 1)).astype(np.float32))
    flat = jnp.broadcast_to(offsets, (10, 3))
    assert float(soft_irm_penalty(flat, labels, env, mask)) == pytest.approx(0.0, abs=1e-12)
    grad_env = jax.grad(lambda q: soft_irm_penalty(flat, labels, q, mask))(env)
    np.testing.assert_allclose(grad_env, 0.0, atol=1e-7)
    # ...and P > 0 on a generic problem, so the zero above is not trivial.
    logits, *_ = _problem(2)
    assert float(soft_irm_penalty(logits, labels, env, mask)) > 1e-4


def _tiny_hei(anneal=3):
    rng = np.random.default_rng(4)
    n, f, c = 12, 3, 3
    x = jnp.asarray(rng.normal(size=(n, f)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, c, n).astype(np.int32))
    mask = jnp.asarray(np.arange(n) < 9)
    env_input = standardize_on(jnp.asarray(rng.random(n).astype(np.float32)), mask)[:, None]
    backbone = {"w": jnp.asarray(rng.normal(size=(f, c)).astype(np.float32))}
    env_model = EnvironmentInference(num_envs=4, hidden=16)
    env = env_model.init(jax.random.PRNGKey(0), env_input)["params"]
    backbone_tx, env_tx = optax.adamw(1e-2, weight_decay=1e-3), optax.adam(1e-3)
    state = TrainState(step=jnp.zeros((), jnp.int32), params={"backbone": backbone, "env": env},
                       opt_state={"backbone": backbone_tx.init(backbone),
                                  "env": env_tx.init(env)},
                       rng=jax.random.PRNGKey(1),
                       model_state={"train": mask, "env_input": env_input})
    logits_fn = lambda p, key: x @ p["w"]
    config = HEIConfig(penalty_weight=1e4, l2=1e-3, anneal_epochs=anneal)
    step = jax.jit(hei_step(logits_fn, env_model, backbone_tx, env_tx, labels, config))

    def penalty(params):
        q = env_model.apply({"params": params["env"]}, env_input)
        return soft_irm_penalty(logits_fn(params["backbone"], None), labels, q, mask)

    return state, step, penalty, (x, labels, mask, env_model, env_input, config)


def test_environment_step_ascends_then_freezes():
    state, step, penalty, _ = _tiny_hei(anneal=3)
    for _ in range(3):  # epochs 0..2: ascent on P in the environment net
        new, metrics = step(state)
        moved_env = {"backbone": state.params["backbone"], "env": new.params["env"]}
        assert float(penalty(moved_env)) > float(penalty(state.params))
        np.testing.assert_allclose(metrics["penalty"], penalty(state.params), rtol=1e-5)
        state = new
    for _ in range(2):  # epochs >= 3: the environment net and its optimiser are frozen
        new, _ = step(state)
        jax.tree.map(np.testing.assert_array_equal, new.params["env"], state.params["env"])
        jax.tree.map(np.testing.assert_array_equal, new.opt_state["env"], state.opt_state["env"])
        assert not np.allclose(new.params["backbone"]["w"], state.params["backbone"]["w"])
        state = new
    assert int(state.step) == 5


def test_backbone_loss_follows_the_schedule():
    state, step, penalty, (x, labels, mask, env_model, env_input, config) = _tiny_hei()
    params = state.params
    logits = x @ params["backbone"]["w"]
    q = env_model.apply({"params": params["env"]}, env_input)
    p = float(penalty(params))
    m = np.asarray(mask, np.float64)
    nll = -np.asarray(jax.nn.log_softmax(logits))[np.arange(12), np.asarray(labels)]
    mean_nll = (m * nll).sum() / m.sum()
    l2 = 1e-3 * float(np.sum(np.asarray(params["backbone"]["w"]) ** 2))
    before, nll_out, p_out = hei_losses(logits, labels, q, mask, params["backbone"], 0, config)
    after, _, _ = hei_losses(logits, labels, q, mask, params["backbone"], 3, config)
    np.testing.assert_allclose(before, mean_nll + l2, rtol=1e-5)
    np.testing.assert_allclose(after, (mean_nll + l2 + 1e4 * p) / (1 + 1e4), rtol=1e-5)
    np.testing.assert_allclose(nll_out, mean_nll, rtol=1e-5)
    np.testing.assert_allclose(p_out, p, rtol=1e-5)
    np.testing.assert_allclose(squared_l2({"a": jnp.ones(3), "b": 2 * jnp.ones((2,))}), 11.0)
    with pytest.raises(ValueError, match="irm_scale must be"):
        HEIConfig(irm_scale="probs")


def test_node_homophily_and_test_groups_hand_case():
    # Labels 0 0 1 1 0; undirected path 0-1-2-3-4 plus a self loop on 2; node 5 isolated.
    labels = np.array([0, 0, 1, 1, 0, 1])
    und = [(0, 1), (1, 2), (2, 3), (3, 4)]
    senders = np.array([a for a, b in und] + [b for a, b in und] + [2])
    receivers = np.array([b for a, b in und] + [a for a, b in und] + [2])
    h = node_homophily(senders, receivers, labels, 6)
    np.testing.assert_allclose(h[:5], [1.0, 0.5, 0.5, 0.5, 0.0])
    assert np.isnan(h[5])
    # Test nodes 0, 1, 3, 4, 5 -> sorted [0, .5, .5, 1, nan], L = 5, round(2.5) = 2 -> t = 0.5.
    test = np.array([True, True, False, True, True, True])
    high, low = homophily_groups(h, test, 0.5)
    np.testing.assert_array_equal(high, [True, True, False, True, False, False])
    np.testing.assert_array_equal(low, [False, False, False, False, True, False])
    # A 0.25 ratio: t_min = sorted[1] = 0.5, t_max = sorted[round(3.75) = 4] = nan (sorted last).
    high, low = homophily_groups(h, test, 0.25)
    assert not high.any()
    np.testing.assert_array_equal(low, [False, False, False, False, True, False])
    with pytest.raises(ValueError, match="selects no node"):
        homophily_groups(h, np.zeros(6, bool))


def test_experiment_smoke(tmp_path):
    from experiments import hei as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(
        experiment, ["csbm_nodes=60", "epochs=3", "hidden=4", "n_seeds=1"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    entry = results["datasets"]["csbm"]
    for method in ("erm", "hei"):
        for group in ("test", "test_max", "test_min"):
            assert len(entry[method][group]) == 1
            assert 0.0 <= entry[method][group][0] <= 100.0
    assert entry["test_max_size"][0] + entry["test_min_size"][0] <= int(0.2 * 60) + 1
    assert isinstance(claim.passed, bool) and "Test_Min" in claim.ours
    assert (tmp_path / results["plot"]).exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import hei as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text
