"""Sparse features: conversion from scipy and X @ W over the stored values."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import jaxnets.graph as jg


@pytest.mark.parametrize("fmt", ["csr", "coo", "csc", "dense"])
def test_to_bcoo_round_trip(fmt):
    m = sp.random(30, 20, density=0.1, format="csr", random_state=0, dtype=np.float64)
    src = m.toarray() if fmt == "dense" else m.asformat(fmt)
    x = jg.to_bcoo(src)
    assert jg.is_sparse(x) and x.dtype == jnp.float32 and x.indices.dtype == jnp.int32
    assert x.nse == m.nnz and x.indices_sorted and x.unique_indices
    np.testing.assert_allclose(x.todense(), m.toarray(), rtol=1e-6)


def test_to_bcoo_sums_duplicates():
    m = sp.coo_matrix((np.array([1.0, 2.0, 3.0]), (np.array([0, 0, 1]), np.array([1, 1, 0]))),
                      shape=(2, 2))
    x = jg.to_bcoo(m)
    assert x.nse == 2
    np.testing.assert_array_equal(x.todense(), [[0, 3], [3, 0]])


def test_spmm_matches_dense_product_and_gradient(rng):
    m = sp.random(40, 25, density=0.1, format="csr", random_state=1)
    x_sparse, x_dense = jg.to_bcoo(m), jnp.asarray(m.toarray(), jnp.float32)
    w = jnp.asarray(rng.normal(size=(25, 6)), jnp.float32)
    np.testing.assert_allclose(jg.spmm(x_sparse, w), m.toarray() @ np.asarray(w), rtol=1e-5,
                               atol=1e-6)
    loss = lambda x, w: jnp.sum(jnp.sin(jg.spmm(x, w)))
    np.testing.assert_allclose(jax.grad(loss, argnums=1)(x_sparse, w),
                               jax.grad(loss, argnums=1)(x_dense, w), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.jit(jg.spmm)(x_sparse, w), jg.spmm(x_dense, w), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(jg.GraphError, match=r"expected w of shape \(25, H\)"):
        jg.spmm(x_sparse, jnp.ones((24, 6)))


def test_with_data_keeps_pattern():
    x = jg.to_bcoo(sp.eye(3, format="csr"))
    y = jg.with_data(x, 2 * x.data)
    np.testing.assert_array_equal(y.todense(), 2 * np.eye(3))
    with pytest.raises(jg.GraphError, match="data_nnz has shape"):
        jg.with_data(x, jnp.ones(4))
