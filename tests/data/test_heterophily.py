"""Geom-GCN raw files and the heterophilous-graphs npz files (README sections 2 and 3)."""
import numpy as np
import pytest

from jaxnets.data import DataFileError, load_geom_gcn, load_heterophilous


def _homophily(d, drop_self_loops=True):
    keep = d.senders != d.receivers if drop_self_loops else np.ones(d.num_edges, bool)
    return (d.labels[d.senders[keep]] == d.labels[d.receivers[keep]]).mean()


# name: nodes, unique directed (raw), undirected, self-loops, features, label counts, split sizes
GEOM_GCN = {
    "cornell": (183, 298, 277, 3, 1703, [33, 1, 18, 101, 30], (87, 59, 37)),
    "texas": (183, 325, 279, 16, 1703, [33, 1, 18, 101, 30], (87, 59, 37)),
    "wisconsin": (251, 515, 450, 16, 1703, [10, 70, 118, 32, 21], (120, 80, 51)),
    "film": (7600, 30019, 26659, 93, 932, [853, 1337, 1630, 1815, 1965], (3648, 2432, 1520)),
    "chameleon": (2277, 36101, 31371, 50, 2325, [456, 460, 453, 521, 387], (1092, 729, 456)),
    "squirrel": (5201, 217073, 198353, 140, 2089, [1042, 1040, 1039, 1040, 1040],
                 (2496, 1664, 1041)),
}


@pytest.mark.parametrize("name", sorted(GEOM_GCN))
def test_geom_gcn_counts(data_root, name):
    nodes, directed_edges, undirected, loops, feats, counts, sizes = GEOM_GCN[name]
    d = load_geom_gcn(name, root=data_root)
    assert d.name == f"geom-gcn/{name}"
    assert d.num_nodes == nodes
    assert d.num_edges == 2 * undirected
    assert not (d.senders == d.receivers).any()
    assert d.num_features == feats and d.features.dtype == np.float32
    assert d.num_classes == 5
    assert np.bincount(d.labels).tolist() == counts
    assert d.num_splits == 10 and d.train_mask.shape == (10, nodes)
    for mask, size in zip((d.train_mask, d.val_mask, d.test_mask), sizes):
        assert (mask.sum(axis=1) == size).all()
    raw = load_geom_gcn(name, root=data_root, directed=True)
    assert raw.directed and raw.num_edges == directed_edges
    assert (raw.senders == raw.receivers).sum() == loops


def test_geom_gcn_film_multi_hot_and_actor_alias(data_root):
    film = load_geom_gcn("film", root=data_root)
    actor = load_geom_gcn("actor", root=data_root)
    assert set(np.unique(film.features).tolist()) == {0.0, 1.0}
    assert np.array_equal(film.features, actor.features)


def test_geom_gcn_split_zero(data_root):
    d = load_geom_gcn("texas", root=data_root)
    with np.load(data_root / "geom-gcn/splits/texas_split_0.6_0.2_0.npz") as z:
        assert np.array_equal(d.split(0).train_mask, z["train_mask"].astype(bool))
    with pytest.raises(IndexError, match="0..9"):
        d.split(10)


# file: nodes, features, edges stored, self-loops, label counts, (train, val, test) sizes or ranges
HETEROPHILOUS = {
    "actor": (7600, 932, 26659, 0, [853, 1337, 1630, 1815, 1965], (3648, 2432, 1520)),
    "chameleon": (2277, 2325, 31371, 0, [456, 460, 453, 521, 387], (1092, 729, 456)),
    "chameleon_directed": (2277, 2325, 36101, 50, [456, 460, 453, 521, 387], (1092, 729, 456)),
    "chameleon_filtered": (890, 2325, 8854, 0, [242, 134, 209, 164, 141],
                           ((409, 440), (268, 310), (159, 194))),
    "chameleon_filtered_directed": (890, 2325, 13584, 50, [242, 134, 209, 164, 141],
                                    ((409, 440), (268, 310), (159, 194))),
    "cornell": (183, 1703, 277, 0, [38, 16, 30, 82, 17], (87, 59, 37)),
    "minesweeper": (10000, 7, 39402, 0, [8000, 2000], (5000, 2500, 2500)),
    "squirrel": (5201, 2089, 198353, 0, [1042, 1040, 1039, 1040, 1040], (2496, 1664, 1041)),
    "squirrel_directed": (5201, 2089, 217073, 140, [1042, 1040, 1039, 1040, 1040],
                          (2496, 1664, 1041)),
    "squirrel_filtered": (2223, 2089, 46998, 0, [756, 516, 397, 321, 233],
                          ((1047, 1085), (691, 739), (416, 483))),
    "squirrel_filtered_directed": (2223, 2089, 65718, 140, [756, 516, 397, 321, 233],
                                   ((1047, 1085), (691, 739), (416, 483))),
    "texas": (183, 1703, 279, 0, [33, 1, 18, 101, 30], (87, 59, 37)),
    "texas_4_classes": (183, 1703, 279, 0, [33, 1, 18, 101, 30], ((86, 87), (58, 59), (36, 37))),
    "tolokers": (11758, 10, 519000, 0, [9192, 2566], (5879, 2939, 2940)),
    "wisconsin": (251, 1703, 450, 0, [10, 70, 118, 32, 21], (120, 80, 51)),
}


@pytest.mark.parametrize("name", sorted(HETEROPHILOUS))
def test_heterophilous_counts(data_root, name):
    nodes, feats, stored, loops, counts, sizes = HETEROPHILOUS[name]
    d = load_heterophilous(name, root=data_root)
    assert d.num_nodes == nodes and d.num_features == feats
    assert np.bincount(d.labels).tolist() == counts
    assert d.num_classes == len(counts)
    directed = name.endswith("_directed")
    assert d.directed == directed
    assert d.num_edges == (stored if directed else 2 * stored)
    assert (d.senders == d.receivers).sum() == loops
    assert d.num_splits == 10
    for mask, size in zip((d.train_mask, d.val_mask, d.test_mask), sizes):
        lo, hi = size if isinstance(size, tuple) else (size, size)
        assert lo <= mask.sum(axis=1).min() and mask.sum(axis=1).max() <= hi


def test_texas_4_classes_masks_skip_the_single_class_1_node(data_root):
    d = load_heterophilous("texas_4_classes", root=data_root)
    used = (d.train_mask | d.val_mask | d.test_mask).any(axis=0)
    assert np.unique(d.labels[used]).tolist() == [0, 2, 3, 4]


def test_geom_gcn_and_npz_agree_except_cornell(data_root):
    for name in ("texas", "wisconsin", "chameleon"):
        a, b = load_geom_gcn(name, root=data_root), load_heterophilous(name, root=data_root)
        assert np.array_equal(a.features, b.features)
        assert np.array_equal(a.labels, b.labels)
        assert np.array_equal(a.senders, b.senders) and np.array_equal(a.receivers, b.receivers)
        assert np.array_equal(a.test_mask, b.test_mask)


def test_cornell_versions_are_different_datasets(data_root):
    """README warning 1: the Geom-GCN Cornell carries Texas's features and labels; the
    heterophilous-graphs Cornell is another dataset on an isomorphic-degree graph."""
    geom = load_geom_gcn("cornell", root=data_root)
    texas = load_geom_gcn("texas", root=data_root)
    yandex = load_heterophilous("cornell", root=data_root)
    # Geom-GCN Cornell = Texas's feature/label file on Cornell's own edges.
    assert np.array_equal(geom.features, texas.features)
    assert np.array_equal(geom.labels, texas.labels)
    assert geom.num_edges // 2 == 277 and texas.num_edges // 2 == 279
    # The yandex file: other labels, no feature row in common, same degree sequence and masks.
    assert np.bincount(yandex.labels).tolist() == [38, 16, 30, 82, 17]
    assert np.bincount(geom.labels).tolist() == [33, 1, 18, 101, 30]
    rows_geom = {r.tobytes() for r in geom.features}
    assert not any(r.tobytes() in rows_geom for r in yandex.features)
    deg = lambda d: np.sort(np.bincount(d.senders, minlength=d.num_nodes))  # noqa: E731
    assert np.array_equal(deg(geom), deg(yandex))
    assert np.array_equal(geom.train_mask, yandex.train_mask)
    # Edge homophily: 0.298 (Geom-GCN raw directed edges, no self-loops) vs 0.123.
    raw = load_geom_gcn("cornell", root=data_root, directed=True)
    assert _homophily(raw) == pytest.approx(0.298, abs=5e-4)
    assert _homophily(yandex) == pytest.approx(0.123, abs=5e-4)


def test_missing_large_npz_is_a_clear_error(data_root):
    with pytest.raises(DataFileError) as err:
        load_heterophilous("roman_empire", root=data_root)
    msg = str(err.value)
    assert "heterophilous-graphs/roman_empire.npz" in msg
    assert str(data_root) in msg
    assert "JAXNETS_DATA" in msg and "root=" in msg


def test_unknown_names_list_valid_ones(data_root):
    with pytest.raises(ValueError, match="chameleon_filtered"):
        load_heterophilous("chamelon", root=data_root)
    with pytest.raises(ValueError, match="wisconsin"):
        load_geom_gcn("cora", root=data_root)
