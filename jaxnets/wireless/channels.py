"""Simulated downlink channels for the wireless experiments (ICGNN, Sun et al., arXiv 2408.17252,
§II system models).

* `rayleigh`: i.i.d. Rayleigh small-scale fading, h_km ~ CN(0, 1) (real and imaginary parts
  N(0, 1/2)), the cellular MU-MIMO model of the paper's §II-A.
* `path_loss_db` / `large_scale_fading`: the 3GPP urban-micro style distance law
  PL(d) = 128.1 + 37.6 log10(d / km) dB with log-normal shadowing, giving large-scale gains
  beta_lk for users and transmitters dropped uniformly in a square (cell-free model, §II-B),
  normalised by the noise power.

Every function takes an explicit `key` and has static shapes, so batches are `jax.vmap` over keys.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["large_scale_fading", "path_loss_db", "rayleigh"]


def rayleigh(key: jax.Array, num_users: int, num_antennas: int,
             gain_KxM: jax.Array | None = None) -> jax.Array:
    """Rayleigh channel matrix H [K, M] (complex64): row k is user k's channel h_k^H.

    Args:
      key: PRNG key.
      num_users: K >= 1.
      num_antennas: M >= 1.
      gain_KxM: optional large-scale power gains beta [K, M] (>= 0); h_km ~ CN(0, beta_km).

    Returns:
      H [K, M] with E|h_km|^2 = beta_km (1 without gains).
    """
    if num_users < 1 or num_antennas < 1:
        raise ValueError(f"num_users and num_antennas must be >= 1, got {num_users}, "
                         f"{num_antennas}")
    re, im = jax.random.normal(key, (2, num_users, num_antennas), jnp.float32)
    h = (re + 1j * im).astype(jnp.complex64) / jnp.sqrt(2.0).astype(jnp.complex64)
    if gain_KxM is not None:
        if tuple(gain_KxM.shape) != (num_users, num_antennas):
            raise ValueError(f"gain_KxM must have shape {(num_users, num_antennas)}, got "
                             f"{tuple(gain_KxM.shape)}")
        h = h * jnp.sqrt(gain_KxM).astype(jnp.complex64)
    return h


def path_loss_db(distance_m: jax.Array, min_distance_m: float = 10.0) -> jax.Array:
    """Path loss in dB, PL(d) = 128.1 + 37.6 log10(d / 1 km), d clipped at `min_distance_m`."""
    d_km = jnp.maximum(distance_m, min_distance_m) / 1000.0
    return 128.1 + 37.6 * jnp.log10(d_km)


def large_scale_fading(key: jax.Array, num_tx: int, num_users: int, *, area_m: float = 500.0,
                       shadowing_db: float = 8.0, noise_dbm: float = -94.0,
                       tx_power_dbm: float = 23.0) -> jax.Array:
    """Large-scale gains beta [L, K] (linear, SNR units) for L transmitters and K users dropped
    uniformly in an `area_m` square: beta_lk = 10^((P_tx - PL(d_lk) + shadowing - noise) / 10)
    with shadowing ~ N(0, shadowing_db^2) dB; the square wraps around (a torus) so no node sits
    at an edge.

    Returns:
      beta [L, K], float32, the received SNR of a unit-gain link at full transmit power.
    """
    if num_tx < 1 or num_users < 1:
        raise ValueError(f"num_tx and num_users must be >= 1, got {num_tx}, {num_users}")
    k_tx, k_user, k_shadow = jax.random.split(key, 3)
    tx = jax.random.uniform(k_tx, (num_tx, 2), maxval=area_m)
    users = jax.random.uniform(k_user, (num_users, 2), maxval=area_m)
    diff = jnp.abs(tx[:, None, :] - users[None, :, :])
    diff = jnp.minimum(diff, area_m - diff)                       # wrap-around distance
    dist = jnp.sqrt(jnp.sum(diff ** 2, axis=-1))
    shadow = shadowing_db * jax.random.normal(k_shadow, (num_tx, num_users))
    gain_db = tx_power_dbm - path_loss_db(dist) + shadow - noise_dbm
    return (10.0 ** (gain_db / 10.0)).astype(jnp.float32)
