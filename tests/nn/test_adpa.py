"""ADPA (jaxnets.nn.adpa) and the reconstructed AMUD test (jaxnets.graph.amud): directed patterns,
normalisation and propagation against dense numpy, the symmetric-graph collapse, hop attention
against a dense reference, permutation equivariance, AMUD on hand-built tables, and a smoke run of
experiments/adpa.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxnets.graph.amud import amud, bowker_symmetry_test, label_transition_counts
from jaxnets.nn.adpa import (
    ADPA, PATTERNS, HopAttention, adpa_inputs, adpa_normalize, directed_patterns, hop_weights,
    propagate_patterns)

# 0->1, 0->2, 1->2, 2->0, 3->2, 2->3, 4->4 (self-loop, dropped), 1->2 again (duplicate)
SENDERS = np.array([0, 0, 1, 2, 3, 2, 4, 1])
RECEIVERS = np.array([1, 2, 2, 0, 2, 3, 4, 2])
N = 5


def _dense_adjacency() -> np.ndarray:
    a = np.zeros((N, N))
    for s, r in zip(SENDERS, RECEIVERS):
        if s != r:
            a[s, r] = 1.0
    return a


def _dense_normalize(p: np.ndarray, r: float) -> np.ndarray:
    d = p.sum(1)
    left = np.array([x ** (r - 1) if x > 0 else 0.0 for x in d])
    right = np.array([x ** -r if x > 0 else 0.0 for x in d])
    return left[:, None] * p * right[None, :]


def test_patterns_match_dense_products():
    a = _dense_adjacency()
    eye = np.eye(N)
    want = {"A": a + eye, "At": a.T + eye, "AA": a @ a, "AtAt": a.T @ a.T, "AAt": a @ a.T,
            "AtA": a.T @ a}
    got = directed_patterns(SENDERS, RECEIVERS, N)
    assert tuple(got) == PATTERNS
    for name in PATTERNS:
        np.testing.assert_array_equal(got[name].toarray(), want[name], err_msg=name)
    assert got["AAt"][0, 0] == 2  # the diagonal of A A^T is the out-degree (walk counts kept)


def test_normalize_matches_dense_reference():
    rng = np.random.default_rng(0)
    p = rng.random((6, 6)) * (rng.random((6, 6)) < 0.5)
    p[3] = 0.0  # a zero-degree row: its row and column vanish instead of becoming inf
    for r in (0.0, 0.42749, 0.5, 1.0):
        got = adpa_normalize(p, r).toarray()
        np.testing.assert_allclose(got, _dense_normalize(p, r), rtol=1e-12, err_msg=str(r))
    sym = p + p.T
    d = sym.sum(1)
    inv_sqrt = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    np.testing.assert_allclose(adpa_normalize(sym, 0.5).toarray(),
                               inv_sqrt[:, None] * sym * inv_sqrt[None], rtol=1e-12)
    looped = p + np.eye(6)  # r = 0 is the random-walk normalisation: rows sum to one
    np.testing.assert_allclose(adpa_normalize(looped, 0.0).toarray().sum(1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="square"):
        adpa_normalize(np.ones((2, 3)), 0.5)


def test_propagation_matches_dense_reference():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N, 3))
    np.testing.assert_allclose(hop_weights(2), [1 + 1e-6, np.log(0.5) + 1 + 1e-6])
    patterns = {k: adpa_normalize(v, 0.42749) for k, v in
                directed_patterns(SENDERS, RECEIVERS, N).items()}
    hops = propagate_patterns(patterns, x, prop_steps=2)
    assert hops.shape == (6, 2, N, 3)
    w = hop_weights(2)
    for p, name in enumerate(PATTERNS):
        mat = patterns[name].toarray()
        h1 = mat @ (w[0] * x)
        h2 = mat @ (w[1] * h1)
        np.testing.assert_allclose(hops[p, 0], h1, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(hops[p, 1], h2, rtol=1e-5, atol=1e-6)
    inputs = adpa_inputs(SENDERS, RECEIVERS, x, r=0.42749, prop_steps=2)
    np.testing.assert_allclose(inputs.hops_PxTxNxF, hops, rtol=1e-6)
    with pytest.raises(ValueError, match="edge endpoints"):
        directed_patterns([0, 7], [1, 2], N)
    with pytest.raises(ValueError, match="lacks"):
        propagate_patterns({"A": patterns["A"]}, x, 2)


def test_symmetric_graph_collapses_patterns():
    s = np.concatenate([SENDERS, RECEIVERS])
    r = np.concatenate([RECEIVERS, SENDERS])
    pats = directed_patterns(s, r, N)
    np.testing.assert_array_equal(pats["A"].toarray(), pats["At"].toarray())
    for name in ("AtAt", "AAt", "AtA"):
        np.testing.assert_array_equal(pats[name].toarray(), pats["AA"].toarray())
    hops = np.asarray(adpa_inputs(s, r, np.random.default_rng(2).normal(size=(N, 4))).hops_PxTxNxF)
    np.testing.assert_allclose(hops[1], hops[0], rtol=1e-6)
    for p in (3, 4, 5):
        np.testing.assert_allclose(hops[p], hops[2], rtol=1e-6)
    directed = np.asarray(adpa_inputs(SENDERS, RECEIVERS,
                                      np.random.default_rng(2).normal(size=(N, 4))).hops_PxTxNxF)
    assert not np.allclose(directed[0], directed[1])  # on a digraph A and A^T differ


def test_hop_attention_matches_dense_reference():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 4)).astype(np.float32)
    hops = rng.normal(size=(2, 7, 4)).astype(np.float32)
    layer = HopAttention()
    params, (out, alpha) = jax.jit(lambda k, a, b: (
        layer.init(k, a, b)["params"], layer.apply(layer.init(k, a, b), a, b)))(
        jax.random.PRNGKey(0), jnp.asarray(x), jnp.asarray(hops))
    feats = [x, hops[0], hops[1]]
    weight = np.concatenate([np.ravel(params["a_ref"]), np.asarray(params["a_own"])])
    reference = np.concatenate(feats, axis=1)
    scores = np.stack([1 / (1 + np.exp(-(np.concatenate([reference, f], 1) @ weight
                                         + float(params["bias"])))) for f in feats], 1)
    want_alpha = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    want = sum(want_alpha[:, t:t + 1] * feats[t] for t in range(3))
    np.testing.assert_allclose(np.asarray(alpha).T, want_alpha, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_adpa_is_permutation_equivariant():
    rng = np.random.default_rng(4)
    n = 12
    s, r = rng.integers(0, n, 30), rng.integers(0, n, 30)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    perm = rng.permutation(n)
    inv = np.argsort(perm)
    model = ADPA(hidden=6, num_classes=3)
    inputs = adpa_inputs(s, r, x)
    permuted = adpa_inputs(inv[s], inv[r], x[perm])

    @jax.jit
    def init_and_apply(key, a, b):
        params = model.init(key, None, a)
        return params, model.apply(params, None, a), model.apply(params, None, b)

    params, out, out_perm = init_and_apply(jax.random.PRNGKey(0), inputs, permuted)
    assert out.shape == (n, 3)
    np.testing.assert_allclose(out_perm, np.asarray(out)[perm], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="hops must have shape"):
        model.apply(params, None, (inputs.x_NxF, inputs.hops_PxTxNxF[:3]))


def test_label_transition_counts_and_bowker_by_hand():
    labels = np.array([0, 1, 1, 0, -1])
    counts = label_transition_counts([0, 0, 1, 2, 3, 4, 1], [1, 2, 0, 3, 3, 0, 1], labels, 2)
    # 0->1 (0,1), 0->2 (0,1), 1->0 (1,0), 2->3 (1,0); loops 3->3, 1->1 and node 4 (-1) skipped
    np.testing.assert_array_equal(counts, [[0, 2], [2, 0]])
    masked = label_transition_counts([0, 0, 1, 2], [1, 2, 0, 3], labels, 2,
                                     label_mask_N=[True, True, False, True, True])
    np.testing.assert_array_equal(masked, [[0, 1], [1, 0]])
    statistic, dof, p = bowker_symmetry_test(np.array([[5, 8], [2, 3]]))
    assert statistic == pytest.approx(36 / 10) and dof == 1
    assert p == pytest.approx(stats.chi2.sf(3.6, 1))
    table = np.array([[4, 6, 0], [2, 1, 0], [0, 3, 9]])  # pairs (0,1): 6 vs 2, (1,2): 0 vs 3
    statistic, dof, _ = bowker_symmetry_test(table)
    assert statistic == pytest.approx(16 / 8 + 9 / 3) and dof == 2
    with pytest.raises(ValueError, match="square"):
        bowker_symmetry_test(np.ones((2, 3)))
    with pytest.raises(ValueError, match="labels must lie"):
        label_transition_counts([0], [1], np.array([0, 5]), 2)


def test_amud_decision_on_tiny_graphs():
    labels = np.repeat([0, 1], 20)
    one_way_s, one_way_r = np.arange(20), np.arange(20, 40)        # every arc class 0 -> class 1
    result = amud(one_way_s, one_way_r, labels, 2)
    assert result.directed and result.p_value < 1e-4 and result.asymmetry == pytest.approx(1.0)
    both_s = np.concatenate([one_way_s, one_way_r])                 # every arc reciprocated
    both_r = np.concatenate([one_way_r, one_way_s])
    result = amud(both_s, both_r, labels, 2)
    assert not result.directed and result.statistic == 0 and result.asymmetry == 0
    few = amud(one_way_s[:3], one_way_r[:3], labels, 2)             # X^2 = 3: not significant
    assert not few.directed and few.num_arcs == 3
    hidden = amud(one_way_s, one_way_r, labels, 2, label_mask_N=np.arange(40) < 20)
    assert hidden.num_arcs == 0 and not hidden.directed and hidden.p_value == 1.0
    with pytest.raises(ValueError, match="alpha"):
        amud(one_way_s, one_way_r, labels, 2, alpha=0.0)


def test_experiment_smoke(tmp_path):
    from experiments import adpa as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(
        experiment, ["models=adpa_directed", "epochs=2", "csbm_nodes=60"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    entry = results["datasets"]["csbm"]
    assert len(entry["adpa_directed"]) == config.num_splits
    assert all(0.0 <= a <= 100.0 for a in entry["adpa_directed"])
    assert len(entry["amud"]) == config.num_splits and "p_value" in entry["amud"][0]
    assert not claim.passed and "not run" in claim.ours  # a subset cannot pass the claim
    assert (tmp_path / results["plot"]).exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import adpa as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text
