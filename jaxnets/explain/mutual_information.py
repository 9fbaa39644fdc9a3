"""k-nearest-neighbour mutual information and entropy estimators, and data with known MI.

Butakov et al., "Information Bottleneck Analysis of Deep Neural Networks via Lossy Compression"
(ICLR 2024) estimate I(X; L) and I(L; Y) of a network's layers on *compressed* codes of X and L
with kNN estimators. This module holds the estimators and the paper's kind of synthetic check:

  * KSG (Kraskov, Stögbauer & Grassberger, Phys. Rev. E 69, 066138, 2004), algorithm 1, eq. (8):
        Î(X; Y) = ψ(k) + ψ(N) − ⟨ψ(n_x(i) + 1) + ψ(n_y(i) + 1)⟩_i,
    ε_i = max-norm distance from z_i = (x_i, y_i) to its k-th neighbour in the joint space,
    n_x(i) = #{j ≠ i : ‖x_j − x_i‖_∞ < ε_i} (and n_y likewise).
  * Kozachenko–Leonenko (Probl. Inf. Transm. 23, 1987; KSG eq. (20)) differential entropy
        Ĥ(X) = ψ(N) − ψ(k) + log V_d + (d / N) Σ_i log ρ_k(i),
    ρ_k(i) the Euclidean distance to the k-th neighbour, V_d = π^{d/2} / Γ(d/2 + 1) the volume of
    the unit ball; and the discrete-target form the paper uses for I(L; Y),
        Î(L; Y) = Ĥ(L) − Σ_y p(y) Ĥ(L | Y = y),
    where each class-conditional entropy uses neighbours within the class only (masked
    distances, so every class shares one static shape).
  * `correlated_gaussians` / `embed_latent`: ξ, η ∈ R^m jointly Gaussian with per-coordinate
    correlation ρ, I(ξ; η) = −(m/2) log(1 − ρ²), lifted to high dimension by a fixed injective
    smooth map (mutual information is invariant under injective maps, so the lifted pair keeps
    the known MI) — the paper's §5 synthetic test (rasterised Gaussian blobs whose position is
    the latent), here as 8 x 8 blob images or a random tanh map.

All distances are computed in blocks of query rows (`block_size` x N x d at a time) under
`lax.map`, so N = 5000 points in 64 dimensions fits in memory; everything is jitted with static
shapes. Estimates are in nats.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import digamma

BLOCK = 128


def _matrix(name: str, x: Any) -> jax.Array:
    x = jnp.asarray(x, jnp.float32)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must have shape [N, d] with N >= 2, got {x.shape}")
    return x


def _check_k(k: int, n: int) -> None:
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, N - 1] = [1, {n - 1}], got {k}")


def _blocked(fn, n: int, block_size: int):
    """Applies `fn(rows_B) -> [B, ...]` to the row indices 0..N-1 in blocks; returns [N, ...].

    N is padded up to a multiple of `block_size` with repeats of row 0 (their results dropped).
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    block_size = min(block_size, n)
    blocks = -(-n // block_size)
    rows = jnp.arange(blocks * block_size, dtype=jnp.int32)
    rows = jnp.where(rows < n, rows, 0).reshape(blocks, block_size)
    out = jax.lax.map(fn, rows)
    return jax.tree_util.tree_map(lambda a: a.reshape((blocks * block_size,) + a.shape[2:])[:n],
                                  out)


def _max_norm(a_BxD: jax.Array, b_NxD: jax.Array) -> jax.Array:
    """Chebyshev distances ‖a_i − b_j‖_∞, [B, N]."""
    return jnp.max(jnp.abs(a_BxD[:, None, :] - b_NxD[None, :, :]), axis=-1)


def _euclidean(a_BxD: jax.Array, b_NxD: jax.Array) -> jax.Array:
    """Euclidean distances ‖a_i − b_j‖_2, [B, N] (difference form: exact at small distances)."""
    return jnp.sqrt(jnp.sum((a_BxD[:, None, :] - b_NxD[None, :, :]) ** 2, axis=-1))


def _kth_excluding_self(dist_BxN: jax.Array, rows_B: jax.Array, k: int,
                        allowed_BxN: jax.Array | None = None) -> jax.Array:
    """Distance to the k-th nearest other point (self and disallowed points at +inf), [B]."""
    n = dist_BxN.shape[1]
    self_mask = rows_B[:, None] == jnp.arange(n)[None, :]
    masked = jnp.where(self_mask, jnp.inf, dist_BxN)
    if allowed_BxN is not None:
        masked = jnp.where(allowed_BxN, masked, jnp.inf)
    return -jax.lax.top_k(-masked, k)[0][:, k - 1]


@functools.partial(jax.jit, static_argnames=("k", "block_size"))
def _ksg(x, y, k, block_size):
    n = x.shape[0]

    def block(rows):
        dx, dy = _max_norm(x[rows], x), _max_norm(y[rows], y)
        eps = _kth_excluding_self(jnp.maximum(dx, dy), rows, k)
        # strictly inside ε_i, minus the point itself (distance 0 < ε_i)
        n_x = jnp.sum(dx < eps[:, None], axis=1) - 1
        n_y = jnp.sum(dy < eps[:, None], axis=1) - 1
        return digamma(n_x + 1.0) + digamma(n_y + 1.0)

    terms = _blocked(block, n, block_size)
    return digamma(float(k)) + digamma(float(n)) - jnp.mean(terms)


def ksg_mutual_information(x_NxDx: Any, y_NxDy: Any, k: int = 5, block_size: int = BLOCK
                           ) -> jax.Array:
    """KSG estimator 1 of I(X; Y) in nats (Kraskov et al. 2004, eq. (8)).

    Args:
      x_NxDx, y_NxDy: paired samples, [N, d_x] and [N, d_y] (1-d arrays are one column).
      k: number of neighbours (the paper and KSG recommend 2–10).
      block_size: query rows per distance block (memory ~ block_size * N * d floats).

    Returns:
      scalar estimate (can be slightly negative for independent variables).
    """
    x, y = _matrix("x_NxDx", x_NxDx), _matrix("y_NxDy", y_NxDy)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x_NxDx and y_NxDy need the same N, got {x.shape[0]} and {y.shape[0]}")
    _check_k(k, x.shape[0])
    return _ksg(x, y, k, block_size)


def _log_unit_ball(d: int) -> float:
    """log V_d, the volume of the Euclidean unit ball in d dimensions."""
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1.0)


@functools.partial(jax.jit, static_argnames=("k", "block_size"))
def _kl_terms(x, labels, k, block_size):
    """Per-point (log ρ_k(i) within its class, ψ(N_class(i))) for the KL estimator."""
    n = x.shape[0]
    counts = jnp.sum(labels[:, None] == labels[None, :], axis=1)

    def block(rows):
        dist = _euclidean(x[rows], x)
        same = labels[rows][:, None] == labels[None, :]
        rho = _kth_excluding_self(dist, rows, k, same)
        return jnp.log(jnp.maximum(rho, 1e-30))

    return _blocked(block, n, block_size), counts


def _kl_from_terms(log_rho_N, counts_N, d, k):
    """Mean over points of ψ(N_c) − ψ(k) + log V_d + d log ρ_k: Ĥ of the (class) distribution."""
    return jnp.mean(digamma(counts_N.astype(jnp.float32)) - digamma(float(k))
                    + _log_unit_ball(d) + d * log_rho_N)


def kl_entropy(x_NxD: Any, k: int = 5, block_size: int = BLOCK) -> jax.Array:
    """Kozachenko–Leonenko differential entropy Ĥ(X) in nats (KSG eq. (20), Euclidean norm).

    Args:
      x_NxD: samples [N, d].
      k: neighbour index.
      block_size: query rows per distance block.
    """
    x = _matrix("x_NxD", x_NxD)
    _check_k(k, x.shape[0])
    labels = jnp.zeros(x.shape[0], jnp.int32)
    log_rho, counts = _kl_terms(x, labels, k, block_size)
    return _kl_from_terms(log_rho, counts, x.shape[1], k)


def kl_mutual_information_discrete(x_NxD: Any, labels_N: Any, k: int = 5,
                                   block_size: int = BLOCK) -> jax.Array:
    """Î(X; Y) = Ĥ(X) − Σ_y p(y) Ĥ(X | Y = y) for a discrete Y (Butakov et al., §4; the
    `mutinfo` reference's discrete-target estimator), both entropies by Kozachenko–Leonenko.

    Ĥ(X | Y = y) uses neighbours within class y and ψ(N_y); the weighted sum over classes is the
    mean over all points of their class's per-point terms.

    Args:
      x_NxD: continuous samples [N, d].
      labels_N: integer class of each sample; every class needs more than k samples.
    """
    x = _matrix("x_NxD", x_NxD)
    labels = jnp.asarray(labels_N)
    if labels.shape != (x.shape[0],) or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"labels_N must be integers of shape ({x.shape[0]},), got "
                         f"{labels.dtype}{labels.shape}")
    _check_k(k, x.shape[0])
    smallest = int(np.min(np.unique(np.asarray(labels), return_counts=True)[1]))
    if smallest <= k:
        raise ValueError(f"every class needs more than k = {k} samples; the smallest has "
                         f"{smallest}")
    return _kl_mi_discrete(x, labels, k, block_size)


@functools.partial(jax.jit, static_argnames=("k", "block_size"))
def _kl_mi_discrete(x, labels, k, block_size):
    """Unchecked, jitted (and vmappable over x) body of `kl_mutual_information_discrete`."""
    log_rho, counts = _kl_terms(x, jnp.zeros_like(labels), k, block_size)
    log_rho_c, counts_c = _kl_terms(x, labels, k, block_size)
    d = x.shape[1]
    return _kl_from_terms(log_rho, counts, d, k) - _kl_from_terms(log_rho_c, counts_c, d, k)


def kl_mutual_information(x_NxDx: Any, y_NxDy: Any, k: int = 5, block_size: int = BLOCK
                          ) -> jax.Array:
    """Î(X; Y) = Ĥ(X) + Ĥ(Y) − Ĥ(X, Y), each by Kozachenko–Leonenko (the paper's entropy route;
    KSG's estimator above has smaller bias and is the default elsewhere)."""
    x, y = _matrix("x_NxDx", x_NxDx), _matrix("y_NxDy", y_NxDy)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x_NxDx and y_NxDy need the same N, got {x.shape[0]} and {y.shape[0]}")
    return (kl_entropy(x, k, block_size) + kl_entropy(y, k, block_size)
            - kl_entropy(jnp.concatenate([x, y], axis=1), k, block_size))


def whiten(x_NxD: Any, eps: float = 1e-6) -> jax.Array:
    """Zero-mean, identity-covariance samples (ZCA): x ↦ Σ^{-1/2}(x − μ) — the reference's
    pre-whitening before kNN estimation. MI is invariant to it; entropies shift by −½ log det Σ."""
    x = _matrix("x_NxD", x_NxD)
    centred = x - jnp.mean(x, axis=0, keepdims=True)
    cov = centred.T @ centred / (x.shape[0] - 1)
    vals, vecs = jnp.linalg.eigh(cov)
    return centred @ (vecs * jax.lax.rsqrt(jnp.maximum(vals, eps))[None, :]) @ vecs.T


def rho_for_mutual_information(mi_nats: float, dim: int) -> float:
    """The per-coordinate correlation ρ with −(dim/2) log(1 − ρ²) = mi_nats."""
    if mi_nats < 0 or dim < 1:
        raise ValueError(f"need mi_nats >= 0 and dim >= 1, got {mi_nats}, {dim}")
    return math.sqrt(1.0 - math.exp(-2.0 * mi_nats / dim))


def gaussian_mutual_information(rho: float, dim: int) -> float:
    """Closed form I(ξ; η) = −(dim/2) log(1 − ρ²) for `dim` independent pairs with correlation ρ."""
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must be in (-1, 1), got {rho}")
    return -0.5 * dim * math.log1p(-rho * rho)


def correlated_gaussians(key: jax.Array, n: int, dim: int, rho: float
                         ) -> tuple[jax.Array, jax.Array]:
    """ξ, η ∈ R^dim, standard normal marginals, corr(ξ_i, η_j) = ρ δ_ij. Two [n, dim] arrays."""
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must be in (-1, 1), got {rho}")
    k1, k2 = jax.random.split(key)
    xi = jax.random.normal(k1, (n, dim))
    eta = rho * xi + math.sqrt(1.0 - rho * rho) * jax.random.normal(k2, (n, dim))
    return xi, eta


def embed_latent(key: jax.Array, latent_NxM: jax.Array, out_dim: int = 64, kind: str = "blob",
                 width: float = 0.15) -> jax.Array:
    """A fixed injective smooth map R^m → R^out_dim (the same `key` gives the same map).

    kinds:
      "blob": m = 2 only; an √out_dim x √out_dim image of a Gaussian blob centred at Φ(ξ)
        (Φ the normal CDF, so centres fill the unit square), std `width` in image units —
        the paper's rasterised-Gaussian images. Injective since the centre determines the image.
      "tanh": tanh(A ξ + b) with A [out_dim, m] ~ N(0, 1/m) and b ~ N(0, 0.1²) — a random
        smooth map, injective for out_dim >= m with probability 1 on the region it stays linear-ish.
      "linear": A ξ with A [out_dim, m] having orthonormal columns.

    Returns:
      [N, out_dim] float32.
    """
    latent = _matrix("latent_NxM", latent_NxM)
    m = latent.shape[1]
    if out_dim < m:
        raise ValueError(f"out_dim must be >= latent dimension {m}, got {out_dim}")
    if kind == "blob":
        side = math.isqrt(out_dim)
        if m != 2 or side * side != out_dim:
            raise ValueError(f"kind='blob' needs a 2-d latent and a square out_dim, got m={m}, "
                             f"out_dim={out_dim}")
        centre = jax.scipy.stats.norm.cdf(latent)  # [N, 2] in (0, 1)
        grid = (jnp.arange(side) + 0.5) / side
        gy = jnp.exp(-0.5 * ((grid[None, :] - centre[:, :1]) / width) ** 2)
        gx = jnp.exp(-0.5 * ((grid[None, :] - centre[:, 1:]) / width) ** 2)
        return (gy[:, :, None] * gx[:, None, :]).reshape(latent.shape[0], out_dim)
    if kind == "tanh":
        ka, kb = jax.random.split(key)
        a = jax.random.normal(ka, (out_dim, m)) / math.sqrt(m)
        b = 0.1 * jax.random.normal(kb, (1, out_dim))
        return jnp.tanh(latent @ a.T + b)
    if kind == "linear":
        q, _ = jnp.linalg.qr(jax.random.normal(key, (out_dim, m)))
        return latent @ q.T
    raise ValueError(f"kind must be 'blob', 'tanh' or 'linear', got {kind!r}")
