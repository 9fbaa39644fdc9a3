"""The IFT backward's memory does not grow with the number of forward iterations; unrolled does.

Measured on the compiled gradient (`jit(grad).lower(...).compile().memory_analysis()`): XLA's
temporary buffer bytes, which is where the unrolled version keeps its per-step residuals.
"""
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from jaxnets.solvers import fixed_point, fixed_point_unrolled

B, N = 64, 64  # a batch of states, so that one step's residuals (B x N floats) are sizeable


def _problem():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(N, N))
    w *= 0.9 / np.linalg.norm(w, 2)
    params = {"w": jnp.asarray(w, jnp.float32), "u": jnp.asarray(rng.normal(size=(B, N)), jnp.float32)}
    return params


def _f(params, x_BxN):
    return jnp.tanh(x_BxN @ params["w"].T + params["u"])


def _temp_bytes(loss, params):
    compiled = jax.jit(jax.grad(loss)).lower(params).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def _ift_loss(max_iter):
    def loss(params):
        # tol=0: every forward and adjoint solve runs the full max_iter iterations.
        x, _ = fixed_point(_f, params, jnp.zeros((B, N)), tol=0.0, max_iter=max_iter,
                           on_nonconvergence="ignore")
        return jnp.sum(x**2)
    return loss


def _unrolled_loss(num_iter):
    def loss(params):
        x, _ = fixed_point_unrolled(_f, params, jnp.zeros((B, N)), num_iter)
        return jnp.sum(x**2)
    return loss


def test_ift_backward_memory_is_independent_of_max_iter_and_unrolled_grows():
    params = _problem()
    ift_20, ift_80 = _temp_bytes(_ift_loss(20), params), _temp_bytes(_ift_loss(80), params)
    unr_20, unr_80 = _temp_bytes(_unrolled_loss(20), params), _temp_bytes(_unrolled_loss(80), params)
    assert ift_20 == ift_80, (ift_20, ift_80)
    # Unrolled stores one B x N activation (16 KiB) per step and more: >= 3x from 20 to 80 steps.
    assert unr_80 >= 3 * unr_20, (unr_20, unr_80)
    assert unr_80 - unr_20 >= 60 * B * N * 4, (unr_20, unr_80)
    assert ift_80 < unr_20, (ift_80, unr_20)


def _all_shapes(closed_jaxpr):
    """Shapes of every value produced anywhere in a jaxpr, nested jaxprs (loops, VJPs) included."""
    shapes = set()

    def collect(jaxpr):
        for eqn in jaxpr.eqns:
            shapes.update(tuple(getattr(v.aval, "shape", ())) for v in eqn.outvars)
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                collect(sub)

    collect(closed_jaxpr.jaxpr)
    return shapes


def test_ift_gradient_jaxpr_has_no_iteration_sized_arrays():
    """No array in the traced IFT gradient has a dimension equal to the iteration budget."""
    params = _problem()
    max_iter = 97  # a size that appears nowhere else in the problem
    ift = _all_shapes(jax.make_jaxpr(jax.grad(_ift_loss(max_iter)))(params))
    assert not [s for s in ift if max_iter in s]
    # Sanity check of the probe: the unrolled gradient does hold (97, B, N) residuals.
    unrolled = _all_shapes(jax.make_jaxpr(jax.grad(_unrolled_loss(max_iter)))(params))
    assert (max_iter, B, N) in unrolled
