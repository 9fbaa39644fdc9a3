"""Common / exclusive neighbours and walk counts against dense-adjacency references."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.graph import neighbors as nb


def _random_pairs(rng, n, m):
    iu = np.stack(np.triu_indices(n, 1), axis=1)
    pick = rng.choice(len(iu), size=m, replace=False)
    pairs = iu[pick]
    flip = rng.random(m) < 0.5  # either orientation is accepted
    pairs[flip] = pairs[flip][:, ::-1]
    return pairs


def _dense(pairs, n, removed=None):
    a = np.zeros((n, n), bool)
    keep = np.ones(len(pairs), bool) if removed is None else ~removed
    a[pairs[keep, 0], pairs[keep, 1]] = True
    a[pairs[keep, 1], pairs[keep, 0]] = True
    return a


@pytest.mark.parametrize("hub", [False, True])
def test_pair_neighborhoods_match_dense_reference(rng, hub):
    """hub=False: the real entries fit a compacted capacity; hub=True: every first node is a hub
    of degree >= 35, more real entries than any capacity (the padded fallback)."""
    n, m = 40, 150
    pairs = _random_pairs(rng, n, m)
    if hub:
        rest = pairs[(pairs != 0).all(axis=1)]
        pairs = np.concatenate([np.stack([np.zeros(36, int), np.arange(1, 37)], 1),
                                rest])[:m]
    adj = nb.padded_adjacency(pairs, n)
    i, j = rng.integers(0, n, size=64), rng.integers(0, n, size=64)
    if hub:
        i = np.zeros(64, int)
    real = int(np.asarray(adj.degree_N)[i].sum())
    assert (real > 32 * 64) == hub   # above every compacted capacity only for the hub batch
    removed = rng.random(m) < 0.3
    for rem in (None, removed):
        a = _dense(pairs, n, rem)
        out = jax.jit(nb.pair_neighborhoods)(adj, i, j, None if rem is None else jnp.asarray(rem))
        x = rng.normal(size=(n, 3)).astype(np.float32)
        for name, ids, mask, want in [
            ("common", out.ids_i_BxD, out.common_BxD, a[i] & a[j]),
            ("only_i", out.ids_i_BxD, out.only_i_BxD, a[i] & ~a[j] & (np.arange(n) != j[:, None])),
            ("only_j", out.ids_j_BxD, out.only_j_BxD, a[j] & ~a[i] & (np.arange(n) != i[:, None])),
        ]:
            got = np.zeros((64, n + 1), bool)
            np.put_along_axis(got, np.asarray(ids), np.asarray(mask), axis=1)
            np.testing.assert_array_equal(got[:, :n], want, err_msg=name)
            np.testing.assert_allclose(nb.gather_sum(ids, mask, jnp.asarray(x)),
                                       want.astype(np.float32) @ x, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(nb.common_neighbor_count(adj, i, j, rem),
                                      (a[i] & a[j]).sum(1))


def test_gather_sum_and_its_gradients_match_the_dense_product(rng, monkeypatch):
    """Forward (CSR kernel) and both backward paths (dense rows, segment_sum) against the dense
    [B, N] weight matrix, for x and for the weights."""
    n = 30
    pairs = _random_pairs(rng, n, 90)
    adj = nb.padded_adjacency(pairs, n)
    out = nb.pair_neighborhoods(adj, rng.integers(0, n, 16), rng.integers(0, n, 16))
    ids = out.ids_i_BxD
    w = jnp.asarray(rng.normal(size=ids.shape).astype(np.float32))
    x = jnp.asarray(rng.normal(size=(n, 4)).astype(np.float32))
    g = jnp.asarray(rng.normal(size=(16, 4)).astype(np.float32))

    def reference(w, x):
        rows = jnp.zeros((16, n + 1)).at[jnp.arange(16)[:, None], ids].add(w)[:, :n]
        return jnp.sum((rows @ x) * g)

    want = jax.grad(reference, argnums=(0, 1))(w, x)
    np.testing.assert_allclose(nb.gather_sum(ids, w, x), _dense_product(ids, w, x, n),
                               rtol=1e-5, atol=1e-5)
    for limit in (nb._DENSE_ROWS_LIMIT, 0):
        monkeypatch.setattr(nb, "_DENSE_ROWS_LIMIT", limit)
        got = jax.grad(lambda w, x: jnp.sum(nb.gather_sum(ids, w, x) * g), argnums=(0, 1))(w, x)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nonzeros_per_row", [0.5, 3, None])
def test_gather_sum_x_gradient_through_each_compacted_capacity(rng, nonzeros_per_row):
    """The x-gradient runs over the nonzero weights only, compacted into capacity B (0.5 per
    row), 4 B (3 per row) or, with every slot nonzero, the all-slots fallback: all equal the
    dense transpose."""
    n, b = 40, 24
    adj = nb.padded_adjacency(_random_pairs(rng, n, 200), n)
    ids = nb.pair_neighborhoods(adj, rng.integers(0, n, b), rng.integers(0, n, b)).ids_i_BxD
    d = ids.shape[1]
    assert d > 4, "the graph must be dense enough for two compacted capacities"
    w = rng.normal(size=ids.shape).astype(np.float32)
    if nonzeros_per_row is not None:
        keep = np.zeros(w.size, bool)
        keep[rng.choice(w.size, int(nonzeros_per_row * b), replace=False)] = True
        w = np.where(keep.reshape(w.shape), w, 0.0).astype(np.float32)
    w = jnp.asarray(np.where(np.asarray(ids) < n, w, 0.0))
    count = int((w != 0).sum())
    assert (nonzeros_per_row is None and count > 4 * b) or count <= (b if nonzeros_per_row
                                                                    < 1 else 4 * b)
    x = jnp.asarray(rng.normal(size=(n, 3)).astype(np.float32))
    g = jnp.asarray(rng.normal(size=(b, 3)).astype(np.float32))
    got = jax.grad(lambda x: jnp.sum(nb.gather_sum(ids, w, x) * g))(x)
    rows = np.zeros((b, n + 1), np.float32)
    np.add.at(rows, (np.arange(b)[:, None], np.asarray(ids)), np.asarray(w))
    np.testing.assert_allclose(got, rows[:, :n].T @ np.asarray(g), rtol=1e-5, atol=1e-5)


def _dense_product(ids, w, x, n):
    rows = np.zeros((ids.shape[0], n + 1), np.float32)
    np.add.at(rows, (np.arange(ids.shape[0])[:, None], np.asarray(ids)), np.asarray(w))
    return rows[:, :n] @ np.asarray(x)


def test_padded_adjacency_rejects_bad_pairs():
    with pytest.raises(ValueError, match="self-loops"):
        nb.padded_adjacency(np.array([[0, 1], [2, 2]]), 3)
    with pytest.raises(ValueError, match="duplicate"):
        nb.padded_adjacency(np.array([[0, 1], [1, 0]]), 3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        nb.padded_adjacency(np.array([[0, 3]]), 3)


def test_walk_counts_are_matrix_powers(rng, ref):
    s, r = ref.random_edges(rng, 12, 40)
    w = rng.uniform(0.5, 2.0, size=40).astype(np.float32)
    a = np.zeros((12, 12))
    np.add.at(a, (s, r), w)  # A[u, v]: weight of u -> v
    src = np.array([0, 3, 7, 3])
    counts = nb.walk_counts(s, r, 12, src, 3, w)
    power = np.eye(12)
    for k in range(3):
        power = power @ a
        np.testing.assert_allclose(counts[k], power[src], rtol=1e-5, atol=1e-5)


def test_ragged_expand_lays_runs_end_to_end():
    count = jnp.asarray([2, 0, 3, 1, 0])
    owner, offset, valid = nb.ragged_expand(count, 8)
    np.testing.assert_array_equal(valid, [1, 1, 1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(np.asarray(owner)[:6], [0, 0, 2, 2, 2, 3])
    np.testing.assert_array_equal(np.asarray(offset)[:6], [0, 1, 0, 1, 2, 0])


@pytest.mark.parametrize("use_keep", [False, True])
def test_common_neighbor_sum_and_row_member_match_dense(rng, use_keep):
    n = 40
    pairs = _random_pairs(rng, n, 150)
    adj = nb.padded_adjacency(pairs, n)
    ids = np.asarray(adj.neighbors_NxD)
    keep = (ids < n) & (rng.random(ids.shape) < (0.7 if use_keep else 1.0))
    kept = np.zeros((n, n))  # directed: row u keeps its entry of v
    rows = np.repeat(np.arange(n), adj.max_degree)
    kept[rows[keep.ravel()], ids.ravel()[keep.ravel()]] = 1.0
    x = rng.normal(size=(n, 5)).astype(np.float32)
    u, v = rng.integers(0, n, 30), rng.integers(0, n, 30)
    valid = rng.random(30) < 0.8
    capacity = int(np.asarray(adj.degree_N)[v][valid].sum()) + 3
    out = jax.jit(nb.common_neighbor_sum, static_argnums=5)(
        adj, jnp.asarray(u), jnp.asarray(v), jnp.asarray(valid), jnp.asarray(x), capacity,
        jnp.asarray(keep) if use_keep else None)
    np.testing.assert_allclose(out, ((kept[u] * kept[v]) @ x) * valid[:, None], atol=1e-5)
    member = nb.row_member(adj, jnp.asarray(u), jnp.asarray(v),
                           jnp.asarray(keep) if use_keep else None)
    np.testing.assert_array_equal(member, kept[u, v] > 0)


def test_pair_neighborhoods_keep_mask_equals_edge_removal(rng):
    n = 30
    pairs = _random_pairs(rng, n, 90)
    adj = nb.padded_adjacency(pairs, n)
    removed = rng.random(len(pairs)) < 0.3
    keep = ~np.concatenate([removed, [True]])[np.minimum(np.asarray(adj.edge_ids_NxD),
                                                         len(pairs))]
    i, j = rng.integers(0, n, 40), rng.integers(0, n, 40)
    a = nb.pair_neighborhoods(adj, i, j, jnp.asarray(removed))
    b = nb.pair_neighborhoods(adj, i, j, keep_NxD=jnp.asarray(keep))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert int(np.asarray(a.common_BxD).sum()) > 0
