"""Flag Aggregator (jaxnets.federated.flag): one FlagIRLS step against a numpy reference,
hand cases (a shared direction, an outlier cluster, reversed gradients), invariances, the
objective's monotone decrease, the pytree server wrapper, bad input, and a smoke run of
experiments/flag_aggregator.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.federated.flag import (flag_aggregate, flag_objective, flag_server_aggregate,
                                    flag_subspace, initial_subspace, normalize_rows)


def _numpy_irls_step(x, y0, lam, eps=1e-7):
    """One FlagIRLS step written from the paper's weights: the D x M weighted data matrix."""
    p = x.shape[0]
    cols = []
    for i in range(p):
        sin_sq = abs(1.0 - np.sum((y0.T @ x[i]) ** 2))
        cols.append((sin_sq + eps) ** -0.25 * x[i])
    if lam > 0:
        for i in range(p):
            for j in range(p):
                if i != j:
                    d = x[i] - x[j]
                    sin_sq = abs(1.0 - np.sum((y0.T @ d) ** 2))
                    cols.append(lam / (p * (p - 1)) * (sin_sq + eps) ** -0.25 * d)
    u, _, _ = np.linalg.svd(np.stack(cols, axis=1), full_matrices=False)
    return u[:, :y0.shape[1]]


def _same_subspace(a, b, atol=1e-4):
    np.testing.assert_allclose(a @ a.T, b @ b.T, atol=atol)


@pytest.mark.parametrize("rank,lam", [(1, 0.0), (2, 0.0), (2, 1.0)])
def test_one_irls_step_matches_numpy(rank, lam):
    rng = np.random.default_rng(rank)
    x = rng.normal(size=(6, 9))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y0 = np.linalg.qr(rng.normal(size=(9, rank)))[0]
    y_ref = _numpy_irls_step(x, y0, lam)
    y, objs = flag_subspace(jnp.asarray(x, jnp.float32), rank, 1, lam,
                            y0_DxR=jnp.asarray(y0, jnp.float32))
    obj_ref = lambda y: np.sum(np.sqrt(np.maximum(1 - np.sum((x @ y) ** 2, 1), 0)))
    np.testing.assert_allclose(objs[0], obj_ref(y0), rtol=1e-5)
    if obj_ref(y_ref) < obj_ref(y0):    # the step is kept only if (1) decreased
        _same_subspace(np.asarray(y), y_ref)
        np.testing.assert_allclose(objs[1], obj_ref(y_ref), rtol=1e-4)
    else:
        _same_subspace(np.asarray(y), y0)


def test_shared_direction_hand_case():
    u = np.array([3.0, 0.0, 4.0, 0.0]) / 5.0
    g = np.stack([0.5 * u, 2.0 * u, 7.0 * u])  # magnitudes are discarded
    g_hat, metrics = flag_aggregate(jnp.asarray(g, jnp.float32), rank=1, n_iters=3)
    np.testing.assert_allclose(g_hat, 3 * u, atol=1e-5)   # (1/r) sum_i Y Y^T x_i = 3 u
    np.testing.assert_allclose(metrics["ratios"], 1.0, atol=1e-5)


def test_reversed_gradients_lie_in_the_same_subspace():
    """Sign-flipped rows (the reverse attack) project onto the honest line with opposite sign:
    with 4 honest and 1 reversed identical directions the output is (4 - 1) u."""
    u = np.array([1.0, 2.0, 2.0]) / 3.0
    g = np.stack([u, u, u, u, -10 * u])
    g_hat, _ = flag_aggregate(jnp.asarray(g, jnp.float32), rank=1, n_iters=2)
    np.testing.assert_allclose(g_hat, 3 * u, atol=1e-5)


def test_outlier_cluster_is_downweighted_by_more_iterations():
    """8 noisy copies of e1 and 3 identical outliers: the flag median's line stays near e1, and
    more IRLS iterations never increase objective (1)."""
    rng = np.random.default_rng(0)
    d = 20
    honest = np.eye(d)[0] + 0.15 * rng.normal(size=(8, d))
    outlier = np.tile(np.ones(d) / np.sqrt(d), (3, 1))
    x = jnp.asarray(np.concatenate([honest, outlier]), jnp.float32)
    _, objs = flag_subspace(normalize_rows(x), 1, 8)
    assert np.all(np.diff(np.asarray(objs)) <= 1e-6)
    g_hat, _ = flag_aggregate(x, rank=1, n_iters=8)
    cos_e1 = float(g_hat[0] / jnp.linalg.norm(g_hat))
    assert cos_e1 > 0.9
    assert float(jnp.sum(x[:8], 0)[0] / jnp.linalg.norm(jnp.sum(x, 0))) < cos_e1  # mean is worse


def test_invariances_and_jit():
    rng = np.random.default_rng(1)
    g = jnp.asarray(rng.normal(size=(7, 11)), jnp.float32)
    agg = lambda g: flag_aggregate(g, rank=2, n_iters=2)[0]  # noqa: E731 (jitted inside)
    base = agg(g)
    scale = jnp.asarray(rng.uniform(0.1, 5.0, size=(7, 1)), jnp.float32)
    np.testing.assert_allclose(agg(g * scale), base, atol=1e-4)        # per-row scale
    perm = rng.permutation(7)
    np.testing.assert_allclose(agg(g[perm]), base, atol=1e-4)          # worker order
    y = initial_subspace(jax.random.PRNGKey(1), 11, 2)
    np.testing.assert_allclose(y.T @ y, np.eye(2), atol=1e-5)
    assert float(flag_objective(y, normalize_rows(g))) <= 7.0


def test_server_wrapper_flattens_pytrees():
    rng = np.random.default_rng(2)
    params = {"w": jnp.zeros((3, 2)), "b": jnp.ones(2)}
    updates = {"w": jnp.asarray(rng.normal(size=(5, 3, 2)), jnp.float32),
               "b": jnp.asarray(rng.normal(size=(5, 2)), jnp.float32)}
    aggregate = flag_server_aggregate(rank=1, n_iters=2)
    jitted = jax.jit(aggregate)
    new, state, metrics = jitted(params, updates, jnp.ones(5), (), {"server_lr": 0.5})
    flat = jnp.concatenate([updates["b"], updates["w"].reshape(5, 6)], axis=1)  # ravel order
    g_hat, _ = flag_aggregate(flat, rank=1, n_iters=2)
    np.testing.assert_allclose(new["b"], 1.0 + 0.5 * g_hat[:2], atol=1e-5)
    np.testing.assert_allclose(new["w"], 0.5 * g_hat[2:].reshape(3, 2), atol=1e-5)
    assert state == () and metrics["ratios"].shape == (5,)
    excluded = jnp.array([1.0, 1.0, 1.0, 1.0, 0.0])   # weight 0 = the row is left out
    new_ex, _, _ = jitted(params, updates, excluded, (), {"server_lr": 0.5})
    g_four, _ = flag_aggregate(flat.at[4].set(0.0), rank=1, n_iters=2)
    np.testing.assert_allclose(new_ex["b"], 1.0 + 0.5 * g_four[:2], atol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="shape \\[K, D\\]"):
        flag_aggregate(jnp.ones(5))
    with pytest.raises(ValueError, match="rank must be in"):
        flag_aggregate(jnp.ones((3, 4)), rank=4)
    with pytest.raises(ValueError, match="n_iters"):
        flag_aggregate(jnp.ones((3, 4)), n_iters=0)


def test_experiment_smoke(tmp_path):
    from experiments import flag_aggregator as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(
        experiment, ["gars=flag", "attacks=none", "steps=2", "eval_every=1",
                     "num_workers=3", "num_byzantine=1", "batch_size=8"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    flag = results["gars"]["flag"]
    assert len(flag["test_accuracy"]["none"]) == config.n_seeds
    assert all(0.0 <= a <= 100.0 for a in flag["test_accuracy"]["none"])
    assert len(flag["curve"]["none"]) == 2
    assert not claim.passed and "no attack: flag" in claim.ours   # no attacked run: no pass
    assert (tmp_path / results["plot"]).exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import flag_aggregator as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text + " | " + claim.ours
