"""Non-convergence is reported, never hidden: info flags, warn and raise, eagerly and under jit."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.solvers import NotConvergedError, NotConvergedWarning, fixed_point


def _reflection(params, x):
    """x -> b - x: an isometry (Lipschitz 1, not a contraction). From x0 = 0 it alternates
    0, b, 0, b, ... so the residual stays ||b - 2x|| = ||b|| forever."""
    return params - x


B = jnp.asarray([3.0, 4.0])  # ||b|| = 5


def test_noncontractive_map_hits_max_iter_and_reports_its_residual():
    x, info = fixed_point(_reflection, B, jnp.zeros(2), max_iter=17, on_nonconvergence="ignore")
    assert int(info.iterations) == 17
    assert not bool(info.converged)
    np.testing.assert_allclose(float(info.residual), 5.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(x), np.asarray(B))  # x_17 = b (odd step)


def test_raise_eagerly_and_under_jit():
    with pytest.raises(NotConvergedError, match=r"forward solve did not converge: residual 5\.000e\+00"):
        fixed_point(_reflection, B, jnp.zeros(2), max_iter=10, on_nonconvergence="raise")
    solve = jax.jit(lambda b: fixed_point(_reflection, b, jnp.zeros(2), max_iter=10,
                                          on_nonconvergence="raise"))
    # Under jit the host callback's exception surfaces as JaxRuntimeError carrying our message.
    with pytest.raises(jax.errors.JaxRuntimeError, match="NotConvergedError.*did not converge"):
        jax.block_until_ready(solve(B))


def test_warn_eagerly_and_under_jit():
    with pytest.warns(NotConvergedWarning, match="after 10 iterations"):
        _, info = fixed_point(_reflection, B, jnp.zeros(2), max_iter=10, on_nonconvergence="warn")
    assert not bool(info.converged)
    solve = jax.jit(lambda b: fixed_point(_reflection, b, jnp.zeros(2), max_iter=10))  # default: warn
    with pytest.warns(NotConvergedWarning, match="did not converge"):
        jax.block_until_ready(solve(B))
        jax.effects_barrier()


def test_converged_solve_is_silent_under_raise():
    x, info = jax.jit(lambda b: fixed_point(lambda p, x: 0.5 * x + p, b, jnp.zeros(2),
                                            on_nonconvergence="raise"))(B)
    assert bool(info.converged)
    np.testing.assert_allclose(np.asarray(x), 2 * np.asarray(B), atol=1e-5)


def test_vmap_reports_only_when_some_element_fails():
    def solve(scale):
        f = lambda p, x: p * x + 1.0  # contraction iff |p| < 1
        return fixed_point(f, scale, jnp.zeros(()), max_iter=60, on_nonconvergence="ignore")

    _, info = jax.jit(jax.vmap(solve))(jnp.asarray([0.1, 0.5, 1.5]))
    np.testing.assert_array_equal(np.asarray(info.converged), [True, True, False])
    assert int(info.iterations[2]) == 60 and int(info.iterations[0]) < 60


def test_nan_residual_stops_early_and_is_not_converged():
    f = lambda p, x: x * p + jnp.log(x - 10.0)  # NaN at once from x0 = 0
    _, info = fixed_point(f, jnp.asarray(0.5), jnp.zeros(()), max_iter=50, on_nonconvergence="ignore")
    assert int(info.iterations) == 0 and not bool(info.converged) and np.isnan(float(info.residual))


def _loss_with_starved_adjoint(mode):
    """Forward converges; the adjoint gets one iteration, far too few for tol 1e-6."""
    def loss(b):
        x, _ = fixed_point(lambda p, x: 0.9 * x + p, b, jnp.zeros(2), max_iter=500,
                           adjoint_max_iter=1, on_nonconvergence=mode)
        return jnp.sum(x)
    return loss


def test_backward_nonconvergence_is_checked_too():
    with pytest.raises(NotConvergedError, match="adjoint"):
        jax.grad(_loss_with_starved_adjoint("raise"))(B)
    with pytest.raises(jax.errors.JaxRuntimeError, match="adjoint .backward. solve did not converge"):
        jax.block_until_ready(jax.jit(jax.grad(_loss_with_starved_adjoint("raise")))(B))
    with pytest.warns(NotConvergedWarning, match="adjoint"):
        jax.block_until_ready(jax.jit(jax.grad(_loss_with_starved_adjoint("warn")))(B))
        jax.effects_barrier()
    # With the budget it needs, the same gradient is exact: d sum(x*) / d b = 1 / (1 - 0.9).
    def loss(b):
        x, _ = fixed_point(lambda p, x: 0.9 * x + p, b, jnp.zeros(2), max_iter=500,
                           on_nonconvergence="raise")
        return jnp.sum(x)
    np.testing.assert_allclose(np.asarray(jax.grad(loss)(B)), [10.0, 10.0], rtol=1e-4)
