"""Preconditioned conjugate gradient for symmetric positive-definite systems, matvec-only.

Hestenes & Stiefel (1952); the preconditioned form as in Saad, "Iterative Methods for Sparse
Linear Systems" (2nd ed., 2003), Algorithm 9.1. The operator is only ever applied (never formed
or inverted), x and b may be arrays or pytrees, and the loop is one `lax.while_loop`, so the
solver works under `jit`, `vmap` and `grad` (differentiated implicitly through
`lax.custom_linear_solve`, not through the loop).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from jaxnets.solvers._tree import (
    check_floating,
    check_same_structure,
    tree_axpy,
    tree_norm,
    tree_sub,
    tree_vdot,
    tree_zeros_like,
)
from jaxnets.solvers.convergence import CGInfo, make_info, threshold, validate_tolerances

PyTree = Any


def conjugate_gradient(
    matvec: Callable[[PyTree], PyTree],
    b: PyTree,
    x0: PyTree | None = None,
    *,
    tol: float = 1e-6,
    rtol: float = 0.0,
    max_iter: int | None = None,
    preconditioner: Callable[[PyTree], PyTree] | None = None,
) -> tuple[PyTree, CGInfo]:
    """Solve A x = b for symmetric positive-definite A given only x -> A x.

    Stopping rule: with r_k = b - A x_k the recursively updated residual, the loop stops at the
    first k with ``||r_k||_2 <= tol + rtol * ||b||_2`` (absolute by default, relative part opt-in;
    L2 over all leaves together), at k = max_iter, on a non-finite residual, or on a breakdown
    (p^T A p <= 0: A is not positive definite along p). When the recursive residual meets the
    threshold, the *true* residual ||b - A x_k||_2 is recomputed with one more matvec; if floating
    point drift left it above the threshold, CG restarts from x_k with the true residual
    (residual replacement), within the same max_iter budget. ``info.residual`` is always that
    true residual of the returned x and ``info.converged`` tests it, so drift or a breakdown is
    never reported as convergence. No warn/raise option here: callers read
    ``info.converged`` (or pass it to `convergence.report_nonconvergence`).

    Gradients: through `lax.custom_linear_solve(symmetric=True)`, so d x / d b and d x / d(arrays
    that `matvec` closes over) are exact implicit derivatives computed with one more CG solve
    (whose own convergence is not reported); the preconditioner and x0 get no gradient.

    Args:
      matvec: x -> A x, linear, symmetric positive definite, same structure as b.
      b: right-hand side (array or pytree of real floating arrays).
      x0: initial guess with b's structure; zeros if None.
      tol: absolute tolerance on ||b - A x||_2.
      rtol: relative tolerance, multiplied by ||b||_2.
      max_iter: the most iterations; None means 10 * (size of b), as in SciPy's `cg`.
      preconditioner: r -> M r with M a symmetric positive-definite approximation of A^{-1}
        (e.g. Jacobi: r / diag(A)); None means the identity.

    Returns:
      (x, info): the solution with b's structure and a `CGInfo` (iterations, true residual,
      converged).

    Raises:
      ValueError: at trace time, for bad tolerances, non-float b, or matvec/preconditioner/x0 whose
        output structure, shapes or dtypes differ from b's.
    """
    check_floating("b", b)
    size = sum(leaf.size for leaf in jax.tree.leaves(b))
    max_iter = 10 * size if max_iter is None else max_iter
    validate_tolerances("", tol, rtol, max_iter)
    check_same_structure("matvec", b, jax.eval_shape(matvec, b), "an array tree like b")
    if preconditioner is not None:
        check_same_structure(
            "preconditioner", b, jax.eval_shape(preconditioner, b), "an array tree like b"
        )
    if x0 is not None:
        check_same_structure("x0", b, x0, "(as an initial guess) an array tree like b")
    precond = (lambda r: r) if preconditioner is None else preconditioner

    def solve(mv, rhs):
        start = tree_zeros_like(rhs) if x0 is None else x0
        return _pcg(mv, rhs, start, precond, tol, rtol, max_iter)

    return lax.custom_linear_solve(matvec, b, solve, symmetric=True, has_aux=True)


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    return jnp.where(den != 0, num / jnp.where(den != 0, den, 1), 0)


def _pcg(matvec, b, x0, precond, tol, rtol, max_iter):
    """PCG with residual replacement: whenever the recursive residual meets the threshold, the
    true residual b - A x is recomputed; if it does not meet it (floating-point drift), CG restarts
    from x with the true residual. Iterations are counted across restarts against max_iter."""
    thresh = threshold(tol, rtol, tree_norm(b))

    def inner(k, x, r):
        z = precond(r)
        init = (k, x, r, z, tree_vdot(r, z), tree_norm(r), jnp.zeros((), bool))

        def cond(state):
            k, _, _, _, _, rnorm, broke = state
            return (k < max_iter) & jnp.isfinite(rnorm) & (rnorm > thresh) & ~broke

        def body(state):
            k, x, r, p, rz, _, _ = state
            ap = matvec(p)
            pap = tree_vdot(p, ap)
            broke = ~(pap > 0)  # not positive definite along p (or NaN)
            alpha = jnp.where(broke, 0, _safe_div(rz, pap))
            x = tree_axpy(alpha, p, x)
            r = tree_axpy(-alpha, ap, r)
            z = precond(r)
            rz_next = tree_vdot(r, z)
            p = tree_axpy(_safe_div(rz_next, rz), p, z)
            return k + 1, x, r, p, rz_next, tree_norm(r), broke

        k, x, _, _, _, _, broke = lax.while_loop(cond, body, init)
        return k, x, broke

    def outer_cond(state):
        k, _, r, broke = state
        rnorm = tree_norm(r)
        return (k < max_iter) & jnp.isfinite(rnorm) & (rnorm > thresh) & ~broke

    def outer_body(state):
        k, x, r, _ = state
        k, x, broke = inner(k, x, r)
        return k, x, tree_sub(b, matvec(x)), broke

    r0 = tree_sub(b, matvec(x0))
    init = (jnp.zeros((), jnp.int32), x0, r0, jnp.zeros((), bool))
    k, x, r, _ = lax.while_loop(outer_cond, outer_body, init)
    return x, make_info(k, tree_norm(r), thresh)
