"""NCN / NCNC (Wang, Yang & Zhang, ICLR 2024): the mechanism against dense brute force, and a
smoke run of the experiment."""
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.graph.neighbors import padded_adjacency
from jaxnets.models.ncn import (NCNEncoder, NCNModel, NCNPredictor, calibrate_probability,
                                puregcn_propagate, sample_candidates)
from jaxnets.train.link_train import (link_bce_loss, make_evaluate, pair_logits,
                                      uniform_negatives)

N, F = 12, 6


def _graph(seed=0, num_pairs=24):
    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < num_pairs:
        a, b = rng.integers(0, N, 2)
        if a != b:
            pairs.add((min(a, b), max(a, b)))
    pairs = np.array(sorted(pairs), np.int32)
    dense = np.zeros((N, N), np.float32)
    dense[pairs[:, 0], pairs[:, 1]] = dense[pairs[:, 1], pairs[:, 0]] = 1.0
    return pairs, dense


def _dense_without(pairs, removed):
    dense = np.zeros((N, N), np.float32)
    keep = pairs[~removed]
    dense[keep[:, 0], keep[:, 1]] = dense[keep[:, 1], keep[:, 0]] = 1.0
    return dense


def _predictor(kind, **kw):
    return NCNPredictor(kind=kind, hidden=F, dropout=0.0, edge_dropout=0.0, use_xlin=False,
                        test_cap=-1, **kw)


def _init(module, *args):
    """``module.init`` under one jit (a single compile is cheaper than eager op dispatch)."""
    return jax.jit(module.init)(jax.random.PRNGKey(1), *args)


def _xcn(pred, params, h, adj, i, j, removed=None):
    apply = jax.jit(lambda p, h, adj, i, j, r: pred.apply(p, h, adj, i, j, r, True,
                                                          mutable=["intermediates"]))
    _, state = apply(params, h, adj, i, j, removed)
    inter = state["intermediates"]
    return np.asarray(inter["xcn"][0]), inter


def _all_pairs():
    i, j = np.triu_indices(N, 1)
    return jnp.asarray(i, jnp.int32), jnp.asarray(j, jnp.int32)


def test_ncn_representation_matches_dense_common_neighbour_sum():
    pairs, dense = _graph()
    adj = padded_adjacency(pairs, N)
    h = jax.random.normal(jax.random.PRNGKey(0), (N, F))
    i, j = _all_pairs()
    pred = _predictor("ncn")
    params = _init(pred, h, adj, i[:2], j[:2])
    xcn, _ = _xcn(pred, params, h, adj, i, j)
    ref = (dense[np.asarray(i)] * dense[np.asarray(j)]) @ np.asarray(h)  # eq. 6
    np.testing.assert_allclose(xcn, ref, rtol=1e-5, atol=1e-5)


def test_target_link_removal_hides_exactly_the_batch_edges():
    pairs, _ = _graph(1)
    adj = padded_adjacency(pairs, N)
    removed = np.zeros(len(pairs), bool)
    removed[[0, 3, 7]] = True
    dense = _dense_without(pairs, removed)
    h = jax.random.normal(jax.random.PRNGKey(0), (N, F))
    i, j = _all_pairs()
    pred = _predictor("ncn")
    params = _init(pred, h, adj, i[:2], j[:2])
    xcn, _ = _xcn(pred, params, h, adj, i, j, jnp.asarray(removed))
    ref = (dense[np.asarray(i)] * dense[np.asarray(j)]) @ np.asarray(h)
    np.testing.assert_allclose(xcn, ref, rtol=1e-5, atol=1e-5)
    # The encoder sees the same graph: removed edges get weight 0.
    graph = {"senders": jnp.asarray(np.r_[pairs[:, 0], pairs[:, 1]]),
             "receivers": jnp.asarray(np.r_[pairs[:, 1], pairs[:, 0]]),
             "edge_ids": jnp.asarray(np.r_[np.arange(len(pairs)), np.arange(len(pairs))])}
    model = NCNModel(NCNEncoder(hidden=F, xdp=0.0, gnndp=0.0, tdp=0.0, jk=False),
                     _predictor("ncn"))
    x = jax.random.normal(jax.random.PRNGKey(2), (N, 5))
    mp = _init(model, x, graph, adj, i[:2], j[:2])
    enc = np.asarray(jax.jit(lambda p, x, g, r: model.apply(p, x, g, r, method=NCNModel.encode))(
        mp, x, graph, jnp.asarray(removed)))
    lin = np.asarray(x) @ np.asarray(mp["params"]["encoder"]["kernel"])
    norm = 1.0 / np.sqrt(1.0 + dense.sum(1))[:, None]
    ref_enc = norm * (dense @ (norm * lin) + norm * lin)  # puregcn on the reduced graph
    np.testing.assert_allclose(enc, ref_enc, rtol=1e-4, atol=1e-5)
    # Evaluation encodes once and scores from it: the same logits as the full call.
    full = jax.jit(lambda p: model.apply(p, x, graph, adj, i, j))(mp)
    scored = jax.jit(lambda p: model.apply(
        p, model.apply(p, x, graph, method=NCNModel.encode), adj, i, j,
        method=NCNModel.score))(mp)
    np.testing.assert_allclose(scored, full, rtol=1e-6, atol=1e-6)


def test_pair_logits_balances_chunks_and_evaluate_keeps_each_split_apart():
    """P = 10 pairs at chunk 4 run as 3 chunks of 4 (two padding pairs, dropped); evaluation
    scores the four splits in one pass and hands each its own logits."""
    seen = []

    def logits(params, pairs, removed, key):
        seen.append(pairs.shape)
        return (params * pairs[:, 0] + pairs[:, 1]).astype(jnp.float32)

    pairs = jnp.asarray(np.stack([np.arange(10), np.arange(10) + 1], 1), jnp.int32)
    np.testing.assert_array_equal(pair_logits(logits, 100, pairs, 4), 101 * np.arange(10) + 1)
    assert seen == [(4, 2)]                                 # traced once inside lax.map
    with pytest.raises(ValueError, match="at least one pair"):
        pair_logits(logits, 1, pairs[:0], 4)
    # Pair (i, j) scores 100 i + j. Validation: positives 1 ... 405 against negatives of -1;
    # test: positives 1, 102, 203 against one negative of 150 (only 203 is above it).
    split = {"val_pos": pairs[:5], "val_neg": jnp.asarray([[0, -1], [0, -1]], jnp.int32),
             "test_pos": pairs[:3], "test_neg": jnp.asarray([[1, 50]], jnp.int32)}
    out = make_evaluate(lambda p, b, r, k: logits(100, b, r, k), split, chunk=3, ks=(1,))(None)
    assert float(out["val_hits@1"]) == 1.0
    np.testing.assert_allclose(float(out["test_hits@1"]), 1 / 3)


def test_puregcn_propagate_matches_dense():
    pairs, dense = _graph(2)
    x = np.random.default_rng(0).normal(size=(N, 3)).astype(np.float32)
    s, r = np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]]
    out = puregcn_propagate(jnp.asarray(x), jnp.asarray(s), jnp.asarray(r),
                            jnp.ones(s.shape, jnp.float32))
    n = (1.0 + dense.sum(1)) ** -0.5
    np.testing.assert_allclose(out, n[:, None] * (dense @ (n[:, None] * x) + n[:, None] * x),
                               rtol=1e-5, atol=1e-6)


def test_ncnc_completion_matches_dense_reference():
    pairs, dense = _graph(3, num_pairs=28)
    adj = padded_adjacency(pairs, N)
    h = jax.random.normal(jax.random.PRNGKey(0), (N, F))
    i, j = _all_pairs()
    calib = dict(alpha=0.9, scale=4.3, offset=0.1, pt=0.75)
    ncnc, ncn = _predictor("ncnc", **calib), _predictor("ncn", **calib)
    params = _init(ncnc, h, adj, i[:2], j[:2])
    xcn, _ = _xcn(ncnc, params, h, adj, i, j)
    hn, a = np.asarray(h), dense
    # p(o, k) for every ordered pair from the plain NCN (same parameters), in one call.
    o_all, k_all = np.divmod(np.arange(N * N), N)
    logit = jax.jit(ncn.apply)(params, h, adj, jnp.asarray(o_all, jnp.int32),
                               jnp.asarray(k_all, jnp.int32))
    prob = np.asarray(calibrate_probability(logit, **calib)).reshape(N, N)
    ref = np.zeros((len(i), F), np.float32)
    for b, (u, v) in enumerate(zip(np.asarray(i), np.asarray(j))):
        ref[b] = (a[u] * a[v]) @ hn  # eq. 6
        for src, dst in ((u, v), (v, u)):  # eq. 8: k in N(src) \ N(dst), k != dst: p(dst, k) x_k
            ks = [k for k in range(N) if a[src, k] and not a[dst, k] and k != dst]
            ref[b] += prob[dst, ks] @ hn[ks]
    np.testing.assert_allclose(xcn, ref, rtol=1e-4, atol=1e-4)


def test_edge_dropout_keeps_membership_binary_and_caps_reweight():
    # With one-hot node features, x_cn's row b is the weight of every node in pair b's sum.
    pairs, dense = _graph(4, num_pairs=30)
    adj = padded_adjacency(pairs, N)
    h = jnp.eye(N)
    i, j = _all_pairs()
    pred = NCNPredictor(kind="ncn", hidden=N, dropout=0.0, edge_dropout=0.5, use_xlin=False)
    params = _init(pred, h, adj, i[:2], j[:2])
    train_apply = jax.jit(lambda p, h, adj, i, j: pred.apply(
        p, h, adj, i, j, None, False, mutable=["intermediates"],
        rngs={"dropout": jax.random.PRNGKey(2)}))
    _, state = train_apply(params, h, adj, i, j)
    w = np.asarray(state["intermediates"]["xcn"][0])
    full = dense[np.asarray(i)] * dense[np.asarray(j)]
    assert set(np.unique(w)) <= {0.0, 1.0}  # no 1/(1-p) rescale (official elem2spm fills 1.0)
    assert np.all(w <= full) and 0 < w.sum() < full.sum()  # a strict subset survives
    # Capped completion candidates: exactly `cap` kept per large row, weighted |set| / cap.
    mask = jnp.asarray(np.arange(8)[None, :] < np.array([[8], [3], [0]]))
    ids = jnp.broadcast_to(jnp.arange(8), (3, 8))
    ids_r, mask_r, w_r = sample_candidates(ids, mask, 4, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.asarray(mask_r).sum(1), [4, 3, 0])
    np.testing.assert_allclose(np.asarray(w_r).sum(1), [8.0, 3.0, 0.0])
    assert np.all(np.asarray(ids_r)[1][np.asarray(mask_r)[1]] < 3)


def test_calibration_formula_and_cn0_ignores_graph():
    p = calibrate_probability(jnp.array([2.8, 10.0]), alpha=1.0, scale=4.3, offset=2.8, pt=0.75)
    np.testing.assert_allclose(p[0], 0.75 * 0.5 / (0.75 * 0.5 + 0.5), rtol=1e-6)
    assert 0.74 < float(p[1]) <= 1.0
    pairs, _ = _graph()
    h = jax.random.normal(jax.random.PRNGKey(0), (N, F))
    i, j = _all_pairs()
    cn0 = _predictor("cn0")
    params = cn0.init(jax.random.PRNGKey(1), h, padded_adjacency(pairs, N), i[:2], j[:2])
    a = cn0.apply(params, h, padded_adjacency(pairs, N), i, j)
    b = cn0.apply(params, h, padded_adjacency(pairs[:3], N), i, j)
    np.testing.assert_array_equal(a, b)


def test_bad_input_and_negatives():
    pairs, _ = _graph()
    adj = padded_adjacency(pairs, N)
    h = jnp.zeros((N, F))
    pred = _predictor("ncn")
    with pytest.raises(ValueError, match="kind"):
        _predictor("gae").init(jax.random.PRNGKey(0), h, adj, jnp.array([0]), jnp.array([1]))
    with pytest.raises(ValueError, match="equal length"):
        pred.init(jax.random.PRNGKey(0), h, adj, jnp.array([0, 1]), jnp.array([1]))
    with pytest.raises(ValueError, match="rows"):
        pred.init(jax.random.PRNGKey(0), jnp.zeros((N + 1, F)), adj, jnp.array([0]),
                  jnp.array([1]))
    neg = np.asarray(uniform_negatives(jax.random.PRNGKey(0), 500, 7))
    assert neg.min() >= 0 and neg.max() < 7 and np.all(neg[:, 0] != neg[:, 1])
    loss = link_bce_loss(jnp.array([0.0, 5.0]), jnp.array([0.0, 9.0]), jnp.array([True, False]))
    np.testing.assert_allclose(loss, 2 * np.log(2.0), rtol=1e-6)


def _community_graph(num_blocks=8, size=20, p_in=0.5, p_out=0.002, num_features=12, seed=0):
    """A small planted-partition graph: common neighbours predict its links (most in-block)."""
    rng = np.random.default_rng(seed)
    n = num_blocks * size
    block = np.arange(n) // size
    u, v = np.triu_indices(n, 1)
    p = np.where(block[u] == block[v], p_in, p_out)
    keep = rng.random(u.shape) < p
    u, v = u[keep], v[keep]
    features = (rng.random((n, num_features)) < 0.2).astype(np.float32)
    return SimpleNamespace(features=features, senders=np.r_[u, v], receivers=np.r_[v, u])


def test_ncn_experiment_smoke(tmp_path, monkeypatch):
    """The whole experiment (split, CN heuristic, training, evaluation, plot, claim) on a
    160-node synthetic graph instead of Cora, so the smoke run costs compiles, not data."""
    import experiments.ncn as m
    from jaxnets import experiment as e
    monkeypatch.setattr(m, "load_planetoid", lambda name: _community_graph())
    # cn0 only: the compiled NCN/NCNC steps cost 5-15 s of XLA compile each; their mechanism is
    # checked above against dense references, and tools/bench_ncn.py compiles all three.
    config = e.build_config(m, ["models=('cn0',)", "batch_size=256", "eval_batch=128"],
                            quick=True)
    results, claim = e.run_experiment(m, config, tmp_path / "run")
    assert len(results["cn0_test_hits@100"]) == 1
    assert 0.0 <= results["cn0_test_hits@100_mean"] <= 100.0
    assert len(results["cn0"][0]["history"]) == config.epochs // config.eval_every
    # ~20 of the ~160 test negatives fall inside a block, so CN Hits@20 is far above the ~12 %
    # of a random score.
    assert results["cn"][0]["best"]["test_hits@20"] > 0.4
    assert (tmp_path / "run" / "ncn_hits.png").exists()
    assert "needs the models" in claim.text and not claim.passed


@pytest.mark.slow
def test_ncn_full_reproduction(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("JAXNETS_DATA", str(data_root))
    import experiments.ncn as m
    from jaxnets import experiment as e
    _, claim = e.run_experiment(m, e.build_config(m), tmp_path / "run")
    assert claim.passed, claim.text


def _hub_graph(seed, n=60, hub_degree=40, extra=50):
    """A graph whose hub makes the padded width D far above the mean degree."""
    rng = np.random.default_rng(seed)
    pairs = {(0, k) for k in rng.choice(np.arange(1, n), hub_degree, replace=False)}
    while len(pairs) < hub_degree + extra:
        a, b = rng.integers(1, n, 2)
        if a != b:
            pairs.add((min(a, b), max(a, b)))
    return np.array(sorted(pairs), np.int32), n


@pytest.mark.parametrize("cap", [-1, 3])
def test_ncnc_ragged_and_padded_routes_agree(cap):
    """The ragged completion (work ~ real degrees) equals the max-degree-padded one, under
    target-link removal, for a batch that fits a ragged level and one that does not."""
    pairs, n = _hub_graph(5)
    adj = padded_adjacency(pairs, n)
    h = jax.random.normal(jax.random.PRNGKey(0), (n, F))
    rng = np.random.default_rng(1)
    kw = dict(kind="ncnc", hidden=F, dropout=0.0, edge_dropout=0.0, use_xlin=True, test_cap=cap,
              alpha=0.9, offset=0.1)
    auto, padded = NCNPredictor(**kw), NCNPredictor(completion_route="padded", **kw)
    i0, j0 = jnp.asarray(pairs[:2, 0]), jnp.asarray(pairs[:2, 1])
    params = _init(auto, h, adj, i0, j0)
    removed = jnp.asarray(rng.random(len(pairs)) < 0.2)
    light = np.flatnonzero(np.asarray(adj.degree_N) <= 4)
    batches = {"light": (rng.choice(light, 24), rng.choice(light, 24)),  # fits a ragged level
               "hub": (np.zeros(24, np.int32), rng.integers(1, n, 24))}  # all hub neighbours
    levels = set()
    for name, (i, j) in batches.items():
        i, j = jnp.asarray(i, jnp.int32), jnp.asarray(j, jnp.int32)
        xcn_a, inter_a = _xcn(auto, params, h, adj, i, j, removed)
        xcn_p, inter_p = _xcn(padded, params, h, adj, i, j, removed)
        np.testing.assert_allclose(xcn_a, xcn_p, rtol=1e-5, atol=1e-5)
        for pa, pp in zip(inter_a["completion_p"], inter_p["completion_p"]):
            np.testing.assert_allclose(pa, pp, rtol=1e-5, atol=1e-6)
        assert float(np.abs(inter_a["completion_p"][0]).sum()) > 0, name
        levels.add((name, int(inter_a["completion_level"][0]),
                    int(inter_p["completion_level"][0])))
    (_, light_level, num_levels), = [lv for lv in levels if lv[0] == "light"]
    assert light_level < num_levels  # the light batch ran a ragged branch


def test_ncnc_batch_above_every_level_runs_the_padded_branch(monkeypatch):
    import jaxnets.models.ncn as ncn_module
    pairs, n = _hub_graph(6)
    adj = padded_adjacency(pairs, n)
    h = jax.random.normal(jax.random.PRNGKey(0), (n, F))
    kw = dict(kind="ncnc", hidden=F, dropout=0.0, edge_dropout=0.0, use_xlin=False, test_cap=-1)
    i, j = jnp.asarray(pairs[:16, 0]), jnp.asarray(pairs[:16, 1])
    params = _init(NCNPredictor(**kw), h, adj, i[:2], j[:2])
    xcn_p, _ = _xcn(NCNPredictor(completion_route="padded", **kw), params, h, adj, i, j)
    monkeypatch.setattr(ncn_module, "completion_levels", lambda *a, **k: [(2, 4)])
    xcn_a, inter = _xcn(NCNPredictor(**kw), params, h, adj, i, j)
    assert int(inter["completion_level"][0]) == 1
    np.testing.assert_allclose(xcn_a, xcn_p, rtol=1e-5, atol=1e-5)


def test_completion_levels_grow_to_every_candidate_and_stay_below_padded_work():
    from jaxnets.models.ncn import completion_levels
    levels = completion_levels(100, 50, 125)
    assert [p for p, _ in levels] == [200, 400, 800, 1600, 3200, 5000]
    assert all(e < 100 * 50 * 125 for _, e in levels)
    assert completion_levels(10, 3, 4) == []  # 8 entries per pair would exceed D = 4: padded only


@pytest.mark.parametrize("levels", [None, [(2, 4)]])
def test_ncnc_training_mode_through_each_branch_has_finite_gradients(levels, monkeypatch):
    """Dropout rngs reach the switch's branches (ragged, and padded when forced) in training."""
    import jaxnets.models.ncn as ncn_module
    if levels is not None:
        monkeypatch.setattr(ncn_module, "completion_levels", lambda *a, **k: levels)
    pairs, n = _hub_graph(7)
    adj = padded_adjacency(pairs, n)
    h = jax.random.normal(jax.random.PRNGKey(0), (n, F))
    pred = NCNPredictor(kind="ncnc", hidden=F, dropout=0.1, edge_dropout=0.3, train_cap=-1,
                        offset=0.1)
    i, j = jnp.asarray(pairs[:16, 0]), jnp.asarray(pairs[:16, 1])
    params = _init(pred, h, adj, i[:2], j[:2])

    @jax.jit
    def grads(p, h):
        def loss(p, h):
            out, state = pred.apply(p, h, adj, i, j, None, False, mutable=["intermediates"],
                                    rngs={"dropout": jax.random.PRNGKey(3)})
            return jnp.sum(out ** 2), state["intermediates"]["completion_level"][0]
        return jax.grad(loss, argnums=(0, 1), has_aux=True)(p, h)

    (g_params, g_h), level = grads(params, h)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves((g_params, g_h)))
    assert float(jnp.abs(g_h).sum()) > 0
    assert (int(level) == 1) == (levels is not None)
