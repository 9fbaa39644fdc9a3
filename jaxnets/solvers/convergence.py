"""Convergence reports shared by the iterative solvers: info records, errors, warn/raise checks.

Every solver in `jaxnets.solvers` returns a `SolverInfo` next to its solution and never reports
a run as converged unless the final residual is at or below the requested tolerance. What to do
when it is not is the caller's choice (`on_nonconvergence`):

* ``"ignore"``: nothing; the caller reads ``info.converged``.
* ``"warn"``: a `NotConvergedWarning` (a `RuntimeWarning`) through `warnings.warn`.
* ``"raise"``: a `NotConvergedError` (a `RuntimeError`).

Behaviour under transformations. When the info values are concrete (plain eager call), the check
runs in Python right away. When they are traced (inside `jit`, `vmap`, `grad`, `scan`, ...), the
check is staged with `jax.debug.callback` and runs on the host *when the compiled computation
executes*, once per call (under `vmap`, once per batch element); it is never dropped by dead-code
elimination because the callback is an effect. Consequences:

* "warn" under jit: the warning is issued from the callback while the computation runs. On CPU
  that happens before the jitted call returns; on an accelerator it may be asynchronous, so call
  `jax.effects_barrier()` (or block on an output) before relying on it having fired. If Python is
  set to turn warnings into errors (as the test suite does) the warning becomes an exception and
  is reported like "raise" below.
* "raise" under jit: the exception raised in the callback aborts the computation and surfaces
  from the jitted call as `jax.errors.JaxRuntimeError` (also a `RuntimeError`) whose message
  contains the `NotConvergedError` message (JAX also logs "jax.debug.callback failed"). Eagerly it
  is the `NotConvergedError` itself. Catch `RuntimeError` to handle both.

`jax.experimental.checkify` is not used: its checks need the caller to wrap the whole computation
in `checkify.checkify`, and an unwrapped `checkify.check` inside `jit` is an error.
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxnets.solvers._tree import is_traced

OnNonconvergence = Literal["ignore", "warn", "raise"]
_MODES = ("ignore", "warn", "raise")


class SolverInfo(NamedTuple):
    """What an iterative solve did (all scalars; a leading axis each under `vmap`).

    Attributes:
      iterations: int32, the number of updates applied (x_k after k updates is returned).
      residual: float, the final residual of the returned solution, in the solver's own
        sense (fixed point: ||f(x) - x||_2; linear solve: ||b - A x||_2), computed for exactly the
        returned point, not estimated.
      converged: bool, ``residual <= tol + rtol * scale`` (see each solver for `scale`). False
        whenever the residual is NaN or infinite.
    """

    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array


FixedPointInfo = SolverInfo
"""Info of `fixed_point`, `fixed_point_unrolled` and the adjoint solve (same fields)."""

CGInfo = SolverInfo
"""Info of `conjugate_gradient` (same fields)."""


class NotConvergedError(RuntimeError):
    """An iterative solve ended above its tolerance and ``on_nonconvergence="raise"``."""


class NotConvergedWarning(RuntimeWarning):
    """An iterative solve ended above its tolerance and ``on_nonconvergence="warn"``."""


def validate_mode(name: str, mode: str) -> None:
    """Raise ValueError unless `mode` is one of "ignore", "warn", "raise"."""
    if mode not in _MODES:
        raise ValueError(f"{name} must be one of {_MODES}, got {mode!r}")


def validate_tolerances(prefix: str, tol: float, rtol: float, max_iter: int) -> None:
    """Check tolerances and iteration budget at trace time; messages name `prefix`+argument."""
    for name, value in ((f"{prefix}tol", tol), (f"{prefix}rtol", rtol)):
        if isinstance(value, jax.core.Tracer) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a Python float >= 0, got {value!r}")
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"{prefix}max_iter must be a Python int >= 0, got {max_iter!r}")


def threshold(tol: float, rtol: float, scale: jax.Array) -> jax.Array:
    """The stopping threshold ``tol + rtol * scale`` (absolute plus relative part)."""
    return tol + rtol * scale


def make_info(iterations: jax.Array, residual: jax.Array, thresh: jax.Array) -> SolverInfo:
    """Build a `SolverInfo`; `converged` is ``residual <= thresh`` (False for NaN/inf)."""
    residual = jnp.asarray(residual)
    return SolverInfo(
        iterations=jnp.asarray(iterations, jnp.int32),
        residual=residual,
        converged=jnp.isfinite(residual) & (residual <= thresh),
    )


def _host_check(mode: str, what: str, limits: str, converged, iterations, residual) -> None:
    converged, iterations, residual = (
        np.atleast_1d(np.asarray(a)) for a in (converged, iterations, residual)
    )
    if bool(np.all(converged)):
        return
    bad = ~converged
    count = f" ({int(bad.sum())} of {bad.size} solves)" if bad.size > 1 else ""
    message = (
        f"{what} did not converge{count}: residual {residual[bad].max():.3e} after "
        f"{int(iterations[bad].max())} iterations ({limits})"
    )
    if mode == "raise":
        raise NotConvergedError(message)
    warnings.warn(message, NotConvergedWarning, stacklevel=3)


def report_nonconvergence(info: SolverInfo, mode: str, what: str, limits: str) -> None:
    """Warn or raise when ``info.converged`` is False, eagerly or from a staged host callback.

    Args:
      info: the solve's `SolverInfo`, concrete or traced.
      mode: "ignore" | "warn" | "raise" (see the module docstring for behaviour under jit).
      what: names the solve in the message, e.g. "fixed_point forward solve".
      limits: the tolerances and budget, quoted in the message, e.g. "tol=1e-06, max_iter=50".
    """
    if mode == "ignore":
        return
    check = functools.partial(_host_check, mode, what, limits)
    if is_traced(info):
        # The host callback sits in the failure branch of a cond, so a converged solve costs no
        # host round trip (under vmap the cond becomes a select and the callback runs per element;
        # the host check then ignores the converged ones).
        def fire(converged, iterations, residual):
            jax.debug.callback(check, converged, iterations, residual)

        # (An integer count, not jnp.all: reduce_and has no JVP rule and this may run under grad.)
        num_failed = jnp.sum(jnp.logical_not(info.converged).astype(jnp.int32))
        lax.cond(
            num_failed == 0, lambda *_: None, fire,
            info.converged, info.iterations, info.residual,
        )
    else:
        check(info.converged, info.iterations, info.residual)
