"""A chunk-level adaptive-bitrate (ABR) streaming simulator with BBA and RobustMPC, in JAX.

The simulator is the one of Pensieve (Mao et al., SIGCOMM 2017) as NetLLM ships it (Wu et al.,
SIGCOMM 2024, `adaptive_bitrate_streaming/baseline_special/env.py`), written here from its
description. A video of `total_chunks` 4-second chunks is downloaded over a throughput trace
(time s, Mbit/s), sample by sample: sample i delivers `bw_i * 1e6/8 * 0.95` bytes per second
(packet payload 95 %) during [last_time, time_i]; the trace wraps to sample 1 at its end. Then

    delay  = (download time + RTT 80 ms) * U[0.9, 1.1]          (no noise when `noise` is 1)
    rebuf  = max(delay - buffer, 0)
    buffer = max(buffer - delay, 0) + 4 s
    if buffer > 60 s: sleep ceil((buffer - 60 s) / 0.5 s) * 0.5 s, draining the buffer and
                      advancing the trace clock by the sleep.

QoE per chunk (Pensieve's linear QoE, NetLLM Sec. 5): bitrate (Mbps) - 4.3 * rebuffer (s) -
|bitrate - previous bitrate| (Mbps). An episode starts with chunk 0 at the default (lowest)
level; a policy then chooses the level of chunks 1..total_chunks-1 after observing each
download, and the episode QoE is the mean reward of chunks 1..total_chunks-1 (the first is
skipped, as in Pensieve and NetLLM).

The observation is Pensieve's 6 x 6 state (rows: last bitrate / 4300, buffer / 10 s, throughput
of the past 6 chunks in MB/s, their download times / 10 s, the next chunk's 6 sizes in MB, chunks
remaining / 48), shifted left by one column per chunk.

Everything is a pure function of arrays, so `rollout` runs an episode under `lax.scan` and
`jax.vmap` runs it over traces.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp

__all__ = ["ABR", "BITRATES_KBPS", "ChunkInfo", "Episode", "MPCCarry", "Policy", "SimState",
           "Trace", "bba_policy", "download_chunk", "episode_qoe", "mpc_policy", "observe",
           "qoe_reward", "random_policy", "rollout"]

BITRATES_KBPS = (300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0)


@dataclasses.dataclass(frozen=True)
class ABR:
    """Constants of the simulator and the QoE (Pensieve / NetLLM defaults)."""

    bitrates_kbps: tuple[float, ...] = BITRATES_KBPS
    total_chunks: int = 48
    chunk_ms: float = 4000.0
    buffer_cap_ms: float = 60000.0
    drain_ms: float = 500.0
    payload: float = 0.95
    rtt_ms: float = 80.0
    noise_low: float = 0.9
    noise_high: float = 1.1
    rebuf_penalty: float = 4.3
    smooth_penalty: float = 1.0
    default_level: int = 0
    buffer_norm_s: float = 10.0
    history: int = 6

    @property
    def num_levels(self) -> int:
        return len(self.bitrates_kbps)


@flax.struct.dataclass
class Trace:
    """One throughput trace, padded: time_s [T] (from 0), bw_mbps [T], length [] (valid rows)."""

    time_s: jax.Array
    bw_mbps: jax.Array
    length: jax.Array


@flax.struct.dataclass
class SimState:
    """Player and link state: trace pointer, trace clock (s), buffer (ms), chunks downloaded."""

    ptr: jax.Array
    last_time: jax.Array
    buffer_ms: jax.Array
    chunk: jax.Array

    @classmethod
    def start(cls, trace: Trace, ptr: jax.Array) -> "SimState":
        """The player at `ptr` (1 <= ptr < length), clock at the previous sample's time."""
        ptr = jnp.asarray(ptr, jnp.int32)
        return cls(ptr=ptr, last_time=trace.time_s[ptr - 1],
                   buffer_ms=jnp.zeros((), jnp.float32), chunk=jnp.zeros((), jnp.int32))


@flax.struct.dataclass
class ChunkInfo:
    """What the player sees after one download (scalars; next_sizes [levels] in bytes)."""

    delay_ms: jax.Array
    sleep_ms: jax.Array
    buffer_s: jax.Array
    rebuf_s: jax.Array
    chunk_bytes: jax.Array
    next_sizes: jax.Array
    remain: jax.Array


def _advance(trace: Trace, ptr: jax.Array) -> tuple[jax.Array, jax.Array]:
    """ptr + 1, wrapping to sample 1 (clock 0) at the end of the trace: (ptr, wrapped)."""
    nxt = ptr + 1
    wrapped = nxt >= trace.length
    return jnp.where(wrapped, 1, nxt), wrapped


def download_chunk(env: ABR, trace: Trace, sim: SimState, level: jax.Array,
                   video_sizes_QxC: jax.Array, noise: jax.Array = 1.0
                   ) -> tuple[SimState, ChunkInfo]:
    """Downloads the next chunk at `level` (Pensieve's `get_video_chunk`).

    Args:
      env: constants.
      trace: the throughput trace.
      sim: the current state.
      level: int scalar in [0, levels).
      video_sizes_QxC: chunk sizes in bytes, [levels, >= total_chunks + 1].
      noise: the delay's multiplicative noise (draw U[0.9, 1.1], or 1 for a fixed run).
    Returns:
      (new state, ChunkInfo).
    """
    size = video_sizes_QxC[level, sim.chunk].astype(jnp.float32)
    bytes_per_s = lambda p: trace.bw_mbps[p] * (1e6 / 8.0)

    def not_done(c):
        return ~c[4]

    def body(c):
        ptr, last, sent, delay, _ = c
        rate = bytes_per_s(ptr)
        duration = trace.time_s[ptr] - last
        payload = rate * duration * env.payload
        finish = sent + payload > size
        fraction = (size - sent) / jnp.maximum(rate, 1e-30) / env.payload
        nptr, wrapped = _advance(trace, ptr)
        return (jnp.where(finish, ptr, nptr),
                jnp.where(finish, last + fraction, jnp.where(wrapped, 0.0, trace.time_s[ptr])),
                jnp.where(finish, sent, sent + payload),
                delay + jnp.where(finish, fraction, duration),
                finish)

    zero = jnp.zeros((), jnp.float32)
    ptr, last, _, delay_s, _ = jax.lax.while_loop(
        not_done, body, (sim.ptr, sim.last_time, zero, zero, jnp.asarray(False)))
    delay = (delay_s * 1000.0 + env.rtt_ms) * noise
    rebuf = jnp.maximum(delay - sim.buffer_ms, 0.0)
    buffer = jnp.maximum(sim.buffer_ms - delay, 0.0) + env.chunk_ms
    excess = buffer - env.buffer_cap_ms
    sleep = jnp.where(excess > 0, jnp.ceil(excess / env.drain_ms) * env.drain_ms, 0.0)
    buffer = buffer - sleep

    def sleeping(c):
        return ~c[3]

    def sleep_body(c):
        ptr, last, left, _ = c
        duration = trace.time_s[ptr] - last
        inside = duration > left / 1000.0
        nptr, wrapped = _advance(trace, ptr)
        return (jnp.where(inside, ptr, nptr),
                jnp.where(inside, last + left / 1000.0,
                          jnp.where(wrapped, 0.0, trace.time_s[ptr])),
                jnp.where(inside, left, left - duration * 1000.0), inside)

    ptr, last, _, _ = jax.lax.while_loop(sleeping, sleep_body, (ptr, last, sleep, sleep <= 0))
    chunk = sim.chunk + 1
    info = ChunkInfo(delay_ms=delay, sleep_ms=sleep, buffer_s=buffer / 1000.0,
                     rebuf_s=rebuf / 1000.0, chunk_bytes=size,
                     next_sizes=video_sizes_QxC[:, chunk].astype(jnp.float32),
                     remain=env.total_chunks - chunk)
    return SimState(ptr=ptr, last_time=last, buffer_ms=buffer, chunk=chunk), info


def qoe_reward(env: ABR, level: jax.Array, last_level: jax.Array, rebuf_s: jax.Array
               ) -> jax.Array:
    """Linear QoE of one chunk: bitrate - 4.3 rebuffer - |delta bitrate| (Mbps, s)."""
    rates = jnp.asarray(env.bitrates_kbps) / 1000.0
    return (rates[level] - env.rebuf_penalty * rebuf_s
            - env.smooth_penalty * jnp.abs(rates[level] - rates[last_level]))


def observe(env: ABR, obs_6xH: jax.Array, level: jax.Array, info: ChunkInfo) -> jax.Array:
    """Pensieve's state update: shift the history left one column and write the new chunk."""
    obs = jnp.roll(obs_6xH, -1, axis=-1)
    obs = obs.at[0, -1].set(jnp.asarray(env.bitrates_kbps)[level] / max(env.bitrates_kbps))
    obs = obs.at[1, -1].set(info.buffer_s / env.buffer_norm_s)
    obs = obs.at[2, -1].set(info.chunk_bytes / info.delay_ms / 1000.0)       # MB/s
    obs = obs.at[3, -1].set(info.delay_ms / 1000.0 / env.buffer_norm_s)
    obs = obs.at[4, :env.num_levels].set(info.next_sizes / 1e6)               # MB
    cap = float(env.total_chunks)
    return obs.at[5, -1].set(jnp.minimum(info.remain, cap) / cap)


# A policy maps (carry, obs [6, H], reward of the chunk just played, step, key) to
# (level, carry); `step` counts decisions from 0 within the episode.
Policy = Callable[[Any, jax.Array, jax.Array, jax.Array, jax.Array], tuple[jax.Array, Any]]


@flax.struct.dataclass
class Episode:
    """One episode's decisions t = 0..N-1 (N = total_chunks - 1).

    states [N, 6, H]: the observation before decision t (after chunk t was played);
    actions [N]: the level of chunk t+1; rewards [N]: the QoE of chunk t+1;
    rebuf_s, bitrate_mbps [N]: that chunk's rebuffering and bitrate.
    """

    states: jax.Array
    actions: jax.Array
    rewards: jax.Array
    rebuf_s: jax.Array
    bitrate_mbps: jax.Array


def rollout(env: ABR, policy: Policy, policy_carry: Any, trace: Trace, start_ptr: jax.Array,
            video_sizes_QxC: jax.Array, key: jax.Array, fixed: bool = False) -> Episode:
    """Streams one video over `trace` under `policy` (one `lax.scan` over the chunks).

    Args:
      env: constants; policy / policy_carry: the policy and its initial carry.
      trace: the throughput trace; start_ptr: its first sample (1 <= start_ptr < length).
      video_sizes_QxC: [levels, >= total_chunks + 1] bytes.
      key: for the delay noise and the policy.
      fixed: no delay noise.
    """
    sim = SimState.start(trace, start_ptr)
    obs = jnp.zeros((6, env.history), jnp.float32)

    def chunk_step(carry, index):
        sim, obs, level, last_level, pcarry = carry
        noise_key, policy_key = jax.random.split(jax.random.fold_in(key, index))
        noise = 1.0 if fixed else jax.random.uniform(
            noise_key, (), minval=env.noise_low, maxval=env.noise_high)
        sim, info = download_chunk(env, trace, sim, level, video_sizes_QxC, noise)
        reward = qoe_reward(env, level, last_level, info.rebuf_s)
        obs = observe(env, obs, level, info)
        next_level, pcarry = policy(pcarry, obs, reward, index, policy_key)
        next_level = jnp.asarray(next_level, jnp.int32)
        out = (obs, next_level, reward, info.rebuf_s,
               jnp.asarray(env.bitrates_kbps)[level] / 1000.0)
        return (sim, obs, next_level, level, pcarry), out

    level0 = jnp.asarray(env.default_level, jnp.int32)
    _, (states, actions, rewards, rebuf, rate) = jax.lax.scan(
        chunk_step, (sim, obs, level0, level0, policy_carry), jnp.arange(env.total_chunks))
    return Episode(states=states[:-1], actions=actions[:-1], rewards=rewards[1:],
                   rebuf_s=rebuf[1:], bitrate_mbps=rate[1:])


def episode_qoe(episode: Episode) -> jax.Array:
    """Mean QoE per chunk over chunks 1..N (the first chunk is skipped)."""
    return jnp.mean(episode.rewards, axis=-1)


def bba_policy(env: ABR, reservoir_s: float = 5.0, cushion_s: float = 10.0) -> Policy:
    """Buffer-based adaptation (Huang et al., SIGCOMM 2014, as in Pensieve's `bb.py`): the lowest
    level below the reservoir, the highest above reservoir + cushion, and in between the level
    floor((levels - 1) * (buffer - reservoir) / cushion)."""
    top = env.num_levels - 1

    def policy(carry, obs, reward, step, key):
        buffer_s = obs[1, -1] * env.buffer_norm_s
        ramp = jnp.floor(top * (buffer_s - reservoir_s) / cushion_s).astype(jnp.int32)
        level = jnp.where(buffer_s < reservoir_s, 0,
                          jnp.where(buffer_s >= reservoir_s + cushion_s, top, ramp))
        return jnp.clip(level, 0, top), carry

    return policy


def random_policy(env: ABR, epsilon: float, base: Policy) -> Policy:
    """epsilon-random: a uniform level with probability epsilon, else `base`'s choice."""

    def policy(carry, obs, reward, step, key):
        explore_key, level_key, base_key = jax.random.split(key, 3)
        level, carry = base(carry, obs, reward, step, base_key)
        uniform = jax.random.randint(level_key, (), 0, env.num_levels)
        return jnp.where(jax.random.uniform(explore_key) < epsilon, uniform, level), carry

    return policy


@flax.struct.dataclass
class MPCCarry:
    """RobustMPC's memory: past harmonic-mean estimates and their relative errors."""

    last_estimate: jax.Array
    errors: jax.Array      # [horizon], most recent last
    count: jax.Array       # decisions made so far


def mpc_policy(env: ABR, video_sizes_QxC: jax.Array, horizon: int = 5
               ) -> tuple[Policy, MPCCarry]:
    """RobustMPC (Yin et al., SIGCOMM 2015, as in Pensieve's `mpc.py`).

    Throughput forecast: the harmonic mean of the last 5 chunk throughputs, divided by
    (1 + the largest relative forecast error of the last 5 decisions). Every level sequence of
    the next min(horizon, chunks left) chunks is simulated with that throughput (download time
    = size / forecast, buffer drained and refilled by 4 s, no cap), and the first level of the
    sequence with the highest QoE (bitrate - 4.3 rebuffer - smoothness, summed) is played.
    Differs from Pensieve's script only in indexing the chunk sizes from the next chunk (the
    script starts one chunk later).

    Args:
      env: constants; video_sizes_QxC: [levels, chunks] bytes; horizon: look-ahead in chunks.
    Returns:
      (policy, its initial carry).
    """
    combos = jnp.asarray(list(itertools.product(range(env.num_levels), repeat=horizon)),
                         jnp.int32)
    rates = jnp.asarray(env.bitrates_kbps) / 1000.0
    sizes = jnp.asarray(video_sizes_QxC, jnp.float32)
    init = MPCCarry(last_estimate=jnp.zeros((), jnp.float32),
                    errors=jnp.zeros((horizon,), jnp.float32), count=jnp.zeros((), jnp.int32))

    def policy(carry: MPCCarry, obs, reward, step, key):
        measured = obs[2, -1]
        error = jnp.where(carry.count > 0,
                          jnp.abs(carry.last_estimate - measured) / measured, 0.0)
        errors = jnp.roll(carry.errors, -1).at[-1].set(error)
        window = obs[2, -5:]
        valid = window > 0
        inverse = jnp.where(valid, 1.0 / jnp.where(valid, window, 1.0), 0.0)
        harmonic = jnp.sum(valid) / jnp.sum(inverse)
        forecast = harmonic / (1.0 + jnp.max(errors))                 # MB/s
        downloaded = (env.total_chunks - jnp.round(obs[5, -1] * env.total_chunks)).astype(
            jnp.int32)
        left = env.total_chunks - downloaded
        last_level = jnp.argmin(jnp.abs(rates * 1000.0 / max(env.bitrates_kbps) - obs[0, -1]))
        buffer = obs[1, -1] * env.buffer_norm_s
        rebuf = jnp.zeros(len(combos))
        total = jnp.zeros(len(combos))
        prev = jnp.full(len(combos), last_level)
        for position in range(horizon):
            active = position < left
            chunk = jnp.minimum(downloaded + position, sizes.shape[1] - 1)
            level = combos[:, position]
            download = sizes[level, chunk] / 1e6 / forecast
            rebuf = rebuf + jnp.where(active, jnp.maximum(download - buffer, 0.0), 0.0)
            buffer = jnp.where(active, jnp.maximum(buffer - download, 0.0)
                               + env.chunk_ms / 1000.0, buffer)
            total = total + jnp.where(active, rates[level] - env.smooth_penalty
                                      * jnp.abs(rates[level] - rates[prev]), 0.0)
            prev = jnp.where(active, level, prev)
        level = combos[jnp.argmax(total - env.rebuf_penalty * rebuf), 0]
        return level, MPCCarry(last_estimate=harmonic, errors=errors, count=carry.count + 1)

    return policy, init
