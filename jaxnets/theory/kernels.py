"""Infinite-width kernel recursions and criticality (Roberts, Yaida & Hanin, "The Principles of
Deep Learning Theory", 2106.10165, chapters 4–5).

The network is the book's MLP (§2.1):
    z^{(1)}_i = b^{(1)}_i + Σ_j W^{(1)}_ij x_j,   z^{(l+1)}_i = b^{(l+1)}_i + Σ_j W^{(l+1)}_ij σ(z^{(l)}_j),
with b ~ N(0, C_b) and W_ij ~ N(0, C_W / n_{l}) (fan-in n_l, input width n_0). At infinite width
each preactivation is Gaussian with the kernel of the leading-order recursion (chapter 4)
    K^{(1)}_αβ = C_b + C_W x_α·x_β / n_0,    K^{(l+1)}_αβ = C_b + C_W ⟨σ(z_α) σ(z_β)⟩_{K^{(l)}}.

Criticality (§5.1–5.3): perturbing a fixed point K* of the single-input recursion, a change of the
diagonal is multiplied per layer by the parallel susceptibility (§5.1)
    χ_∥(K) = C_W d⟨σ²⟩_K/dK = (C_W / 2K²) ⟨σ(z)² (z² − K)⟩_K,
and a change of the off-diagonal (the distance of two nearby inputs) by the perpendicular one
(§5.1)    χ_⊥(K) = C_W ⟨σ'(z)²⟩_K.
Criticality is χ_∥ = χ_⊥ = 1: C_b = 0, C_W = 1 (linear); C_b = 0, C_W = 1/A_2 = 2 for ReLU and any
scale-invariant σ (§5.2, A_2 = (a_+² + a_-²)/2); C_b = 0, C_W = 1/σ'(0)² = 1 for tanh, whose
fixed point is K* = 0 (§5.3; the kernel then decays as a power law, K^{(l)} ≈ 1/(2l) for tanh).
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from jaxnets.theory.gaussian import (
    DEFAULT_ORDER, DEFAULT_PAIR_ORDER, bivariate_gaussian_expectation, gaussian_expectation)

Array = jnp.ndarray
Activation = Callable[[Array], Array]

ACTIVATIONS: dict[str, Activation] = {
    "linear": lambda z: z,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
}


def get_activation(name: str) -> Activation:
    """The activation called `name` (one of ACTIVATIONS)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _check_init(c_b: float, c_w: float) -> None:
    if c_b < 0 or c_w <= 0:
        raise ValueError(f"need C_b >= 0 and C_W > 0 (variances), got C_b={c_b}, C_W={c_w}")


def _check_depth(depth: int) -> None:
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")


def first_layer_kernel(inputs_PxN0, c_b: float, c_w: float) -> Array:
    """K^{(1)}_αβ = C_b + C_W x_α·x_β / n_0 (the first-layer kernel, §4.1), shape (P, P)."""
    _check_init(c_b, c_w)
    x = jnp.asarray(inputs_PxN0, jnp.float32)
    if x.ndim != 2:
        raise ValueError(f"inputs_PxN0 must have shape (P, n_0), got {x.shape}")
    return c_b + c_w * (x @ x.T) / x.shape[1]


def kernel_map(sigma: Activation, c_b: float, c_w: float, kernel, order: int = DEFAULT_ORDER) -> Array:
    """One step of the single-input recursion: C_b + C_W ⟨σ(z)²⟩_K (scalar)."""
    return c_b + c_w * gaussian_expectation(lambda z: sigma(z) ** 2, kernel, order)


def kernel_recursion(
    sigma: Activation, c_b: float, c_w: float, k_first, depth: int, order: int = DEFAULT_ORDER
) -> Array:
    """Single-input kernels K^{(1)}, ..., K^{(depth)} of the infinite-width network, shape (depth,).

    Args:
      sigma: the activation.
      c_b, c_w: bias and weight variances (the same in every layer).
      k_first: K^{(1)} (see `first_layer_kernel`).
      depth: number of layers L.
      order: Gauss–Hermite nodes.
    """
    _check_init(c_b, c_w)
    _check_depth(depth)
    return _kernel_recursion(sigma, jnp.float32(c_b), jnp.float32(c_w),
                             jnp.asarray(k_first, jnp.float32), depth, order)


@functools.partial(jax.jit, static_argnums=(0, 4, 5))  # one compile per activation and depth
def _kernel_recursion(sigma, c_b, c_w, k_first, depth, order):
    def step(kernel, _):
        following = kernel_map(sigma, c_b, c_w, kernel, order)
        return following, following

    _, rest = jax.lax.scan(step, k_first, None, length=depth - 1)
    return jnp.concatenate([k_first[None], rest])


def pair_kernel_map(
    sigma: Activation, c_b: float, c_w: float, kernel_2x2, order: int = DEFAULT_PAIR_ORDER
) -> Array:
    """One step of the two-input recursion, K_αβ ← C_b + C_W ⟨σ(z_α)σ(z_β)⟩_K, shape (2, 2)."""
    kernel_2x2 = jnp.asarray(kernel_2x2, jnp.float32)
    diagonal = jax.vmap(lambda k: gaussian_expectation(lambda z: sigma(z) ** 2, k))(
        jnp.diagonal(kernel_2x2))
    cross = bivariate_gaussian_expectation(lambda a, b: sigma(a) * sigma(b), kernel_2x2, order)
    return c_b + c_w * jnp.array([[diagonal[0], cross], [cross, diagonal[1]]])


def pair_kernel_recursion(
    sigma: Activation, c_b: float, c_w: float, k_first_2x2, depth: int,
    order: int = DEFAULT_PAIR_ORDER,
) -> Array:
    """Two-input kernels K^{(l)}_αβ for l = 1..depth, shape (depth, 2, 2) (the book's chapter 4)."""
    _check_init(c_b, c_w)
    _check_depth(depth)
    k_first = jnp.asarray(k_first_2x2, jnp.float32)
    if k_first.shape != (2, 2):
        raise ValueError(f"k_first_2x2 must have shape (2, 2), got {k_first.shape}")
    return _pair_kernel_recursion(sigma, jnp.float32(c_b), jnp.float32(c_w), k_first, depth, order)


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _pair_kernel_recursion(sigma, c_b, c_w, k_first, depth, order):
    def step(kernel, _):
        following = pair_kernel_map(sigma, c_b, c_w, kernel, order)
        return following, following

    _, rest = jax.lax.scan(step, k_first, None, length=depth - 1)
    return jnp.concatenate([k_first[None], rest])


def parallel_susceptibility(sigma: Activation, c_w: float, kernel, order: int = DEFAULT_ORDER) -> Array:
    """χ_∥(K) = (C_W / 2K²) ⟨σ(z)² (z² − K)⟩_K (the book's §5.1); equals C_W d⟨σ²⟩_K/dK."""
    return _parallel_susceptibility(sigma, jnp.float32(c_w), jnp.asarray(kernel, jnp.float32), order)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _parallel_susceptibility(sigma, c_w, kernel, order):
    moment = gaussian_expectation(lambda z: sigma(z) ** 2 * (z**2 - kernel), kernel, order)
    return c_w * moment / (2.0 * kernel**2)


def perpendicular_susceptibility(
    sigma: Activation, c_w: float, kernel, order: int = DEFAULT_ORDER
) -> Array:
    """χ_⊥(K) = C_W ⟨σ'(z)²⟩_K (the book's §5.1); σ' by automatic differentiation."""
    return _perpendicular_susceptibility(sigma, jnp.float32(c_w), jnp.asarray(kernel, jnp.float32),
                                         order)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _perpendicular_susceptibility(sigma, c_w, kernel, order):
    derivative = jax.vmap(jax.grad(lambda z: sigma(z)))
    return c_w * gaussian_expectation(lambda z: derivative(z) ** 2, kernel, order)


def scale_invariant_critical_c_w(sigma: Activation, order: int = DEFAULT_ORDER) -> Array:
    """C_W = 1 / A_2 with A_2 = ⟨σ(z)²⟩_{K=1} (the book's §5.2, C_b = 0): criticality for
    σ(z) = a_+ z (z >= 0), a_- z (z < 0), where χ_∥ = χ_⊥ = C_W A_2 for every K."""
    return 1.0 / gaussian_expectation(lambda z: sigma(z) ** 2, 1.0, order)


def zero_fixed_point_critical_c_w(sigma: Activation) -> Array:
    """C_W = 1 / σ'(0)² (the book's §5.3, C_b = 0): criticality of the K* = 0 class
    (σ(0) = 0, σ'(0) != 0, e.g. tanh), where χ_∥ = χ_⊥ → 1 as K → 0."""
    slope = jax.grad(lambda z: sigma(z))(jnp.float32(0.0))
    return 1.0 / slope**2
