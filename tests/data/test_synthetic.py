"""Synthetic graphs, node splits, the dataset container and the name registry."""
import dataclasses

import numpy as np
import pytest

from jaxnets.data import (
    NodeDataset,
    contextual_sbm,
    load_dataset,
    load_geom_gcn,
    load_karate,
    powerlaw_graph,
    random_node_split,
    stochastic_block_model,
)


def _edge_homophily(d):
    return float((d.labels[d.senders] == d.labels[d.receivers]).mean())


def _assert_simple_undirected(d):
    ids = d.senders.astype(np.int64) * d.num_nodes + d.receivers
    rev = d.receivers.astype(np.int64) * d.num_nodes + d.senders
    assert np.unique(ids).size == ids.size
    assert np.array_equal(np.sort(ids), np.sort(rev))
    assert not (d.senders == d.receivers).any()


@pytest.mark.parametrize("homophily", [0.2, 0.8])
def test_csbm_hits_homophily_and_sizes(homophily):
    d = contextual_sbm(num_nodes=1500, num_classes=3, avg_degree=8, homophily=homophily,
                       num_features=40, feature_signal=2.0, seed=0)
    assert abs(_edge_homophily(d) - homophily) <= 0.05
    assert d.num_nodes == 1500 and d.features.shape == (1500, 40)
    assert d.features.dtype == np.float32 and d.num_classes == 3
    assert np.bincount(d.labels).tolist() == [500, 500, 500]
    assert abs(d.num_edges / d.num_nodes - 8) < 0.5  # mean degree
    _assert_simple_undirected(d)
    assert (d.train_mask.sum(), d.val_mask.sum(), d.test_mask.sum()) == (900, 300, 300)


def test_csbm_features_follow_class_means():
    d = contextual_sbm(num_nodes=400, num_classes=2, avg_degree=4, homophily=0.5,
                       num_features=400, feature_signal=400.0, seed=1)
    means = np.stack([d.features[d.labels == c].mean(0) for c in (0, 1)])
    # Two classes: opposite means (Deshpande et al.'s v_i u with v_i = +-1).
    assert np.corrcoef(means[0], means[1])[0, 1] < -0.9
    a = contextual_sbm(400, 2, 4, 0.5, 400, 400.0, seed=1)
    assert np.array_equal(a.features, d.features) and np.array_equal(a.senders, d.senders)


def test_csbm_rejects_impossible_settings():
    with pytest.raises(ValueError, match="homophily"):
        contextual_sbm(100, 2, 4, 1.5, 8, 1.0, seed=0)
    with pytest.raises(ValueError, match="p_in"):
        contextual_sbm(20, 2, 15, 1.0, 8, 1.0, seed=0)


def test_sbm_edge_counts_match_probabilities():
    d = stochastic_block_model([300, 300], p_in=0.05, p_out=0.01, seed=2)
    same = d.labels[d.senders] == d.labels[d.receivers]
    expected_in, expected_out = 2 * 300 * 299 / 2 * 0.05, 300 * 300 * 0.01
    assert abs(same.sum() / 2 - expected_in) < 4 * np.sqrt(expected_in)
    assert abs((~same).sum() / 2 - expected_out) < 4 * np.sqrt(expected_out)
    assert d.labels[:300].tolist() == [0] * 300
    _assert_simple_undirected(d)


@pytest.mark.parametrize("model", ["barabasi_albert", "configuration"])
def test_powerlaw_graph(model):
    d = powerlaw_graph(3000, 3, seed=0, model=model)
    _assert_simple_undirected(d)
    degree = np.bincount(d.senders, minlength=d.num_nodes)
    assert degree.max() > 10 * np.median(degree)  # heavy tail
    assert (d.labels == -1).all() and not d.train_mask.any()
    if model == "barabasi_albert":
        assert degree.min() >= 3 and d.num_edges == 2 * 3 * (3000 - 3)


def test_random_node_split_per_class_and_fractions():
    labels = np.repeat(np.arange(4), 100).astype(np.int32)
    labels[:10] = -1
    tr, va, te = random_node_split(labels, train_per_class=5, num_val=50, num_test=None, seed=0)
    assert np.bincount(labels[tr]).tolist() == [5, 5, 5, 5]
    assert va.sum() == 50 and te.sum() == 390 - 20 - 50
    assert not (tr & va).any() and not (tr & te).any() and not (va & te).any()
    assert not (tr | va | te)[:10].any()
    again = random_node_split(labels, train_per_class=5, num_val=50, num_test=None, seed=0)
    assert np.array_equal(tr, again[0]) and np.array_equal(te, again[2])
    tr, va, te = random_node_split(labels, fractions=(0.5, 0.25, 0.25), seed=1)
    assert (tr.sum(), va.sum(), te.sum()) == (195, 97, 98)
    with pytest.raises(ValueError, match="exactly one"):
        random_node_split(labels, seed=0)
    with pytest.raises(ValueError, match="classes"):
        random_node_split(labels, train_per_class=95, seed=0)


def test_node_dataset_checks_and_helpers(data_root):
    k = load_karate()
    with pytest.raises(ValueError, match="senders"):
        dataclasses.replace(k, senders=k.senders.astype(np.int64))
    with pytest.raises(ValueError, match=r"\[0, 34\)"):
        dataclasses.replace(k, senders=k.senders + 1)
    with pytest.raises(ValueError, match="overlap"):
        dataclasses.replace(k, val_mask=k.train_mask.copy())
    assert k.split(0) is k and k.num_splits == 1
    with pytest.raises(IndexError, match="0..0"):
        k.split(1)
    raw = load_geom_gcn("texas", root=data_root, directed=True)
    sym = raw.as_undirected()
    assert not sym.directed
    assert sym.num_edges == 2 * 279 + 16  # undirected pairs both ways + the self-loops once
    assert isinstance(sym, NodeDataset)


def test_load_dataset_names(data_root):
    assert load_dataset("cora", root=data_root).num_nodes == 2708
    assert load_dataset("geom-gcn/texas", root=data_root).name == "geom-gcn/texas"
    assert load_dataset("chameleon", root=data_root).num_edges == 2 * 31371
    assert load_dataset("heterophilous/cornell", root=data_root).num_edges == 2 * 277
    assert load_dataset("karate").num_nodes == 34
    assert load_dataset("csbm", num_nodes=300, homophily=0.3).num_nodes == 300
    with pytest.raises(ValueError, match="ambiguous"):
        load_dataset("cornell", root=data_root)
    with pytest.raises(ValueError, match="valid names: .*citeseer"):
        load_dataset("pubmed", root=data_root)
