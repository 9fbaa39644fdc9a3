"""conjugate_gradient against numpy.linalg.solve on random SPD systems; jit, vmap, pytrees, grad."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.solvers import conjugate_gradient


def _spd(rng, n, cond):
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q @ np.diag(np.geomspace(1.0, cond, n)) @ q.T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_numpy_solve_on_random_spd(seed):
    rng = np.random.default_rng(seed)
    a, b = _spd(rng, 40, 100.0), rng.normal(size=40)
    expected = np.linalg.solve(a, b)
    a32 = jnp.asarray(a, jnp.float32)
    x, info = jax.jit(lambda b: conjugate_gradient(lambda v: a32 @ v, b, tol=1e-5))(
        jnp.asarray(b, jnp.float32))
    assert bool(info.converged) and float(info.residual) <= 1e-5
    assert 0 < int(info.iterations) <= 400
    # ||x - x*|| <= ||A^-1|| * residual = 1e-5 (smallest eigenvalue 1), plus float32 round-off.
    np.testing.assert_allclose(np.asarray(x), expected, atol=5e-5)
    # The reported residual is the true one of the returned x (recomputed here in float64).
    np.testing.assert_allclose(np.linalg.norm(b - a @ np.asarray(x, np.float64)),
                               float(info.residual), rtol=0.2, atol=2e-6)


def test_vmap_over_right_hand_sides_and_initial_guess():
    rng = np.random.default_rng(3)
    a, bs = _spd(rng, 16, 10.0), rng.normal(size=(5, 16))
    a32 = jnp.asarray(a, jnp.float32)
    solve = jax.jit(jax.vmap(lambda b, x0: conjugate_gradient(lambda v: a32 @ v, b, x0, tol=1e-6)))
    expected = np.linalg.solve(a, bs.T).T
    xs, info = solve(jnp.asarray(bs, jnp.float32), jnp.zeros((5, 16)))
    np.testing.assert_allclose(np.asarray(xs), expected, atol=1e-5)
    assert info.converged.shape == (5,) and bool(jnp.all(info.converged))
    # Starting at the answer: zero iterations.
    _, info0 = solve(jnp.asarray(bs, jnp.float32), jnp.asarray(expected, jnp.float32))
    assert int(jnp.max(info0.iterations)) <= 1


def test_pytree_system():
    """A block-diagonal operator on a dict {"u": (3,), "v": (2, 2)} equals the flat solve."""
    rng = np.random.default_rng(4)
    a1, a2 = _spd(rng, 3, 5.0), _spd(rng, 4, 5.0)
    b = {"u": rng.normal(size=3), "v": rng.normal(size=(2, 2))}
    a1j, a2j = jnp.asarray(a1, jnp.float32), jnp.asarray(a2, jnp.float32)
    matvec = lambda x: {"u": a1j @ x["u"], "v": (a2j @ x["v"].reshape(4)).reshape(2, 2)}
    x, info = conjugate_gradient(matvec, jax.tree.map(lambda t: jnp.asarray(t, jnp.float32), b))
    assert bool(info.converged)
    np.testing.assert_allclose(np.asarray(x["u"]), np.linalg.solve(a1, b["u"]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(x["v"]).reshape(4), np.linalg.solve(a2, b["v"].reshape(4)),
                               atol=1e-5)


def test_jacobi_preconditioner_cuts_iterations_on_a_badly_scaled_system():
    rng = np.random.default_rng(5)
    d = np.geomspace(1.0, 1e4, 50)
    core = _spd(rng, 50, 3.0)
    a = np.sqrt(d)[:, None] * core * np.sqrt(d)[None, :]  # SPD, condition ~3e4, diagonal scaling
    b = rng.normal(size=50)
    a32, diag = jnp.asarray(a, jnp.float32), jnp.asarray(np.diag(a), jnp.float32)
    kw = dict(tol=0.0, rtol=1e-5, max_iter=500)
    x_plain, plain = conjugate_gradient(lambda v: a32 @ v, jnp.asarray(b, jnp.float32), **kw)
    x_pre, pre = conjugate_gradient(lambda v: a32 @ v, jnp.asarray(b, jnp.float32),
                                    preconditioner=lambda r: r / diag, **kw)
    assert bool(pre.converged)
    assert 2 * int(pre.iterations) < int(plain.iterations)
    np.testing.assert_allclose(np.asarray(x_pre), np.linalg.solve(a, b), rtol=1e-3,
                               atol=1e-3 * np.abs(np.linalg.solve(a, b)).max())


def test_not_positive_definite_or_starved_is_not_converged():
    a = jnp.diag(jnp.asarray([1.0, -1.0, 2.0]))  # indefinite
    _, info = conjugate_gradient(lambda v: a @ v, jnp.asarray([1.0, 1.0, 1.0]), max_iter=50)
    assert not bool(info.converged)
    rng = np.random.default_rng(6)
    a = jnp.asarray(_spd(rng, 30, 1e3), jnp.float32)
    _, info = conjugate_gradient(lambda v: a @ v, jnp.ones(30), max_iter=3, tol=1e-6)
    assert int(info.iterations) == 3 and not bool(info.converged) and float(info.residual) > 1e-6


def test_gradient_is_the_implicit_one():
    """d/db of c . A^{-1} b is A^{-1} c; d/dA_ij is -(A^{-1} c)_i (A^{-1} b)_j (A symmetric
    parametrised as S + S^T here, so compare the gradient w.r.t. S)."""
    rng = np.random.default_rng(7)
    a, b, c = _spd(rng, 10, 10.0), rng.normal(size=10), rng.normal(size=10)
    s = jnp.asarray(a / 2, jnp.float32)

    def loss(s, b):
        x, _ = conjugate_gradient(lambda v: (s + s.T) @ v, b, tol=1e-7)
        return jnp.asarray(c, jnp.float32) @ x

    gs, gb = jax.jit(jax.grad(loss, argnums=(0, 1)))(s, jnp.asarray(b, jnp.float32))
    ainv_c, ainv_b = np.linalg.solve(a, c), np.linalg.solve(a, b)
    np.testing.assert_allclose(np.asarray(gb), ainv_c, atol=1e-4)
    outer = -np.outer(ainv_c, ainv_b)
    np.testing.assert_allclose(np.asarray(gs), outer + outer.T, atol=1e-4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="matvec"):
        conjugate_gradient(lambda v: jnp.ones(4), jnp.ones(3))
    with pytest.raises(ValueError, match="b must have real floating"):
        conjugate_gradient(lambda v: v, jnp.ones(3, jnp.int32))
    with pytest.raises(ValueError, match="x0"):
        conjugate_gradient(lambda v: v, jnp.ones(3), jnp.ones(2))
    with pytest.raises(ValueError, match="max_iter"):
        conjugate_gradient(lambda v: v, jnp.ones(3), max_iter=-1)
