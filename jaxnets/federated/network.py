"""Network instrumentation for federated rounds: bytes on the wire, link-time models, round time.

The accounting of Hayek et al., "Federated Learning over 5G, WiFi, and Ethernet: Measurements and
Evaluation" (arXiv 2504.04678, 2025): a synchronous round splits, per client k, into downlink
time T_down,k, training time T_train,k and uplink time T_up,k, plus the server's aggregation
time T_agg; the round lasts as long as its slowest client (the straggler):

    T_round = max_k (T_down,k + T_train,k + T_up,k) + T_agg.

Link model (per transfer of B bytes over a link with goodput bw, one-way latency l):
    T = l + X + (8 B / bw) * M * (P + R) / P
  X ~ Exponential(mean `latency_jitter_ms`)             queueing / scheduling delay,
  M ~ LogNormal with E[M] = 1, std of log M = `throughput_sigma`   throughput variation
                                                                    (fading, contention),
  P = ceil(B / packet_bytes) packets, R ~ NegativeBinomial(P, 1 - loss_rate) retransmitted
  packets (each lost packet is sent again until it gets through; sampled by its moment-matched
  normal approximation, rounded and clipped at 0).
so E[T] = l + E[X] + 8 B / (bw (1 - loss_rate)) (`expected_link_time`). This is a model of the
accounting, not of a radio: real 5G/WiFi measurements need a testbed.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Params = Any


def pytree_bytes(tree: Params) -> int:
    """Bytes of all leaves of `tree` (size x itemsize), as sent uncompressed."""
    return int(sum(np.prod(np.shape(leaf), dtype=np.int64) * jnp.dtype(leaf.dtype).itemsize
                   for leaf in jax.tree_util.tree_leaves(tree)))


def client_row_bytes(stacked_updates: Params) -> int:
    """Bytes of one client's row of a stacked update pytree [K, ...]."""
    leaves = jax.tree_util.tree_leaves(stacked_updates)
    return int(sum(np.prod(np.shape(leaf)[1:], dtype=np.int64) * jnp.dtype(leaf.dtype).itemsize
                   for leaf in leaves))


def bits_to_bytes(bits: Any) -> np.ndarray:
    """Bytes needed for an encoded bit count (rounded up to whole bytes)."""
    return np.ceil(np.asarray(bits, np.float64) / 8.0).astype(np.int64)


def client_bytes(global_params: Params, num_clients: int,
                 encoded_bits_K: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(bytes_down [K], bytes_up [K]) of one round.

    Downlink: every client receives the global model (its pytree bytes). Uplink: each client
    sends an update shaped like the params (the same bytes) or, when a codec is used
    (FedZip), its encoded size `ceil(encoded_bits_K / 8)`.
    """
    model = pytree_bytes(global_params)
    down = np.full(num_clients, model, np.int64)
    if encoded_bits_K is None:
        return down, down.copy()
    up = bits_to_bytes(encoded_bits_K)
    if up.shape != (num_clients,):
        raise ValueError(f"encoded_bits_K must have shape [{num_clients}], got {up.shape}")
    return down, up


class LinkProfile(NamedTuple):
    """One direction of a network interface (a pytree of floats, so profiles stack and vmap).

    Attributes:
      bandwidth_mbps: goodput in Mbit/s.
      latency_ms: one-way base latency.
      latency_jitter_ms: mean of the exponential extra delay per transfer.
      throughput_sigma: std of log of the (mean-1) lognormal transfer-time multiplier.
      loss_rate: probability that a packet is lost and sent again, in [0, 1).
      packet_bytes: payload bytes per packet (MTU-sized).
    """

    bandwidth_mbps: float
    latency_ms: float
    latency_jitter_ms: float = 0.0
    throughput_sigma: float = 0.0
    loss_rate: float = 0.0
    packet_bytes: float = 1448.0


class InterfaceProfile(NamedTuple):
    """A network interface: its uplink (client -> server) and downlink profiles."""

    uplink: LinkProfile
    downlink: LinkProfile


def check_profile(profile: LinkProfile, name: str = "profile") -> None:
    """Raises ValueError naming the field of `profile` that is out of range."""
    checks = {"bandwidth_mbps": profile.bandwidth_mbps > 0, "latency_ms": profile.latency_ms >= 0,
              "latency_jitter_ms": profile.latency_jitter_ms >= 0,
              "throughput_sigma": profile.throughput_sigma >= 0,
              "loss_rate": 0 <= profile.loss_rate < 1, "packet_bytes": profile.packet_bytes > 0}
    for field, ok in checks.items():
        if not ok:
            raise ValueError(f"{name}.{field} is out of range: {getattr(profile, field)!r}")


def expected_link_time(profile: LinkProfile, num_bytes: Any) -> Any:
    """E[T] in seconds for `num_bytes` over the link (see the module docstring)."""
    serial = 8.0 * np.asarray(num_bytes, np.float64) / (profile.bandwidth_mbps * 1e6)
    return (profile.latency_ms + profile.latency_jitter_ms) / 1e3 + serial / (1 - profile.loss_rate)


@jax.jit
def sample_link_time(key: jax.Array, profile: LinkProfile, num_bytes: jax.Array) -> jax.Array:
    """One draw of the transfer time (seconds) of `num_bytes` (any shape; one draw per entry)."""
    num_bytes = jnp.asarray(num_bytes, jnp.float32)
    k_delay, k_mult, k_retx = jax.random.split(key, 3)
    shape = num_bytes.shape
    delay = profile.latency_jitter_ms * jax.random.exponential(k_delay, shape)
    sigma = jnp.asarray(profile.throughput_sigma, jnp.float32)
    multiplier = jnp.exp(sigma * jax.random.normal(k_mult, shape) - 0.5 * sigma ** 2)
    packets = jnp.maximum(jnp.ceil(num_bytes / profile.packet_bytes), 1.0)
    # NegativeBinomial(P, 1 - p) retransmissions, by its moment-matched normal approximation
    # (mean P p / (1 - p), variance P p / (1 - p)^2), rounded and clipped at 0: exact sampling
    # (a Gamma-Poisson mixture) costs ~10 s of compilation on a CPU for no visible difference at
    # the thousands of packets of a model update.
    loss = jnp.asarray(profile.loss_rate, jnp.float32)
    mean = packets * loss / (1.0 - loss)
    std = jnp.sqrt(packets * loss) / (1.0 - loss)
    retransmitted = jnp.maximum(jnp.round(mean + std * jax.random.normal(k_retx, shape)), 0.0)
    serial = 8.0 * num_bytes / (profile.bandwidth_mbps * 1e6)
    return ((profile.latency_ms + delay) / 1e3
            + serial * multiplier * (packets + retransmitted) / packets)


def calibrate_bandwidth(profile: LinkProfile, num_bytes: float, target_time_s: float) -> LinkProfile:
    """`profile` with the bandwidth for which E[T] of `num_bytes` equals `target_time_s`."""
    fixed = (profile.latency_ms + profile.latency_jitter_ms) / 1e3
    if target_time_s <= fixed:
        raise ValueError(f"target_time_s {target_time_s} must exceed the link's latency "
                         f"{fixed} s")
    bandwidth = 8.0 * num_bytes / ((target_time_s - fixed) * (1 - profile.loss_rate)) / 1e6
    return profile._replace(bandwidth_mbps=float(bandwidth))


@jax.jit
def round_times(t_down_K: jax.Array, t_train_K: jax.Array, t_up_K: jax.Array,
                t_agg: jax.Array, participating_K: jax.Array | None = None) -> dict:
    """The round accounting: per-client totals, the round time and its straggler.

    Args:
      t_down_K, t_train_K, t_up_K: [K] seconds per client.
      t_agg: the server's aggregation time (s).
      participating_K: [K] bool; clients not participating do not hold up the round.

    Returns:
      {"client_s": [K] T_down + T_train + T_up, "round_s": max over participating + T_agg,
       "straggler": index of the slowest client, "straggler_excess_s": max - mean of client_s}.
    """
    client = t_down_K + t_train_K + t_up_K
    if participating_K is None:
        participating_K = jnp.ones(client.shape, bool)
    masked = jnp.where(participating_K, client, -jnp.inf)
    slowest = jnp.max(masked)
    mean = jnp.sum(jnp.where(participating_K, client, 0.0)) / jnp.maximum(
        jnp.sum(participating_K), 1)
    return {"client_s": client, "round_s": jnp.maximum(slowest, 0.0) + t_agg,
            "straggler": jnp.argmax(masked), "straggler_excess_s": jnp.maximum(slowest - mean, 0.0)}


@jax.jit
def simulate_round_times(key: jax.Array, interface: InterfaceProfile, bytes_down_K: jax.Array,
                         bytes_up_K: jax.Array, t_train_K: jax.Array, t_agg: jax.Array,
                         participating_K: jax.Array | None = None) -> dict:
    """One round over `interface`: sampled T_down, T_up per client plus the given T_train, T_agg.

    Returns `round_times(...)` with "down_s" and "up_s" [K] added.
    """
    k_down, k_up = jax.random.split(key)
    t_down = sample_link_time(k_down, interface.downlink, bytes_down_K)
    t_up = sample_link_time(k_up, interface.uplink, bytes_up_K)
    out = round_times(t_down, t_train_K, t_up, t_agg, participating_K)
    out.update(down_s=t_down, up_s=t_up)
    return out


# Link profiles for the three interfaces of Hayek et al. (2025). The paper reports ratios, not
# link parameters, so these are *assumptions* of typical values: a Raspberry Pi 4 on gigabit
# Ethernet (sub-millisecond RTT, no loss, stable), on 802.11ac WiFi (a few ms, small loss, some
# variation), and on an OpenAirInterface 5G-NR SA cell driven by an SDR (uplink-limited TDD:
# ~20 Mbit/s up, 4x that down, ~10 ms one-way, ~1% residual loss, strong variation).
# `experiments/fl_network_time.py` recalibrates the Ethernet and WiFi uplink bandwidths so that
# the paper's uplink time ratios hold for its payload; the values below are those for a 5.04 MB
# update (the 1.26 M-parameter model there).
ETHERNET = InterfaceProfile(
    uplink=LinkProfile(bandwidth_mbps=655.0, latency_ms=0.15, latency_jitter_ms=0.05,
                       throughput_sigma=0.02),
    downlink=LinkProfile(bandwidth_mbps=940.0, latency_ms=0.15, latency_jitter_ms=0.05,
                         throughput_sigma=0.02))
WIFI = InterfaceProfile(
    uplink=LinkProfile(bandwidth_mbps=362.3, latency_ms=2.0, latency_jitter_ms=2.0,
                       throughput_sigma=0.15, loss_rate=0.002),
    downlink=LinkProfile(bandwidth_mbps=400.0, latency_ms=2.0, latency_jitter_ms=2.0,
                         throughput_sigma=0.15, loss_rate=0.002))
FIVE_G = InterfaceProfile(
    uplink=LinkProfile(bandwidth_mbps=20.0, latency_ms=10.0, latency_jitter_ms=10.0,
                       throughput_sigma=0.35, loss_rate=0.01),
    downlink=LinkProfile(bandwidth_mbps=80.0, latency_ms=10.0, latency_jitter_ms=10.0,
                         throughput_sigma=0.35, loss_rate=0.01))
PROFILES = {"5g": FIVE_G, "wifi": WIFI, "ethernet": ETHERNET}


def get_profile(name: str) -> InterfaceProfile:
    """An interface profile by name: "5g", "wifi" or "ethernet"."""
    if name not in PROFILES:
        raise ValueError(f"unknown interface {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]


@jax.jit
def simulate_rounds(key: jax.Array, interface: InterfaceProfile, bytes_down_K: jax.Array,
                    bytes_up_K: jax.Array, t_train_RxK: jax.Array, t_agg_R: jax.Array) -> dict:
    """`simulate_round_times` for R rounds at once (vmapped; round r uses `fold_in(key, r)`).

    Returns the same fields with a leading round axis: "down_s", "up_s", "client_s" [R, K],
    "round_s", "straggler", "straggler_excess_s" [R].
    """
    keys = jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(t_train_RxK.shape[0]))
    return jax.vmap(simulate_round_times, in_axes=(0, None, None, None, 0, 0))(
        keys, interface, bytes_down_K, bytes_up_K, t_train_RxK, t_agg_R)
