"""jaxnets.theory (Roberts, Yaida & Hanin, "The Principles of Deep Learning Theory"): quadrature
against closed forms and plain-numpy Monte Carlo, exact linear recursions, criticality conditions,
the four-point vertex on hand cases, exact finite-width moments, a tiny network ensemble against
the recursions, and a smoke run of experiments/criticality.py."""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets import theory

RELU, TANH, LINEAR = (theory.get_activation(a) for a in ("relu", "tanh", "linear"))


def test_gaussian_expectations_against_closed_forms_and_numpy_monte_carlo():
    k = 1.7
    for f, want in ((lambda z: z**2, k), (lambda z: z**4, 3 * k**2),
                    (lambda z: RELU(z) ** 2, k / 2), (lambda z: RELU(z) ** 4, 1.5 * k**2)):
        np.testing.assert_allclose(theory.gaussian_expectation(f, k), want, rtol=1e-5)
    z = np.random.default_rng(0).normal(size=(2, 1_000_000))
    np.testing.assert_allclose(theory.gaussian_expectation(lambda u: jnp.tanh(u) ** 2, 0.7),
                               np.mean(np.tanh(np.sqrt(0.7) * z[0]) ** 2), rtol=3e-3)
    kernel = np.array([[1.3, -0.4], [-0.4, 0.6]])
    za, zb = np.linalg.cholesky(kernel) @ z
    pair = theory.bivariate_gaussian_expectation(lambda a, b: jnp.tanh(a) * jnp.tanh(b), kernel)
    np.testing.assert_allclose(pair, np.mean(np.tanh(za) * np.tanh(zb)), rtol=1e-2)
    np.testing.assert_allclose(
        theory.bivariate_gaussian_expectation(lambda a, b: a * b, kernel), -0.4, rtol=1e-5)
    # ReLU arc-cosine kernel (Cho & Saul): √(K_aa K_bb)/(2π) (sin θ + (π − θ) cos θ).
    theta = np.arccos(-0.4 / np.sqrt(1.3 * 0.6))
    arccos = np.sqrt(1.3 * 0.6) / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
    got = theory.bivariate_gaussian_expectation(lambda a, b: RELU(a) * RELU(b), kernel)
    np.testing.assert_allclose(got, arccos, rtol=1e-5)
    # a singular kernel (two equal inputs) is the single-input expectation
    same = theory.bivariate_gaussian_expectation(lambda a, b: RELU(a) * RELU(b), np.full((2, 2), 2.0))
    np.testing.assert_allclose(same, 1.0, rtol=1e-5)


def test_linear_kernel_recursion_is_exact():
    c_b, c_w, depth = 0.3, 1.5, 6
    x = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 1.0]], np.float32)
    k1 = np.asarray(theory.first_layer_kernel(x, c_b, c_w))
    np.testing.assert_allclose(k1, c_b + c_w * x @ x.T / 3, rtol=1e-6)
    want = [k1]
    for _ in range(depth - 1):
        want.append(c_b + c_w * want[-1])  # K^{(l+1)} = C_b + C_W K^{(l)} for σ(z) = z
    pair = theory.pair_kernel_recursion(LINEAR, c_b, c_w, k1, depth)
    np.testing.assert_allclose(pair, np.stack(want), rtol=1e-5)
    single = theory.kernel_recursion(LINEAR, c_b, c_w, k1[0, 0], depth)
    np.testing.assert_allclose(single, np.stack(want)[:, 0, 0], rtol=1e-5)
    relu = theory.kernel_recursion(RELU, 0.0, 1.8, 2.0, depth)  # ReLU: K ← C_W K / 2
    np.testing.assert_allclose(relu, 2.0 * 0.9 ** np.arange(depth), rtol=1e-5)


def test_criticality_conditions_relu_tanh_linear():
    np.testing.assert_allclose(theory.scale_invariant_critical_c_w(RELU), 2.0, rtol=1e-5)
    np.testing.assert_allclose(theory.scale_invariant_critical_c_w(LINEAR), 1.0, rtol=1e-5)
    np.testing.assert_allclose(theory.zero_fixed_point_critical_c_w(TANH), 1.0, rtol=1e-6)
    for k in (0.3, 4.0):  # scale invariance: χ_∥ = χ_⊥ = C_W/2 at every K
        for c_w in (1.8, 2.0):
            np.testing.assert_allclose(theory.parallel_susceptibility(RELU, c_w, k), c_w / 2, rtol=1e-5)
            np.testing.assert_allclose(theory.perpendicular_susceptibility(RELU, c_w, k), c_w / 2,
                                       rtol=1e-5)
    # tanh at C_W = 1: both susceptibilities tend to 1 at the fixed point K* = 0, below it for K > 0
    np.testing.assert_allclose(theory.parallel_susceptibility(TANH, 1.0, 1e-4), 1.0, atol=1e-3)
    np.testing.assert_allclose(theory.perpendicular_susceptibility(TANH, 1.0, 1e-4), 1.0, atol=1e-3)
    assert theory.parallel_susceptibility(TANH, 1.0, 0.5) < theory.perpendicular_susceptibility(
        TANH, 1.0, 0.5) < 1.0
    # χ_∥ = C_W d⟨σ²⟩/dK (the book's closed form against autodiff)
    derivative = jax.grad(lambda k: theory.gaussian_expectation(lambda z: jnp.tanh(z) ** 2, k))(0.8)
    np.testing.assert_allclose(theory.parallel_susceptibility(TANH, 1.3, 0.8), 1.3 * derivative,
                               rtol=1e-4)


def test_four_point_vertex_hand_cases_and_tanh_asymptotics():
    for sigma, c_w, slope in ((RELU, 2.0, 5.0), (LINEAR, 1.0, 2.0)):  # V = slope (l − 1) K²
        fw = theory.finite_width_recursion(sigma, 0.0, c_w, 1.5, 6)
        np.testing.assert_allclose(fw.kernel, 1.5, rtol=1e-5)
        np.testing.assert_allclose(fw.vertex, slope * np.arange(6) * 1.5**2, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fw.kernel_correction, 0.0, atol=1e-4)
    np.testing.assert_allclose(theory.excess_kurtosis_leading(5.0 * 3 * 4.0, 2.0, 64), 15 * 3 / 64,
                               rtol=1e-6)
    fw = theory.finite_width_recursion(TANH, 0.0, 1.0, 1.0, 1000, order=48)
    layers = np.arange(1, 1001)
    np.testing.assert_allclose(1000 * fw.kernel[-1], 0.5, rtol=1e-2)          # K ≈ 1/(2l)
    np.testing.assert_allclose(fw.vertex[-1] / fw.kernel[-1] ** 2 / 1000, 2 / 3, rtol=1e-2)
    assert np.all(np.diff(np.asarray(layers * fw.kernel)[5:]) < 0)
    assert np.all(np.asarray(fw.kernel_correction)[2:] < 0)  # finite width lowers tanh's kernel


def test_exact_scale_invariant_moments():
    for (a_plus, a_minus, c_w, slope) in ((1.0, 0.0, 2.0, 5.0), (1.0, 1.0, 1.0, 2.0)):
        second, fourth = theory.scale_invariant_exact_moments(a_plus, a_minus, 0.0, c_w, 0.7, 32, 8)
        np.testing.assert_allclose(second, 0.7, rtol=1e-5)
        np.testing.assert_allclose(fourth / second**2, 3 * (1 + slope / 32) ** np.arange(8), rtol=1e-5)
        # first order in 1/n is the book's 3 + 3V/(nK²) = 3 + 3·slope·(l − 1)/n
        big = 1e6
        _, fourth_big = theory.scale_invariant_exact_moments(a_plus, a_minus, 0.0, c_w, 1.0, big, 8)
        np.testing.assert_allclose((np.asarray(fourth_big, np.float64) - 3) * big,
                                   3 * slope * np.arange(8), rtol=2e-2, atol=0.5)
    # with biases the recursion is still exact: E z² = C_b + C_W A_2 E z² (ReLU A_2 = 1/2)
    second, _ = theory.scale_invariant_exact_moments(1.0, 0.0, 0.4, 2.0, 1.0, 16, 3)
    np.testing.assert_allclose(second, [1.0, 1.4, 1.8], rtol=1e-6)


def test_network_preactivations_share_draws_and_scale():
    x = np.random.default_rng(1).normal(size=(2, 5)).astype(np.float32)
    z = theory.network_preactivations(jax.random.PRNGKey(3), x, 7, 4, ("linear", "linear", "relu",
                                      "relu"), (0.0,) * 4, (1.0, 4.0, 2.0, 8.0))
    assert z.shape == (4, 4, 7, 2)
    scale = 2.0 ** np.arange(1, 5)[:, None, None]  # √4 per layer; ReLU is positively homogeneous
    np.testing.assert_allclose(z[:, 1], scale * z[:, 0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(z[:, 3], scale * z[:, 2], rtol=1e-4, atol=1e-5)
    # first layer is W x / √n_0 + b: z_1 is linear in x for C_b = 0
    z2 = theory.network_preactivations(jax.random.PRNGKey(3), 2 * x, 7, 1, ("linear",), (0.0,), (1.0,))
    np.testing.assert_allclose(z2[0, 0], 2 * z[0, 0], rtol=1e-5, atol=1e-6)


def test_tiny_ensemble_matches_recursions():
    """2000 networks of width 16, depth 4: kernels and ReLU kurtosis within 4 bootstrap SE of
    the exact results, tanh's kernel within 3% of K + K^{1}/n."""
    width, depth = 16, 4
    x = np.array([[1.0, 0.5, -1.0, 0.0], [0.0, 1.0, 1.0, -0.5]], np.float32)
    inits = (("linear", 0.2, 1.3), ("relu", 0.0, 2.0), ("tanh", 0.0, 1.0))
    acts, c_bs, c_ws = zip(*inits)
    moments = theory.ensemble_moments(jax.random.PRNGKey(0), x, width, depth, acts, c_bs, c_ws,
                                      2000, 500)
    assert moments.second.shape == (2000, depth, 3, 2, 2) and moments.fourth.shape == (2000, depth, 3, 2)
    est = theory.estimate_moments(moments, jax.random.PRNGKey(1), 100)
    k1 = np.asarray(theory.first_layer_kernel(x, 0.2, 1.3))
    linear = theory.pair_kernel_recursion(LINEAR, 0.2, 1.3, k1, depth)
    assert np.all(np.abs(est.kernel[:, 0] - linear) <= 4 * est.kernel_se[:, 0])
    relu_k1 = float(theory.first_layer_kernel(x, 0.0, 2.0)[0, 0])
    relu = theory.kernel_recursion(RELU, 0.0, 2.0, relu_k1, depth)
    assert np.all(np.abs(est.kernel[:, 1, 0, 0] - relu) <= 4 * est.kernel_se[:, 1, 0, 0])
    _, fourth = theory.scale_invariant_exact_moments(1.0, 0.0, 0.0, 2.0, relu_k1, width, depth)
    exact = np.asarray(fourth) / np.asarray(relu) ** 2
    assert np.all(np.abs(est.kurtosis[:, 1, 0] - exact) <= 4 * est.kurtosis_se[:, 1, 0])
    assert est.kurtosis[-1, 1, 0] > 3.5  # visibly non-Gaussian at (l − 1)/n = 3/16
    fw = theory.finite_width_recursion(TANH, 0.0, 1.0, float(theory.first_layer_kernel(x, 0, 1)[0, 0]),
                                       depth)
    np.testing.assert_allclose(est.kernel[:, 2, 0, 0], fw.kernel + fw.kernel_correction / width,
                               rtol=0.03)
    # bootstrap SE of a mean agrees with std/√N
    plain = np.asarray(moments.second[:, :, 1, 0, 0]).std(0) / np.sqrt(2000)
    np.testing.assert_allclose(est.kernel_se[:, 1, 0, 0], plain, rtol=0.3)


def test_bad_input():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="unknown activation"):
        theory.get_activation("gelu6")
    with pytest.raises(ValueError, match="C_b >= 0 and C_W > 0"):
        theory.kernel_recursion(RELU, 0.0, -1.0, 1.0, 3)
    with pytest.raises(ValueError, match="depth must be"):
        theory.finite_width_recursion(RELU, 0.0, 2.0, 1.0, 0)
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        theory.pair_kernel_recursion(RELU, 0.0, 2.0, np.eye(3), 3)
    with pytest.raises(ValueError, match="multiple of chunk_size"):
        theory.ensemble_moments(jax.random.PRNGKey(0), x, 4, 2, ("relu",), (0.0,), (2.0,), 10, 3)
    with pytest.raises(ValueError, match="equal length"):
        theory.ensemble_moments(jax.random.PRNGKey(0), x, 4, 2, ("relu",), (0.0, 0.0), (2.0,), 10, 5)
    with pytest.raises(ValueError, match=r"shape \(P, n_0\)"):
        theory.first_layer_kernel(np.ones(3), 0.0, 1.0)


def test_experiment_smoke(tmp_path):
    from experiments import criticality as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [
        "widths=(8,)", "collapse=((8, 2), (8, 2))", "kurtosis_widths=(8,)", "depth=3",
        "num_networks=100", "chunk_size=50"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert set(results["checks"]["kernel"]) == set(experiment.INITS)
    assert results["checks"]["relu_kurtosis"][8]["mc"].shape == (3,)
    assert isinstance(claim.passed, bool) and "collapse" in claim.ours
    stored = json.loads((tmp_path / "results.json").read_text())["results"]
    assert experiment.claim(stored) == claim  # the claim reads back from results.json
    for plot in results["plots"]:
        assert (tmp_path / plot).exists()
    with pytest.raises(ValueError, match="collapse point"):
        experiment.run(experiment_lib.build_config(experiment, ["collapse=((9, 2),)"], quick=True),
                       tmp_path / "bad")


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import criticality as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text
