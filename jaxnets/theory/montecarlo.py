"""Monte Carlo over random MLP initialisations: preactivation moments of thousands of networks
under `jax.vmap`, to check the kernel and four-point recursions (Roberts, Yaida & Hanin, "The
Principles of Deep Learning Theory", 2106.10165; their ensembles of §2.3).

Each network is the book's MLP with Gaussian biases b ~ N(0, C_b) and weights W ~ N(0, C_W / fan-in),
widths n_0 (input), n, n, ..., n (depth layers). Several initialisations ("configs": an activation
with its C_b, C_W) are propagated through the *same* standard-normal weights, rescaled per config:
each config's statistics are those of its own ensemble, and sharing the draws makes the random
numbers, the dominant cost, one set for all configs. Weights are drawn layer by layer inside a
`lax.scan`; networks run in chunks of `chunk_size` under `vmap` (`lax.map` over chunks), so memory
is O(chunk_size · n²).

Per network and layer we keep neuron averages (every neuron of a layer has the same law):
    second_{αβ} = (1/n) Σ_i z_{i;α} z_{i;β},   fourth_α = (1/n) Σ_i z_{i;α}⁴,
whose means over networks are unbiased for E[z_α z_β] and E[z_α⁴]. Networks are independent, so
standard errors come from a bootstrap over networks.
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from jaxnets.theory.kernels import get_activation

Array = jnp.ndarray


class EnsembleMoments(NamedTuple):
    """Per-network neuron-averaged moments.

    Attributes:
      second: shape (networks, depth, configs, P, P), (1/n) Σ_i z_{i;α} z_{i;β}.
      fourth: shape (networks, depth, configs, P), (1/n) Σ_i z_{i;α}⁴.
    """

    second: Array
    fourth: Array


def _check_configs(activations, c_b, c_w) -> None:
    if not (len(activations) == len(c_b) == len(c_w)) or not activations:
        raise ValueError(
            f"activations, c_b and c_w must be non-empty and of equal length, got "
            f"{len(activations)}, {len(c_b)}, {len(c_w)}")
    for name, bias, weight in zip(activations, c_b, c_w):
        get_activation(name)
        if bias < 0 or weight <= 0:
            raise ValueError(f"config {name!r}: need C_b >= 0, C_W > 0, got {bias}, {weight}")


def network_preactivations(
    key: Array, inputs_PxN0: Array, width: int, depth: int, activations: Sequence[str],
    c_b: Sequence[float], c_w: Sequence[float],
) -> Array:
    """Preactivations z^{(l)}_{i;α} of one random network for every config.

    Args:
      key: PRNG key of this network.
      inputs_PxN0: P inputs of width n_0.
      width: hidden width n.
      depth: number of layers L (z^{(1)} .. z^{(L)}).
      activations, c_b, c_w: one entry per config (see the module docstring).

    Returns:
      z, shape (depth, configs, width, P).
    """
    _check_configs(activations, c_b, c_w)
    x = jnp.asarray(inputs_PxN0, jnp.float32)
    sigmas = [get_activation(name) for name in activations]
    bias_scale = jnp.sqrt(jnp.asarray(c_b, jnp.float32))[:, None, None]
    weight_scale = jnp.sqrt(jnp.asarray(c_w, jnp.float32))[:, None, None]
    keys = jax.random.split(key, depth)
    draws = jax.random.normal(keys[0], (width, x.shape[1] + 1))  # [W | b], standard normal
    w, b = draws[:, :-1], draws[:, -1]
    z = bias_scale * b[None, :, None] + weight_scale * (w @ x.T)[None] / jnp.sqrt(x.shape[1])

    def layer(z_CxNxP, layer_key):
        draws = jax.random.normal(layer_key, (width, width + 1))
        w, b = draws[:, :-1], draws[:, -1]
        post = jnp.stack([sigma(z_CxNxP[c]) for c, sigma in enumerate(sigmas)])
        following = (bias_scale * b[None, :, None]
                     + weight_scale * jnp.einsum("ij,cjp->cip", w, post) / jnp.sqrt(width))
        return following, following

    if depth == 1:
        return z[None]
    _, rest = jax.lax.scan(layer, z, keys[1:])
    return jnp.concatenate([z[None], rest])


def ensemble_moments(
    key: Array, inputs_PxN0: Array, width: int, depth: int, activations: Sequence[str],
    c_b: Sequence[float], c_w: Sequence[float], num_networks: int, chunk_size: int = 500,
) -> EnsembleMoments:
    """Neuron-averaged second and fourth moments of `num_networks` random networks.

    Networks run `chunk_size` at a time under `vmap`; `num_networks` must be a multiple of it.
    """
    if num_networks < 1 or chunk_size < 1 or num_networks % chunk_size:
        raise ValueError(f"num_networks ({num_networks}) must be a positive multiple of "
                         f"chunk_size ({chunk_size})")
    if width < 1 or depth < 1:
        raise ValueError(f"width and depth must be >= 1, got {width}, {depth}")
    x = jnp.asarray(inputs_PxN0, jnp.float32)
    if x.ndim != 2:
        raise ValueError(f"inputs_PxN0 must have shape (P, n_0), got {x.shape}")
    _check_configs(activations, c_b, c_w)
    return _ensemble_moments(key, x, width, depth, tuple(activations), tuple(map(float, c_b)),
                             tuple(map(float, c_w)), num_networks, chunk_size)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6, 7, 8))
def _ensemble_moments(key, x, width, depth, activations, c_b, c_w, num_networks, chunk_size):
    def moments(network_key):
        z = network_preactivations(network_key, x, width, depth, activations, c_b, c_w)
        second = jnp.einsum("lcip,lciq->lcpq", z, z) / width
        return second, jnp.mean(z**4, axis=2)

    keys = jax.random.split(key, num_networks).reshape(num_networks // chunk_size, chunk_size, -1)
    second, fourth = jax.lax.map(jax.vmap(moments), keys)
    return EnsembleMoments(second.reshape(num_networks, *second.shape[2:]),
                           fourth.reshape(num_networks, *fourth.shape[2:]))


class MomentEstimates(NamedTuple):
    """Ensemble estimates and bootstrap standard errors (suffix _se).

    Attributes:
      kernel: E[z_α z_β], shape (depth, configs, P, P).
      kurtosis: E[z_α⁴] / E[z_α²]², shape (depth, configs, P).
    """

    kernel: Array
    kernel_se: Array
    kurtosis: Array
    kurtosis_se: Array


def estimate_moments(moments: EnsembleMoments, key: Array, num_bootstrap: int = 200) -> MomentEstimates:
    """Means over networks and bootstrap (resampling networks) standard errors."""
    if num_bootstrap < 2:
        raise ValueError(f"num_bootstrap must be >= 2, got {num_bootstrap}")
    return _estimate(moments, key, num_bootstrap)


def _statistics(weights_N, second, fourth):
    total = jnp.sum(weights_N)
    kernel = jnp.tensordot(weights_N, second, axes=1) / total
    fourth_mean = jnp.tensordot(weights_N, fourth, axes=1) / total
    diagonal = jnp.diagonal(kernel, axis1=-2, axis2=-1)
    return kernel, fourth_mean / diagonal**2


@functools.partial(jax.jit, static_argnums=2)
def _estimate(moments, key, num_bootstrap):
    second, fourth = moments
    n = second.shape[0]
    kernel, kurtosis = _statistics(jnp.ones((n,), jnp.float32), second, fourth)

    def replicate(replicate_key):
        picks = jax.random.randint(replicate_key, (n,), 0, n)
        counts = jnp.zeros((n,), jnp.float32).at[picks].add(1.0)
        return _statistics(counts, second, fourth)

    kernels, kurtoses = jax.lax.map(replicate, jax.random.split(key, num_bootstrap))
    return MomentEstimates(kernel, jnp.std(kernels, axis=0, ddof=1), kurtosis,
                           jnp.std(kurtoses, axis=0, ddof=1))
