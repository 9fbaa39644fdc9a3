"""Fixed points x* = f(params, x*) with implicit-function-theorem gradients.

CGS (Park, Choo & Park, "Convergent Graph Solvers", ICLR 2022) computes the fixed point of a
contracting map by iteration and trains through it with the implicit function theorem (IFT), so
that memory does not grow with the number of iterations (CGS Sec. 3, "forward" and "training";
the notes `shared/research/papers-solvers-fed-net.md` Sec. 1, Algorithm steps 3-4). This module
is the paper-independent mechanism; `contraction.py` holds CGS's contracting parametrisation.

Gradient (reverse mode). For a loss L(x*) with g = dL/dx*, differentiating x* = f(p, x*) gives
dL/dp = (df/dp)^T y, where y solves the adjoint (linear) equation

    y = (df/dx)^T y + g,          i.e. (I - J^T) y = g,  J = df/dx at (p, x*).

`fixed_point`'s backward solves it by fixed-point iteration (converges when f is a contraction in
x: ||J|| <= L < 1 in a norm whose dual also bounds J^T, e.g. ||J||_2 < 1, or ||J||_inf < 1 since
then ||J^T||_1 < 1), or by conjugate gradient on the normal equations, then returns one
vector-Jacobian product (df/dp)^T y. Only (params, x*) are saved from the forward pass, so the
backward's memory is that of one application of f, whatever the number of forward iterations.
"""
from __future__ import annotations

from typing import Any, Callable, Literal

import jax
from jax import lax

from jaxnets.solvers._tree import (
    check_floating,
    check_same_structure,
    tree_add,
    tree_norm,
    tree_sub,
    tree_zeros_like,
)
from jaxnets.solvers.cg import conjugate_gradient
from jaxnets.solvers.convergence import (
    FixedPointInfo,
    OnNonconvergence,
    make_info,
    report_nonconvergence,
    threshold,
    validate_mode,
    validate_tolerances,
)
from jaxnets.solvers.iteration import AndersonAcceleration, iterate

PyTree = Any
Adjoint = Literal["fixed_point", "normal_cg"]
_ADJOINTS = ("fixed_point", "normal_cg")


def fixed_point(
    f: Callable[[PyTree, PyTree], PyTree],
    params: PyTree,
    x0: PyTree,
    *,
    tol: float = 1e-6,
    rtol: float = 0.0,
    max_iter: int = 50,
    anderson: AndersonAcceleration | None = None,
    adjoint: Adjoint = "fixed_point",
    adjoint_tol: float | None = None,
    adjoint_rtol: float | None = None,
    adjoint_max_iter: int | None = None,
    on_nonconvergence: OnNonconvergence = "warn",
) -> tuple[PyTree, FixedPointInfo]:
    """Solve x* = f(params, x*) by iteration; differentiate by the implicit function theorem.

    Forward (CGS Sec. 3; notes Sec. 1 step 3): iterate x_{k+1} = f(params, x_k) from x0 (or the
    Anderson-accelerated variant) in a `lax.while_loop` and stop at the first k with

        ||f(params, x_k) - x_k||_2 <= tol + rtol * ||x_k||_2

    (L2 norm over all leaves together; absolute by default, relative part opt-in), or at
    k = max_iter, or on a NaN/inf residual. x_k itself is returned, so ``info.residual`` is the
    exact residual of the returned point and ``info.converged`` the exact test above.

    Backward (CGS Sec. 3 "training", the IFT; notes Sec. 1 step 4): solve y = J^T y + g
    (module docstring) with its own tolerances, then return (df/dparams)^T y. The memory of the
    backward does not depend on `max_iter` or on the iterations used: only `params` and x* are
    saved. Its convergence is checked like the forward's (under ``on_nonconvergence``) but cannot
    be returned: a custom VJP has no outputs of its own.

    What gets gradients: `params` (any pytree; integer leaves such as edge indices are allowed and
    get no gradient). **Inputs that should get gradients must be passed in `params`.** Arrays
    that `f` closes over are also differentiated correctly (they are hoisted with
    `jax.closure_convert`), but `params` is the interface. x* does not depend on x0 (the fixed point
    is unique for a contraction), so the cotangent of x0 is zero. First-order reverse mode only:
    forward mode (`jax.jvp`, `jax.jacfwd`) and second derivatives (grad of grad, Hessians) through
    `fixed_point` are not supported (the backward is itself a while_loop). `info` carries no
    gradient.

    Args:
      f: the map, ``f(params, x) -> x`` with the structure, shapes and dtypes of x0. Should be a
        contraction in x for convergence (CGS guarantees it by construction, see
        `contraction.contractive_edge_weights`); nothing assumes it except the convergence tests.
      params: pytree of parameters and differentiable inputs.
      x0: the initial iterate (pytree of real floating arrays); CGS starts from zeros.
      tol: absolute residual tolerance (CGS uses 1e-6, notes Sec. 1 step 3).
      rtol: relative tolerance, multiplied by ||x_k||_2.
      max_iter: the most updates (CGS uses 50). f is evaluated at most max_iter + 1 times.
      anderson: `AndersonAcceleration` settings, or None for plain iteration. Also used by the
        "fixed_point" adjoint solve.
      adjoint: "fixed_point" (iterate y <- J^T y + g from y = g; one VJP per step) or
        "normal_cg" (`conjugate_gradient` on (I - J)(I - J^T) y = (I - J) g; one JVP and one VJP
        per step; for maps that are not contractions but have I - J invertible). The CG stopping
        tolerance is 0.1 * adjoint tolerances (the normal residual under-states the true one by up
        to ||(I - J)^{-1}||); the reported adjoint residual is always the true ||(I - J^T) y - g||.
      adjoint_tol, adjoint_rtol, adjoint_max_iter: the adjoint solve's stopping rule, the same
        form as the forward's with y for x (rtol scales with ||y||_2); None means "as forward".
      on_nonconvergence: "ignore" | "warn" | "raise" for the forward and (during
        differentiation) the adjoint solve. Default "warn". Exactly how it behaves under `jit`
        is documented in `jaxnets.solvers.convergence`: the check is a `jax.debug.callback` that
        fires when the computation runs; "raise" then surfaces as `jax.errors.JaxRuntimeError`.

    Returns:
      (x_star, info): x_star with x0's structure; info a `FixedPointInfo` of scalars (with a
      leading axis under `vmap`, where each element keeps its own iteration count).

    Raises:
      ValueError: at trace time, for a bad option, a non-float x0, or f returning a different
        structure/shape/dtype than x0.
      NotConvergedError: eagerly, when "raise" and the solve ended above tolerance.
    """
    validate_tolerances("", tol, rtol, max_iter)
    adjoint_tol = tol if adjoint_tol is None else adjoint_tol
    adjoint_rtol = rtol if adjoint_rtol is None else adjoint_rtol
    adjoint_max_iter = max_iter if adjoint_max_iter is None else adjoint_max_iter
    validate_tolerances("adjoint_", adjoint_tol, adjoint_rtol, adjoint_max_iter)
    validate_mode("on_nonconvergence", on_nonconvergence)
    if adjoint not in _ADJOINTS:
        raise ValueError(f"adjoint must be one of {_ADJOINTS}, got {adjoint!r}")
    if anderson is not None and not isinstance(anderson, AndersonAcceleration):
        raise ValueError(f"anderson must be an AndersonAcceleration or None, got {anderson!r}")
    check_floating("x0", x0)
    check_same_structure("f", x0, jax.eval_shape(f, params, x0), "an x (same as x0)")

    f_conv, consts = jax.closure_convert(f, params, x0)

    def forward(params, x0, consts):
        return iterate(
            lambda x: f_conv(params, x, *consts),
            x0, tol=tol, rtol=rtol, max_iter=max_iter, anderson_config=anderson,
        )

    @jax.custom_vjp
    def solve(params, x0, consts):
        return forward(params, x0, consts)

    def solve_fwd(params, x0, consts):
        x_star, info = forward(params, x0, consts)
        return (x_star, info), (params, x_star, consts)

    def solve_bwd(saved, cotangents):
        params, x_star, consts = saved
        g, _ = cotangents  # info is not differentiated
        _, vjp_fn = jax.vjp(lambda p, x, c: f_conv(p, x, *c), params, x_star, consts)

        def jt(y):
            return vjp_fn(y)[1]

        if adjoint == "fixed_point":
            y, info = iterate(
                lambda y: tree_add(jt(y), g), g, tol=adjoint_tol, rtol=adjoint_rtol,
                max_iter=adjoint_max_iter, anderson_config=anderson,
            )
        else:
            y, info = _normal_cg_adjoint(
                f_conv, params, x_star, consts, jt, g, adjoint_tol, adjoint_rtol, adjoint_max_iter
            )
        report_nonconvergence(
            info, on_nonconvergence, "fixed_point adjoint (backward) solve",
            f"adjoint={adjoint}, adjoint_tol={adjoint_tol}, adjoint_rtol={adjoint_rtol}, "
            f"adjoint_max_iter={adjoint_max_iter}",
        )
        params_ct, _, consts_ct = vjp_fn(y)
        return params_ct, tree_zeros_like(x_star), consts_ct

    solve.defvjp(solve_fwd, solve_bwd)
    x_star, info = solve(params, x0, consts)
    report_nonconvergence(
        info, on_nonconvergence, "fixed_point forward solve",
        f"tol={tol}, rtol={rtol}, max_iter={max_iter}",
    )
    return x_star, info


def _normal_cg_adjoint(f_conv, params, x_star, consts, jt, g, tol, rtol, max_iter):
    """Solve (I - J^T) y = g via CG on (I - J)(I - J^T) y = (I - J) g; report the true residual."""

    def j(v):
        return jax.jvp(lambda x: f_conv(params, x, *consts), (x_star,), (v,))[1]

    def m(v):  # I - J^T
        return tree_sub(v, jt(v))

    def mt(v):  # I - J
        return tree_sub(v, j(v))

    y, cg_info = conjugate_gradient(
        lambda v: mt(m(v)), mt(g), g, tol=0.1 * tol, rtol=0.1 * rtol, max_iter=max_iter
    )
    residual = tree_norm(tree_sub(m(y), g))
    return y, make_info(cg_info.iterations, residual, threshold(tol, rtol, tree_norm(y)))


def fixed_point_unrolled(
    f: Callable[[PyTree, PyTree], PyTree],
    params: PyTree,
    x0: PyTree,
    num_iter: int,
    *,
    tol: float = 1e-6,
    rtol: float = 0.0,
) -> tuple[PyTree, FixedPointInfo]:
    """Apply f exactly `num_iter` times with `lax.scan`; gradients by plain backpropagation.

    The reference for `fixed_point`: its gradient is ordinary reverse-mode through all K steps,
    so its memory grows linearly with K (the "unrolled" baseline of the CGS comparison, notes
    Sec. 1 mini-reproduction variant (b)). No early stopping.

    Args:
      f: the map ``f(params, x) -> x``.
      params: pytree of parameters (differentiable).
      x0: the initial iterate (differentiable; its influence decays like L^K for a contraction).
      num_iter: K >= 0, the number of applications.
      tol, rtol: only for ``info.converged``; same test as `fixed_point`.

    Returns:
      (x_K, info): ``info.iterations == K``; ``info.residual = ||f(x_K) - x_K||_2`` from one extra,
      gradient-stopped application of f.
    """
    validate_tolerances("", tol, rtol, num_iter)
    check_floating("x0", x0)
    check_same_structure("f", x0, jax.eval_shape(f, params, x0), "an x (same as x0)")

    def step(x, _):
        return f(params, x), None

    x, _ = lax.scan(step, x0, None, length=num_iter)
    x_sg = lax.stop_gradient(x)
    residual = tree_norm(tree_sub(f(lax.stop_gradient(params), x_sg), x_sg))
    info = make_info(num_iter, residual, threshold(tol, rtol, tree_norm(x_sg)))
    return x, info
