"""NAT (jaxnets.models.nat) and its memory baseline: the N-cache update against a plain-Python
reference on a short stream, joint features against a dict reference, the slot hash, no future
information in a prediction, the triadic-closure stream, and a smoke run of experiments/nat.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.data.triadic_stream import triadic_closure_stream
from jaxnets.metrics.link import roc_auc
from jaxnets.models import nat as nat_lib
from jaxnets.models import temporal_memory as memory_lib


def _py_hash(a: int, m: int, s: int) -> int:
    return (a * (s % 100) + a * a * ((s % 100) + 1)) % m


def test_slot_hash_matches_official_formula_without_overflow():
    keys = np.array([0, 1, 2, 7, 99, 1899, 40_000, 2**20], np.int64)
    for s in (0, 37, 100, 263):
        for m in (1, 4, 8, 32):
            got = np.asarray(nat_lib.slot_hash(jnp.asarray(keys, jnp.int32), m, s))
            assert got.tolist() == [_py_hash(int(a), m, s) for a in keys]


def _batch(src, dst, neg, t, mask=None):
    n = len(src)
    mask = np.ones(n, bool) if mask is None else np.asarray(mask)
    return nat_lib.EventBatch(jnp.asarray(src, jnp.int32), jnp.asarray(dst, jnp.int32),
                              jnp.asarray(neg, jnp.int32), jnp.asarray(t, jnp.float32),
                              jnp.asarray(mask))


def _reference_update(state: nat_lib.NATState, batch, aux, cfg: nat_lib.NATConfig) -> dict:
    """Plain-Python N-cache + self-rep writes; replace_prob must be 0 or 1 (no draws needed)."""
    pre = [tuple(np.array(a) for a in c) for c in state.caches]
    cur = [tuple(np.array(a) for a in c) for c in state.caches]
    self_rep, partner, ptime = (np.array(state.self_rep), np.array(state.prev_partner),
                                np.array(state.prev_time))
    b = len(batch.src)
    reps = [np.asarray(f.reps) for f in aux["fetched"]]          # refreshed, rows [src; dst]
    selves = np.concatenate([np.asarray(aux["self_src"]), np.asarray(aux["self_dst"])])

    def write(hop, node, key, time, rep):
        if key == 0:
            return
        m = cur[hop][0].shape[1]
        s = _py_hash(key, m, cfg.hash_seed)
        stored = pre[hop][0][node, s]
        occupied = stored != 0 and stored != key
        if occupied and cfg.replace_prob < 1.0:
            return
        cur[hop][0][node, s], cur[hop][1][node, s], cur[hop][2][node, s] = key, time, rep

    for i in range(b):
        if not bool(batch.mask[i]):
            continue
        u, v, t = int(batch.src[i]), int(batch.dst[i]), float(batch.t[i])
        for row, ori, opp in ((i, u, v), (b + i, v, u)):
            write(0, ori, ori, t, reps[0][row, 0])
            s = _py_hash(opp, cfg.slots[0], cfg.hash_seed)
            held = reps[1][row, s] if pre[1][0][ori, s] == opp else np.zeros(cfg.ngh_dim)
            write(1, ori, opp, t, held)
            for j in range(cfg.slots[0]):
                write(2, opp, int(pre[1][0][ori, j]), float(pre[1][1][ori, j]), reps[1][row, j])
            self_rep[ori], partner[ori], ptime[ori] = selves[row], opp, t
    return {"caches": cur, "self_rep": self_rep, "prev_partner": partner, "prev_time": ptime}


@pytest.mark.parametrize("replace_prob", [0.0, 1.0])
def test_ncache_update_matches_python_reference_on_a_short_stream(replace_prob):
    cfg = nat_lib.NATConfig(num_nodes=7, slots=(3, 2), ngh_dim=2, self_dim=3, pos_dim=2,
                            attn_dim=4, heads=1, replace_prob=replace_prob, hash_seed=41)
    model = nat_lib.NAT(cfg)
    rng = np.random.default_rng(0)
    state = nat_lib.init_state(cfg)
    # 5 batches of 4 events over 7 nodes: repeats, a node twice in one batch, one padded row.
    batches = []
    for k in range(5):
        src = rng.integers(1, 8, 4)
        dst = (src + rng.integers(1, 7, 4) - 1) % 7 + 1
        src[1] = dst[0]                                   # node shared by two events
        mask = np.array([True, True, True, k != 2])
        src, dst = np.where(mask, src, 0), np.where(mask, dst, 0)
        batches.append(_batch(src, dst, rng.integers(1, 8, 4), 10.0 * k + np.arange(4), mask))
    params = model.init(jax.random.PRNGKey(0), state, batches[0])
    update = jax.jit(lambda s, b, a: nat_lib.update_state(s, b, a, jax.random.PRNGKey(3), cfg))
    apply = jax.jit(model.apply)
    for batch in batches:
        _, _, aux = apply(params, state, batch)
        want = _reference_update(state, batch, aux, cfg)
        state = update(state, batch, aux)
        for hop in range(3):
            for got, ref in zip(state.caches[hop], want["caches"][hop]):
                np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(state.self_rep), want["self_rep"], rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(state.prev_partner), want["prev_partner"])
        np.testing.assert_array_equal(np.asarray(state.prev_time), want["prev_time"])
    assert int(jnp.sum(state.caches[2].keys != 0)) > 0     # the stream reached hop 2


def test_random_overwrite_follows_draws_and_latest_writer_wins():
    cache = nat_lib.NCache(jnp.zeros((3, 2), jnp.int32), jnp.zeros((3, 2)), jnp.zeros((3, 2, 1)))
    m, s = 2, 0            # slot(a) = a^2 mod 2 = a mod 2
    cache = nat_lib.update_ncaches(cache, jnp.array([1, 1]), jnp.array([2, 4]), jnp.array([1., 2.]),
                                   jnp.ones((2, 1)), jnp.array([True, True]), jnp.array([.9, .9]),
                                   0.5, s)
    assert cache.keys[1].tolist() == [4, 0] and float(cache.times[1, 0]) == 2.0  # latest wins
    # occupied by 4: key 6 (same slot) writes only if its draw < replace_prob
    kept = nat_lib.update_ncaches(cache, jnp.array([1]), jnp.array([6]), jnp.array([3.]),
                                  jnp.ones((1, 1)), jnp.array([True]), jnp.array([0.7]), 0.5, s)
    replaced = nat_lib.update_ncaches(cache, jnp.array([1]), jnp.array([6]), jnp.array([3.]),
                                      jnp.ones((1, 1)), jnp.array([True]), jnp.array([0.3]), 0.5, s)
    same_key = nat_lib.update_ncaches(cache, jnp.array([1]), jnp.array([4]), jnp.array([5.]),
                                      jnp.ones((1, 1)), jnp.array([True]), jnp.array([0.99]),
                                      0.5, s)
    assert kept.keys[1, 0] == 4 and replaced.keys[1, 0] == 6 and float(same_key.times[1, 0]) == 5.0
    assert m == cache.keys.shape[1]


def test_joint_features_match_dict_reference():
    rng = np.random.default_rng(1)
    p, s, d = 5, 6, 3
    keys_u, keys_v = rng.integers(0, 5, (p, s)), rng.integers(0, 5, (p, s))
    reps_u, reps_v = rng.normal(size=(p, s, d)), rng.normal(size=(p, s, d))
    codes_u, codes_v = rng.integers(1, 8, (p, s)), rng.integers(1, 8, (p, s)) << 3
    g_reps, g_codes, first = map(np.asarray, nat_lib.joint_features(
        *(jnp.asarray(a) for a in (keys_u, reps_u, codes_u, keys_v, reps_v, codes_v))))
    for i in range(p):
        keys = np.concatenate([keys_u[i], keys_v[i]])
        reps = np.concatenate([reps_u[i], reps_v[i]])
        codes = np.concatenate([codes_u[i], codes_v[i]])
        groups: dict[int, list[int]] = {}
        for a, k in enumerate(keys):
            if k != 0:
                groups.setdefault(int(k), []).append(a)
        assert sorted(np.flatnonzero(first[i]).tolist()) == sorted(g[0] for g in groups.values())
        for members in groups.values():
            np.testing.assert_allclose(g_reps[i, members[0]], reps[members].sum(0), rtol=1e-5)
            assert g_codes[i, members[0]] == codes[members].sum()


def _distinct_pair_stream(num_nodes: int, num_events: int, seed: int):
    """Every (src, dst) pair occurs once: the past never predicts the next positive."""
    rng = np.random.default_rng(seed)
    pairs = [(u, v) for u in range(1, num_nodes + 1) for v in range(1, num_nodes + 1) if u != v]
    order = rng.permutation(len(pairs))[:num_events]
    return np.array([pairs[i] for i in order], np.int32)


def test_no_future_information_in_a_prediction():
    """On a stream of distinct pairs, a score that reads "v is in u's hop-1 cache" from the
    model's joint position codes gives AUC ~0.5; the same score on the state *after* the batch
    (a leak of the batch's own events) gives AUC 1.0."""
    cfg = nat_lib.NATConfig(num_nodes=100, slots=(32, 4), ngh_dim=2, self_dim=3, pos_dim=2,
                            attn_dim=4, heads=1, replace_prob=1.0, hash_seed=1)
    model = nat_lib.NAT(cfg)
    pairs = _distinct_pair_stream(100, 300, seed=0)
    neg = np.random.default_rng(1).integers(1, 101, len(pairs))
    state = nat_lib.init_state(cfg)
    apply = jax.jit(model.apply)
    update = jax.jit(lambda s, b, a: nat_lib.update_state(s, b, a, jax.random.PRNGKey(0), cfg))
    params = None
    oracle = {"honest": ([], []), "leaked": ([], [])}

    def in_hop1(codes, first):   # u-side hop-1 bit (2) and v-side hop-0 bit (8) in one group
        return np.any(np.asarray(first) & ((np.asarray(codes) & 10) == 10), axis=1)

    for k in range(0, len(pairs), 20):
        pos_batch = _batch(pairs[k:k + 20, 0], pairs[k:k + 20, 1], neg[k:k + 20],
                           np.full(20, float(k)))
        neg_batch = pos_batch._replace(dst=pos_batch.neg)
        if params is None:
            params = model.init(jax.random.PRNGKey(0), state, pos_batch)
        _, _, aux = apply(params, state, pos_batch)
        _, _, aux_neg = apply(params, state, neg_batch)
        new_state = update(state, pos_batch, aux)
        _, _, aux_leak = apply(params, new_state, pos_batch)
        _, _, aux_leak_neg = apply(params, new_state, neg_batch)
        for name, (a, b) in (("honest", (aux, aux_neg)), ("leaked", (aux_leak, aux_leak_neg))):
            oracle[name][0].append(in_hop1(a["codes_pos"], a["first_pos"]))
            oracle[name][1].append(in_hop1(b["codes_pos"], b["first_pos"]))
        state = new_state
    aucs = {name: float(roc_auc(np.concatenate(p).astype(np.float32),
                                np.concatenate(n).astype(np.float32)))
            for name, (p, n) in oracle.items()}
    assert aucs["honest"] < 0.6, aucs
    assert aucs["leaked"] > 0.95, aucs


def test_padding_rows_change_nothing_and_scores_are_finite():
    cfg = nat_lib.NATConfig(num_nodes=5, slots=(2, 2), ngh_dim=2, self_dim=3, attn_dim=4)
    model = nat_lib.NAT(cfg)
    state = nat_lib.init_state(cfg)
    batch = _batch([1, 2], [3, 4], [5, 1], [1.0, 2.0])
    params = model.init(jax.random.PRNGKey(0), state, batch)
    apply = jax.jit(model.apply)
    update = jax.jit(lambda s, b, a, k: nat_lib.update_state(s, b, a, k, cfg))
    _, _, aux = apply(params, state, batch)
    state = update(state, batch, aux, jax.random.PRNGKey(1))
    pad = _batch([0, 0], [0, 0], [0, 0], [0.0, 0.0], [False, False])
    pos, neg, aux = apply(params, state, pad)
    assert np.all(np.isfinite(np.asarray(pos))) and np.all(np.isfinite(np.asarray(neg)))
    after = update(state, pad, aux, jax.random.PRNGKey(2))
    for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    grads = jax.jit(jax.grad(lambda p: jnp.sum(model.apply(p, state, pad)[0])))(params)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))


def test_memory_baseline_stores_latest_event_per_node():
    cfg = memory_lib.MemoryConfig(num_nodes=4, memory_dim=3, time_dim=2)
    model = memory_lib.MemoryModel(cfg)
    state = memory_lib.init_state(cfg)
    batch = _batch([1, 2, 1], [2, 3, 4], [3, 3, 3], [1.0, 2.0, 3.0], [True, True, False])
    params = model.init(jax.random.PRNGKey(0), state, batch)
    apply = jax.jit(model.apply)
    _, _, aux = apply(params, state, batch)
    state = memory_lib.update_state(state, batch, aux, None, cfg)
    assert np.asarray(state.last_partner).tolist() == [0, 2, 3, 2, 0]   # 2's latest is (2, 3)
    assert np.asarray(state.last_time).tolist() == [0.0, 1.0, 2.0, 2.0, 0.0]
    np.testing.assert_allclose(np.asarray(state.memory[2]), np.asarray(aux["memory_src"][1]))
    batch2 = _batch([2], [1], [4], [7.0])
    _, _, aux2 = jax.jit(model.apply)(params, state, batch2)
    state = memory_lib.update_state(state, batch2, aux2, None, cfg)
    assert float(state.last_gap[2]) == 5.0 and float(state.last_gap[1]) == 6.0


def _closing_fraction(edges) -> float:
    adj: list[set] = [set() for _ in range(edges.num_nodes)]
    closes = 0
    for u, w in zip(edges.src.tolist(), edges.dst.tolist()):
        closes += any(w in adj[x] for x in adj[u] if x != w)
        adj[u].add(w)
        adj[w].add(u)
    return closes / edges.num_events


def test_triadic_stream_is_seeded_and_closes_triangles():
    a = triadic_closure_stream(200, 800, p_close=0.6, seed=3)
    b = triadic_closure_stream(200, 800, p_close=0.6, seed=3)
    np.testing.assert_array_equal(a.src, b.src)
    np.testing.assert_array_equal(a.t, b.t)
    assert np.all(a.src != a.dst) and np.all(np.diff(a.t) >= 0) and a.t.dtype == np.int64
    closing, random = _closing_fraction(a), _closing_fraction(
        triadic_closure_stream(200, 800, p_close=0.0, seed=3))
    assert closing > 0.4 and closing > random + 0.25, (closing, random)
    with pytest.raises(ValueError, match="p_close"):
        triadic_closure_stream(50, 10, p_close=1.5)


def test_experiment_smoke(tmp_path):
    from experiments import nat as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [
        "triadic_nodes=30", "triadic_events=400", "batch_size=20", "chunk_batches=4",
        "slots=4,2", "self_dim=4", "memory_dim=4", "attn_dim=4", "heads=1", "pos_dim=2",
        "memory_time_dim=2"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    entry = results["datasets"]["triadic"]
    for model in experiment.MODELS:
        assert len(entry[model]["transductive"]) == len(entry[model]["inductive"]) == config.n_seeds
        assert all(0.0 <= a <= 100.0 for a in entry[model]["transductive"])
        assert entry[model]["step_time"]["at_10_s"] > 0
    assert isinstance(claim.passed, bool) and "triadic" in claim.ours
    assert (tmp_path / results["plot"]).exists() and (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import nat as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text
