"""Implicit-feedback interactions, the user-item graph and the BPR sampler (`jaxnets.data.recsys`)."""
import jax
import numpy as np
import pytest

from jaxnets.data import recsys
from jaxnets.data.types import RatingsDataset


def _ratings(users, items, stars, num_users, num_items, test_rows=0):
    users, items = np.asarray(users, np.int32), np.asarray(items, np.int32)
    r = users.size
    train = np.arange(r) < r - test_rows
    return RatingsDataset(
        name="toy", users=users, items=items, ratings=np.asarray(stars, np.float32),
        timestamps=np.zeros(r, np.int64), train_mask=train, test_mask=~train,
        num_users=num_users, num_items=num_items,
        item_genres=np.zeros((num_items, 1), np.float32), genre_names=("g",),
        item_titles=tuple(f"i{i}" for i in range(num_items)),
        user_features=np.zeros((num_users, 1), np.float32), user_feature_names=("f",))


@pytest.fixture(scope="module")
def ml100k(data_root):
    from jaxnets.data import load_movielens_100k
    return load_movielens_100k(data_root)


def _keys(users, items, num_items):
    return set((users.astype(np.int64) * num_items + items).tolist())


def test_random_split_of_movielens(ml100k):
    inter = recsys.implicit_feedback(ml100k, min_rating=3, seed=0)
    positives = int((ml100k.ratings >= 3).sum())
    assert positives == 82520
    assert abs(inter.num_train - 0.8 * positives) <= 1
    # val/test keep only pairs of users and items seen in training: a few are dropped.
    assert 0.095 * positives < inter.val_users_V.size <= 0.1 * positives + 1
    assert 0.095 * positives < inter.test_users_T.size <= 0.1 * positives + 1
    tr, va, te = (_keys(*inter.pairs(p), inter.num_items) for p in ("train", "val", "test"))
    assert not (tr & va or tr & te or va & te)
    # every kept pair is a rating >= 3 of the original data, under the relabelling
    orig = _keys(ml100k.users[ml100k.ratings >= 3], ml100k.items[ml100k.ratings >= 3], 10_000)
    for part in ("train", "val", "test"):
        u, i = inter.pairs(part)
        assert _keys(inter.user_ids[u], inter.item_ids[i], 10_000) <= orig
    assert np.unique(inter.train_users_P).size == inter.num_users
    assert np.unique(inter.train_items_P).size == inter.num_items
    again = recsys.implicit_feedback(ml100k, min_rating=3, seed=0)
    np.testing.assert_array_equal(again.test_items_T, inter.test_items_T)
    other = recsys.implicit_feedback(ml100k, min_rating=3, seed=1)
    assert _keys(*other.pairs("test"), other.num_items) != te


def test_fold_split_uses_the_u1_test_rows(ml100k):
    inter = recsys.implicit_feedback(ml100k, min_rating=4, split="fold", seed=0)
    test_rows = ml100k.test_mask & (ml100k.ratings >= 4)
    want = _keys(ml100k.users[test_rows], ml100k.items[test_rows], 10_000)
    got = _keys(inter.user_ids[inter.test_users_T], inter.item_ids[inter.test_items_T], 10_000)
    assert got <= want and len(got) > 0.95 * len(want)
    base = int((ml100k.train_mask & (ml100k.ratings >= 4)).sum())
    assert inter.num_train + inter.val_users_V.size <= base


def test_unseen_users_and_items_are_dropped_and_ids_relabelled():
    # user 2 and item 3 have only one rating each; with a seed that puts it outside training they
    # vanish from val/test and from the id space.
    users = [0, 0, 1, 1, 2, 0, 1]
    items = [0, 1, 1, 2, 3, 2, 0]
    inter = recsys.implicit_feedback(_ratings(users, items, [5] * 7, 3, 4, test_rows=2),
                                     split="fold", val_fraction=0.0)
    assert inter.num_train == 5 and inter.num_users == 3 and inter.num_items == 4
    np.testing.assert_array_equal(inter.user_ids, [0, 1, 2])
    low = recsys.implicit_feedback(_ratings(users, items, [5, 5, 5, 5, 1, 5, 5], 3, 4,
                                            test_rows=2), split="fold", val_fraction=0.0)
    assert low.num_users == 2 and low.num_items == 3      # user 2 / item 3 only rated 1 star


def test_bipartite_graph_offsets_items_and_pairs_reverses():
    inter = recsys.implicit_feedback(_ratings([0, 1, 1], [1, 0, 1], [4, 4, 4], 2, 2),
                                     split="fold", val_fraction=0.0)
    s, r, rev, n = recsys.bipartite_graph(inter)
    assert n == 4
    assert sorted(zip(s.tolist(), r.tolist())) == [(0, 3), (1, 2), (1, 3), (2, 1), (3, 0),
                                                   (3, 1)]
    np.testing.assert_array_equal(s[rev], r)
    np.testing.assert_array_equal(r[rev], s)


def test_bpr_sampler_draws_valid_triples(rng):
    num_users, num_items = 6, 9
    dense = rng.random((num_users, num_items)) < 0.4
    dense[0] = True
    dense[0, 4] = False                      # user 0's only negative is item 4 (many redraws)
    dense[:, 8] = True                       # every user has item 8: never a negative
    u, i = np.nonzero(dense)
    inter = recsys.implicit_feedback(_ratings(u, i, np.full(u.size, 5), num_users, num_items),
                                     split="fold", val_fraction=0.0)
    tables = recsys.bpr_tables(inter)
    sample = jax.jit(jax.vmap(lambda k: recsys.sample_bpr(k, tables, num_items, 64)))
    users, pos, neg = (np.asarray(a).reshape(-1) for a in sample(
        jax.random.split(jax.random.PRNGKey(0), 4)))
    assert users.min() >= 0 and users.max() < num_users and np.unique(users).size == num_users
    assert dense[users, pos].all()
    assert not dense[users, neg].any()
    assert (neg[users == 0] == 4).all()
    assert np.unique(pos[users == 1]).size == dense[1].sum()   # every positive gets drawn


def test_bad_input_is_rejected(ml100k):
    with pytest.raises(ValueError, match="split"):
        recsys.implicit_feedback(ml100k, split="leave-one-out")
    with pytest.raises(ValueError, match="val_fraction"):
        recsys.implicit_feedback(ml100k, val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ValueError, match="no training interaction"):
        recsys.implicit_feedback(ml100k, min_rating=6)
    with pytest.raises(ValueError, match="overlap"):
        z = np.zeros(1, np.int32)
        recsys.Interactions("x", 1, 1, z, z, z, z, z[:0], z[:0], z, z)
    with pytest.raises(ValueError, match="out of range"):
        z = np.zeros(1, np.int32)
        recsys.Interactions("x", 1, 1, z, z, z + 1, z, z[:0], z[:0], z, z)
    with pytest.raises(ValueError, match="max_users"):
        recsys.movielens_100k_interactions(max_users=-1)
