"""Downlink MU-MISO precoding: sum spectral efficiency, the classical precoders (MRT, ZF, RZF,
WMMSE) and a matrix-inverse-free structured precoder solved by complex conjugate gradient.

Conventions (ICGNN, Sun et al., arXiv 2408.17252, §II-A): a base station with M antennas serves
K single-antenna users; H [K, M] has row k = h_k^H, so user k receives y_k = h_k^H sum_j w_j s_j
+ n_k, n_k ~ CN(0, sigma^2). The precoder W [M, K] has column k = w_k and total power
||W||_F^2 = P.

  SINR_k = |h_k^H w_k|^2 / (sum_{j != k} |h_k^H w_j|^2 + sigma^2),  SE = sum_k log2(1 + SINR_k).

The WMMSE fixed point (Shi, Razaviyayn, Luo & He, IEEE TSP 2011, eq. (15) for MISO) has the form
W = (H^H diag(a) H + mu I_M)^{-1} H^H diag(c); `structured_precoder` evaluates that form for any
a, c >= 0 and mu > 0 with `complex_cg` (T iterations, matvec-only: no matrix is inverted or
formed), which is ICGNN's cellular precoder (§III) once a GNN predicts (a, c, mu).

Why a CG here and not `jaxnets.solvers.conjugate_gradient`: that solver accepts real dtypes only
(`_tree.check_floating`), runs to a tolerance in a `while_loop`, and differentiates implicitly
with `custom_linear_solve(symmetric=True)`, whose transpose is wrong for a complex Hermitian
operator (A^T = conj(A) != A). ICGNN needs a fixed, small number T of iterations that gradients
flow through unrolled (a truncated solve is not the fixed point the implicit gradient assumes).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["complex_cg", "direct_precoder", "mrt", "normalize_power", "rzf", "sinr",
           "structured_precoder", "sum_rate", "wmmse", "wmmse_multistart", "zf"]


def _check_channel(H: jax.Array) -> None:
    if H.ndim != 2 or not jnp.issubdtype(H.dtype, jnp.complexfloating):
        raise ValueError(f"H must be a complex [K, M] matrix, got {H.dtype}{tuple(H.shape)}")


def sinr(H: jax.Array, W: jax.Array, noise: float | jax.Array) -> jax.Array:
    """Per-user SINR [K] of precoder W [M, K] on channel H [K, M] with noise power sigma^2."""
    _check_channel(H)
    if W.shape != (H.shape[1], H.shape[0]):
        raise ValueError(f"W must have shape (M, K) = {(H.shape[1], H.shape[0])}, got "
                         f"{tuple(W.shape)}")
    gain = jnp.abs(H @ W) ** 2                                   # [K, K]: |h_k^H w_j|^2
    signal = jnp.diagonal(gain)
    return signal / (jnp.sum(gain, axis=1) - signal + noise)


def sum_rate(H: jax.Array, W: jax.Array, noise: float | jax.Array) -> jax.Array:
    """Sum spectral efficiency sum_k log2(1 + SINR_k) in bit/s/Hz (a scalar)."""
    return jnp.sum(jnp.log2(1.0 + sinr(H, W, noise)))


def normalize_power(W: jax.Array, power: float | jax.Array) -> jax.Array:
    """W scaled so that ||W||_F^2 = power."""
    norm2 = jnp.sum(jnp.abs(W) ** 2)
    return W * jnp.sqrt(power / jnp.maximum(norm2, 1e-30)).astype(W.dtype)


def mrt(H: jax.Array, power: float) -> jax.Array:
    """Maximum-ratio transmission W ∝ H^H."""
    _check_channel(H)
    return normalize_power(H.conj().T, power)


def zf(H: jax.Array, power: float) -> jax.Array:
    """Zero forcing W ∝ H^H (H H^H)^{-1} (needs K <= M)."""
    _check_channel(H)
    gram = H @ H.conj().T
    return normalize_power(H.conj().T @ jnp.linalg.inv(gram), power)


def rzf(H: jax.Array, power: float, noise: float) -> jax.Array:
    """Regularised ZF / MMSE precoder W ∝ H^H (H H^H + (K sigma^2 / P) I_K)^{-1}
    (Peel, Hochwald & Swindlehurst 2005)."""
    _check_channel(H)
    K = H.shape[0]
    gram = H @ H.conj().T + (K * noise / power) * jnp.eye(K, dtype=H.dtype)
    return normalize_power(H.conj().T @ jnp.linalg.inv(gram), power)


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    """num / den, and 0 where den == 0 (gradient-safe: the untaken branch never divides by 0)."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


def complex_cg(matvec: Callable[[jax.Array], jax.Array], b: jax.Array, num_iters: int,
               x0: jax.Array | None = None) -> jax.Array:
    """`num_iters` conjugate-gradient iterations (Hestenes & Stiefel 1952) for A x = b with A
    complex Hermitian positive definite, given only x -> A x.

    Inner products are Hermitian (<r, r> = r^H r, real), so alpha and beta are real. The loop is a
    `lax.fori_loop` with a static trip count, so reverse-mode gradients flow through the unrolled
    iterations. After exact convergence (r = 0) the iterate stays put (guarded divisions). In
    exact arithmetic the iterate after n iterations is exact when b lies in an invariant subspace
    of A with n distinct eigenvalues.

    Args:
      matvec: x [n] -> A x [n], complex.
      b: right-hand side [n], complex.
      num_iters: T >= 0, static.
      x0: initial guess [n]; zeros if None.

    Returns:
      x_T [n].
    """
    if num_iters < 0:
        raise ValueError(f"num_iters must be >= 0, got {num_iters}")
    if b.ndim != 1:
        raise ValueError(f"b must be a vector [n] (vmap for several right-hand sides), got "
                         f"shape {tuple(b.shape)}")
    x = jnp.zeros_like(b) if x0 is None else x0
    r = b - matvec(x)
    rr = jnp.real(jnp.vdot(r, r))

    def body(_, state):
        x, r, p, rr = state
        ap = matvec(p)
        alpha = _safe_div(rr, jnp.real(jnp.vdot(p, ap)))
        x = x + alpha.astype(b.dtype) * p
        r = r - alpha.astype(b.dtype) * ap
        rr_next = jnp.real(jnp.vdot(r, r))
        p = r + _safe_div(rr_next, rr).astype(b.dtype) * p
        return x, r, p, rr_next

    x, *_ = lax.fori_loop(0, num_iters, body, (x, r, r, rr))
    return x


def _structured_operator(H: jax.Array, a: jax.Array, mu: jax.Array):
    """x [M] -> (H^H diag(a) H + mu I) x, without forming the M x M matrix."""
    return lambda x: H.conj().T @ (a.astype(H.dtype) * (H @ x)) + mu.astype(H.dtype) * x


def _check_structured(H, a, c, mu):
    _check_channel(H)
    K = H.shape[0]
    if a.shape != (K,) or c.shape != (K,) or jnp.ndim(mu) != 0:
        raise ValueError(f"a and c must have shape (K,) = ({K},) and mu must be a scalar; got "
                         f"{tuple(a.shape)}, {tuple(c.shape)}, {jnp.shape(mu)}")


def structured_precoder(H: jax.Array, a: jax.Array, c: jax.Array, mu: jax.Array, power: float,
                        num_iters: int | None = None) -> jax.Array:
    """ICGNN's matrix-inverse-free precoder (§III): W ∝ (H^H diag(a) H + mu I_M)^{-1} H^H diag(c),
    each column by `num_iters` CG iterations on the M x M Hermitian PD system, scaled to power P.

    Every right-hand side h_k c_k lies in range(H^H), an invariant subspace of the operator of
    dimension <= K, so K iterations solve the system exactly (in exact arithmetic).

    Args:
      H: channel [K, M], complex.
      a: per-user weights [K], >= 0.
      c: per-user gains [K], >= 0.
      mu: regulariser, > 0 (a scalar).
      power: total transmit power P.
      num_iters: CG iterations T; None means K.

    Returns:
      W [M, K] with ||W||_F^2 = P.
    """
    mu = jnp.asarray(mu, jnp.float32)
    _check_structured(H, a, c, mu)
    T = H.shape[0] if num_iters is None else num_iters
    B = H.conj().T * c.astype(H.dtype)[None, :]                 # [M, K]: column k = h_k c_k
    op = _structured_operator(H, a, mu)
    W = jax.vmap(lambda b: complex_cg(op, b, T), in_axes=1, out_axes=1)(B)
    return normalize_power(W, power)


def direct_precoder(H: jax.Array, a: jax.Array, c: jax.Array, mu: jax.Array,
                    power: float) -> jax.Array:
    """The same precoder as `structured_precoder` by a direct solve (`jnp.linalg.solve`), the
    reference that CG is checked against."""
    mu = jnp.asarray(mu, jnp.float32)
    _check_structured(H, a, c, mu)
    M = H.shape[1]
    A = H.conj().T @ (a.astype(H.dtype)[:, None] * H) + mu.astype(H.dtype) * jnp.eye(M, dtype=H.dtype)
    return normalize_power(jnp.linalg.solve(A, H.conj().T * c.astype(H.dtype)[None, :]), power)


def _wmmse_precoder(H: jax.Array, d: jax.Array, B: jax.Array, power: float,
                    bisection_steps: int) -> jax.Array:
    """argmin_W sum_k w_k^H A w_k - 2 Re tr(B^H W) s.t. ||W||_F^2 <= P with A = H^H diag(d) H:
    W = (A + mu I)^{-1} B with the smallest mu >= 0 meeting the power budget (Shi et al. 2011,
    eq. (15); mu by bisection on the eigen-decomposition of A, the paper's own procedure)."""
    A = H.conj().T @ (d.astype(H.dtype)[:, None] * H)
    lam, U = jnp.linalg.eigh(A)
    X = U.conj().T @ B                                          # [M, K]
    # B lies in range(H^H) = range(A): directions with lam ~ 0 carry no energy (M > K).
    keep = lam > 1e-6 * jnp.max(lam)
    energy = jnp.where(keep, jnp.sum(jnp.abs(X) ** 2, axis=1), 0.0)   # [M]

    def power_at(mu):
        return jnp.sum(_safe_div(energy, (jnp.where(keep, lam, 1.0) + mu) ** 2))

    hi = jnp.sqrt(jnp.sum(energy) / power)                      # power_at(hi) <= P

    def bisect(_, lo_hi):
        lo, hi = lo_hi
        mid = 0.5 * (lo + hi)
        over = power_at(mid) > power
        return jnp.where(over, mid, lo), jnp.where(over, hi, mid)

    _, mu = lax.fori_loop(0, bisection_steps, bisect, (jnp.zeros_like(hi), hi))
    mu = jnp.where(power_at(0.0) <= power, 0.0, mu)
    scale = jnp.where(keep, 1.0 / (jnp.where(keep, lam, 1.0) + mu), 0.0)
    return U @ (scale.astype(H.dtype)[:, None] * X)


def wmmse(H: jax.Array, power: float, noise: float, W0: jax.Array, num_iters: int,
          bisection_steps: int = 60) -> tuple[jax.Array, jax.Array]:
    """WMMSE for sum-rate maximisation (Shi et al., IEEE TSP 2011, Algorithm 1, MISO, equal
    weights): block-coordinate descent on the weighted sum-MSE, which never decreases the sum
    rate.

      u_k = h_k^H w_k / (sum_j |h_k^H w_j|^2 + sigma^2)        (MMSE receiver)
      omega_k = 1 / (1 - u_k^* h_k^H w_k) = 1 + SINR_k          (MSE weight)
      W = (H^H diag(omega |u|^2) H + mu I)^{-1} H^H diag(omega u), mu >= 0 for ||W||^2 <= P.

    Args:
      H: [K, M] complex channel; W0: [M, K] initial precoder (any power);
      num_iters: BCD iterations (static); bisection_steps: steps of the mu search.

    Returns:
      (W [M, K], rates [num_iters + 1]): the final precoder and the sum rate after each
      iteration (index 0: W0 scaled to power P).
    """
    _check_channel(H)
    W0 = normalize_power(W0, power)

    def step(W, _):
        G = H @ W
        total = jnp.sum(jnp.abs(G) ** 2, axis=1) + noise
        g = jnp.diagonal(G)
        u = g / total
        omega = 1.0 / (1.0 - jnp.real(jnp.conj(u) * g))
        W = _wmmse_precoder(H, omega * jnp.abs(u) ** 2, H.conj().T * (omega * u)[None, :],
                            power, bisection_steps)
        return W, sum_rate(H, W, noise)

    W, rates = lax.scan(step, W0, None, length=num_iters)
    return W, jnp.concatenate([sum_rate(H, W0, noise)[None], rates])


def wmmse_multistart(key: jax.Array, H: jax.Array, power: float, noise: float, num_inits: int,
                     num_iters: int) -> jax.Array:
    """Best sum rate of WMMSE over `num_inits` starts: RZF, MRT, then random complex Gaussian
    precoders (the usual "best of several initialisations" baseline). Returns a scalar."""
    K, M = H.shape
    starts = [rzf(H, power, noise), mrt(H, power)]
    if num_inits > 2:
        re, im = jax.random.normal(key, (2, num_inits - 2, M, K))
        starts += list((re + 1j * im).astype(H.dtype))
    W0 = jnp.stack(starts[:num_inits])
    _, rates = jax.vmap(lambda w: wmmse(H, power, noise, w, num_iters))(W0)
    return jnp.max(rates[:, -1])
