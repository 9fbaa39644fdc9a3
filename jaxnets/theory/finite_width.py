"""Finite-width corrections for a single input (Roberts, Yaida & Hanin, "The Principles of Deep
Learning Theory", 2106.10165, chapter 4 (§4.3–4.5) and §5.4).

At width n every hidden preactivation is nearly Gaussian. To order 1/n (equal hidden widths n):
  * second moment   E[z_i z_i] = K^{(l)} + K^{{1}(l)} / n   (K the infinite-width kernel);
  * connected four-point function E[z_i z_j z_k z_m]|_conn = (δ_ij δ_km + δ_ik δ_jm + δ_im δ_jk) V^{(l)} / n,
    so the single-neuron excess kurtosis is E[z⁴]/E[z²]² − 3 = 3 V^{(l)} / (n K^{(l)2}).
The four-point vertex obeys (single-input form of the book's recursion, with V^{(1)} = 0)
    V^{(l+1)} = C_W² [⟨σ⁴⟩_K − ⟨σ²⟩_K²] + χ_∥(K)² V^{(l)},
and the 1/n shift of the kernel (the NLO metric, K^{{1}(1)} = 0)
    K^{{1}(l+1)} = χ_∥(K) K^{{1}(l)} + (C_W / 8) ⟨d⁴σ²/dz⁴⟩_K V^{(l)}
                 = χ_∥(K) K^{{1}(l)} + (C_W / 2) (d²⟨σ²⟩_K / dK²) V^{(l)},
both with K = K^{(l)} (the second form uses ⟨f''''⟩_K = 4 d²⟨f⟩_K/dK²; the 1/8 is a fourth
cumulant 3V/n over 4!). At criticality: linear V = 2(l − 1)K², ReLU (scale-invariant, §5.2)
V = (3A_4/A_2² − 1)(l − 1)K² = 5(l − 1)K², so the excess kurtosis grows as the depth-to-width ratio,
15(l − 1)/n for ReLU; tanh (K* = 0 class, §5.3) V/K² ≈ (2/3) l.

For scale-invariant σ (σ(z) = a_+ z for z >= 0, a_- z for z < 0) with Gaussian weights the moments
are also known exactly at any width (`scale_invariant_exact_moments`): given layer l, z^{(l+1)}_i
is exactly Gaussian with the random variance G^{(l+1)} = C_b + (C_W/n) Σ_j σ(z^{(l)}_j)², and the
σ(z^{(l)}_j) are i.i.d. given G^{(l)}; so (E G, E G²) obey a closed linear recursion and
E z² = E G, E z⁴ = 3 E G². For ReLU at criticality (C_b = 0, C_W = 2) this gives
E[z⁴]/E[z²]² = 3 (1 + 5/n)^{l−1} (linear, C_W = 1: 3 (1 + 2/n)^{l−1}, the book's §3.3 result),
whose first order in 1/n is the book's 3 + 15(l − 1)/n.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnets.theory.gaussian import DEFAULT_ORDER, gaussian_expectation
from jaxnets.theory.kernels import Activation, _check_depth, _check_init

Array = jnp.ndarray


class FiniteWidthKernels(NamedTuple):
    """Single-input 1/n expansion, each of shape (depth,), index l − 1 for layer l.

    Attributes:
      kernel: K^{(l)}, the infinite-width kernel.
      kernel_correction: K^{{1}(l)}, so E[z²] = K + K^{{1}} / n.
      vertex: V^{(l)}, so E[z⁴] − 3 E[z²]² = 3 V / n.
    """

    kernel: Array
    kernel_correction: Array
    vertex: Array


def finite_width_recursion(
    sigma: Activation, c_b: float, c_w: float, k_first, depth: int, order: int = DEFAULT_ORDER
) -> FiniteWidthKernels:
    """K^{(l)}, K^{{1}(l)} and V^{(l)} for l = 1..depth by the recursions in the module docstring.

    Args:
      sigma: the activation.
      c_b, c_w: bias and weight variances (equal hidden widths assumed).
      k_first: K^{(1)} > 0.
      depth: number of layers L.
      order: Gauss–Hermite nodes.
    """
    _check_init(c_b, c_w)
    _check_depth(depth)
    return _finite_width_recursion(sigma, jnp.float32(c_b), jnp.float32(c_w),
                                   jnp.asarray(k_first, jnp.float32), depth, order)


@functools.partial(jax.jit, static_argnums=(0, 4, 5))  # one compile per activation and depth
def _finite_width_recursion(sigma, c_b, c_w, k_first, depth, order):
    def mean_square(kernel):
        return gaussian_expectation(lambda z: sigma(z) ** 2, kernel, order)

    slope = jax.grad(mean_square)
    curvature = jax.grad(slope)

    def step(carry, _):
        kernel, correction, vertex = carry
        chi = c_w * slope(kernel)  # χ_∥ = C_W d⟨σ²⟩/dK
        fourth = gaussian_expectation(lambda z: sigma(z) ** 4, kernel, order)
        following = (
            c_b + c_w * mean_square(kernel),
            chi * correction + 0.5 * c_w * curvature(kernel) * vertex,
            c_w**2 * (fourth - mean_square(kernel) ** 2) + chi**2 * vertex,
        )
        return following, following

    zero = jnp.float32(0.0)
    first = (k_first, zero, zero)
    _, rest = jax.lax.scan(step, first, None, length=depth - 1)
    return FiniteWidthKernels(*(jnp.concatenate([a[None], b]) for a, b in zip(first, rest)))


def excess_kurtosis_leading(vertex, kernel, width: int) -> Array:
    """E[z⁴]/E[z²]² − 3 to order 1/n: 3 V / (n K²)."""
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    return 3.0 * jnp.asarray(vertex) / (width * jnp.asarray(kernel) ** 2)


def scale_invariant_exact_moments(
    a_plus: float, a_minus: float, c_b: float, c_w: float, k_first: float, width: int, depth: int
) -> tuple[Array, Array]:
    """Exact E[z²] and E[z⁴] of one preactivation for σ(z) = a_+ z (z >= 0), a_- z (z < 0).

    Holds for Gaussian weights and biases, input width n_0 arbitrary, all hidden widths `width`
    (see the module docstring): with A_2 = (a_+² + a_-²)/2, A_4 = (a_+⁴ + a_-⁴)/2,
        E G' = C_b + C_W A_2 E G,
        E G'² = C_b² + 2 C_b C_W A_2 E G + C_W² (A_2² + (3 A_4 − A_2²) / n) E G²,
    from G^{(1)} = K^{(1)}; E z² = E G, E z⁴ = 3 E G².

    Returns:
      (second_L, fourth_L), each of shape (depth,).
    """
    _check_init(c_b, c_w)
    _check_depth(depth)
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    a2 = (a_plus**2 + a_minus**2) / 2.0
    a4 = (a_plus**4 + a_minus**4) / 2.0
    first, square = [float(k_first)], [float(k_first) ** 2]
    for _ in range(depth - 1):
        mean, mean_square = first[-1], square[-1]
        first.append(c_b + c_w * a2 * mean)
        square.append(c_b**2 + 2 * c_b * c_w * a2 * mean
                      + c_w**2 * (a2**2 + (3 * a4 - a2**2) / width) * mean_square)
    return jnp.asarray(first, jnp.float32), 3.0 * jnp.asarray(square, jnp.float32)
