"""Forward fixed-point iteration engines: plain (Picard) and Anderson-accelerated.

Both solve x = F(x) for a closed-over map F (no autodiff here; `fixed_point` adds the implicit
gradient on top) inside one `lax.while_loop`, whose carry has a fixed size: the loop never stores
its history beyond what the method needs (Anderson: its last `memory` pairs).

Stopping rule (both engines). With x_k the iterate after k updates and
r_k = ||F(x_k) - x_k||_2 (the L2 norm over all leaves of the pytree taken together), the loop
stops at the first k with ``r_k <= tol + rtol * ||x_k||_2``, or when k reaches `max_iter`, or when
r_k is not finite (NaN/inf: stopped early, reported as not converged). It returns x_k itself, so
``info.residual`` is exactly the residual of the returned point and ``info.converged`` is exactly
the test above. F is evaluated k + 1 times.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxnets.solvers._tree import tree_norm, tree_sub
from jaxnets.solvers.convergence import SolverInfo, make_info, threshold

PyTree = Any


@dataclasses.dataclass(frozen=True)
class AndersonAcceleration:
    """Settings of Anderson acceleration (type II, Walker & Ni 2011, SIAM J. Numer. Anal. 49(4)).

    At step k, with the last m = min(memory, k + 1) iterates x_i, their images f_i = F(x_i) and
    residuals g_i = f_i - x_i, the weights alpha solve
    ``min ||sum_i alpha_i g_i||_2^2 + regularization * max_i ||g_i||^2 * ||alpha||^2``
    subject to ``sum_i alpha_i = 1``, and
    ``x_{k+1} = mixing * sum_i alpha_i f_i + (1 - mixing) * sum_i alpha_i x_i``.
    With memory=1 and mixing=1 this is plain Picard iteration. If the small (memory x memory)
    system is singular the step falls back to the Picard step x_{k+1} = f_k.

    Attributes:
      memory: number of past pairs kept (>= 1). Costs 2 * memory copies of x.
      mixing: damping beta in (0, 1].
      regularization: Tikhonov term relative to the largest squared residual in memory (>= 0).
    """

    memory: int = 5
    mixing: float = 1.0
    regularization: float = 1e-6

    def __post_init__(self):
        if not isinstance(self.memory, int) or self.memory < 1:
            raise ValueError(f"AndersonAcceleration.memory must be an int >= 1, got {self.memory!r}")
        if not 0.0 < self.mixing <= 1.0:
            raise ValueError(f"AndersonAcceleration.mixing must be in (0, 1], got {self.mixing!r}")
        if not self.regularization >= 0.0:
            raise ValueError(
                f"AndersonAcceleration.regularization must be >= 0, got {self.regularization!r}"
            )


def picard(
    fn: Callable[[PyTree], PyTree], x0: PyTree, *, tol: float, rtol: float, max_iter: int
) -> tuple[PyTree, SolverInfo]:
    """Iterate x_{k+1} = F(x_k) from x0 until the stopping rule of the module docstring.

    Args:
      fn: the map F, pytree -> pytree of the same structure.
      x0: the initial iterate.
      tol, rtol, max_iter: the stopping rule (module docstring).

    Returns:
      (x_k, SolverInfo).
    """
    f0 = fn(x0)
    r0 = tree_norm(tree_sub(f0, x0))

    def cond(state):
        k, x, _, r = state
        return (k < max_iter) & jnp.isfinite(r) & (r > threshold(tol, rtol, tree_norm(x)))

    def body(state):
        k, _, fx, _ = state
        f_next = fn(fx)
        return k + 1, fx, f_next, tree_norm(tree_sub(f_next, fx))

    k, x, _, r = lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), x0, f0, r0))
    return x, make_info(k, r, threshold(tol, rtol, tree_norm(x)))


def anderson(
    fn: Callable[[PyTree], PyTree],
    x0: PyTree,
    *,
    tol: float,
    rtol: float,
    max_iter: int,
    config: AndersonAcceleration,
) -> tuple[PyTree, SolverInfo]:
    """Anderson-accelerated iteration for x = F(x), same stopping rule as `picard`.

    The pytree is flattened to one vector (`ravel_pytree`); the carry holds two (memory, n)
    buffers. Accelerated iterates are not images of F, so F is still evaluated once per step.

    Args:
      fn: the map F, pytree -> pytree of the same structure.
      x0: the initial iterate.
      tol, rtol, max_iter: the stopping rule (module docstring).
      config: the `AndersonAcceleration` settings.

    Returns:
      (x_k, SolverInfo).
    """
    v0, unravel = ravel_pytree(x0)
    dtype = v0.dtype
    m = config.memory

    def fv(v):
        return ravel_pytree(fn(unravel(v)))[0]

    f0 = fv(v0)
    r0 = jnp.linalg.norm(f0 - v0)
    hist_x = jnp.zeros((m, v0.size), dtype)
    hist_f = jnp.zeros((m, v0.size), dtype)

    def cond(state):
        k, v, _, r, _, _ = state
        return (k < max_iter) & jnp.isfinite(r) & (r > threshold(tol, rtol, jnp.linalg.norm(v)))

    def body(state):
        k, v, f, _, hist_x, hist_f = state
        slot = k % m
        hist_x = hist_x.at[slot].set(v)
        hist_f = hist_f.at[slot].set(f)
        valid = jnp.arange(m) < jnp.minimum(k + 1, m)
        g = hist_f - hist_x
        gram = jnp.where(valid[:, None] & valid[None, :], g @ g.T, 0.0)
        scale = jnp.max(jnp.where(valid, jnp.diagonal(gram), 0.0))
        tiny = jnp.finfo(dtype).tiny
        ridge = jnp.where(valid, config.regularization * scale + tiny, 1.0)
        alpha = jnp.linalg.solve(gram + jnp.diag(ridge), valid.astype(dtype))
        alpha = alpha / jnp.sum(alpha)
        picard_step = jax.nn.one_hot(slot, m, dtype=dtype)
        alpha = jnp.where(jnp.all(jnp.isfinite(alpha)), alpha, picard_step)
        v_next = config.mixing * (alpha @ hist_f) + (1.0 - config.mixing) * (alpha @ hist_x)
        f_next = fv(v_next)
        return k + 1, v_next, f_next, jnp.linalg.norm(f_next - v_next), hist_x, hist_f

    init = (jnp.zeros((), jnp.int32), v0, f0, r0, hist_x, hist_f)
    k, v, _, r, _, _ = lax.while_loop(cond, body, init)
    return unravel(v), make_info(k, r, threshold(tol, rtol, jnp.linalg.norm(v)))


def iterate(
    fn: Callable[[PyTree], PyTree],
    x0: PyTree,
    *,
    tol: float,
    rtol: float,
    max_iter: int,
    anderson_config: AndersonAcceleration | None,
) -> tuple[PyTree, SolverInfo]:
    """Dispatch to `picard` (anderson_config None) or `anderson`."""
    if anderson_config is None:
        return picard(fn, x0, tol=tol, rtol=rtol, max_iter=max_iter)
    return anderson(fn, x0, tol=tol, rtol=rtol, max_iter=max_iter, config=anderson_config)
