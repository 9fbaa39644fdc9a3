"""Sheaf4Rec, LightGCN, MF and the BPR loss (`jaxnets.models.recsys`) against dense numpy
references, and the `sheaf_rec` experiment."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.models import recsys as models

U, I, D = 5, 7, 4


@pytest.fixture
def toy(rng):
    r = rng.random((U, I)) < 0.45
    r[np.arange(U), np.arange(U)] = True          # every user and item has an interaction
    r[0, 5:] = True
    users, items = np.nonzero(r)
    s = np.concatenate([users, items + U]).astype(np.int32)
    t = np.concatenate([items + U, users]).astype(np.int32)
    return r, s, t, models.rec_graph(s, t, U, I)


def _sheaf_layer_reference(x, w, kernel, bias, senders, receivers):
    """The paper's layer with a dense (U+I) x (U+I) Laplacian, one directed edge at a time."""
    n, d = x.shape
    maps = {}
    for a, b in zip(senders.tolist(), receivers.tolist()):
        maps[(a, b)] = np.tanh(np.concatenate([x[a], x[b]]) @ w[:, 0])    # F_{a<e}, e = a -> b
    lap = np.zeros((n, n))
    for (a, b), f in maps.items():
        lap[a, b] = -f * maps[(b, a)]
        lap[a, a] += f ** 2
    d_inv_sqrt = np.diag(1 / np.sqrt(np.diag(lap) + 1))
    lap_norm = d_inv_sqrt @ lap @ d_inv_sqrt
    return x - lap_norm @ (x @ kernel + bias)


def test_sheaf_layer_matches_dense_laplacian(toy, rng):
    _, s, t, graph = toy
    x = rng.normal(size=(U + I, D)).astype(np.float32)
    layer = models.SheafConvLayer(D)
    params = layer.init(jax.random.PRNGKey(0), jnp.asarray(x), graph)["params"]
    params = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)
    got = layer.apply({"params": params}, jnp.asarray(x), graph)
    want = _sheaf_layer_reference(
        x.astype(np.float64), np.asarray(params["sheaf_learner"], np.float64),
        np.asarray(params["linear"]["kernel"], np.float64),
        np.asarray(params["linear"]["bias"], np.float64), s, t)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)


def test_lightgcn_mf_and_sheaf_outputs(toy):
    r, _, _, graph = toy
    a = np.block([[np.zeros((U, U)), r], [r.T, np.zeros((I, I))]]).astype(np.float64)
    deg = a.sum(1)
    a_hat = a / np.sqrt(np.outer(deg, deg))
    model = models.LightGCN(U + I, D, num_layers=3)
    params = model.init(jax.random.PRNGKey(1), graph)
    emb0, out = model.apply(params, graph)
    e = np.asarray(emb0, np.float64)
    want = (e + a_hat @ e + a_hat @ a_hat @ e + a_hat @ a_hat @ a_hat @ e) / 4
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-6)
    assert abs(float(np.std(e)) - 0.1) < 0.05                      # N(0, 0.1^2) init
    mf = models.matrix_factorization(U + I, D)
    emb0, out = mf.apply(mf.init(jax.random.PRNGKey(1), graph), graph)
    np.testing.assert_array_equal(emb0, out)
    sheaf = models.Sheaf4Rec(U + I, D, num_layers=2)
    emb0, out = sheaf.apply(sheaf.init(jax.random.PRNGKey(2), graph), graph)
    assert out.shape == (U + I, 3 * D)                               # concatenation of x^(0..2)
    np.testing.assert_array_equal(out[:, :D], emb0)


def test_bpr_loss_matches_numpy(rng):
    n, b = U + I, 6
    emb0 = rng.normal(size=(n, D)).astype(np.float32)
    out = rng.normal(size=(n, 2 * D)).astype(np.float32)
    users, pos, neg = rng.integers(0, U, b), rng.integers(0, I, b), rng.integers(0, I, b)
    loss, parts = models.bpr_loss(jnp.asarray(emb0), jnp.asarray(out), jnp.asarray(users),
                                  jnp.asarray(pos), jnp.asarray(neg), U, 0.3)
    diff = (out[users] * out[U + neg]).sum(1) - (out[users] * out[U + pos]).sum(1)
    bpr = np.mean(np.log1p(np.exp(diff)))
    reg = 0.5 * ((emb0[users] ** 2).sum() + (emb0[U + pos] ** 2).sum()
                 + (emb0[U + neg] ** 2).sum()) / b
    np.testing.assert_allclose(parts["bpr"], bpr, rtol=1e-5)
    np.testing.assert_allclose(parts["reg"], reg, rtol=1e-5)
    np.testing.assert_allclose(loss, bpr + 0.3 * reg, rtol=1e-5)


def test_rec_graph_rejects_bad_edges(toy):
    _, s, t, _ = toy
    with pytest.raises(ValueError, match="both directions"):
        models.rec_graph(s[1:], t[1:], U, I)
    with pytest.raises(ValueError, match="user"):
        models.rec_graph(np.array([0]), np.array([1]), U, I)
    with pytest.raises(ValueError, match="lie in"):
        models.rec_graph(np.array([0]), np.array([U + I]), U, I)
    with pytest.raises(ValueError, match="rows"):
        layer = models.SheafConvLayer(D)
        layer.init(jax.random.PRNGKey(0), jnp.zeros((U + I + 1, D)), toy[3])


def test_sheaf_rec_experiment_smoke(tmp_path):
    import experiments.sheaf_rec as exp
    from jaxnets import experiment

    config = experiment.build_config(exp, [], quick=True)
    results, claim = experiment.run_experiment(exp, config, tmp_path)
    for name in exp.MODELS:
        assert len(results[f"{name}/test/f1@10"]) == len(config.seeds)
        assert all(0 <= v <= 1 for v in results[f"{name}/test/ndcg@10"])
    assert (tmp_path / results["plot"]).exists() and (tmp_path / "results.json").exists()
    assert "+5.1 %" in claim.text and isinstance(claim.passed, bool)


@pytest.mark.slow
def test_sheaf_rec_full_reproduction(tmp_path):
    import experiments.sheaf_rec as exp
    from jaxnets import experiment

    _, claim = experiment.run_experiment(exp, experiment.build_config(exp), tmp_path)
    assert claim.passed, claim.text
