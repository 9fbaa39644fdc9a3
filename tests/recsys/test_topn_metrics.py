"""Top-N metrics (`jaxnets.metrics.topn`) against a brute-force per-user numpy loop."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.metrics import topn


def _random_pairs(rng, num_users, num_items, density):
    r = rng.random((num_users, num_items)) < density
    u, i = np.nonzero(r)
    return u.astype(np.int32), i.astype(np.int32)


def _reference(scores, train, test, ks):
    """Per-user loop: rank non-training items by score, average over users with test items."""
    out = {f"{m}@{k}": [] for m in ("recall", "precision", "ndcg", "mrr") for k in ks}
    for u in range(scores.shape[0]):
        relevant = set(test[1][test[0] == u].tolist())
        if not relevant:
            continue
        seen = set(train[1][train[0] == u].tolist())
        ranking = [i for i in np.argsort(-scores[u], kind="stable") if i not in seen]
        for k in ks:
            top = ranking[:k]
            hits = [1.0 if i in relevant else 0.0 for i in top]
            out[f"recall@{k}"].append(sum(hits) / len(relevant))
            out[f"precision@{k}"].append(sum(hits) / k)
            dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / np.log2(r + 2) for r in range(min(k, len(relevant))))
            out[f"ndcg@{k}"].append(dcg / idcg)
            first = [r for r, h in enumerate(hits) if h]
            out[f"mrr@{k}"].append(1 / (first[0] + 1) if first else 0.0)
    means = {key: float(np.mean(v)) for key, v in out.items()}
    for k in ks:
        p, r = means[f"precision@{k}"], means[f"recall@{k}"]
        means[f"f1@{k}"] = 2 * p * r / (p + r) if p + r else 0.0
    means["num_users"] = len(out[f"recall@{ks[0]}"])
    return means


@pytest.mark.parametrize("batch_size", [7, 64])
def test_metrics_match_brute_force(rng, batch_size):
    num_users, num_items, ks = 23, 40, (1, 5, 10)
    scores = rng.normal(size=(num_users, num_items)).astype(np.float32)   # no ties
    train = _random_pairs(rng, num_users, num_items, 0.2)
    test = _random_pairs(rng, num_users, num_items, 0.1)
    keep = ~np.isin(test[0] * num_items + test[1], train[0] * num_items + train[1])
    test = (test[0][keep], test[1][keep])
    test = (test[0][test[0] != 3], test[1][test[0] != 3])                  # user 3: no test item
    s = jnp.asarray(scores)
    got = topn.evaluate_topn(lambda u: s[u], num_users, num_items, *test, *train, ks, batch_size)
    want = _reference(scores, train, test, ks)
    assert set(got) == set(want)
    for key, value in want.items():
        np.testing.assert_allclose(float(got[key]), value, rtol=1e-5, atol=1e-7, err_msg=key)


def test_targets_share_one_pass_and_jit(rng):
    num_users, num_items = 10, 15
    scores = jnp.asarray(rng.normal(size=(num_users, num_items)).astype(np.float32))
    train, val, test = (_random_pairs(rng, num_users, num_items, d) for d in (0.3, 0.1, 0.1))
    targets = {"val": (*val, *train), "test": (*test, *train)}
    both = jax.jit(lambda s: topn.evaluate_topn_targets(lambda u: s[u], num_users, num_items,
                                                        targets, (3,), 4))(scores)
    for name, (eu, ei, xu, xi) in targets.items():
        one = topn.evaluate_topn(lambda u: scores[u], num_users, num_items, eu, ei, xu, xi,
                                 (3,), 4)
        for key, value in one.items():
            np.testing.assert_allclose(float(both[f"{name}/{key}"]), float(value), rtol=1e-6)


def test_top_k_items_skips_excluded():
    scores = jnp.asarray([[5.0, 4.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    exclude = jnp.asarray([[True, False, True, False], [False, False, False, True]])
    np.testing.assert_array_equal(topn.top_k_items(scores, 2, exclude), [[1, 3], [2, 1]])
    np.testing.assert_array_equal(topn.top_k_items(scores, 1), [[0], [3]])


def test_pair_mask_keeps_only_the_batch():
    users, items = jnp.asarray([0, 2, 3, 5]), jnp.asarray([1, 0, 2, 1])
    mask = topn.pair_mask(users, items, jnp.asarray(2), 3, 3)
    np.testing.assert_array_equal(mask, [[True, False, False], [False, False, True],
                                         [False, False, False]])


def test_bad_input_is_rejected():
    s = jnp.zeros((3, 4))
    pairs = (np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="ks"):
        topn.evaluate_topn(lambda u: s[u], 3, 4, *pairs, *pairs, ks=(5,))
    with pytest.raises(ValueError, match="pairs must lie"):
        topn.evaluate_topn(lambda u: s[u], 3, 4, np.array([3]), np.array([0]), *pairs, ks=(2,))
    with pytest.raises(ValueError, match="1-D"):
        topn.evaluate_topn(lambda u: s[u], 3, 4, np.array([0, 1]), np.array([0]), *pairs,
                           ks=(2,))
    with pytest.raises(ValueError, match="k <= I"):
        topn.top_k_items(s, 5)
    with pytest.raises(ValueError, match="exclude"):
        topn.top_k_items(s, 2, jnp.zeros((3, 3), bool))
