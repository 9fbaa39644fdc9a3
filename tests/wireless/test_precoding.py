"""Wireless precoding (jaxnets.wireless): complex CG against jnp.linalg.solve, the structured
(ICGNN) precoder against the direct solve and RZF, ZF nulling, the sum rate against a numpy
loop, WMMSE's monotone sum rate, and the channel simulators."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.wireless import channels, precoding


def _channel(seed, K, M):
    return channels.rayleigh(jax.random.PRNGKey(seed), K, M)


def test_rayleigh_statistics_and_gains():
    @jax.jit
    def draw(key):
        H = jax.vmap(lambda k: channels.rayleigh(k, 4, 8))(jax.random.split(key, 500))
        return H, channels.large_scale_fading(key, 3, 2), channels.path_loss_db(
            jnp.array([1000.0, 1.0]))
    H, beta, pl = draw(jax.random.PRNGKey(0))
    assert H.shape == (500, 4, 8) and H.dtype == jnp.complex64
    np.testing.assert_allclose(np.mean(np.abs(H) ** 2), 1.0, atol=0.03)
    np.testing.assert_allclose(np.mean(np.real(H) ** 2), 0.5, atol=0.02)
    assert beta.shape == (3, 2) and bool(jnp.all(beta > 0))
    np.testing.assert_allclose(pl, [128.1, 128.1 - 37.6 * 2], rtol=1e-5)   # clipped at 10 m
    with pytest.raises(ValueError, match="gain_KxM"):
        channels.rayleigh(jax.random.PRNGKey(0), 2, 3, jnp.ones((3, 2)))


def test_complex_cg_matches_direct_solve_on_hermitian_pd():
    rng = np.random.default_rng(0)
    n = 6
    X = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    A = (X @ X.conj().T + n * np.eye(n)).astype(np.complex64)   # Hermitian PD, well conditioned
    b = (rng.normal(size=n) + 1j * rng.normal(size=n)).astype(np.complex64)
    want = np.linalg.solve(A.astype(np.complex128), b)
    got = jax.jit(lambda b: precoding.complex_cg(lambda x: jnp.asarray(A) @ x, b, n))(b)
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-5
    short = jax.jit(lambda b: precoding.complex_cg(lambda x: jnp.asarray(A) @ x, b, 2))(b)
    assert np.linalg.norm(short - want) / np.linalg.norm(want) > 1e-3   # not exact early
    with pytest.raises(ValueError, match="vector"):
        precoding.complex_cg(lambda x: x, jnp.ones((2, 2), jnp.complex64), 1)


@pytest.mark.parametrize("K,M", [(4, 8), (3, 3)])
def test_cg_with_k_iterations_equals_direct_solve(K, M):
    rng = np.random.default_rng(K)
    a = jnp.asarray(rng.uniform(0.5, 2.0, K), jnp.float32)
    c = jnp.asarray(rng.uniform(0.5, 2.0, K), jnp.float32)
    mu = jnp.float32(0.4)

    @jax.jit
    def solve(key):
        H = channels.rayleigh(key, K, M)
        return (precoding.direct_precoder(H, a, c, mu, 10.0),
                precoding.structured_precoder(H, a, c, mu, 10.0, num_iters=K),
                precoding.structured_precoder(H, a, c, mu, 10.0, num_iters=K - 2))
    want, got, fewer = (np.asarray(x) for x in solve(jax.random.PRNGKey(K + M)))
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-5
    assert np.linalg.norm(fewer - want) / np.linalg.norm(want) > 1e-4


def test_structured_precoder_with_unit_weights_is_rzf():
    K, M, P, noise = 4, 8, 10.0, 1.0
    H = _channel(3, K, M)
    ones = jnp.ones(K, jnp.float32)
    W, want = jax.jit(lambda H: (precoding.structured_precoder(
        H, ones, ones, jnp.float32(K * noise / P), P), precoding.rzf(H, P, noise)))(H)
    np.testing.assert_allclose(W, want, atol=2e-5)
    with pytest.raises(ValueError, match="shape"):
        precoding.structured_precoder(H, ones[:2], ones, jnp.float32(1.0), P)


def test_sum_rate_matches_numpy_and_zf_nulls_interference():
    K, M, P, noise = 3, 5, 4.0, 0.5
    H = np.asarray(_channel(4, K, M))
    W, G = (np.asarray(x) for x in jax.jit(
        lambda H: (precoding.mrt(H, P), H @ precoding.zf(H, P)))(jnp.asarray(H)))
    want = 0.0
    for k in range(K):
        gains = [abs(H[k] @ W[:, j]) ** 2 for j in range(K)]
        want += np.log2(1 + gains[k] / (sum(gains) - gains[k] + noise))
    got = jax.jit(precoding.sum_rate, static_argnums=2)(jnp.asarray(H), jnp.asarray(W), noise)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(np.sum(np.abs(W) ** 2), P, rtol=1e-5)
    assert np.max(np.abs(G - np.diag(np.diagonal(G)))) < 1e-4
    with pytest.raises(ValueError, match="complex"):
        precoding.sum_rate(jnp.ones((2, 3)), jnp.ones((3, 2)), 1.0)


def test_wmmse_increases_sum_rate_monotonically_and_meets_power():
    K, M, P, noise = 4, 6, 10.0, 1.0

    @jax.jit
    def run(key):
        keys = jax.random.split(key, 4)
        H = jax.vmap(lambda k: channels.rayleigh(k, K, M))(keys)
        W0 = jax.vmap(lambda k: channels.rayleigh(jax.random.fold_in(k, 1), M, K))(keys)
        W, rates = jax.vmap(lambda h, w: precoding.wmmse(h, P, noise, w, 30))(H, W0)
        rzf_rate = jax.vmap(lambda h: precoding.sum_rate(h, precoding.rzf(h, P, noise), noise))(H)
        best = jax.vmap(lambda h, k: precoding.wmmse_multistart(k, h, P, noise, 3, 30))(H, keys)
        return W, rates, rzf_rate, best
    W, rates, rzf_rate, best = (np.asarray(x) for x in run(jax.random.PRNGKey(7)))
    assert rates.shape == (4, 31)                              # from a random start
    assert np.all(np.diff(rates, axis=1) >= -1e-4 * rates[:, 1:]), np.diff(rates, axis=1).min()
    assert np.all(rates[:, -1] > rates[:, 0] + 1.0)           # it actually climbs
    np.testing.assert_array_less(np.sum(np.abs(W) ** 2, axis=(1, 2)), P * (1 + 1e-4))
    assert np.mean(best) >= np.mean(rzf_rate)
