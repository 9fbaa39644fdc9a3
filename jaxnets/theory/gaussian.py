"""Gaussian expectations by Gauss–Hermite quadrature (Roberts, Yaida & Hanin, "The Principles of
Deep Learning Theory", 2106.10165, the bracket notation of §4.1: ⟨f(z)⟩_K is the expectation of f
under a zero-mean Gaussian of variance K, ⟨f(z_α, z_β)⟩_K under the 2 x 2 kernel K_αβ).

Probabilists' Hermite rule: ∫ f(x) e^{-x²/2} dx / √(2π) ≈ Σ_i w_i f(x_i), exact for polynomials
of degree < 2·order. The rule is symmetric, so with an even order (no node at 0) the odd part of
f integrates to exactly 0: ⟨ReLU(z)²⟩ = ⟨z²⟩/2 and ⟨ReLU(z)⁴⟩ = ⟨z⁴⟩/2 are then exact, and the
kink of ReLU' at 0 is never evaluated.
"""
from __future__ import annotations

import functools
from typing import Callable

import jax.numpy as jnp
import numpy as np

Array = jnp.ndarray
DEFAULT_ORDER = 96       # single-input rule
DEFAULT_PAIR_ORDER = 32  # radial nodes and angular nodes per arc of the two-input rule


@functools.lru_cache(maxsize=16)
def hermite_rule(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes x_O and weights w_O (summing to 1) of the order-`order` probabilists' Hermite rule."""
    if not isinstance(order, (int, np.integer)) or order < 2:
        raise ValueError(f"order must be an integer >= 2, got {order!r}")
    nodes, weights = np.polynomial.hermite_e.hermegauss(int(order))
    return nodes, weights / weights.sum()


def gaussian_expectation(f: Callable[[Array], Array], variance, order: int = DEFAULT_ORDER) -> Array:
    """⟨f(z)⟩_K for z ~ N(0, K): Σ_i w_i f(√K x_i).

    Args:
      f: an elementwise function of z (e.g. `lambda z: jnp.tanh(z) ** 2`).
      variance: K >= 0, a scalar (may be traced; differentiable in K for K > 0).
      order: number of quadrature nodes.

    Returns:
      A scalar.
    """
    nodes, weights = hermite_rule(order)
    z_O = jnp.sqrt(jnp.asarray(variance, jnp.float32)) * jnp.asarray(nodes, jnp.float32)
    return jnp.sum(jnp.asarray(weights, jnp.float32) * f(z_O))


@functools.lru_cache(maxsize=16)
def _polar_rule(order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Radial rule for ∫_0^∞ r e^{-r²/2} g(r) dr (Gauss–Laguerre in t = r²/2) and Gauss–Legendre
    nodes/weights on [−1, 1] for the angular arcs."""
    if not isinstance(order, (int, np.integer)) or order < 2:
        raise ValueError(f"order must be an integer >= 2, got {order!r}")
    t, t_weights = np.polynomial.laguerre.laggauss(int(order))
    u, u_weights = np.polynomial.legendre.leggauss(int(order))
    return np.sqrt(2.0 * t), t_weights, u, u_weights


def bivariate_gaussian_expectation(
    f: Callable[[Array, Array], Array], kernel_2x2, order: int = DEFAULT_PAIR_ORDER
) -> Array:
    """⟨f(z_α, z_β)⟩_K for (z_α, z_β) ~ N(0, K), K the 2 x 2 kernel [[K_αα, K_αβ], [K_αβ, K_ββ]].

    Written as z_α = √K_αα x, z_β = √K_ββ (ρ x + √(1 − ρ²) y) with (x, y) standard normal and
    ρ = K_αβ / √(K_αα K_ββ) (clipped to [−1, 1], so a singular K, e.g. two equal inputs, is fine),
    in polar coordinates (x, y) = r (cos φ, sin φ): a Gauss–Laguerre rule in r²/2 along each ray
    and composite Gauss–Legendre in φ over the four arcs cut by the lines z_α = 0 and z_β = 0.
    Activations whose only non-smoothness is at z = 0 (ReLU, linear) are then integrated to
    spectral accuracy (a tensor Hermite rule converges only algebraically across the moving kink
    of ReLU(z_α)ReLU(z_β): about 2 % error at 64² nodes).

    Args:
      f: a function of (z_α, z_β), elementwise on equal-shaped arrays.
      kernel_2x2: the kernel, shape (2, 2).
      order: radial nodes and angular nodes per arc (4 order² evaluations).

    Returns:
      A scalar.
    """
    kernel_2x2 = jnp.asarray(kernel_2x2, jnp.float32)
    if kernel_2x2.shape != (2, 2):
        raise ValueError(f"kernel_2x2 must have shape (2, 2), got {kernel_2x2.shape}")
    radius, radial_weights, u, u_weights = (jnp.asarray(a, jnp.float32) for a in _polar_rule(order))
    k_aa, k_ab, k_bb = kernel_2x2[0, 0], kernel_2x2[0, 1], kernel_2x2[1, 1]
    rho = jnp.clip(k_ab / jnp.sqrt(k_aa * k_bb), -1.0, 1.0)
    co_rho = jnp.sqrt(1.0 - rho**2)
    # z_α = 0 on φ = ±π/2; z_β = 0 on ρ cos φ + √(1 − ρ²) sin φ = 0.
    kink = jnp.arctan2(-rho, co_rho)
    cuts = jnp.sort(jnp.mod(jnp.stack([jnp.pi / 2, -jnp.pi / 2, kink, kink + jnp.pi]) + jnp.pi,
                            2 * jnp.pi) - jnp.pi)
    ends = jnp.concatenate([cuts[1:], cuts[:1] + 2 * jnp.pi])
    half = (ends - cuts) / 2.0                                             # (4,)
    phi = (cuts + half)[:, None] + half[:, None] * u[None, :]              # (4, order)
    angle_weights = (half[:, None] * u_weights[None, :]) / (2 * jnp.pi)    # sums to 1
    x = radius[None, None, :] * jnp.cos(phi)[:, :, None]
    y = radius[None, None, :] * jnp.sin(phi)[:, :, None]
    z_a = jnp.sqrt(k_aa) * x
    z_b = jnp.sqrt(k_bb) * (rho * x + co_rho * y)
    weights = angle_weights[:, :, None] * radial_weights[None, None, :]
    return jnp.sum(weights * f(z_a, z_b))
