"""The ABR simulator (jaxnets.envs.abr) against hand-computed downloads and a plain-numpy
Pensieve reference, the QoE, BBA's reservoir/cushion map, RobustMPC against brute force, and
the FCC trace loader (jaxnets.data.abr_traces)."""
from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.data import abr_traces
from jaxnets.data._files import DataFileError
from jaxnets.envs import abr

ENV = abr.ABR()
RATE = 950_000.0      # bytes/s delivered by an 8 Mbit/s sample at 95 % payload


def _trace(time_s, bw):
    return abr.Trace(jnp.asarray(time_s, jnp.float32), jnp.asarray(bw, jnp.float32),
                     jnp.asarray(len(time_s), jnp.int32))


def _sizes(chunk_bytes):
    """[6, 49] sizes with every chunk of every level `chunk_bytes` (level q: (q + 1) x)."""
    return jnp.asarray(np.outer(np.arange(1, 7), np.full(49, chunk_bytes)), jnp.float32)


download = jax.jit(abr.download_chunk, static_argnums=0)


def test_constant_bandwidth_download_by_hand():
    trace = _trace(np.arange(100.0), np.full(100, 8.0))
    sizes = _sizes(1.5 * RATE)                        # level 0: 1.5 s of download
    sim = abr.SimState.start(trace, 1)
    sim, info = download(ENV, trace, sim, 0, sizes, 1.0)
    # 1.5 s of transfer + 80 ms RTT; the empty buffer rebuffers for all of it, then holds 4 s.
    np.testing.assert_allclose(info.delay_ms, 1580.0, rtol=1e-5)
    np.testing.assert_allclose(info.rebuf_s, 1.58, rtol=1e-5)
    np.testing.assert_allclose(info.buffer_s, 4.0, rtol=1e-6)
    assert int(sim.ptr) == 2 and float(info.sleep_ms) == 0.0
    np.testing.assert_allclose(sim.last_time, 1.5, rtol=1e-6)
    assert int(info.remain) == 47 and int(sim.chunk) == 1
    sim, info = download(ENV, trace, sim, 1, sizes, 1.1)   # 3 s at level 1, noise 1.1
    np.testing.assert_allclose(info.delay_ms, 3080.0 * 1.1, rtol=1e-5)
    np.testing.assert_allclose(info.rebuf_s, 0.0, atol=1e-6)
    np.testing.assert_allclose(info.buffer_s, 4.0 - 3.388 + 4.0, rtol=1e-5)
    np.testing.assert_allclose(sim.last_time, 4.5, rtol=1e-6)


def test_trace_wraps_to_sample_one():
    trace = _trace([0.0, 1.0, 2.0], [8.0, 8.0, 8.0])
    sim, info = download(ENV, trace, abr.SimState.start(trace, 1), 0, _sizes(2.5 * RATE), 1.0)
    # samples 1 and 2 (2 s), wrap to sample 1 at clock 0, half a second more.
    np.testing.assert_allclose(info.delay_ms, 2580.0, rtol=1e-5)
    assert int(sim.ptr) == 1
    np.testing.assert_allclose(sim.last_time, 0.5, rtol=1e-5)


def test_full_buffer_sleeps_in_half_seconds():
    trace = _trace(np.arange(100.0), np.full(100, 8.0))
    sim = abr.SimState.start(trace, 1).replace(buffer_ms=jnp.float32(59_000.0))
    sim, info = download(ENV, trace, sim, 0, _sizes(0.92 * RATE), 1.0)
    # delay 1000 ms -> buffer 58 s + 4 s = 62 s -> sleep ceil(2000 / 500) * 500 = 2000 ms.
    np.testing.assert_allclose(info.delay_ms, 1000.0, rtol=1e-5)
    np.testing.assert_allclose(info.sleep_ms, 2000.0, rtol=1e-6)
    np.testing.assert_allclose(info.buffer_s, 60.0, rtol=1e-6)
    np.testing.assert_allclose(sim.last_time, 2.92, rtol=1e-5)
    assert int(sim.ptr) == 3


def _numpy_pensieve(time_s, bw, sizes, levels, ptr):
    """Pensieve's get_video_chunk loop without noise, in float64 numpy: per-chunk
    (delay ms, rebuffer s, buffer s, sleep ms)."""
    last, buffer, out = time_s[ptr - 1], 0.0, []
    for chunk, q in enumerate(levels):
        size, sent, delay = sizes[q, chunk], 0.0, 0.0
        while True:
            rate = bw[ptr] * 1e6 / 8
            duration = time_s[ptr] - last
            payload = rate * duration * 0.95
            if sent + payload > size:
                frac = (size - sent) / rate / 0.95
                delay += frac
                last += frac
                break
            sent += payload
            delay += duration
            last = time_s[ptr]
            ptr += 1
            if ptr >= len(bw):
                ptr, last = 1, 0.0
        delay = delay * 1000 + 80
        rebuf = max(delay - buffer, 0.0)
        buffer = max(buffer - delay, 0.0) + 4000
        sleep = 0.0
        if buffer > 60000:
            sleep = np.ceil((buffer - 60000) / 500) * 500
            buffer -= sleep
            left = sleep
            while True:
                duration = time_s[ptr] - last
                if duration > left / 1000:
                    last += left / 1000
                    break
                left -= duration * 1000
                last = time_s[ptr]
                ptr += 1
                if ptr >= len(bw):
                    ptr, last = 1, 0.0
        out.append((delay, rebuf / 1000, buffer / 1000, sleep))
    return np.array(out)


def test_matches_numpy_reference_on_a_random_trace():
    rng = np.random.default_rng(0)
    n = 40
    time_s = np.concatenate([[0.0], np.cumsum(rng.uniform(0.5, 1.5, n - 1))])
    bw = rng.uniform(0.3, 6.0, n)
    sizes = rng.integers(100_000, 2_000_000, (6, 49)).astype(np.float64)
    levels = rng.integers(0, 6, 20)
    want = _numpy_pensieve(time_s, bw, sizes, levels, 5)
    trace = _trace(time_s, bw)
    sim = abr.SimState.start(trace, 5)
    got = []
    for q in levels:
        sim, info = download(ENV, trace, sim, int(q), jnp.asarray(sizes, jnp.float32), 1.0)
        got.append((info.delay_ms, info.rebuf_s, info.buffer_s, info.sleep_ms))
    np.testing.assert_allclose(np.array(got, np.float64), want, rtol=2e-4, atol=2e-3)


def test_qoe_formula():
    got = abr.qoe_reward(ENV, jnp.asarray(3), jnp.asarray(1), jnp.asarray(0.5))
    np.testing.assert_allclose(got, 1.85 - 4.3 * 0.5 - abs(1.85 - 0.75), rtol=1e-6)
    np.testing.assert_allclose(abr.qoe_reward(ENV, jnp.asarray(5), jnp.asarray(5), 0.0), 4.3)


def _obs(buffer_s=0.0, throughputs=(), remain=40, last_level=2):
    obs = np.zeros((6, 6), np.float32)
    obs[0, -1] = ENV.bitrates_kbps[last_level] / 4300
    obs[1, -1] = buffer_s / 10
    if throughputs:
        obs[2, -len(throughputs):] = throughputs
    obs[4, :] = np.array([0.2, 0.45, 0.7, 1.0, 1.6, 2.3])
    obs[5, -1] = remain / 48
    return jnp.asarray(obs)


@pytest.mark.parametrize("buffer_s,level", [(0.0, 0), (4.99, 0), (5.0, 0), (7.0, 1), (12.0, 3),
                                            (14.9, 4), (15.0, 5), (40.0, 5)])
def test_bba_reservoir_and_cushion(buffer_s, level):
    policy = abr.bba_policy(ENV)
    got, _ = policy((), _obs(buffer_s), 0.0, 0, jax.random.PRNGKey(0))
    assert int(got) == level


def test_mpc_matches_brute_force():
    rng = np.random.default_rng(1)
    sizes = rng.integers(100_000, 3_000_000, (6, 49)).astype(np.float32)
    policy, carry = abr.mpc_policy(ENV, jnp.asarray(sizes))
    policy = jax.jit(policy)
    rates = np.array(ENV.bitrates_kbps) / 1000
    for trial in range(4):
        tput = rng.uniform(0.1, 1.0, 6)
        remain = [40, 3, 30, 1][trial]
        buffer_s, last = rng.uniform(0, 20), int(rng.integers(6))
        obs = _obs(buffer_s, tuple(tput), remain, last)
        prev_est = rng.uniform(0.1, 1.0)
        errors = rng.uniform(0, 0.5, 5).astype(np.float32)
        state = carry.replace(last_estimate=jnp.float32(prev_est), errors=jnp.asarray(errors),
                              count=jnp.asarray(3))
        level, new = policy(state, obs, 0.0, 3, jax.random.PRNGKey(0))
        # reference: harmonic mean of the last 5, robust discount by the max of 5 errors.
        err = abs(prev_est - tput[-1]) / tput[-1]
        max_err = max(np.concatenate([errors[1:], [err]]))
        forecast = (5 / np.sum(1 / tput[-5:])) / (1 + max_err)
        downloaded, horizon = 48 - remain, min(5, remain)
        combos = np.array(list(itertools.product(range(6), repeat=horizon)))
        buf = np.full(len(combos), buffer_s)
        reb, score, prev = np.zeros(len(combos)), np.zeros(len(combos)), np.full(len(combos), last)
        for i in range(horizon):
            q = combos[:, i]
            dt = sizes[q, downloaded + i] / 1e6 / forecast
            reb += np.maximum(dt - buf, 0.0)
            buf = np.maximum(buf - dt, 0.0) + 4
            score += rates[q] - np.abs(rates[q] - rates[prev])
            prev = q
        best_level = combos[np.argmax(score - 4.3 * reb), 0]   # first best, in product order
        assert int(level) == best_level
        np.testing.assert_allclose(new.last_estimate, 5 / np.sum(1 / tput[-5:]), rtol=1e-5)


def test_rollout_shapes_rewards_and_determinism():
    trace = _trace(np.arange(300.0), np.full(300, 3.0))
    sizes = jnp.asarray(abr_traces_sizes())
    run = jax.jit(lambda k: abr.rollout(ENV, abr.bba_policy(ENV), (), trace, 1, sizes, k))
    episode = run(jax.random.PRNGKey(0))
    assert episode.states.shape == (47, 6, 6) and episode.actions.shape == (47,)
    assert episode.rewards.shape == (47,)
    # rewards are the QoE of chunks 1..47, played at the logged actions
    rates = np.array(ENV.bitrates_kbps)[np.asarray(episode.actions)] / 1000
    np.testing.assert_allclose(episode.bitrate_mbps, rates, rtol=1e-6)
    prev = np.concatenate([[0.3], rates[:-1]])
    want = rates - 4.3 * np.asarray(episode.rebuf_s) - np.abs(rates - prev)
    np.testing.assert_allclose(episode.rewards, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(abr.episode_qoe(episode), want.mean(), rtol=1e-5)
    np.testing.assert_allclose(episode.states[1:, 5, -1], (46 - np.arange(46)) / 48, rtol=1e-6)
    again = run(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(again.actions, episode.actions)


def abr_traces_sizes():
    rng = np.random.default_rng(2)
    return np.outer(np.array(ENV.bitrates_kbps) * 500, rng.uniform(0.8, 1.2, 49))


def test_loader_reads_the_shared_traces(data_root):
    sizes = abr_traces.load_video_sizes(data_root)
    assert sizes.shape == (6, 49) and np.all(np.diff(sizes[:, 0]) > 0)
    test = abr_traces.load_abr_traces("test", data_root, limit=3)
    assert len(test) == 3 and all(t[0] == 0.0 for t in test.time_s)
    time_s, bw, length = abr_traces.pad_traces(test)
    assert time_s.shape == bw.shape == (3, int(length.max()))
    abr_traces.verify_abr_fcc(data_root)


def test_loader_errors(tmp_path):
    with pytest.raises(DataFileError, match="abr-fcc"):
        abr_traces.load_video_sizes(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        abr_traces.load_abr_traces("dev", tmp_path)
