"""Planetoid Cora / CiteSeer against the counts verified in the data notes (README section 1)."""
import numpy as np
import pytest
import scipy.sparse as sp

from jaxnets.data import load_planetoid


def _pair_ids(d):
    return d.senders.astype(np.int64) * d.num_nodes + d.receivers


@pytest.fixture(scope="module")
def cora(data_root):
    return load_planetoid("cora", root=data_root)


@pytest.fixture(scope="module")
def citeseer(data_root):
    return load_planetoid("citeseer", root=data_root)


def test_cora_counts(cora):
    assert cora.num_nodes == 2708
    assert cora.num_edges == 10556  # 5278 undirected edges, both directions
    assert cora.num_features == 1433
    assert cora.num_classes == 7
    assert np.bincount(cora.labels).tolist() == [351, 217, 418, 818, 426, 298, 180]
    assert not cora.directed


def test_citeseer_counts(citeseer):
    assert citeseer.num_nodes == 3327
    assert citeseer.num_edges == 9104  # 4552 undirected edges; the 124 self-loops removed
    assert citeseer.num_features == 3703
    assert citeseer.num_classes == 6
    labelled = citeseer.labels[citeseer.labels >= 0]
    assert np.bincount(labelled).tolist() == [249, 590, 668, 701, 596, 508]
    assert (citeseer.labels == -1).sum() == 15


@pytest.mark.parametrize("name,num_train", [("cora", 140), ("citeseer", 120)])
def test_public_split(data_root, name, num_train):
    d = load_planetoid(name, root=data_root)
    assert d.train_mask.shape == (d.num_nodes,)
    assert d.train_mask.sum() == num_train
    assert d.val_mask.sum() == 500
    assert d.test_mask.sum() == 1000
    # Kipf & Welling: train = range(len(y)), val = the next 500 ids.
    assert np.flatnonzero(d.train_mask).tolist() == list(range(num_train))
    assert np.flatnonzero(d.val_mask).tolist() == list(range(num_train, num_train + 500))
    test_index = np.loadtxt(data_root / f"planetoid/ind.{name}.test.index", dtype=int)
    assert np.array_equal(np.flatnonzero(d.test_mask), np.sort(test_index))
    assert (np.bincount(d.labels[d.train_mask]) == num_train // d.num_classes).all()


@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_edges_symmetric_unique_no_self_loops(data_root, name):
    d = load_planetoid(name, root=data_root)
    ids = _pair_ids(d)
    assert np.unique(ids).size == ids.size
    assert not (d.senders == d.receivers).any()
    reverse = d.receivers.astype(np.int64) * d.num_nodes + d.senders
    assert np.array_equal(np.sort(ids), np.sort(reverse))
    assert d.senders.dtype == np.int32 and d.receivers.dtype == np.int32


def test_features_sparse_binary(cora, citeseer):
    for d in (cora, citeseer):
        assert isinstance(d.features, sp.csr_matrix)
        assert d.features.dtype == np.float32
        assert set(np.unique(d.features.data).tolist()) == {1.0}


def test_citeseer_isolated_test_ids_have_zero_features(citeseer, data_root):
    test_index = np.loadtxt(data_root / "planetoid/ind.citeseer.test.index", dtype=int)
    full_range = np.arange(test_index.min(), test_index.max() + 1)
    missing = np.setdiff1d(full_range, test_index)
    assert missing.size == 15
    assert (citeseer.labels[missing] == -1).all()
    assert citeseer.features[missing].nnz == 0
    for mask in (citeseer.train_mask, citeseer.val_mask, citeseer.test_mask):
        assert not mask[missing].any()


def test_tx_rows_go_to_test_index_order(cora, data_root):
    """Row j of tx belongs to node test.index[j] (the famous reordering)."""
    import pickle
    with open(data_root / "planetoid/ind.cora.tx", "rb") as f:
        tx = pickle.load(f, encoding="latin1")
    test_index = np.loadtxt(data_root / "planetoid/ind.cora.test.index", dtype=int)
    assert abs(cora.features[test_index] - tx).sum() == 0


def test_random_and_full_splits(data_root, cora):
    a = load_planetoid("cora", root=data_root, split="random", seed=3)
    b = load_planetoid("cora", root=data_root, split="random", seed=3)
    c = load_planetoid("cora", root=data_root, split="random", seed=4)
    assert np.array_equal(a.train_mask, b.train_mask)
    assert not np.array_equal(a.train_mask, c.train_mask)
    assert (np.bincount(a.labels[a.train_mask]) == 20).all()
    assert a.val_mask.sum() == 500 and a.test_mask.sum() == 1000
    full = load_planetoid("cora", root=data_root, split="full")
    assert full.train_mask.sum() == 2708 - 500 - 1000
    assert np.array_equal(full.val_mask, cora.val_mask)


def test_bad_arguments(data_root):
    with pytest.raises(ValueError, match="pubmed"):
        load_planetoid("pubmed", root=data_root)
    with pytest.raises(ValueError, match="split"):
        load_planetoid("cora", root=data_root, split="geom-gcn")


def test_graphs_tuple(cora):
    g = cora.to_graphs_tuple()
    assert g.nodes.shape == (2708, 1433) and g.nodes.dtype == np.float32
    assert g.edges is None and g.globals is None
    assert g.n_node.tolist() == [2708] and g.n_edge.tolist() == [10556]
    assert g.senders.dtype == np.int32
