"""RpHGNN: relation-wise even-odd propagation, random projection squashing and the full
pre-computation against dense numpy references on a tiny heterograph; the relation-agnostic
baseline; the encoder's hop convolution; F1 against scikit-learn; bad input; a smoke run of the
experiment (the full claim is slow)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import f1_score

from experiments import rphgnn as rphgnn_experiment
from jaxnets import experiment as experiment_lib
from jaxnets.graph.random_projection import sparse_rp_kernel
from jaxnets.models import rphgnn as rp

NUM = {"a": 5, "b": 4, "c": 3}


def _tiny(seed=0):
    """Relations a->b and a->c plus their reverses (b has a node without a-neighbours)."""
    rng = np.random.default_rng(seed)
    ab = np.array([[0, 0], [1, 0], [2, 1], [3, 1], [4, 2], [0, 2]], np.int32)   # b3 isolated
    ac = np.array([[i, rng.integers(3)] for i in range(5)], np.int32)
    rels = [rp.Relation("a", "b", ab[:, 0], ab[:, 1]), rp.Relation("b", "a", ab[:, 1], ab[:, 0]),
            rp.Relation("a", "c", ac[:, 0], ac[:, 1]), rp.Relation("c", "a", ac[:, 1], ac[:, 0])]
    x = {"a": rng.normal(size=(5, 6)).astype(np.float32),
         "b": rng.normal(size=(4, 3)).astype(np.float32),
         "c": rng.normal(size=(3, 2)).astype(np.float32)}
    return rels, x


def _mean_adj(rel):
    """Dense row-normalised M[dst, src] (rows without neighbours stay zero)."""
    m = np.zeros((NUM[rel.dst], NUM[rel.src]))
    np.add.at(m, (rel.receivers_E, rel.senders_E), 1.0)
    return m / np.maximum(m.sum(1, keepdims=True), 1.0)


def _normalize(h):
    return h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)


def test_relation_wise_collect_matches_dense_reference():
    rels, x = _tiny()
    out = rp.relation_wise_collect({k: jnp.asarray(v) for k, v in x.items()}, rels, NUM)
    expected = {t: [] for t in NUM}
    for r in rels:
        odd = _mean_adj(r) @ x[r.src]
        expected[r.dst].append((("odd", r.src, r.dst), odd))
        reverse = rp.Relation(r.dst, r.src, r.receivers_E, r.senders_E)
        expected[r.src].append((("even", r.src, r.dst), _mean_adj(reverse) @ odd))
    for t in NUM:
        assert [k for k, _ in out[t]] == [k for k, _ in expected[t]]
        for (_, got), (_, want) in zip(out[t], expected[t]):
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    # The isolated b3 gets zeros in its odd tensor along a->b.
    assert np.all(np.asarray(out["b"][0][1])[3] == 0)


def test_squash_shapes_norms_and_seed_exactness():
    key = jax.random.PRNGKey(3)
    hs = [jax.random.normal(jax.random.PRNGKey(i), (7, w)) for i, w in enumerate((5, 9, 4))]
    out = rp.random_projection_squash(key, hs, 6)
    assert out.shape == (7, 6)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(rp.random_projection_squash(key, hs, 6)))
    assert not np.allclose(out, rp.random_projection_squash(jax.random.PRNGKey(4), hs, 6))
    # Dense reference with the same kernels: sum of L2-normalised projections.
    want = sum(_normalize(np.asarray(h) @ np.asarray(sparse_rp_kernel(
        jax.random.fold_in(key, g), h.shape[1], 6, s=3.0, scaled=False)))
        for g, h in enumerate(hs))
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5, atol=1e-6)
    one = rp.random_projection_squash(key, hs[:1], 6)
    np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1.0, rtol=1e-5)
    r = np.asarray(sparse_rp_kernel(key, 300, 200, s=3.0, scaled=False))
    np.testing.assert_allclose(np.unique(r), [-np.sqrt(3), 0.0, np.sqrt(3)], rtol=1e-6)
    assert abs((r != 0).mean() - 1 / 3) < 0.01


def test_precompute_matches_numpy_reference():
    rels, x = _tiny(1)
    key, k_iters = jax.random.PRNGKey(7), 2
    groups, keys = rp.rphgnn_precompute(key, x, rels, NUM, "a", num_iterations=k_iters)
    types = sorted(NUM)
    feats = {t: x[t].astype(np.float64) for t in types}
    hist = {}
    for k in range(k_iters):
        on = {t: [] for t in types}
        for r in rels:
            odd = _mean_adj(r) @ feats[r.src]
            even = _mean_adj(rp.Relation(r.dst, r.src, r.receivers_E, r.senders_E)) @ odd
            on[r.dst].append((("odd", r.src, r.dst), odd))
            on[r.src].append((("even", r.src, r.dst), even))
        for key_g, h in on["a"]:
            hist.setdefault(key_g, []).append(h)
        new = {}
        for i, t in enumerate(types):
            k_t = jax.random.fold_in(jax.random.fold_in(key, k), i)
            new[t] = sum(_normalize(h @ np.asarray(sparse_rp_kernel(
                jax.random.fold_in(k_t, g), h.shape[1], feats[t].shape[1], s=3.0,
                scaled=False), np.float64)) for g, (_, h) in enumerate(on[t]))
        feats = new
    assert keys == list(hist)
    assert keys == [("even", "a", "b"), ("odd", "b", "a"), ("even", "a", "c"), ("odd", "c", "a")]
    for key_g, got in zip(keys, groups):
        want = np.stack(hist[key_g], 1)
        if key_g[0] == "even":   # use_input: the raw target features are hop 0
            want = np.concatenate([x["a"][:, None], want], 1)
        assert got.shape == want.shape
        np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=2e-5)


def test_group_widths_do_not_grow_with_iterations():
    rels, x = _tiny()
    shapes = [[g.shape for g in rp.rphgnn_precompute(jax.random.PRNGKey(0), x, rels, NUM, "a",
                                                     num_iterations=k)[0]] for k in (1, 3)]
    assert [s[-1] for s in shapes[0]] == [s[-1] for s in shapes[1]] == [6, 3, 6, 2]
    assert [s[1] for s in shapes[1]] == [4, 3, 4, 3]


def test_relation_agnostic_hops_matches_dense_reference():
    rels, _ = _tiny()
    rng = np.random.default_rng(0)
    x = {t: rng.normal(size=(n, 4)).astype(np.float32) for t, n in NUM.items()}
    got = np.asarray(rp.relation_agnostic_hops(x, rels, NUM, "b", num_hops=3))
    types = sorted(NUM)
    off = dict(zip(types, np.cumsum([0] + [NUM[t] for t in types])[:-1]))
    a = np.zeros((12, 12))
    for r in rels:
        np.add.at(a, (r.receivers_E + off[r.dst], r.senders_E + off[r.src]), 1.0)
    m = a / np.maximum(a.sum(1, keepdims=True), 1.0)
    h = np.concatenate([x[t] for t in types])
    want = [h]
    for _ in range(3):
        want.append(m @ want[-1])
    want = np.stack(want, 1)[off["b"]:off["b"] + NUM["b"]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_encoder_hop_convolution_and_shapes():
    model = rp.RpHGNNEncoder(num_classes=3, hidden=8, conv_filters=2)
    groups = [jnp.ones((5, 3, 4)), jnp.ones((5, 1, 2))]
    params = model.init(jax.random.PRNGKey(0), groups)
    p = params["params"]
    assert p["conv0"].shape == (2, 3) and p["conv1"].shape == (1, 1)   # one-hop group: 1 filter
    assert p["Linear_0"]["kernel"].shape == (8, 8) and p["Linear_2"]["kernel"].shape == (2, 8)
    assert model.apply(params, groups).shape == (5, 3)
    with pytest.raises(ValueError, match="hops"):
        model.apply(params, [jnp.ones((5, 4))])


def test_f1_scores_match_sklearn():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(4, size=50), rng.integers(4, size=50)
    pred[pred == 3] = 0   # a class never predicted scores 0
    macro, micro = rphgnn_experiment.f1_scores(jnp.asarray(pred), jnp.asarray(y), 4)
    assert np.isclose(macro, f1_score(y, pred, average="macro", zero_division=0), atol=1e-6)
    assert np.isclose(micro, f1_score(y, pred, average="micro"), atol=1e-6)


def test_bad_input_is_reported():
    rels, x = _tiny()
    with pytest.raises(ValueError, match="num_iterations"):
        rp.rphgnn_precompute(jax.random.PRNGKey(0), x, rels, NUM, "a", num_iterations=0)
    with pytest.raises(ValueError, match="target"):
        rp.rphgnn_precompute(jax.random.PRNGKey(0), x, rels, NUM, "z", num_iterations=1)
    with pytest.raises(ValueError, match="out of range"):
        bad = [rp.Relation("a", "b", np.array([9], np.int32), np.array([0], np.int32))]
        rp.rphgnn_precompute(jax.random.PRNGKey(0), x, bad, NUM, "b", num_iterations=1)
    with pytest.raises(ValueError, match="shape"):
        rp.rphgnn_precompute(jax.random.PRNGKey(0), {**x, "a": x["a"][:3]}, rels, NUM, "a",
                             num_iterations=1)
    with pytest.raises(ValueError, match="one feature width"):
        rp.relation_agnostic_hops(x, rels, NUM, "a", num_hops=2)
    with pytest.raises(ValueError, match="rows"):
        rp.prepare_features(jax.random.PRNGKey(0), NUM, {"a": x["b"]}, embedding_size=4)
    with pytest.raises(ValueError, match="at least one"):
        rp.random_projection_squash(jax.random.PRNGKey(0), [], 3)


def test_prepare_features_random_and_projected():
    _, x = _tiny()
    out = rp.prepare_features(jax.random.PRNGKey(0), NUM, {"a": x["a"], "b": x["a"][:4]},
                              embedding_size=8, input_width=3)
    assert {t: v.shape for t, v in out.items()} == {"a": (5, 3), "b": (4, 3), "c": (3, 8)}
    np.testing.assert_allclose(np.linalg.norm(out["a"], axis=1), 1.0, rtol=1e-5)
    # Same raw width -> the same projection: rows equal in the raw space stay equal.
    np.testing.assert_allclose(out["a"][:4], out["b"], rtol=1e-6)


def test_quick_rphgnn_experiment_runs(tmp_path):
    config = experiment_lib.build_config(rphgnn_experiment, ["dataset=synthetic"], quick=True)
    results, claim = experiment_lib.run_experiment(rphgnn_experiment, config, tmp_path / "run")
    for method in rphgnn_experiment.METHODS:
        values = results[f"{method}_test_macro"]
        assert len(values) == 1 and 0.0 <= values[0] <= 100.0
    assert results["group_hops"] == [2, 1, 2, 1] and results["timing_k"] == [1, 2]
    assert results["timing_group_widths"][0] == results["timing_group_widths"][1]
    assert (tmp_path / "run" / "rphgnn.png").exists()
    assert "macro-F1" in claim.text and "linear" in claim.text


@pytest.mark.slow
def test_rphgnn_claim_on_acm(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("JAXNETS_DATA", str(data_root))
    config = experiment_lib.build_config(rphgnn_experiment, [], quick=False)
    results, claim = experiment_lib.run_experiment(rphgnn_experiment, config, tmp_path / "run")
    assert len(results["rphgnn_test_macro"]) == 3
    assert claim.passed, claim.text
