"""fixed_point: forward solution and implicit (IFT) gradients against independent oracles.

Oracles are computed in float64 NumPy without the code under test: `np.linalg.solve` for linear
contractions, and plain NumPy iteration plus central finite differences for nonlinear maps.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.solvers import AndersonAcceleration, fixed_point, fixed_point_unrolled


def _linear_contraction(rng, n, norm):
    a = rng.normal(size=(n, n))
    return a * (norm / np.linalg.norm(a, 2)), rng.normal(size=n)


def _linear_f(params, x):
    a, b = params
    return a @ x + b


@pytest.mark.parametrize("anderson", [None, AndersonAcceleration(memory=5)])
def test_forward_matches_linear_solve(anderson):
    rng = np.random.default_rng(0)
    a, b = _linear_contraction(rng, 20, 0.9)
    expected = np.linalg.solve(np.eye(20) - a, b)
    params = (jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32))
    x, info = jax.jit(lambda p: fixed_point(_linear_f, p, jnp.zeros(20), tol=1e-6, max_iter=500,
                                            anderson=anderson))(params)
    assert bool(info.converged)
    assert float(info.residual) <= 1e-6
    # Error bound for a 0.9-contraction in the 2-norm: ||x - x*|| <= residual / (1 - 0.9) = 1e-5.
    np.testing.assert_allclose(np.asarray(x), expected, atol=2e-5)
    # The reported residual is that of the returned point, recomputed here independently.
    np.testing.assert_allclose(np.linalg.norm(a @ np.asarray(x, np.float64) + b - x),
                               float(info.residual), rtol=0.05, atol=1e-7)


def test_anderson_needs_fewer_iterations_on_a_slow_contraction():
    # Symmetric, eigenvalues spread over [-0.97, 0.97]: spectral radius = norm = 0.97, so plain
    # iteration needs ~log(1e-5 / |b|) / log(0.97) ~ 450 steps.
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    a = q @ np.diag(np.linspace(-0.97, 0.97, 30)) @ q.T
    b = rng.normal(size=30)
    params = (jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32))
    solve = jax.jit(lambda p, acc: fixed_point(_linear_f, p, jnp.zeros(30), tol=1e-5, max_iter=2000,
                                               anderson=acc), static_argnums=1)
    x_p, info_p = solve(params, None)
    x_a, info_a = solve(params, AndersonAcceleration(memory=8))
    assert bool(info_p.converged) and bool(info_a.converged)
    assert int(info_a.iterations) * 3 < int(info_p.iterations)
    expected = np.linalg.solve(np.eye(30) - a, b)
    np.testing.assert_allclose(np.asarray(x_a), expected, atol=1e-3)


def test_pytree_state_vmap_and_iteration_counts():
    """x is a tuple of arrays; vmap over b gives each element its own iteration count."""
    rng = np.random.default_rng(2)
    a, _ = _linear_contraction(rng, 6, 0.5)
    b_batch = rng.normal(size=(4, 6)) * np.array([1e-6, 1.0, 10.0, 100.0])[:, None]

    def f(params, x):
        a, b = params
        u, v = x
        return (a @ v + b, 0.5 * u)  # (u, v) = (A v + b, u / 2): a 0.5-contraction overall

    def solve(b):
        return fixed_point(f, (jnp.asarray(a, jnp.float32), b), (jnp.zeros(6), jnp.zeros(6)),
                           tol=1e-5, max_iter=200)

    (u, v), info = jax.jit(jax.vmap(solve))(jnp.asarray(b_batch, jnp.float32))
    m = np.block([[np.zeros((6, 6)), a], [0.5 * np.eye(6), np.zeros((6, 6))]])
    for i in range(4):
        expected = np.linalg.solve(np.eye(12) - m, np.concatenate([b_batch[i], np.zeros(6)]))
        np.testing.assert_allclose(np.concatenate([u[i], v[i]]), expected, atol=1e-4)
    assert info.converged.shape == (4,) and bool(jnp.all(info.converged))
    iters = np.asarray(info.iterations)
    assert iters[0] < iters[3], iters  # larger b: more iterations to reach an absolute tol


# ---- gradients -----------------------------------------------------------------------------------

N, P = 8, 3


def _nonlinear_problem(seed=0):
    """x = tanh(W x + U p), ||W||_2 = 0.6: a 0.6-contraction in x (tanh is 1-Lipschitz)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(N, N))
    w *= 0.6 / np.linalg.norm(w, 2)
    return {"w": w, "u": rng.normal(size=(N, P)), "p": rng.normal(size=P)}, rng.normal(size=N)


def _f(params, x):
    return jnp.tanh(params["w"] @ x + params["u"] @ params["p"])


def _np_loss(params, c):
    """Independent float64 oracle: NumPy iteration to machine precision, then L = c.x + |x|^2/2."""
    x = np.zeros(N)
    for _ in range(200):  # 0.6^200: converged to float64 precision
        x = np.tanh(params["w"] @ x + params["u"] @ params["p"])
    return c @ x + 0.5 * x @ x


def _loss(solver, params, c):
    x = solver(params)
    return c @ x + 0.5 * x @ x


def _ift(params, **kw):
    return fixed_point(_f, params, jnp.zeros(N, params["w"].dtype), **kw)[0]


def _unrolled(params, k=100):
    return fixed_point_unrolled(_f, params, jnp.zeros(N, params["w"].dtype), k)[0]


def _directional_fd(params, c, direction, h=1e-5):
    plus = {k: params[k] + h * direction[k] for k in params}
    minus = {k: params[k] - h * direction[k] for k in params}
    return (_np_loss(plus, c) - _np_loss(minus, c)) / (2 * h)


@pytest.mark.parametrize("adjoint", ["fixed_point", "normal_cg"])
def test_ift_gradient_matches_finite_differences_float32(adjoint):
    """float32 IFT gradient vs float64 central differences along 5 random directions.

    Tolerance: |<grad, d> - FD| <= 1e-5 * ||grad|| * ||d||. The solves stop at residual 1e-6
    (error <= 1e-6 / (1 - 0.6)) and float32 round-off is ~1e-7 relative; the observed error is
    ~1e-7, so 1e-5 leaves a 100x margin while any wrong term (a missing or transposed Jacobian)
    changes the gradient at O(1).
    """
    params64, c = _nonlinear_problem()
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params64)
    grad = jax.jit(jax.grad(lambda p: _loss(lambda q: _ift(q, adjoint=adjoint), p, c)))(params)
    gnorm = np.sqrt(sum(np.sum(np.asarray(g, np.float64) ** 2) for g in grad.values()))
    rng = np.random.default_rng(10)
    for _ in range(5):
        d = {k: rng.normal(size=np.shape(v)) for k, v in params64.items()}
        analytic = sum(np.sum(np.asarray(grad[k], np.float64) * d[k]) for k in d)
        numeric = _directional_fd(params64, c, d)
        dnorm = np.sqrt(sum(np.sum(v**2) for v in d.values()))
        assert abs(analytic - numeric) <= 1e-5 * gnorm * dnorm, (analytic, numeric)


def test_ift_gradient_matches_finite_differences_float64():
    """The same check in float64 with tight solves (tol 1e-13). Tolerance 1e-7 relative: the
    central difference itself is accurate to ~1e-9 here (observed 2e-9 at most)."""
    params64, c = _nonlinear_problem(seed=3)
    with jax.enable_x64(True):
        params = jax.tree.map(jnp.asarray, params64)
        grad = jax.grad(lambda p: _loss(lambda q: _ift(q, tol=1e-13, max_iter=200), p, c))(params)
        grad = jax.tree.map(np.asarray, grad)
    rng = np.random.default_rng(11)
    for _ in range(3):
        d = {k: rng.normal(size=np.shape(v)) for k, v in params64.items()}
        analytic = sum(np.sum(grad[k] * d[k]) for k in d)
        numeric = _directional_fd(params64, c, d)
        assert abs(analytic - numeric) <= 1e-7 * max(1.0, abs(numeric)), (analytic, numeric)


def test_ift_gradient_matches_unrolled_gradient():
    """IFT vs backprop through 100 unrolled steps (0.6^100 ~ 1e-22: the unrolled gradient is
    exact up to float32 round-off). Tolerance: 1e-5 absolute on O(1) gradients."""
    params64, c = _nonlinear_problem(seed=1)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params64)
    g_ift = jax.jit(jax.grad(lambda p: _loss(lambda q: _ift(q, tol=1e-7), p, c)))(params)
    g_unr = jax.jit(jax.grad(lambda p: _loss(_unrolled, p, c)))(params)
    for k in params:
        np.testing.assert_allclose(np.asarray(g_ift[k]), np.asarray(g_unr[k]), atol=1e-5, rtol=1e-5)


def test_anderson_forward_and_backward_give_the_same_gradient():
    params64, c = _nonlinear_problem(seed=2)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params64)
    acc = AndersonAcceleration(memory=4)
    g_and = jax.jit(jax.grad(lambda p: _loss(lambda q: _ift(q, anderson=acc, tol=1e-7), p, c)))(params)
    g_unr = jax.jit(jax.grad(lambda p: _loss(_unrolled, p, c)))(params)
    for k in params:
        np.testing.assert_allclose(np.asarray(g_and[k]), np.asarray(g_unr[k]), atol=1e-5, rtol=1e-5)


def test_x0_gets_zero_gradient_and_closed_over_arrays_get_correct_gradients():
    params64, c = _nonlinear_problem(seed=4)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params64)
    perm = jnp.asarray(np.random.default_rng(0).permutation(N))

    def via_closure(p_vec, x0):
        # p enters through the closure, an integer permutation too (closed-over, no gradient).
        f = lambda prm, x: jnp.tanh(prm["w"] @ x[perm] + prm["u"] @ p_vec)
        x, _ = fixed_point(f, {"w": params["w"], "u": params["u"]}, x0, tol=1e-7)
        return c @ x + 0.5 * x @ x

    def unrolled(p_vec, x0):
        f = lambda prm, x: jnp.tanh(prm["w"] @ x[perm] + prm["u"] @ p_vec)
        x, _ = fixed_point_unrolled(f, {"w": params["w"], "u": params["u"]}, x0, 100)
        return c @ x + 0.5 * x @ x

    x0 = jnp.ones(N)
    gp, gx0 = jax.jit(jax.grad(via_closure, argnums=(0, 1)))(params["p"], x0)
    gp_ref = jax.grad(unrolled)(params["p"], x0)
    np.testing.assert_array_equal(np.asarray(gx0), np.zeros(N))
    np.testing.assert_allclose(np.asarray(gp), np.asarray(gp_ref), atol=1e-5, rtol=1e-5)


def test_integer_leaves_in_params_are_allowed():
    """Edge indices travel in params (as CGS will pass them) and get float0 cotangents."""
    params64, c = _nonlinear_problem(seed=5)
    idx = jnp.arange(N)[::-1]

    def loss(w):
        f = lambda prm, x: jnp.tanh(prm[0] @ x[prm[1]] + 1.0)
        x, _ = fixed_point(f, (w, idx), jnp.zeros(N))
        return jnp.sum(x)

    g = jax.jit(jax.grad(loss))(jnp.asarray(params64["w"], jnp.float32))
    assert g.shape == (N, N) and bool(jnp.all(jnp.isfinite(g)))


def test_unrolled_reports_residual_of_its_output():
    rng = np.random.default_rng(6)
    a, b = _linear_contraction(rng, 5, 0.5)
    params = (jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32))
    x, info = fixed_point_unrolled(_linear_f, params, jnp.zeros(5), 3)
    x_np = np.zeros(5)
    for _ in range(3):
        x_np = a @ x_np + b
    np.testing.assert_allclose(np.asarray(x), x_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(info.residual), np.linalg.norm(a @ x_np + b - x_np), rtol=1e-4)
    assert int(info.iterations) == 3 and not bool(info.converged)


def test_bad_arguments_are_reported_by_name():
    params = (jnp.eye(3) * 0.5, jnp.ones(3))
    with pytest.raises(ValueError, match="tol"):
        fixed_point(_linear_f, params, jnp.zeros(3), tol=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        fixed_point(_linear_f, params, jnp.zeros(3), max_iter=2.5)
    with pytest.raises(ValueError, match="on_nonconvergence"):
        fixed_point(_linear_f, params, jnp.zeros(3), on_nonconvergence="silent")
    with pytest.raises(ValueError, match="adjoint"):
        fixed_point(_linear_f, params, jnp.zeros(3), adjoint="gmres")
    with pytest.raises(ValueError, match="x0"):
        fixed_point(_linear_f, params, jnp.zeros(3, jnp.int32))
    with pytest.raises(ValueError, match="f must return"):
        fixed_point(lambda p, x: jnp.concatenate([x, x]), params, jnp.zeros(3))
    with pytest.raises(ValueError, match="memory"):
        AndersonAcceleration(memory=0)


def test_population_sharded_over_eight_devices():
    """A batch of 8 problems, one per fake CPU device (jit + vmap over a sharded leading axis):
    the batched while_loop's stopping test spans devices and each element keeps its own count."""
    devices = jax.devices()
    assert len(devices) == 8
    mesh = jax.sharding.Mesh(np.asarray(devices), ("pop",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("pop"))
    rng = np.random.default_rng(7)
    a, _ = _linear_contraction(rng, 6, 0.7)
    bs = rng.normal(size=(8, 6)) * np.geomspace(1e-3, 1e3, 8)[:, None]
    a32 = jnp.asarray(a, jnp.float32)
    solve = jax.jit(jax.vmap(lambda b: fixed_point(_linear_f, (a32, b), jnp.zeros(6), tol=1e-4,
                                                   max_iter=200)))
    x, info = solve(jax.device_put(jnp.asarray(bs, jnp.float32), sharding))
    assert x.sharding.is_equivalent_to(sharding, 2)
    np.testing.assert_allclose(np.asarray(x), np.linalg.solve(np.eye(6) - a, bs.T).T, atol=5e-4)
    assert bool(jnp.all(info.converged)) and len(set(np.asarray(info.iterations).tolist())) > 1
