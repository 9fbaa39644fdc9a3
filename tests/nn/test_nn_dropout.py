"""Fast dropout: keep rates, exact inverted scaling, the 1/256 rounding, sparse values only."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import jaxnets.graph as jg
import jaxnets.nn as jn

SIZE = 1 << 20


def test_effective_rate_is_reported():
    assert jn.effective_dropout_rate(0.5) == 0.5
    assert jn.effective_dropout_rate(0.6) == 1 - 102 / 256 == 0.6015625
    assert jn.effective_dropout_rate(0.1) == 1 - 230 / 256
    assert jn.effective_dropout_rate(0.25) == 0.25              # multiples of 1/256 are exact
    assert jn.effective_dropout_rate(0.0) == 0.0 and jn.effective_dropout_rate(1.0) == 1.0
    assert jn.effective_dropout_rate(1e-4) == 1 / 256            # never rounds to "no dropout"
    assert jn.effective_dropout_rate(1 - 1e-4) == 255 / 256
    assert jn.Dropout(0.6).effective_rate == 0.6015625
    with pytest.raises(ValueError, match="rate must lie in"):
        jn.effective_dropout_rate(1.5)


@pytest.mark.parametrize("rate", [0.5, 0.6, 0.1, 0.9])
def test_keep_rate_and_mean_preservation(rate):
    x = jnp.ones((SIZE,), jnp.float32)
    y = np.asarray(jax.jit(lambda k: jn.dropout(k, x, rate))(jax.random.key(0)))
    q = 1 - jn.effective_dropout_rate(rate)
    kept = y != 0
    sigma = np.sqrt(q * (1 - q) / SIZE)
    assert abs(kept.mean() - q) < 5 * sigma, (kept.mean(), q)
    np.testing.assert_array_equal(np.unique(y[kept]), np.float32(1 / q))   # exact scaling
    assert abs(y.mean() - 1.0) < 5 * sigma / q
    # Neighbouring lanes of one random word are independent: P(both kept) = q^2.
    both = (kept[:-1] & kept[1:]).mean()
    assert abs(both - q * q) < 5 * np.sqrt(q * q * (1 - q * q) / SIZE)


def test_half_rate_scales_by_exactly_two():
    x = jax.random.normal(jax.random.key(1), (999, 7))      # size not a multiple of 32
    y = jn.dropout(jax.random.key(2), x, 0.5)
    kept = np.asarray(y) != 0
    np.testing.assert_array_equal(np.asarray(y)[kept], 2 * np.asarray(x)[kept])
    assert y.shape == x.shape and y.dtype == x.dtype


def test_keys_and_edge_rates():
    x = jnp.ones((4096,))
    a, b = jn.dropout(jax.random.key(0), x, 0.5), jn.dropout(jax.random.key(0), x, 0.5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, jn.dropout(jax.random.key(1), x, 0.5))
    np.testing.assert_array_equal(jn.dropout(jax.random.key(0), x, 0.0), x)
    np.testing.assert_array_equal(jn.dropout(jax.random.key(0), x, 1.0), 0.0)


def test_keep_mask_is_the_mask_dropout_applies():
    key = jax.random.key(3)
    mask = jn.keep_mask(key, (300, 7), 0.4)
    assert mask.shape == (300, 7) and mask.dtype == jnp.bool_
    y = jn.dropout(key, jnp.ones((300, 7)), 0.4)
    np.testing.assert_array_equal(mask, np.asarray(y) != 0)
    big = np.asarray(jn.keep_mask(key, (SIZE,), 0.4))
    q = 1 - jn.effective_dropout_rate(0.4)
    assert abs(big.mean() - q) < 5 * np.sqrt(q * (1 - q) / SIZE)
    assert jn.keep_mask(key, (5, 2), 0.0).all() and not jn.keep_mask(key, (5, 2), 1.0).any()


def test_sparse_dropout_touches_stored_values_only():
    m = sp.random(300, 200, density=0.05, format="csr", random_state=0, dtype=np.float32)
    x = jg.to_bcoo(m)
    y = jn.dropout(jax.random.key(0), x, 0.5)
    assert jg.is_sparse(y) and y.nse == x.nse
    np.testing.assert_array_equal(y.indices, x.indices)
    kept = np.asarray(y.data) != 0
    np.testing.assert_allclose(np.asarray(y.data)[kept], 2 * np.asarray(x.data)[kept])
    assert 0.45 < kept.mean() < 0.55


def test_dropout_module():
    module = jn.Dropout(0.5)
    x = jnp.ones((64, 8))
    np.testing.assert_array_equal(module.apply({}, x, deterministic=True), x)
    y = module.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    assert set(np.unique(np.asarray(y))) <= {0.0, 2.0}
    with pytest.raises(Exception, match="dropout"):
        module.apply({}, x, deterministic=False)                 # no "dropout" rng given
    np.testing.assert_array_equal(jn.Dropout(0.5, deterministic=True).apply({}, x), x)
