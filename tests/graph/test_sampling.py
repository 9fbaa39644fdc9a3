"""Fixed fan-out neighbour sampling and the sampled GraphSAGE trainer, against numpy references."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnets.data import contextual_sbm
from jaxnets.graph import GraphError
from jaxnets.graph import sampling as smp
from jaxnets.train import TrainState
from jaxnets.train import sampled as st


def _random_graph(rng, n, e):
    s, r = rng.integers(0, n, size=e), rng.integers(0, n, size=e)
    keys = np.unique(s * n + r)  # no duplicate arcs, so "distinct ids" means distinct edges
    return (keys // n).astype(np.int32), (keys % n).astype(np.int32)


def _neighbour_sets(s, r, n):
    sets = [set() for _ in range(n)]
    for a, b in zip(s, r):
        sets[b].add(int(a))
    return sets


def test_csr_rows_are_in_neighbours(rng):
    n = 30
    s, r = _random_graph(rng, n, 120)
    csr = smp.csr_adjacency(s, r, n)
    indptr, indices = np.asarray(csr.indptr_N1), np.asarray(csr.indices_E)
    np.testing.assert_array_equal(np.asarray(csr.degree()), np.bincount(r, minlength=n))
    for i, want in enumerate(_neighbour_sets(s, r, n)):
        assert sorted(indices[indptr[i]:indptr[i + 1]].tolist()) == sorted(want)


def test_sampled_neighbours_are_real_distinct_and_masked_by_degree(rng):
    n = 40
    s, r = _random_graph(rng, n, 200)
    s, r = s[r != 7], r[r != 7]  # node 7 has no in-neighbours
    csr = smp.csr_adjacency(s, r, n)
    sets = _neighbour_sets(s, r, n)
    seeds = np.arange(n, dtype=np.int32)
    blocks = jax.jit(smp.sample_blocks, static_argnames="fanouts")(
        jax.random.PRNGKey(0), csr, seeds, fanouts=(4, 3))
    assert [b.shape for b in blocks.nodes] == [(n,), (n * 4,), (n * 12,)]
    assert [m.shape for m in blocks.masks] == [(n,), (n * 4,), (n * 12,)]
    for hop, f in ((1, 4), (2, 3)):
        parents, pmask = np.asarray(blocks.nodes[hop - 1]), np.asarray(blocks.masks[hop - 1])
        ids = np.asarray(blocks.nodes[hop]).reshape(-1, f)
        mask = np.asarray(blocks.masks[hop]).reshape(-1, f)
        for p, ok, row, m in zip(parents, pmask, ids, mask):
            want = min(len(sets[p]), f) if ok else 0
            np.testing.assert_array_equal(m, np.arange(f) < want)  # real slots first
            assert set(row[m].tolist()) <= sets[p] if ok else True
            assert len(set(row[m].tolist())) == want  # without replacement
            assert np.all(row[~m] == n)  # sentinel in masked slots
    assert not np.asarray(blocks.masks[1]).reshape(n, 4)[7].any()
    assert not np.asarray(blocks.masks[2]).reshape(n, 12)[7].any()  # children of nothing


def test_sampling_is_uniform_over_neighbours():
    # node 0 has in-neighbours 1..5; a fan-out of 2 picks each with probability 2/5
    csr = smp.csr_adjacency(np.arange(1, 6), np.zeros(5, int), 6)
    keys = jax.random.split(jax.random.PRNGKey(1), 4000)
    ids, _ = jax.jit(jax.vmap(lambda k: smp.sample_neighbors(k, csr, jnp.zeros(1, jnp.int32),
                                                             2)))(keys)
    freq = np.bincount(np.asarray(ids).ravel(), minlength=6)[1:] / 4000
    np.testing.assert_allclose(freq, 0.4, atol=0.03)


def _sage_reference(params, x, s, r, n):
    """Two GraphSAGE-mean layers with a dense mean matrix (numpy, float64)."""
    a = np.zeros((n, n))
    a[r, s] = 1.0
    mean = a / np.maximum(a.sum(1, keepdims=True), 1.0)
    h = np.asarray(x, np.float64)
    layers = params["params"]
    for i in range(2):
        p = layers[f"layer_{i}"]
        h = (h @ np.asarray(p["root"]["kernel"]) + np.asarray(p["root"]["bias"])
             + (mean @ h) @ np.asarray(p["neighbor"]["kernel"]))
        h = np.maximum(h, 0) if i == 0 else h
    return h


def test_full_fanout_sampled_mean_equals_exact_mean(rng):
    n = 20
    s, r = _random_graph(rng, n, 60)
    s, r = s[r != 3], r[r != 3]
    csr = smp.csr_adjacency(s, r, n)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    model = st.SAGEMean((4, 3))
    params = model.init(jax.random.PRNGKey(0), jnp.asarray(x), method=st.SAGEMean.init_all)
    want = _sage_reference(params, x, s, r, n)
    fan = int(np.bincount(r, minlength=n).max())
    seeds = jnp.asarray(rng.permutation(n)[:10].astype(np.int32))

    @jax.jit
    def both(params, x, seeds):
        blocks = smp.sample_blocks(jax.random.PRNGKey(5), csr, seeds, (fan, fan))
        return (st.sampled_logits(model, params, x, blocks),
                st.exact_logits(model, params, csr, x, edge_chunk=7))  # several edge chunks

    got, exact = both(params, jnp.asarray(x), seeds)
    np.testing.assert_allclose(got, want[np.asarray(seeds)], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(exact, want, rtol=1e-4, atol=1e-4)


def test_one_compile_for_every_batch(rng):
    n = 50
    s, r = _random_graph(rng, n, 200)
    csr = smp.csr_adjacency(s, r, n)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def sample(key, seeds):
        return smp.sample_blocks(key, csr, seeds, (5, 2))

    for b in range(4):
        seeds = jnp.asarray(rng.integers(0, n, size=8).astype(np.int32))
        blocks = sample(jax.random.PRNGKey(b), seeds)
        assert [v.shape for v in blocks.nodes] == [(8,), (40,), (80,)]


def test_bad_input_is_named():
    csr = smp.csr_adjacency(np.array([0, 1]), np.array([1, 2]), 3)
    key = jax.random.PRNGKey(0)
    with pytest.raises(GraphError, match=r"fanouts\[1\] must be an int >= 1"):
        smp.sample_blocks(key, csr, np.array([0]), (3, 0))
    with pytest.raises(GraphError, match="seeds_B has index 5 but the graph has 3 nodes"):
        smp.sample_blocks(key, csr, np.array([0, 5]), (2,))
    with pytest.raises(GraphError, match="4 seeds but the graph has only 3 nodes"):
        smp.sample_blocks(key, csr, np.array([0, 1, 2, 0]), (2,))
    with pytest.raises(GraphError, match="receivers_E has index 3"):
        smp.csr_adjacency(np.array([0]), np.array([3]), 3)
    with pytest.raises(ValueError, match="batch_size must be in"):
        st.make_sampled_step(st.SAGEMean((4, 2)), optax.sgd(0.1), (2, 2), 9, 8)


def test_sampled_trainer_reduces_loss():
    data = contextual_sbm(num_nodes=300, num_classes=2, avg_degree=6.0, homophily=0.9,
                          num_features=16, feature_signal=3.0, seed=0)
    n = data.labels.shape[0]
    train = np.flatnonzero(data.train_mask).astype(np.int32)
    node_data = st.NodeData(smp.csr_adjacency(data.senders, data.receivers, n),
                            jnp.asarray(data.features), jnp.asarray(data.labels),
                            jnp.asarray(train))
    model, tx = st.SAGEMean((8, 2)), optax.adam(0.05)
    params = model.init(jax.random.PRNGKey(0), node_data.x_NxF[:2], method=st.SAGEMean.init_all)
    state = TrainState.create(params, tx, jax.random.PRNGKey(1))
    step = st.make_sampled_step(model, tx, (5, 5), 32, train.size)
    epoch = jax.jit(st.make_epoch(step, train.size, 32))
    losses = []
    for _ in range(5):
        state, metrics = epoch(state, node_data)
        losses.append(float(metrics["loss"]))
    assert int(state.step) == 5 * (train.size // 32)
    assert losses[-1] < 0.7 * losses[0], losses
    acc = jax.jit(lambda p, d: st.evaluate(model, p, d, {"test": jnp.asarray(data.test_mask)},
                                           edge_chunk=256))(state.params, node_data)
    assert float(acc["test/accuracy"]) > 0.8
