"""Cora-ML, MovieLens-100K, ACM, CollegeMsg (README sections 4-7), karate and digits."""
import numpy as np
import pytest
import scipy.sparse as sp

from jaxnets.data import (
    load_acm,
    load_collegemsg,
    load_cora_ml,
    load_digits,
    load_karate,
    load_movielens_100k,
)


# ---------------------------------------------------------------- Cora-ML (section 7)
def test_cora_ml_directed_counts(data_root):
    d = load_cora_ml(root=data_root)
    assert d.directed
    assert d.num_nodes == 2995
    assert d.num_edges == 8416
    assert not (d.senders == d.receivers).any()
    ids = d.senders.astype(np.int64) * d.num_nodes + d.receivers
    reverse = d.receivers.astype(np.int64) * d.num_nodes + d.senders
    assert np.isin(reverse, ids).sum() == 2 * 258  # 258 reciprocated pairs
    assert isinstance(d.features, sp.csr_matrix) and d.features.dtype == np.float32
    assert d.num_features == 2879 and d.features.nnz == 151171
    assert np.bincount(d.labels).tolist() == [354, 402, 452, 442, 857, 193, 295]
    assert (np.bincount(d.labels[d.train_mask]) == 20).all()
    assert d.val_mask.sum() == 500
    assert d.test_mask.sum() == 2995 - 7 * 20 - 500


def test_cora_ml_undirected_and_splits(data_root):
    d = load_cora_ml(root=data_root, directed=False, num_splits=3, seed=5)
    assert not d.directed and d.num_edges == 2 * 8158
    assert d.train_mask.shape == (3, 2995)
    assert not np.array_equal(d.train_mask[0], d.train_mask[1])
    again = load_cora_ml(root=data_root, directed=False, num_splits=3, seed=5)
    assert np.array_equal(d.test_mask, again.test_mask)


# ---------------------------------------------------------------- MovieLens-100K (section 4)
@pytest.fixture(scope="module")
def folds(data_root):
    return [load_movielens_100k(root=data_root, fold=k) for k in range(1, 6)]


def test_movielens_counts(folds):
    d = folds[0]
    assert d.num_ratings == 100000 and d.num_users == 943 and d.num_items == 1682
    assert d.train_mask.sum() == 80000 and d.test_mask.sum() == 20000
    assert d.users.min() == 0 and d.users.max() == 942  # 0-based
    assert d.items.min() == 0 and d.items.max() == 1681
    values, counts = np.unique(d.ratings, return_counts=True)
    assert values.tolist() == [1, 2, 3, 4, 5]
    assert counts.tolist() == [6110, 11370, 27145, 34174, 21201]
    assert d.timestamps.min() == 874724710 and d.timestamps.max() == 893286638
    assert d.item_genres.shape == (1682, 19) and len(d.genre_names) == 19
    assert d.genre_names[0] == "unknown"
    assert d.user_features.shape == (943, 1 + 2 + 21)
    assert (d.user_features[:, 1:3].sum(axis=1) == 1).all()
    assert (d.user_features[:, 3:].sum(axis=1) == 1).all()


def test_movielens_latin1_titles(folds):
    titles = folds[0].item_titles
    assert len(titles) == 1682 and titles[0] == "Toy Story (1995)"
    assert "Misérables, Les (1995)" in titles


def test_movielens_folds_partition_the_ratings(folds):
    keys = []
    for d in folds:
        u, i, _, _ = d.arrays("test")
        keys.append(u.astype(np.int64) * d.num_items + i)
        train_keys = d.arrays("train")[0].astype(np.int64) * d.num_items + d.arrays("train")[1]
        assert np.intersect1d(keys[-1], train_keys).size == 0
    all_keys = np.concatenate(keys)
    assert all_keys.size == 100000 and np.unique(all_keys).size == 100000
    with pytest.raises(ValueError, match="fold"):
        load_movielens_100k(fold=6)


# ---------------------------------------------------------------- ACM (section 5)
def test_acm_counts(data_root):
    d = load_acm(root=data_root)
    assert d.target == "paper"
    assert d.num_nodes == {"paper": 4019, "author": 7167, "subject": 60}
    assert np.bincount(d.labels).tolist() == [1993, 965, 1061] and d.num_classes == 3
    assert d.edges[("paper", "author")][0].size == 13407
    assert d.edges[("paper", "subject")][0].size == 4019
    assert np.array_equal(d.edges[("author", "paper")][0], d.edges[("paper", "author")][1])
    assert d.features["paper"].shape == (4019, 1902)
    assert d.features["author"].shape == (7167, 1902)
    assert d.metapaths["PAP"].nnz == 57853 and d.metapaths["PSP"].nnz == 4338213
    assert (np.bincount(d.labels[d.train_mask]) == 20).all()
    assert d.val_mask.sum() == 1000 and d.test_mask.sum() == 1000


def test_acm_metapaths_match_the_relations(data_root):
    d = load_acm(root=data_root, train_per_class=60)
    assert (np.bincount(d.labels[d.train_mask]) == 60).all()
    s, r = d.edges[("paper", "author")]
    pa = sp.csr_matrix((np.ones(s.size), (s, r)), shape=(4019, 7167))
    pap = ((pa @ pa.T) > 0).astype(np.float32)
    assert abs(pap - d.metapaths["PAP"]).sum() == 0
    assert (d.metapaths["PAP"].diagonal() == 1).all()
    with pytest.raises(ValueError, match="20, 40, 60"):
        load_acm(root=data_root, train_per_class=30)


# ---------------------------------------------------------------- CollegeMsg (section 6)
def test_collegemsg_counts(data_root):
    d = load_collegemsg(root=data_root)
    assert d.num_events == 59835 and d.num_nodes == 1899
    assert d.src.min() == 0 and max(d.src.max(), d.dst.max()) == 1898
    assert d.t.dtype == np.int64
    assert d.t.min() == 1082040961 and d.t.max() == 1098777142
    assert (np.diff(d.t) >= 0).all()
    assert np.unique(d.t).size == 58911
    pairs = d.src.astype(np.int64) * d.num_nodes + d.dst
    assert np.unique(pairs).size == 20296
    lo, hi = np.minimum(d.src, d.dst).astype(np.int64), np.maximum(d.src, d.dst)
    assert np.unique(lo * d.num_nodes + hi).size == 13838
    assert not (d.src == d.dst).any()
    rows = np.stack([d.src, d.dst, d.t], axis=1)
    assert len(rows) - np.unique(rows, axis=0).shape[0] == 37  # duplicated events are kept


# ---------------------------------------------------------------- karate, digits
def test_karate():
    d = load_karate()
    assert d.num_nodes == 34 and d.num_edges == 2 * 78  # Zachary (1977)
    assert np.bincount(d.labels).tolist() == [17, 17]
    assert d.labels[0] == 0 and d.labels[33] == 1
    assert np.flatnonzero(d.train_mask).tolist() == [0, 33] and d.test_mask.sum() == 32
    assert np.array_equal(d.features, np.eye(34, dtype=np.float32))


def test_digits():
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert y.dtype == np.int32 and np.unique(y).tolist() == list(range(10))
