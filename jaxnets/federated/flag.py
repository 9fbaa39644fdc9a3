"""Flag Aggregator (Almasi, Mishra, Vamanan & Ravi, "Flag Aggregator: Scalable Distributed
Training under Failures and Augmented Losses using Convex Optimization", ICLR 2024).

FA treats the p workers' gradients as points on the sphere, x_i = g_i / ||g_i||, and finds the
r-dimensional subspace Y (an orthonormal D x r matrix) that maximises a Beta likelihood of the
*reconstruction ratios* v_i = ||Y^T x_i||^2. The regularised negative log-likelihood reduces to
the flag-median objective (the paper's Sec. 3, the official `calc_error_1_2(..., 'sine')`)

    E(Y) = sum_i sqrt(1 - ||Y^T x_i||^2)                                            (1)

(plus, with lambda > 0, pairwise terms on x_i - x_j), which is solved by iteratively
reweighted least squares (FlagIRLS): with the weights of the current Y0

    w_i  = (|1 - ||Y0^T x_i||^2| + eps)^(-1/4),                                     (2)
    w_ij = lambda / (p (p - 1)) * (|1 - ||Y0^T (x_i - x_j)||^2| + eps)^(-1/4),  i != j,

Y is the top-r left singular subspace of [w_1 x_1, ..., w_p x_p, {w_ij (x_i - x_j)}]
(the weights enter squared, so each column's effective weight is 1 / sin). An iterate is kept
only while (1) decreases. The aggregate is the sum of the projections of the *normalised*
gradients, divided by r (the official `flag.py`):

    g_hat = (1/r) sum_i Y Y^T x_i.                                                  (3)

Magnitudes are discarded; the learning rate absorbs the scale. The official code initialises
Y0 = QR(U(-1/2, 1/2)^{D x r}) with a fixed seed (1) at every call and runs one IRLS iteration
(`n_iters=1`); with D >> r the first weights are then nearly uniform, so one iteration is close
to the plain rank-r SVD of the normalised gradients. Both are exposed here.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxnets.federated.aggregators import from_flat

PyTree = Any
EPS = 1e-7  # the official `flag_mean_iteration` default


def normalize_rows(x_KxD: jax.Array) -> jax.Array:
    """x_i / max(||x_i||, 1e-12), row-wise (torch's F.normalize, as in the official GAR)."""
    norms = jnp.linalg.norm(x_KxD, axis=1, keepdims=True)
    return x_KxD / jnp.maximum(norms, 1e-12)


def flag_objective(y_DxR: jax.Array, x_KxD: jax.Array) -> jax.Array:
    """The flag-median objective (1): sum_i sqrt(max(1 - ||Y^T x_i||^2, 0)) for unit rows x_i."""
    sin_sq = 1.0 - jnp.sum((x_KxD @ y_DxR) ** 2, axis=1)
    return jnp.sum(jnp.sqrt(jnp.maximum(sin_sq, 0.0)))


def _columns(y_DxR: jax.Array, x_KxD: jax.Array, lam: float, eps: float) -> jax.Array:
    """The reweighted columns of one FlagIRLS step (2), as rows: [K (+ K(K-1)), D]."""
    k = x_KxD.shape[0]
    w_K = (jnp.abs(1.0 - jnp.sum((x_KxD @ y_DxR) ** 2, axis=1)) + eps) ** -0.25
    rows = w_K[:, None] * x_KxD
    if lam > 0 and k > 1:
        i, j = jnp.nonzero(~jnp.eye(k, dtype=bool), size=k * (k - 1))  # ordered pairs i != j
        diff = x_KxD[i] - x_KxD[j]
        w_P = lam / (k * (k - 1)) * (
            jnp.abs(1.0 - jnp.sum((diff @ y_DxR) ** 2, axis=1)) + eps) ** -0.25
        rows = jnp.concatenate([rows, w_P[:, None] * diff], axis=0)
    return rows


def _top_left_singular(rows_MxD: jax.Array, rank: int) -> jax.Array:
    """Top-`rank` left singular vectors of the D x M matrix whose columns are `rows_MxD`."""
    _, _, vt = jnp.linalg.svd(rows_MxD, full_matrices=False)
    return vt[:rank].T


def initial_subspace(key: jax.Array, dim: int, rank: int) -> jax.Array:
    """Y0 = Q of QR(U(-1/2, 1/2)^{dim x rank}), the official random start. Shape [dim, rank]."""
    raw = jax.random.uniform(key, (dim, rank), minval=-0.5, maxval=0.5)
    return jnp.linalg.qr(raw)[0]


def _check(x_KxD: jax.Array, rank: int, n_iters: int) -> None:
    if x_KxD.ndim != 2:
        raise ValueError(f"updates must have shape [K, D], got {x_KxD.shape}")
    k, d = x_KxD.shape
    if not 1 <= rank <= min(k, d):
        raise ValueError(f"rank must be in [1, min(K, D)] = [1, {min(k, d)}], got {rank}")
    if n_iters < 1:
        raise ValueError(f"n_iters must be >= 1, got {n_iters}")


@functools.partial(jax.jit, static_argnames=("rank", "n_iters", "lam", "eps"))
def flag_subspace(
    x_KxD: jax.Array,
    rank: int = 1,
    n_iters: int = 1,
    lam: float = 0.0,
    *,
    key: jax.Array | None = None,
    y0_DxR: jax.Array | None = None,
    eps: float = EPS,
) -> tuple[jax.Array, jax.Array]:
    """FlagIRLS for the flag median of unit vectors (the official `irls_flag`).

    Args:
      x_KxD: K unit-norm rows (normalised gradients).
      rank: r, the subspace dimension.
      n_iters: IRLS iterations (1 in the official GAR).
      lam: lambda of the pairwise regulariser (0 = none, the official default).
      key: PRNG key of the random start (default PRNGKey(1), the official seed).
      y0_DxR: an explicit start instead of the random one.
      eps: the weights' epsilon in (2).

    Returns:
      (Y [D, r] orthonormal, objectives [n_iters + 1]): the kept iterate, and (1) at the start
      and after each step (a step that does not decrease (1) is rejected and ends the loop; the
      entries after it repeat the last value).
    """
    _check(x_KxD, rank, n_iters)
    if y0_DxR is None:
        key = jax.random.PRNGKey(1) if key is None else key
        y0_DxR = initial_subspace(key, x_KxD.shape[1], rank).astype(x_KxD.dtype)
    elif y0_DxR.shape != (x_KxD.shape[1], rank):
        raise ValueError(f"y0_DxR must have shape {(x_KxD.shape[1], rank)}, got {y0_DxR.shape}")

    def step(carry, _):
        y, obj, done = carry
        y_new = _top_left_singular(_columns(y, x_KxD, lam, eps), rank)
        obj_new = flag_objective(y_new, x_KxD)
        accept = (~done) & (obj_new < obj)
        y = jnp.where(accept, y_new, y)
        obj = jnp.where(accept, obj_new, obj)
        return (y, obj, done | ~accept), obj

    obj0 = flag_objective(y0_DxR, x_KxD)
    (y, _, _), objs = jax.lax.scan(step, (y0_DxR, obj0, jnp.array(False)), None, length=n_iters)
    return y, jnp.concatenate([obj0[None], objs])


@functools.partial(jax.jit, static_argnames=("rank", "n_iters", "lam"))
def flag_aggregate(
    updates_KxD: jax.Array,
    rank: int = 1,
    n_iters: int = 1,
    lam: float = 0.0,
    *,
    key: jax.Array | None = None,
) -> tuple[jax.Array, dict]:
    """The Flag Aggregator (3) on stacked flat updates.

    Args:
      updates_KxD: one (flattened) gradient or update per worker.
      rank, n_iters, lam, key: see `flag_subspace`.

    Returns:
      (g_hat [D] = (1/r) sum_i Y Y^T x_i with x_i = u_i / ||u_i||,
       metrics: "objective" [n_iters + 1], "ratios" [K] = ||Y^T x_i||^2 (the reconstruction
       ratios whose Beta likelihood FA maximises)).
    """
    _check(updates_KxD, rank, n_iters)
    x = normalize_rows(updates_KxD)
    y, objectives = flag_subspace(x, rank, n_iters, lam, key=key)
    coords_KxR = x @ y
    g_hat = y @ jnp.sum(coords_KxR, axis=0) / rank
    return g_hat, {"objective": objectives, "ratios": jnp.sum(coords_KxR ** 2, axis=1)}


def flag_server_aggregate(rank: int = 1, n_iters: int = 1, lam: float = 0.0,
                          seed: int = 1) -> Callable:
    """A `server_aggregate(global_params, stacked_updates, weights, server_state, hp)` for
    `jaxnets.federated.simulator.make_round`: flattens each client's update pytree, aggregates
    with (3) and returns global + hp["server_lr"] * g_hat (`aggregators.from_flat`). Clients of
    weight 0 (excluded, e.g. a NaN update) are zero rows and do not move the subspace; other
    weights are unused (FA weighs workers by their fit to the subspace, not by sample counts).
    """
    key = jax.random.PRNGKey(seed)

    def rule(flat_KxD: jax.Array, weights_K: jax.Array) -> tuple[jax.Array, dict]:
        included = (weights_K > 0).astype(flat_KxD.dtype)[:, None]
        return flag_aggregate(flat_KxD * included, rank, n_iters, lam, key=key)

    return from_flat(rule)
