"""GNODEFormer (jaxnets.models.gnodeformer): the spectrum and spectral filter against dense
references, Runge-Kutta steps against the Taylor expansion and the closed form of a linear ODE,
padding invariance and permutation equivariance of the model, the FedGCN label partition, and a
smoke run of experiments/gnodeformer.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from jaxnets.models.gnodeformer import (
    GNODEFormer, SelfAttention, client_spectra, laplacian_spectrum, runge_kutta_step,
    spectral_filter)


def _ring_with_chord(n: int):
    senders = np.r_[np.arange(n), 0]
    receivers = np.r_[(np.arange(n) + 1) % n, n // 2]
    return senders, receivers


def test_laplacian_spectrum_reconstructs_normalised_laplacian():
    senders, receivers = np.array([0, 1, 2, 0]), np.array([1, 2, 0, 3])  # node 4 isolated
    vals, vecs = laplacian_spectrum(senders, receivers, 5)
    a = np.zeros((5, 5))
    a[senders, receivers] = a[receivers, senders] = 1
    d = a.sum(1)
    d[d == 0] = 1
    want = np.eye(5) - a / np.sqrt(d[:, None] * d[None, :])
    np.testing.assert_allclose(vecs @ np.diag(vals) @ vecs.T, want, atol=1e-5)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(5), atol=1e-5)
    assert np.all(np.diff(vals) >= -1e-6) and vals.min() > -1e-5 and vals.max() < 2 + 1e-5
    with pytest.raises(ValueError, match="must lie in"):
        laplacian_spectrum(np.array([0]), np.array([5]), 5)


def test_spectral_filter_matches_dense_reference():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(7, 7)))
    gamma, x = rng.normal(size=7), rng.normal(size=(7, 3))
    want = q @ np.diag(gamma) @ q.T @ x
    got = spectral_filter(jnp.asarray(q, jnp.float32), jnp.asarray(gamma, jnp.float32),
                          jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="gamma"):
        spectral_filter(jnp.eye(3), jnp.ones(2), jnp.ones((3, 1)))


def test_self_attention_matches_numpy_masked_softmax():
    rng = np.random.default_rng(5)
    n, d, heads = 6, 4, 2
    x = rng.normal(size=(n, d)).astype(np.float32)
    mask = np.array([True, True, False, True, True, False])
    layer = SelfAttention(d, heads)
    params = layer.init(jax.random.PRNGKey(0), x, mask)["params"]
    got = layer.apply({"params": params}, x, mask)
    w, b = np.asarray(params["qkv_kernel"]), np.asarray(params["qkv_bias"])
    q, k, v = np.split(x @ w + b, 3, axis=1)
    out = np.zeros((n, d))
    for h in range(heads):
        cols = slice(2 * h, 2 * h + 2)
        logits = q[:, cols] @ k[:, cols].T / np.sqrt(2)
        logits[:, ~mask] = -np.inf
        alpha = np.exp(logits - logits.max(1, keepdims=True))
        out[:, cols] = alpha / alpha.sum(1, keepdims=True) @ v[:, cols]
    want = out @ np.asarray(params["out_kernel"]) + np.asarray(params["out_bias"])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_runge_kutta_step_is_taylor_polynomial_on_linear_ode(order):
    # For dx/dt = A x an order-p explicit RK step equals sum_{j<=p} (hA)^j / j! x exactly.
    rng = np.random.default_rng(order)
    a = rng.normal(size=(4, 4)) / 2
    x = rng.normal(size=4)
    h = 0.3
    want, term = x.copy(), x.copy()
    for j in range(1, order + 1):
        term = h * a @ term / j
        want = want + term
    got = runge_kutta_step(lambda z: jnp.asarray(a) @ z, jnp.asarray(x), order, step=h)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_rk4_converges_to_matrix_exponential_at_fourth_order():
    jax.config.update("jax_enable_x64", True)
    try:
        rng = np.random.default_rng(1)
        a = rng.normal(size=(3, 3))
        x0 = rng.normal(size=3)
        exact = scipy.linalg.expm(a) @ x0  # closed form at t = 1
        errors = []
        for steps in (8, 16):
            x = jnp.asarray(x0)
            step = jax.jit(lambda z: runge_kutta_step(lambda y: jnp.asarray(a) @ y, z, 4,
                                                      1.0 / steps))
            for _ in range(steps):
                x = step(x)
            errors.append(np.linalg.norm(np.asarray(x) - exact))
        assert errors[1] < 1e-4
        assert 12 < errors[0] / errors[1] < 20  # 2^4 = 16 for a fourth-order method
    finally:
        jax.config.update("jax_enable_x64", False)
    with pytest.raises(ValueError, match="order"):
        runge_kutta_step(lambda z: z, jnp.ones(2), 5)


def _model_inputs(n: int, f: int, seed: int):
    senders, receivers = _ring_with_chord(n)
    vals, vecs = laplacian_spectrum(senders, receivers, n)
    x = np.random.default_rng(seed).normal(size=(n, f)).astype(np.float32)
    return senders, receivers, vals, vecs, x


def test_model_padding_invariance_and_permutation_equivariance():
    n, f, pad = 9, 4, 3
    senders, receivers, vals, vecs, x = _model_inputs(n, f, 2)
    model = GNODEFormer(num_classes=3, hidden=8, heads=2, num_layers=2, num_blocks=1, rk_order=2)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), vals, vecs, x)
    apply = jax.jit(model.apply)
    out = np.asarray(apply(params, vals, vecs, x))
    assert out.shape == (n, 3) and np.all(np.isfinite(out))
    # padded to n + pad eigen-tokens / nodes: the real rows are unchanged
    spectra = client_spectra(senders[None], receivers[None], np.ones((1, len(senders)), bool),
                             np.array([n]), n + pad)
    x_pad = np.zeros((n + pad, f), np.float32)
    x_pad[:n] = x
    padded = apply(params, spectra["eigvals"][0], spectra["eigvecs"][0], x_pad,
                   spectra["token_mask"][0])
    np.testing.assert_allclose(np.asarray(padded)[:n], out, rtol=2e-4, atol=2e-4)
    # relabelling nodes permutes the logits (same eigenbasis, rows permuted)
    perm = np.random.default_rng(3).permutation(n)
    permuted = apply(params, vals, vecs[perm], x[perm])
    np.testing.assert_allclose(np.asarray(permuted), out[perm], rtol=2e-4, atol=2e-4)
    # ... and so does a fresh eigendecomposition of the relabelled graph (sign/order free)
    inv = np.argsort(perm)
    vals_p, vecs_p = laplacian_spectrum(inv[senders], inv[receivers], n)
    if np.min(np.diff(vals_p)) > 1e-3:  # simple spectrum: U is unique up to column signs
        fresh = apply(params, vals_p, vecs_p, x[perm])
        np.testing.assert_allclose(np.asarray(fresh), out[perm], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="x must have shape"):
        jax.eval_shape(model.apply, params, vals, vecs, x[:-1])


def test_fedgcn_partition_and_split():
    from experiments import gnodeformer as experiment
    labels = np.repeat(np.arange(4), [50, 30, 60, 20])
    rng = np.random.default_rng(0)
    parts = experiment.fedgcn_dirichlet_partition(labels, 3, 0.01, rng, min_size=10)
    joined = np.concatenate(parts)
    assert len(joined) == len(labels) and len(np.unique(joined)) == len(labels)
    assert min(len(p) for p in parts) >= 10
    # strong skew: most clients see at most two classes
    assert np.mean([len(np.unique(labels[p])) <= 2 for p in parts]) >= 2 / 3
    train, val, test = experiment.class_balanced_split(labels, 4, rng)
    assert not np.any(train & val) and not np.any(train & test) and not np.any(val & test)
    assert np.all(train | val | test)
    assert np.bincount(labels[train], minlength=4).tolist() == [24, 24, 24, 20]  # 0.6*160/4
    assert val.sum() == 32
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, ["gcn_optimizer=adam"])
    assert set(experiment._models(config, 3)) == {"gnodeformer", "gcn", "gcn_adam"}
    with pytest.raises(ValueError, match="gcn_optimizer"):
        experiment._models(experiment_lib.build_config(experiment, ["gcn_optimizer=lamb"]), 3)
    claim = experiment.claim({"plot": "p.png", "datasets": {
        "chameleon": {"gnodeformer": [40.0, 42.0], "gcn": [30.0, 31.0], "num_classes": 5}}})
    assert not claim.passed and "not run: cora" in claim.ours  # one dataset cannot pass
    claim = experiment.claim({"plot": "p.png", "datasets": {
        "chameleon": {"gnodeformer": [40.0], "gcn": [34.0], "num_classes": 5},
        "cora": {"gnodeformer": [79.5], "gcn": [80.0], "num_classes": 7}}})
    assert claim.passed  # +6 on chameleon, -0.5 on Cora
    claim = experiment.claim({"plot": "p.png", "datasets": {
        "chameleon": {"gnodeformer": [40.0], "gcn": [20.0], "gcn_adam": [36.0], "num_classes": 5},
        "cora": {"gnodeformer": [79.5], "gcn": [15.0], "gcn_adam": [80.0], "num_classes": 7}}})
    assert not claim.passed and "gcn_adam, the stronger" in claim.ours  # +4 < 5 vs Adam



def test_quick_experiment_smoke(tmp_path):
    from experiments import gnodeformer as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, ["rounds=1"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    entry = results["datasets"]["csbm"]
    for model in ("gnodeformer", "gcn"):
        assert len(entry[model]) == config.n_seeds
        assert all(0.0 <= a <= 100.0 for a in entry[model])
        assert entry[f"{model}_curve"]["round"] == [1]
    assert isinstance(claim.passed, bool) and "csbm" in claim.ours
    assert (tmp_path / results["plot"]).exists() and (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import gnodeformer as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text
