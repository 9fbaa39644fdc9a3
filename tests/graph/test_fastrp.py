"""FastRP and the very sparse random projection kernel: dense numpy references, seed-exactness,
permutation equivariance, bad input; a smoke run of the experiment (the full claim is slow)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.preprocessing import normalize, scale

import jaxnets.graph as jg
from experiments import fastrp as fastrp_experiment
from jaxnets import experiment as experiment_lib
from jaxnets.graph import random_projection as rp


def _reference_powers(a, r, q, input_matrix, beta, x=None, rx=None):
    """N_k = M^k L R in float64 from a dense A (row = receiver), as FastRP Alg. 1."""
    deg = a.sum(1)
    m = a / np.where(deg > 0, deg, 1.0)[:, None] if input_matrix == "trans" else a
    ell = np.where(deg > 0, np.where(deg > 0, deg, 1.0) ** beta, 1.0 if beta == 0 else 0.0)
    cur = np.concatenate([r, x @ rx], 1) if x is not None else r
    cur = ell[:, None] * cur
    out = []
    for _ in range(q):
        cur = m @ cur
        out.append(cur)
    return np.stack(out)


def _reference_merge(powers, weights, normalize_powers):
    p = [normalize(u) for u in powers] if normalize_powers else list(powers)
    return scale(sum(w * u for w, u in zip(weights, p)))


def test_sparse_rp_kernel_values_density_and_seed():
    key = jax.random.PRNGKey(3)
    r = np.asarray(rp.sparse_rp_kernel(key, 400, 64))          # s = sqrt(400) = 20
    c = np.sqrt(20 / 64)
    assert r.shape == (400, 64) and r.dtype == np.float32
    assert set(np.unique(r)) <= {-np.float32(c), 0.0, np.float32(c)}
    # +c and -c each with probability 1/(2s) = 0.025; 25600 entries: 640 expected, sd ~25.
    assert abs((r > 0).sum() - 640) < 150 and abs((r < 0).sum() - 640) < 150
    np.testing.assert_array_equal(r, rp.sparse_rp_kernel(key, 400, 64))
    assert not np.array_equal(r, rp.sparse_rp_kernel(jax.random.PRNGKey(4), 400, 64))
    dense = np.asarray(rp.sparse_rp_kernel(key, 50, 10, s=1.0, scaled=False))
    assert set(np.unique(dense)) == {-1.0, 1.0}                 # s = 1: Rademacher
    achl = np.asarray(rp.sparse_rp_kernel(key, 300, 100, s=3.0, scaled=False))
    assert set(np.unique(achl)) == {-np.float32(np.sqrt(3)), 0.0, np.float32(np.sqrt(3))}
    assert abs((achl != 0).mean() - 1 / 3) < 0.02
    with pytest.raises(jg.GraphError, match="s .inverse density. must be >= 1"):
        rp.sparse_rp_kernel(key, 10, 4, s=0.5)
    with pytest.raises(jg.GraphError, match="must be positive"):
        rp.sparse_rp_kernel(key, 0, 4)


@pytest.mark.parametrize("input_matrix,beta,weighted", [
    ("trans", -0.628, False), ("trans", 0.0, True), ("adj", 0.5, True)])
def test_powers_and_merge_match_dense_reference(small_graph, ref, rng, input_matrix, beta,
                                                weighted):
    s, r = small_graph.senders, small_graph.receivers
    n = 12
    w = rng.uniform(0.5, 2.0, size=s.shape).astype(np.float32) if weighted else None
    proj = rng.normal(size=(n, 6)).astype(np.float32)
    a = ref.dense_adjacency(s, r, n, w)
    want = _reference_powers(a, proj.astype(np.float64), 3, input_matrix, beta)
    got = rp.fastrp_powers(s, r, n, proj, num_powers=3, edge_weight_E=w,
                           input_matrix=input_matrix, beta=beta)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)
    weights = (1.0, 2.0, 5.0)
    for norm in (False, True):
        np.testing.assert_allclose(
            rp.fastrp_merge(got, weights, normalize_powers=norm),
            _reference_merge(want, weights, norm), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rp.fastrp_merge(got, None), scale(np.concatenate(want, 1)),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rp.fastrp_merge(got, weights, standardize=False),
                               np.einsum("q,qnd->nd", weights, want), rtol=1e-4, atol=1e-5)


def test_node_features_extend_the_initial_vectors(small_graph, ref, rng):
    s, r = small_graph.senders, small_graph.receivers
    x = np.asarray(small_graph.nodes)                          # [12, 5]
    proj = rng.normal(size=(12, 4)).astype(np.float32)
    rx = rng.normal(size=(5, 3)).astype(np.float32)
    weights = (1.0, 1.0, 3.0)
    emb = rp.fastrp(None, s, r, 12, weights=weights, projection_NxD=proj, features_NxF=x,
                    feature_projection_FxK=rx)
    want = _reference_merge(_reference_powers(ref.dense_adjacency(s, r, 12), proj, 3, "trans",
                                              -0.628, x, rx), weights, False)
    assert emb.shape == (12, 7)
    np.testing.assert_allclose(emb, want, rtol=1e-4, atol=1e-4)
    plain = rp.fastrp(None, s, r, 12, weights=weights, projection_NxD=proj)
    np.testing.assert_allclose(emb[:, :4], plain, rtol=1e-5, atol=1e-5)  # structure part
    with_key = rp.fastrp(jax.random.PRNGKey(0), s, r, 12, dim=8, features_NxF=x, feature_dim=2)
    assert with_key.shape == (12, 10) and np.all(np.isfinite(with_key))


def test_fastrp_is_bit_identical_for_a_seed_and_differs_across_seeds(small_graph):
    s, r = small_graph.senders, small_graph.receivers
    a = rp.fastrp(jax.random.PRNGKey(7), s, r, 12, dim=16)
    b = rp.fastrp(jax.random.PRNGKey(7), s, r, 12, dim=16)
    c = rp.fastrp(jax.random.PRNGKey(8), s, r, 12, dim=16)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    jitted = jax.jit(lambda k: rp.fastrp(k, s, r, 12, dim=16))
    np.testing.assert_array_equal(jitted(jax.random.PRNGKey(7)), jitted(jax.random.PRNGKey(7)))
    np.testing.assert_allclose(jitted(jax.random.PRNGKey(7)), a, rtol=1e-5, atol=1e-5)


def test_fastrp_is_permutation_equivariant(small_graph, rng):
    s, r = small_graph.senders, small_graph.receivers
    n = 12
    w = rng.uniform(0.5, 2.0, size=s.shape).astype(np.float32)
    x = np.asarray(small_graph.nodes)
    proj = np.asarray(rp.sparse_rp_kernel(jax.random.PRNGKey(1), n, 8, s=2.0))
    rx = np.asarray(rp.sparse_rp_kernel(jax.random.PRNGKey(2), 5, 3, s=1.0))
    perm = rng.permutation(n)                 # new node i is old node perm[i]
    new_id = np.argsort(perm).astype(np.int32)
    kwargs = dict(weights=(1.0, 1.0, 7.81, 45.28), normalize_powers=True,
                  feature_projection_FxK=rx)
    emb = rp.fastrp(None, s, r, n, edge_weight_E=w, projection_NxD=proj, features_NxF=x,
                    **kwargs)
    order = rng.permutation(len(s))           # edge order must not matter either
    emb_perm = rp.fastrp(None, new_id[s][order], new_id[r][order], n, edge_weight_E=w[order],
                         projection_NxD=proj[perm], features_NxF=x[perm], **kwargs)
    np.testing.assert_allclose(emb_perm, np.asarray(emb)[perm], rtol=1e-4, atol=1e-4)


def test_fastrp_rejects_bad_input(small_graph):
    s, r = small_graph.senders, small_graph.receivers
    proj = jnp.ones((12, 4))
    with pytest.raises(jg.GraphError, match="input_matrix must be 'adj' or 'trans'"):
        rp.fastrp_powers(s, r, 12, proj, num_powers=2, input_matrix="lap")
    with pytest.raises(jg.GraphError, match=r"projection_NxD has shape \(11, 4\)"):
        rp.fastrp_powers(s, r, 12, jnp.ones((11, 4)), num_powers=2)
    with pytest.raises(jg.GraphError, match="receivers has index 12"):
        rp.fastrp_powers(s, np.where(r == r[0], 12, r).astype(np.int32), 12, proj, num_powers=2)
    with pytest.raises(jg.GraphError, match="num_powers must be >= 1"):
        rp.fastrp_powers(s, r, 12, proj, num_powers=0)
    with pytest.raises(jg.GraphError, match="edge_weight_E has shape"):
        rp.fastrp_powers(s, r, 12, proj, num_powers=2, edge_weight_E=np.ones(3))
    with pytest.raises(jg.GraphError, match="go together"):
        rp.fastrp_powers(s, r, 12, proj, num_powers=2, features_NxF=np.ones((12, 5)))
    with pytest.raises(jg.GraphError, match="weights has shape"):
        rp.fastrp_merge(jnp.ones((3, 12, 4)), (1.0, 2.0))
    with pytest.raises(jg.GraphError, match="needs a key"):
        rp.fastrp(None, s, r, 12)


def test_quick_fastrp_experiment_runs(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("JAXNETS_DATA", str(data_root))
    config = experiment_lib.build_config(fastrp_experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(fastrp_experiment, config, tmp_path / "run")
    assert results["variants"] == ["full", "one_power", "q1", "q2", "q3"]
    for key in ("acc_public_full", "acc_random_full", "acc_public_one_power"):
        assert len(results[key]) == 1 and 0.0 <= results[key][0] <= 1.0
    # q1 (weights [1, 0, 0, 0] by truncation) is the same embedding as the ablation.
    assert results["acc_public_q1"] == results["acc_public_one_power"]
    assert results["embed_time_median_s"] > 0
    assert (tmp_path / "run" / "fastrp_accuracy.png").exists()
    assert "0.594" in claim.paper and "public split" in claim.text


@pytest.mark.slow
def test_fastrp_claim_on_cora(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("JAXNETS_DATA", str(data_root))
    config = experiment_lib.build_config(fastrp_experiment, [], quick=False)
    results, claim = experiment_lib.run_experiment(fastrp_experiment, config, tmp_path / "run")
    assert len(results["acc_public_full"]) == 3
    assert claim.passed, claim.text


def test_fastrp_through_the_csr_kernel_equals_segment_sum():
    from jaxnets.graph.csr import csr_propagation
    rng = np.random.default_rng(3)
    s = rng.integers(0, 12, 40)
    r = rng.integers(0, 12, 40)
    plain = rp.fastrp(jax.random.PRNGKey(0), s, r, 12, dim=8)
    fast = rp.fastrp(jax.random.PRNGKey(0), s, r, 12, dim=8,
                  propagation=csr_propagation(s, r, 12))
    np.testing.assert_allclose(fast, plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("normalize_powers", [False, True])
@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("csr", [False, True])
def test_fastrp_sums_each_power_as_it_comes_like_powers_then_merge(small_graph, ref, rng,
                                                                 normalize_powers, standardize,
                                                                 csr):
    from jaxnets.graph.csr import csr_propagation
    s, r = small_graph.senders, small_graph.receivers
    w = rng.uniform(0.5, 2.0, size=s.shape).astype(np.float32)
    proj = rng.normal(size=(12, 6)).astype(np.float32)
    weights = (1.0, 2.0, 5.0, 0.5)
    propagation = csr_propagation(s, r, 12) if csr else None
    one_call = rp.fastrp(None, s, r, 12, weights=weights, projection_NxD=proj, edge_weight_E=w,
                         normalize_powers=normalize_powers, standardize=standardize,
                         propagation=propagation)
    powers = rp.fastrp_powers(s, r, 12, proj, num_powers=4, edge_weight_E=w, beta=-0.628,
                              propagation=propagation)
    two_calls = rp.fastrp_merge(powers, weights, normalize_powers=normalize_powers,
                                standardize=standardize)
    np.testing.assert_allclose(one_call, two_calls, rtol=1e-5, atol=1e-5)
    want = _reference_powers(ref.dense_adjacency(s, r, 12, w), proj.astype(np.float64), 4,
                             "trans", -0.628)
    p = [normalize(u) for u in want] if normalize_powers else list(want)
    total = sum(a * u for a, u in zip(weights, p))
    np.testing.assert_allclose(one_call, scale(total) if standardize else total, rtol=1e-4,
                               atol=1e-4)
