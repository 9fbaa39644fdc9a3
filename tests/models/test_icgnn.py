"""ICGNN (jaxnets.models.icgnn): the virtual homogeneous graph's edge list and its neighbour-class
means against numpy segment means, permutation equivariance over users and antennas, one network
at several sizes, gradients through the unrolled complex CG against finite differences, and a
smoke run of experiments/icgnn.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.models import icgnn
from jaxnets.wireless import channels, precoding


def test_homogeneous_graph_and_neighbour_means_match_segment_means():
    K, M, D = 3, 4, 2
    s, r, kind = icgnn.homogeneous_graph(K, M)
    assert len(s) == K * M * (M - 1) + M * K * (K - 1)
    assert np.all(s != r)
    h = np.random.default_rng(0).normal(size=(K, M, D)).astype(np.float32)
    flat = h.reshape(K * M, D)
    got = [np.asarray(x).reshape(K * M, D) for x in icgnn.neighbour_means(jnp.asarray(h))]
    for cls in (0, 1):                     # 0: same user, 1: same antenna
        sums, counts = np.zeros((K * M, D)), np.zeros(K * M)
        np.add.at(sums, r[kind == cls], flat[s[kind == cls]])
        np.add.at(counts, r[kind == cls], 1)
        np.testing.assert_allclose(got[cls], sums / counts[:, None], rtol=1e-5, atol=1e-6)
    # a single antenna: the same-user class is empty and contributes zeros
    user, _ = icgnn.neighbour_means(jnp.ones((3, 1, 2)))
    np.testing.assert_array_equal(user, 0.0)


def test_equivariance_and_size_agnostic():
    K, M, P, noise = 3, 5, 10.0, 1.0
    model = icgnn.ICGNN(hidden=8, num_layers=2)
    H = channels.rayleigh(jax.random.PRNGKey(0), K, M)
    params = jax.jit(model.init)(jax.random.PRNGKey(1), icgnn.link_features(H, P, noise),
                                 jnp.float32(0.3))
    perm_k, perm_m = np.array([2, 0, 1]), np.array([4, 1, 3, 0, 2])

    @jax.jit
    def heads(H):
        return model.apply(params, icgnn.link_features(H, P, noise), jnp.float32(0.3))
    a, c, mu = heads(H)
    a2, c2, mu2 = heads(H[perm_k][:, perm_m])
    np.testing.assert_allclose(a2, a[perm_k], rtol=1e-5)      # users permute with the input
    np.testing.assert_allclose(c2, c[perm_k], rtol=1e-5)
    np.testing.assert_allclose(mu2, mu, rtol=1e-5)             # antennas: invariant
    assert bool(jnp.all(a > 0)) and bool(jnp.all(c > 0)) and float(mu) > 0
    big = channels.rayleigh(jax.random.PRNGKey(2), 6, 10)      # same weights, unseen size
    W = jax.jit(lambda h: icgnn.icgnn_precoder(model, params, h, P, noise, 3))(big)
    assert W.shape == (10, 6) and np.isclose(float(jnp.sum(jnp.abs(W) ** 2)), P, rtol=1e-4)


def test_gradient_through_unrolled_complex_cg_matches_finite_differences():
    K, M, P, noise = 3, 4, 10.0, 1.0
    H = channels.rayleigh(jax.random.PRNGKey(3), K, M)
    a = jnp.asarray([0.7, 1.2, 1.0], jnp.float32)
    c = jnp.asarray([1.0, 0.8, 1.3], jnp.float32)

    def rate(theta):      # theta = (log mu, a_0): two real inputs through 2 CG iterations
        a_t = a.at[0].set(theta[1])
        return precoding.sum_rate(H, precoding.structured_precoder(
            H, a_t, c, jnp.exp(theta[0]), P, num_iters=2), noise)
    theta = jnp.asarray([np.log(0.5), 0.7], jnp.float32)
    eps = 1e-2
    steps = np.concatenate([np.eye(2), -np.eye(2)]).astype(np.float32) * eps   # +e_i, -e_i
    grad, values = jax.jit(lambda t: (jax.grad(rate)(t), jax.vmap(rate)(t[None, :] + steps)))(theta)
    fd = (np.asarray(values[:2]) - np.asarray(values[2:])) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=3e-2, atol=2e-3)
    grad = np.asarray(grad)
    assert np.all(np.abs(grad) > 1e-3)                         # not a vacuous check


def test_link_features_rejects_real_channels():
    with pytest.raises(ValueError, match="complex"):
        icgnn.link_features(jnp.ones((2, 3)), 10.0, 1.0)


def test_experiment_smoke(tmp_path):
    from experiments import icgnn as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(
        experiment, ["train_antennas=4", "train_users=2", "test_sizes=4x2", "steps=3",
                     "batch_size=4", "test_samples=4", "wmmse_iters=2", "hidden=4"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert set(results["sizes"]) == {"4x2"} and len(results["train_curve"]) == 3
    for r in results["sizes"].values():
        assert r["wmmse"] > 0 and len(r["icgnn"]) == 1 and np.isfinite(r["icgnn"][0])
    assert isinstance(claim.passed, bool) and "of WMMSE" in claim.ours
    assert (tmp_path / results["plot"]).exists()
    with pytest.raises(ValueError, match="MxK"):
        experiment._sizes("8by4")


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import icgnn as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text + " | " + claim.ours
