"""Standard vs MIP hypernetworks: the magnitude proportionality, the encoding, the residual form
and the initialisation, each against an independent numpy computation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets import nn as jnn
from jaxnets.hyper import (
    TargetSpec, check_unit_interval, encode, generate_population, mip_hypernetwork,
    standard_hypernetwork)

GAIN = np.sqrt(2.0 / (1.0 + 0.01 ** 2))


def _spec():
    return TargetSpec.from_module(jnn.MLP((32, 10)), jnp.zeros((1, 16)))


def _norm(tree):
    return float(np.sqrt(sum(np.sum(np.square(np.asarray(x))) for x in jax.tree.leaves(tree))))


def _numpy_forward(phi, z, slope=0.01):
    """The hypernetwork MLP in numpy, from its parameters only."""
    i = 0
    while f"hidden_{i}" in phi:
        z = z @ np.asarray(phi[f"hidden_{i}"]["kernel"]) + np.asarray(phi[f"hidden_{i}"]["bias"])
        z = np.where(z > 0, z, slope * z)
        i += 1
    bias = phi["theta0"] if "theta0" in phi else phi["output_bias"]
    return z @ np.asarray(phi["output_kernel"]) + np.asarray(bias)


def test_encoding_values_and_constant_norm():
    gamma = np.array([0.0, 0.2, 1.0], np.float32)
    out = np.asarray(encode(gamma, "cos|sin"))
    np.testing.assert_allclose(out, np.concatenate([np.cos(np.pi * gamma / 2),
                                                    np.sin(np.pi * gamma / 2)]), atol=1e-7)
    for c in (1e-3, 0.1, 0.5, 1.0):  # ||E(c gamma)||^2 = K whatever the scale of gamma
        np.testing.assert_allclose(np.sum(np.asarray(encode(c * gamma, "cos|sin")) ** 2), 3.0,
                                   rtol=1e-6)
    np.testing.assert_allclose(np.asarray(encode(gamma, "z|1-z")),
                               np.concatenate([gamma, 1 - gamma]))
    with pytest.raises(ValueError, match=r"gamma must lie in \[0, 1\]"):
        check_unit_interval(np.array([0.5, 1.5]))


def test_standard_hypernetwork_is_exactly_proportional_to_its_input():
    """Sec. 3 of the paper: with (Leaky)ReLU and zero biases, theta(c gamma) = c theta(gamma)."""
    hypernet = standard_hypernetwork(_spec(), hidden_sizes=(8, 16))
    gamma = jnp.array([0.7, 0.4])
    phi = hypernet.init(jax.random.PRNGKey(0), gamma)["params"]
    base = hypernet.apply({"params": phi}, gamma)
    for c in (0.01, 0.3, 2.0):
        scaled = hypernet.apply({"params": phi}, c * gamma)
        for a, b in zip(jax.tree.leaves(scaled), jax.tree.leaves(base)):
            np.testing.assert_allclose(np.asarray(a), c * np.asarray(b), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(_norm(scaled), c * _norm(base), rtol=1e-5)


def test_mip_output_magnitude_does_not_follow_the_input_magnitude():
    """MIP: the encoded input has a constant norm, so shrinking gamma by 100x (which shrinks the
    standard hypernetwork's output by exactly 100x) leaves the distribution of MIP's predicted
    weights unchanged: over 256 initialisations the mean ||Delta theta||^2 at gamma and at
    gamma/100 agree (Gaussian first-layer weights are rotation invariant), and theta_0 keeps
    ||theta|| away from zero."""
    spec = _spec()
    hypernet = mip_hypernetwork(spec, hidden_sizes=(8, 16))
    gamma, c = jnp.array([0.9]), 0.01
    keys = jax.random.split(jax.random.PRNGKey(3), 256)
    phis = jax.jit(jax.vmap(lambda k: hypernet.init(k, gamma)["params"]))(keys)

    def delta_sq(phi, g):
        flat = hypernet.apply({"params": phi}, g, method=hypernet.flat)
        return jnp.sum(jnp.square(flat - phi["theta0"]))

    delta_sq_population = jax.jit(jax.vmap(delta_sq, (0, None)))
    big = np.asarray(delta_sq_population(phis, gamma))
    small = np.asarray(delta_sq_population(phis, c * gamma))
    ratio = big.mean() / small.mean()
    standard_ratio = 1.0 / c ** 2   # what the standard hypernetwork gives, exactly
    assert 0.8 < ratio < 1.25, ratio
    assert standard_ratio == pytest.approx(1e4)
    phi0 = jax.tree.map(lambda a: a[0], phis)
    theta_norm = np.linalg.norm(_numpy_forward(phi0, np.asarray(encode(c * gamma))))
    assert theta_norm > 0.5 * np.linalg.norm(np.asarray(phi0["theta0"]))


def test_mip_is_residual_and_matches_a_numpy_forward():
    spec = _spec()
    hypernet = mip_hypernetwork(spec, hidden_sizes=(8, 16))
    gamma = jnp.array([0.25])
    phi = hypernet.init(jax.random.PRNGKey(1), gamma)["params"]
    flat = np.asarray(hypernet.apply({"params": phi}, gamma, method=hypernet.flat))
    np.testing.assert_allclose(flat, _numpy_forward(phi, np.asarray(encode(gamma))), rtol=1e-4,
                               atol=1e-5)
    # with the output weights at zero, theta(gamma) = theta_0 for every gamma (sec. 4.2)
    zeroed = {**phi, "output_kernel": jnp.zeros_like(phi["output_kernel"])}
    for g in (0.0, 0.5, 1.0):
        theta = hypernet.apply({"params": zeroed}, jnp.array([g]))
        np.testing.assert_array_equal(np.asarray(spec.ravel(theta)), np.asarray(phi["theta0"]))


def test_mip_initialisation_statistics():
    """theta_0 is drawn by the target's own init (Glorot-uniform kernels, zero biases); hidden
    kernels are Kaiming-normal fan-out; each output block is Kaiming-normal with its own fan-out
    (std = gain / sqrt(block size)), independent of the total output width."""
    spec = TargetSpec.from_module(jnn.MLP((64, 10)), jnp.zeros((1, 64)))
    hypernet = mip_hypernetwork(spec, hidden_sizes=(16, 128))
    phi = hypernet.init(jax.random.PRNGKey(0), jnp.array([0.5]))["params"]
    theta0 = spec.unravel(phi["theta0"])
    np.testing.assert_array_equal(np.asarray(theta0["Linear_0"]["bias"]), 0.0)
    kernel = np.asarray(theta0["Linear_0"]["kernel"])
    limit = np.sqrt(6.0 / (64 + 64))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    np.testing.assert_allclose(kernel.std(), limit / np.sqrt(3), rtol=0.05)
    hidden = np.asarray(phi["hidden_1"]["kernel"])  # [16, 128]: fan-out 128
    np.testing.assert_allclose(hidden.std(), GAIN / np.sqrt(128), rtol=0.05)
    out = np.asarray(phi["output_kernel"])
    for path, offset, size in spec.blocks:
        if size >= 640:
            np.testing.assert_allclose(out[:, offset:offset + size].std(), GAIN / np.sqrt(size),
                                       rtol=0.05, err_msg=path)
    standard = standard_hypernetwork(spec, hidden_sizes=(16, 128))
    phi_s = standard.init(jax.random.PRNGKey(0), jnp.array([0.5]))["params"]
    np.testing.assert_allclose(np.asarray(phi_s["output_kernel"]).std(), GAIN / np.sqrt(128),
                               rtol=0.02)
    np.testing.assert_array_equal(np.asarray(phi_s["output_bias"]), 0.0)


def test_vmap_over_gammas_gives_a_population_of_targets():
    spec = _spec()
    hypernet = mip_hypernetwork(spec, hidden_sizes=(8,))
    phi = hypernet.init(jax.random.PRNGKey(0), jnp.zeros((1,)))["params"]
    gammas = jnp.linspace(0.0, 1.0, 5).reshape(5, 1)
    thetas = generate_population(hypernet, phi, gammas)
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 16))
    outs = jax.vmap(lambda t: spec.apply(t, x))(thetas)
    assert outs.shape == (5, 3, 10)
    for b in range(5):
        single = spec.apply(hypernet.apply({"params": phi}, gammas[b]), x)
        np.testing.assert_allclose(np.asarray(outs[b]), np.asarray(single), rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(outs[0]), np.asarray(outs[-1]))
    with pytest.raises(ValueError, match="gamma_BxK must have shape"):
        generate_population(hypernet, phi, jnp.zeros((5,)))
