"""Topological Concentration (Wang et al., ICLR 2024): exact TC against a set-based brute force,
the K = 1 closed form, ATC against TC, TC-guided re-weighting, and bad input."""
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import spearmanr

import experiments.topo_concentration as exp
from jaxnets import experiment
from jaxnets.graph import topo_concentration as tcm


def _random_split(rng, n, p_edge, test_fraction=0.25):
    """Undirected pairs u < v of a random graph, split into train / test pairs."""
    iu, iv = np.triu_indices(n, 1)
    keep = rng.random(iu.size) < p_edge
    pairs = np.stack([iu[keep], iv[keep]], 1)
    pairs = pairs[rng.permutation(len(pairs))]
    n_test = int(test_fraction * len(pairs))
    return pairs[n_test:], pairs[:n_test]


def _mp_graph(train_pairs):
    s = np.concatenate([train_pairs[:, 0], train_pairs[:, 1]]).astype(np.int32)
    r = np.concatenate([train_pairs[:, 1], train_pairs[:, 0]]).astype(np.int32)
    return s, r


def _walk_multisets(adj, node, num_hops):
    """[Counter of the k-step walk endpoints from node for k = 1..K] (python lists, no matrices)."""
    out, frontier = [], [node]
    for _ in range(num_hops):
        frontier = [v for u in frontier for v in adj[u]]
        out.append(Counter(frontier))
    return out


def _brute_tc(n, train_pairs, nbr_pairs, num_hops, beta, in_graph):
    """TC_i straight from the formula with sets and walk multisets."""
    adj = {i: [] for i in range(n)}
    for u, v in train_pairs:
        adj[u].append(v)
        adj[v].append(u)
    nbrs = {i: [] for i in range(n)}
    for u, v in nbr_pairs:
        nbrs[u].append(v)
        nbrs[v].append(u)
    tc = np.zeros(n)
    for i in range(n):
        deg = len(adj[i])
        if not nbrs[i] or deg <= (1 if in_graph else 0):
            continue
        wi = _walk_multisets(adj, i, num_hops)
        vals = []
        for j in nbrs[i]:
            wj = _walk_multisets(adj, j, num_hops)
            num = den = 0.0
            for k1 in range(num_hops):
                for k2 in range(num_hops):
                    b = beta ** (k1 + k2)
                    num += b * sum(wi[k1][v] for v in set(wi[k1]) & set(wj[k2]))
                    total = sum(wi[k1].values()) - (1 if in_graph and k1 == k2 == 0 else 0)
                    den += b * total
            vals.append(num / den)
        tc[i] = np.mean(vals)
    return tc


@pytest.fixture
def small_split():
    rng = np.random.default_rng(3)
    train, test = _random_split(rng, 18, 0.3)
    return 18, train, test


# K = 1 (both neighbour kinds) is checked in closed form below; here the multi-hop sums.
@pytest.mark.parametrize("num_hops,in_graph", [(2, False), (3, True)])
def test_tc_matches_brute_force(small_split, num_hops, in_graph):
    n, train, test = small_split
    s, r = _mp_graph(train)
    beta = tcm.default_beta(s, n)
    nbr = train if in_graph else test
    ours = tcm.topological_concentration(s, r, n, nbr, num_hops=num_hops,
                                         neighbors_in_graph=in_graph, batch_size=7)
    ref = _brute_tc(n, train, nbr, num_hops, beta, in_graph)
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-5, atol=1e-6)
    assert np.any(ref > 0)


def test_k1_is_common_neighbour_fraction(small_split):
    n, train, test = small_split
    s, r = _mp_graph(train)
    a = np.zeros((n, n))
    a[s, r] = 1
    deg = a.sum(1)
    cn = a @ a
    for nbr, in_graph in ((test, False), (train, True)):
        b = np.zeros((n, n))
        b[nbr[:, 0], nbr[:, 1]] = b[nbr[:, 1], nbr[:, 0]] = 1
        norm = deg - (1 if in_graph else 0)
        frac = np.where(norm[:, None] > 0, cn / np.maximum(norm, 1)[:, None], 0.0)
        expect = np.where(b.sum(1) > 0, (frac * b).sum(1) / np.maximum(b.sum(1), 1), 0.0)
        expect[deg <= (1 if in_graph else 0)] = 0.0
        ours = tcm.topological_concentration(s, r, n, nbr, num_hops=1,
                                             neighbors_in_graph=in_graph)
        np.testing.assert_allclose(np.asarray(ours), expect, rtol=1e-5, atol=1e-6)


def test_atc_tracks_tc_and_its_expectation():
    rng = np.random.default_rng(0)
    n = 90
    block = np.arange(n) // 30
    iu, iv = np.triu_indices(n, 1)
    keep = rng.random(iu.size) < np.where(block[iu] == block[iv], 0.2, 0.01)
    train = np.stack([iu[keep], iv[keep]], 1)
    s, r = _mp_graph(train)
    tc = np.asarray(tcm.topological_concentration(s, r, n, train, num_hops=2,
                                                  neighbors_in_graph=True))
    atc = np.asarray(tcm.approximate_tc(s, r, n, train, jax.random.PRNGKey(0), num_hops=2,
                                        dim=2048, norm="none"))
    # E[ATC] with Â = A: Σ_{k1,k2} β^{k1+k2-2} (A^{k1} A^{k2})_{ij}, averaged over j ∈ N(i).
    a = np.zeros((n, n))
    a[s, r] = 1
    beta = tcm.default_beta(s, n)
    z = a + beta * a @ a
    expect = (z @ z.T * a).sum(1) / np.maximum(a.sum(1), 1)
    rel = np.abs(atc - expect) / np.maximum(np.abs(expect), 1e-6)
    assert np.median(rel[a.sum(1) > 0]) < 0.05
    has = a.sum(1) > 1
    for norm in ("sym", "row"):
        atc_n = tcm.approximate_tc(s, r, n, train, jax.random.PRNGKey(1), num_hops=2,
                                   dim=512, norm=norm)
        rho = spearmanr(np.asarray(atc_n)[has], tc[has]).statistic
        assert rho > 0.3, (norm, rho)


def test_tc_reweight_formula():
    s = np.array([1, 2, 0, 0, 0, 1, 2], np.int32)  # edges into 0 from 1, 2; 0 -> 1, 0 -> 2;
    r = np.array([0, 0, 1, 2, 0, 1, 2], np.int32)  # self-loops on 0, 1, 2
    w = np.array([0.5, 0.25, 0.5, 0.25, 0.3, 0.6, 0.7], np.float32)
    h = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    v = np.array([0.3, -1.0, 2.0, 0.5], np.float32)
    new = np.asarray(tcm.tc_reweight(h, s, r, w, 3, lambda z: z @ v, alpha=2.0))
    h_agg = np.zeros_like(h)
    np.add.at(h_agg, r, w[:, None] * h[s])
    p = 1 / (1 + np.exp(-((h_agg[r] * h[s]) @ v)))
    for i in range(3):
        m = r == i
        soft = np.exp(p[m]) / np.exp(p[m]).sum()
        np.testing.assert_allclose(new[m], 2.0 * soft * w[m].sum() + w[m], rtol=1e-5)


def test_bad_input():
    s, r = np.array([0, 1], np.int32), np.array([1, 0], np.int32)
    with pytest.raises(ValueError, match="neighbor_pairs_Mx2"):
        tcm.topological_concentration(s, r, 2, np.array([[0, 5]]))
    with pytest.raises(ValueError, match="num_hops"):
        tcm.topological_concentration(s, r, 2, np.array([[0, 1]]), num_hops=0)
    with pytest.raises(ValueError, match="norm"):
        tcm.approximate_tc(s, r, 2, np.array([[0, 1]]), jax.random.PRNGKey(0), norm="bad")
    with pytest.raises(ValueError, match="alpha"):
        tcm.tc_reweight(jnp.ones((2, 3)), s, r, np.ones(2), 2, lambda z: z.sum(-1), -1.0)


def test_node_ranking_matches_brute_force():
    """Per-node full-ranking NDCG/Recall/Hit@k (reference eval_comprehensive) by hand."""
    from types import SimpleNamespace

    from jaxnets.models import gae
    rng = np.random.default_rng(5)
    n, k = 14, 6
    train, test = _random_split(rng, n, 0.4, test_fraction=0.3)
    val, test = test[:3], test[3:]
    split = SimpleNamespace(train_pos=train, val_pos=val, test_pos=test)
    h = rng.normal(size=(n, 4)).astype(np.float32)
    nodes = np.unique(test)
    got = exp._node_ranking(gae.GAE(decoder="dot"), {"params": {}}, jnp.asarray(h), split,
                            nodes, n, k, batch=4)
    nbrs = lambda pairs, i: {int(b) for a, b in pairs if a == i} | {
        int(a) for a, b in pairs if b == i}
    for row, i in enumerate(nodes):
        known, truth = nbrs(train, i) | nbrs(val, i), nbrs(test, i)
        order = [j for j in np.argsort(-(h @ h[i]), kind="stable") if j not in known][:k]
        rel = [j in truth for j in order]
        dcg = sum(r / np.log2(p + 2) for p, r in enumerate(rel))
        idcg = sum(1 / np.log2(p + 2) for p in range(min(k, len(truth))))
        np.testing.assert_allclose(got["ndcg"][row], dcg / idcg, rtol=1e-6)
        np.testing.assert_allclose(got["recall"][row], sum(rel) / len(truth), rtol=1e-6)
        assert got["hit"][row] == float(any(rel))
    assert 0 < got["hit"].mean() < 1


def test_experiment_quick_run(tmp_path):
    config = experiment.build_config(exp, [], quick=True)
    results, claim = experiment.run_experiment(exp, config, tmp_path)
    assert len(results["rho_tc_test"]) == len(config.seeds)
    assert all(-1 <= v <= 1 for v in results["rho_degree"])
    assert np.all(np.asarray(results["test_hits"]) >= 0)
    assert "Spearman" in claim.text and (tmp_path / results["plot"]).exists()
    for p in results["per_seed"]:
        assert all(0 <= v <= 1 for v in p["node_score_mean"].values())


@pytest.mark.slow
def test_experiment_full_reproduction(tmp_path):
    config = experiment.build_config(exp, [], quick=False)
    _, claim = experiment.run_experiment(exp, config, tmp_path)
    assert claim.passed, claim.text
