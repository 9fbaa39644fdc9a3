"""Link splits (no leakage) and negative sampling."""
import numpy as np
import pytest

from jaxnets.data import link_split, load_karate, negative_sampling, stochastic_block_model


def _unordered(pairs, n):
    pairs = np.asarray(pairs, dtype=np.int64)
    return np.minimum(pairs[:, 0], pairs[:, 1]) * n + np.maximum(pairs[:, 0], pairs[:, 1])


def _ordered(pairs, n):
    pairs = np.asarray(pairs, dtype=np.int64)
    return pairs[:, 0] * n + pairs[:, 1]


@pytest.fixture(scope="module")
def graph():
    d = stochastic_block_model([150, 150, 200], 0.05, 0.005, seed=0)
    return d.senders, d.receivers, d.num_nodes


def test_undirected_split_sizes_and_no_leakage(graph):
    s, r, n = graph
    full = np.unique(_unordered(np.stack([s, r], 1), n))
    sp = link_split(s, r, n, val_fraction=0.1, test_fraction=0.2, seed=0, num_neg_per_pos=3)
    m = full.size
    assert sp.val_pos.shape == (int(0.1 * m), 2) and sp.test_pos.shape == (int(0.2 * m), 2)
    assert sp.train_pos.shape[0] == m - int(0.1 * m) - int(0.2 * m)
    assert sp.val_neg.shape == (3 * int(0.1 * m), 2) and sp.test_neg.shape == (3 * int(0.2 * m), 2)
    for a in (sp.train_pos, sp.val_pos, sp.test_pos, sp.val_neg, sp.test_neg):
        assert a.dtype == np.int32
    # Positives partition the edge set.
    pos = [_unordered(a, n) for a in (sp.train_pos, sp.val_pos, sp.test_pos)]
    assert np.array_equal(np.sort(np.concatenate(pos)), full)
    held_out = np.concatenate(pos[1:])
    # No val/test edge in either direction in the message-passing graph or in train_pos.
    mp = np.stack([sp.message_passing_senders, sp.message_passing_receivers], 1)
    assert not np.isin(_ordered(mp, n), held_out).any()
    assert not np.isin(_ordered(mp[:, ::-1], n), held_out).any()
    assert not np.isin(pos[0], held_out).any()
    # The message-passing graph is exactly the training edges, both directions.
    assert mp.shape[0] == 2 * sp.train_pos.shape[0]
    assert np.array_equal(np.unique(_unordered(mp, n)), np.sort(pos[0]))
    # Negatives: not edges of the full graph, no self-loops, val/test disjoint and distinct.
    neg = np.concatenate([sp.val_neg, sp.test_neg])
    assert not np.isin(_unordered(neg, n), full).any()
    assert not (neg[:, 0] == neg[:, 1]).any()
    assert np.unique(_unordered(neg, n)).size == neg.shape[0]


def test_directed_split(graph):
    s, r, n = graph
    keep = s < r  # a directed graph: one direction of each edge
    ds, dr = s[keep], r[keep]
    sp = link_split(ds, dr, n, seed=1, undirected=False)
    held_out = _ordered(np.concatenate([sp.val_pos, sp.test_pos]), n)
    mp = _ordered(np.stack([sp.message_passing_senders, sp.message_passing_receivers], 1), n)
    assert not np.isin(mp, held_out).any()
    assert mp.size == sp.train_pos.shape[0]
    assert not np.isin(_ordered(np.concatenate([sp.val_neg, sp.test_neg]), n),
                       _ordered(np.stack([ds, dr], 1), n)).any()


def test_split_is_seeded(graph):
    s, r, n = graph
    a, b = link_split(s, r, n, seed=7), link_split(s, r, n, seed=7)
    c = link_split(s, r, n, seed=8)
    for field in ("train_pos", "val_pos", "val_neg", "test_pos", "test_neg",
                  "message_passing_senders"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.test_pos, c.test_pos)


def test_self_loops_are_dropped():
    s = np.array([0, 1, 2, 2, 3, 4])
    r = np.array([1, 2, 2, 3, 4, 0])
    sp = link_split(s, r, 5, val_fraction=0.2, test_fraction=0.2, seed=0)
    every = np.concatenate([sp.train_pos, sp.val_pos, sp.test_pos])
    assert every.shape[0] == 5 and not (every[:, 0] == every[:, 1]).any()


def test_negative_sampling_properties():
    d = load_karate()
    edges = np.stack([d.senders, d.receivers], 1)
    neg = negative_sampling(edges, 34, 300, seed=0)
    assert neg.shape == (300, 2) and neg.dtype == np.int32
    assert not np.isin(_ordered(neg, 34), _ordered(edges, 34)).any()
    assert not (neg[:, 0] == neg[:, 1]).any()
    assert np.unique(_ordered(neg, 34)).size == 300
    assert np.array_equal(neg, negative_sampling((d.senders, d.receivers), 34, 300, seed=0))
    assert not np.array_equal(neg, negative_sampling(edges, 34, 300, seed=1))
    und = negative_sampling(edges[:3], 34, 50, seed=0, undirected=True)
    assert (und[:, 0] < und[:, 1]).all()
    assert not np.isin(_unordered(und, 34), _unordered(edges[:3], 34)).any()


def test_negative_sampling_large_sparse_graph_uses_rejection():
    rng = np.random.default_rng(0)
    n = 50_000
    edges = rng.integers(0, n, size=(100_000, 2))
    neg = negative_sampling(edges, n, 100_000, seed=3)
    assert np.unique(_ordered(neg, n)).size == 100_000
    assert not np.isin(_ordered(neg, n), _ordered(edges, n)).any()
    assert not (neg[:, 0] == neg[:, 1]).any()


def test_negative_sampling_can_take_every_non_edge():
    edges = np.array([[0, 1], [1, 2]])
    neg = negative_sampling(edges, 3, 4, seed=0)  # 3*3 - 3 self-loops - 2 edges = 4
    assert sorted(map(tuple, neg.tolist())) == [(0, 2), (1, 0), (2, 0), (2, 1)]
    with pytest.raises(ValueError, match="only 4 non-edge"):
        negative_sampling(edges, 3, 5, seed=0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        negative_sampling(np.array([[0, 3]]), 3, 1, seed=0)


def test_link_split_bad_fractions(graph):
    s, r, n = graph
    with pytest.raises(ValueError, match="val_fraction"):
        link_split(s, r, n, val_fraction=0.5, test_fraction=0.5, seed=0)
