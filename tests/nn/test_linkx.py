"""LINKX (jaxnets.nn.linkx) against a dense numpy forward pass with an explicit N x N adjacency."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest
from jax.experimental import sparse as jsparse

from jaxnets.nn.linkx import LINKX


def _graph(senders, receivers, n):
    return jraph.GraphsTuple(nodes=None, edges=None, globals=None,
                             senders=jnp.asarray(senders, jnp.int32),
                             receivers=jnp.asarray(receivers, jnp.int32),
                             n_node=jnp.asarray([n]), n_edge=jnp.asarray([len(senders)]))


def _bn(h, p):
    mean = h.mean(0, keepdims=True)
    var = ((h - mean) ** 2).mean(0, keepdims=True)
    return (h - mean) / np.sqrt(var + 1e-5) * p["scale"] + p["bias"]


def _lin(h, p):
    return h @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"], np.float64)


def _hidden_mlp(h, p):
    """ReLU -> BN -> Linear per hidden layer (dropout off)."""
    for i in range(len([k for k in p if k.startswith("Linear")])):
        h = _lin(_bn(np.maximum(h, 0), {k: np.asarray(v, np.float64)
                                        for k, v in p[f"_BatchNorm_{i}"].items()}),
                 p[f"Linear_{i}"])
    return h


def _dense_linkx(params, adj_NxN, x_NxF):
    h_a = _hidden_mlp(_lin(adj_NxN, params["mlp_a_in"]), params["mlp_a"])
    h_x = _hidden_mlp(_lin(x_NxF, params["mlp_x_in"]), params["mlp_x"])
    h = np.maximum(_lin(np.concatenate([h_a, h_x], 1), params["w"]) + h_a + h_x, 0)
    return _hidden_mlp(_lin(h, params["mlp_f_in"]), params["mlp_f"])


def test_linkx_matches_dense_reference_and_sparse_input():
    rng = np.random.default_rng(0)
    n, f = 9, 5
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, n, (20, 2)) if a != b}
    senders = np.array([p[0] for p in pairs])
    receivers = np.array([p[1] for p in pairs])  # directed on purpose: row i of A = in-edges
    adj = np.zeros((n, n))
    adj[receivers, senders] = 1.0
    x = (rng.random((n, f)) * (rng.random((n, f)) < 0.5)).astype(np.float32)
    g = _graph(senders, receivers, n)
    model = LINKX(hidden=6, num_classes=3, num_layers=2, a_layers=2, x_layers=2)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), g, jnp.asarray(x))["params"]
    # Non-trivial BN affine parameters, so scale/bias are exercised.
    params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(1), p.shape),
                          params)
    apply = jax.jit(lambda p, xx: model.apply({"params": p}, g, xx, deterministic=True))
    want = _dense_linkx(jax.tree.map(np.asarray, params), adj, x.astype(np.float64))
    np.testing.assert_allclose(apply(params, jnp.asarray(x)), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(apply(params, jsparse.BCOO.fromdense(jnp.asarray(x))), want,
                               rtol=1e-4, atol=1e-4)


def test_linkx_default_shapes_dropout_and_bad_input():
    g = _graph([0, 1, 2, 3], [1, 2, 3, 0], 6)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32))
    model = LINKX(hidden=4, num_classes=3, num_layers=3, dropout_rate=0.5)
    params = model.init(jax.random.PRNGKey(0), g, x)["params"]
    assert params["mlp_a_in"]["kernel"].shape == (6, 4)       # one row per node
    out = model.apply({"params": params}, g, x, deterministic=False,
                      rngs={"dropout": jax.random.PRNGKey(2)})
    assert out.shape == (6, 3) and bool(jnp.all(jnp.isfinite(out)))
    assert not np.allclose(out, model.apply({"params": params}, g, x))  # dropout in MLP_f
    with pytest.raises(ValueError, match="needs >= 1 layer"):
        LINKX(a_layers=0).init(jax.random.PRNGKey(0), g, x)
