"""TANGNN (jaxnets.nn.tangnn): Top-m selection and attention vs brute-force references, the
neighbour sampler, permutation equivariance, and a smoke run of experiments/tangnn.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest
from jax.experimental import sparse as jsparse

from jaxnets.nn.tangnn import (
    TANGNN, TANGNNConv, auxiliary_scores, full_attention, sampled_mean_weights, top_m_attention,
    top_m_blockwise, top_m_sorted_window)


def _brute_top_m(score_NxN: np.ndarray, m: int) -> np.ndarray:
    score = score_NxN.astype(np.float64).copy()
    np.fill_diagonal(score, -np.inf)
    return np.argsort(-score, axis=1, kind="stable")[:, :m]


def _sets(idx: np.ndarray) -> list[set]:
    return [set(row.tolist()) for row in np.asarray(idx)]


def _graph(senders, receivers, n):
    return jraph.GraphsTuple(nodes=None, edges=None, globals=None,
                             senders=jnp.asarray(senders, jnp.int32),
                             receivers=jnp.asarray(receivers, jnp.int32),
                             n_node=jnp.asarray([n]), n_edge=jnp.asarray([len(senders)]))


@pytest.mark.parametrize("n,m", [(41, 5), (11, 5), (30, 1)])
def test_sorted_window_equals_brute_force_per_node(n, m):
    s = np.random.default_rng(n).normal(size=n).astype(np.float32)
    got = top_m_sorted_window(jnp.asarray(s), m)
    assert got.shape == (n, m)
    want = _brute_top_m(-np.abs(s[:, None] - s[None, :]), m)
    assert _sets(got) == _sets(want)


def test_blockwise_equals_brute_force_cosine_and_window():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(37, 6)).astype(np.float32)
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    zj = jnp.asarray(zn)
    got = top_m_blockwise(lambda rows: zj[rows] @ zj.T, 37, 4, block_size=8)  # 8 ∤ 37
    assert _sets(got) == _sets(_brute_top_m(zn @ zn.T, 4))
    s = jnp.asarray(rng.normal(size=37).astype(np.float32))
    by_block = top_m_blockwise(lambda rows: -jnp.abs(s[rows][:, None] - s[None, :]), 37, 4, 16)
    assert _sets(by_block) == _sets(top_m_sorted_window(s, 4))


def test_top_m_attention_matches_dense_masked_softmax():
    rng = np.random.default_rng(1)
    n, h, d, m = 9, 2, 3, 3
    q, k, v = (rng.normal(size=(n, h, d)).astype(np.float32) for _ in range(3))
    idx = np.stack([rng.choice([u for u in range(n) if u != i], m, replace=False)
                    for i in range(n)])
    want = np.zeros((n, h, d))
    for head in range(h):
        logits = q[:, head] @ k[:, head].T / np.sqrt(d)
        mask = np.zeros((n, n), bool)
        mask[np.arange(n)[:, None], idx] = True
        logits = np.where(mask, logits, -np.inf)
        alpha = np.exp(logits - logits.max(1, keepdims=True))
        alpha /= alpha.sum(1, keepdims=True)
        want[:, head] = alpha @ v[:, head]
    got = top_m_attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), jnp.asarray(idx))
    np.testing.assert_allclose(got, want.reshape(n, h * d), rtol=1e-5, atol=1e-5)
    dense = np.concatenate([
        (lambda a: (a / a.sum(1, keepdims=True)) @ v[:, i])(
            np.exp(q[:, i] @ k[:, i].T / np.sqrt(d))) for i in range(h)], axis=1)
    got_full = full_attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v))
    np.testing.assert_allclose(got_full, dense.reshape(n, h * d), rtol=1e-5, atol=1e-5)


def test_auxiliary_scores_recentred_cosine_dense_and_sparse():
    rng = np.random.default_rng(2)
    x = (rng.random((12, 7)) * (rng.random((12, 7)) < 0.4)).astype(np.float32)
    x[0] = 0.0
    a = rng.normal(size=7).astype(np.float32)
    xbar = x.mean(0) / np.linalg.norm(x.mean(0))
    a2 = a - (a @ xbar) * xbar
    a2 /= np.linalg.norm(a2)
    norms = np.linalg.norm(x, axis=1)
    want = np.where(norms > 0, x @ a2 / np.maximum(norms, 1e-12), 0.0)
    scores = jax.jit(auxiliary_scores)
    np.testing.assert_allclose(scores(jnp.asarray(x), jnp.asarray(a)), want, atol=1e-5)
    sparse = jsparse.BCOO.fromdense(jnp.asarray(x))
    np.testing.assert_allclose(scores(sparse, jnp.asarray(a)), want, atol=1e-5)
    with pytest.raises(ValueError, match="a_F must have shape"):
        auxiliary_scores(jnp.asarray(x), jnp.ones(3))


def test_sampled_mean_weights():
    senders = jnp.array([1, 2, 3, 0, 2, 4, 0], jnp.int32)
    receivers = jnp.array([0, 0, 0, 1, 1, 1, 2], jnp.int32)  # node 3, 4: no in-neighbours
    exact = sampled_mean_weights(None, senders, receivers, 5, 4)
    np.testing.assert_allclose(exact, [1 / 3] * 3 + [1 / 3] * 3 + [1.0], rtol=1e-6)
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    draws = jax.jit(jax.vmap(lambda k: sampled_mean_weights(k, senders, receivers, 5, 4)))(keys)
    per_node = np.asarray(jax.ops.segment_sum(draws.T, receivers, 5)).T
    np.testing.assert_allclose(per_node[:, :3], 1.0, atol=1e-6)   # a mean over 4 draws
    assert np.all(per_node[:, 3:] == 0)
    np.testing.assert_allclose(np.asarray(draws * 4), np.round(np.asarray(draws * 4)), atol=1e-6)
    np.testing.assert_allclose(draws.mean(0), exact, atol=0.02)      # unbiased for 1/deg


@pytest.mark.parametrize("attention", ["top_m", "full"])
def test_conv_is_permutation_equivariant(attention):
    rng = np.random.default_rng(3)
    n = 16
    senders = rng.integers(0, n, 40)
    receivers = rng.integers(0, n, 40)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    perm = rng.permutation(n)
    inv = np.argsort(perm)
    conv = TANGNNConv(6, m=3, heads=2, attention=attention)
    g = _graph(senders, receivers, n)
    params = jax.jit(conv.init)(jax.random.PRNGKey(0), g, jnp.asarray(x))
    apply = jax.jit(conv.apply)
    out = apply(params, g, jnp.asarray(x))
    g_perm = _graph(inv[senders], inv[receivers], n)  # node i is renamed inv[i]
    out_perm = apply(params, g_perm, jnp.asarray(x[perm]))
    np.testing.assert_allclose(out_perm, np.asarray(out)[perm], rtol=1e-5, atol=1e-5)


def test_conv_output_and_bad_input():
    g = _graph([0, 1, 2], [1, 2, 0], 8)
    x = jnp.asarray(np.random.default_rng(4).normal(size=(8, 3)).astype(np.float32))
    for attention, width in (("top_m", 8), ("official", 8), ("none", 4)):
        conv = TANGNNConv(4, m=2, attention=attention)
        out, _ = jax.eval_shape(conv.init_with_output, jax.random.PRNGKey(0), g, x)
        assert out.shape == (8, width)
    cosine = TANGNN(hidden=4, m=2, num_classes=3, criterion="cosine", layer_concat=True)
    out = jax.jit(cosine.init_with_output)(jax.random.PRNGKey(0), g, x)[0]
    assert out.shape == (8, 3) and bool(jnp.all(jnp.isfinite(out)))
    for conv, message in ((TANGNNConv(4, m=4), "N >= 2m"),
                          (TANGNNConv(4, attention="global"), "attention must be"),
                          (TANGNNConv(5, m=2, heads=2), "divisible by heads")):
        with pytest.raises(ValueError, match=message):
            jax.eval_shape(conv.init, jax.random.PRNGKey(0), g, x)


def test_experiment_smoke(tmp_path):
    import experiments.tangnn as exp
    from jaxnets import experiment
    config = experiment.build_config(exp, [], quick=True)
    results, claim = experiment.run_experiment(exp, config, tmp_path)
    entry = results["datasets"]["csbm"]
    assert len(entry["tangnn"]) == len(entry["graphsage"]) == config.n_seeds
    assert all(0.0 <= a <= 100.0 for a in entry["tangnn"] + entry["graphsage"])
    assert entry["cost"]["top_m_s"] > 0 and entry["cost"]["full_s"] > 0
    assert isinstance(claim.passed, bool) and "csbm" in claim.ours
    assert (tmp_path / results["plot"]).exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    import experiments.tangnn as exp
    from jaxnets import experiment
    config = experiment.build_config(exp, [], quick=False)
    _, claim = experiment.run_experiment(exp, config, tmp_path)
    assert claim.passed, claim.text
