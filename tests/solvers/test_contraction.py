"""CGS contraction helpers: the edge-list operator's infinity norm, checked densely in NumPy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.solvers import (
    apply_edge_operator,
    contractive_edge_weights,
    edge_operator_inf_norm,
    fixed_point,
    linear_edge_map,
)

N_NODES, N_EDGES, HEADS, GAMMA = 7, 25, 3, 0.5


def _graph(seed):
    """Random directed multigraph with self-loops, one isolated receiver; raw values span
    [-1, 2] so that clipping at both ends is exercised."""
    rng = np.random.default_rng(seed)
    senders = rng.integers(0, N_NODES, size=N_EDGES)
    receivers = rng.integers(0, N_NODES - 1, size=N_EDGES)  # node N-1 receives nothing
    raw = rng.uniform(-1.0, 2.0, size=(N_EDGES, HEADS))
    return senders, receivers, raw


def _dense(weights, senders, receivers):
    """Dense (H, N, N) with A[h, i, j] = sum of weights of edges j -> i (NumPy, float64)."""
    a = np.zeros((weights.shape[1], N_NODES, N_NODES))
    for e, (s, r) in enumerate(zip(senders, receivers)):
        a[:, r, s] += weights[e]
    return a


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_operator_infinity_norm_is_at_most_gamma(seed):
    senders, receivers, raw = _graph(seed)
    w = contractive_edge_weights(jnp.asarray(raw, jnp.float32), jnp.asarray(receivers), N_NODES,
                                 gamma=GAMMA)
    assert w.shape == (N_EDGES, HEADS) and w.dtype == jnp.float32
    a = _dense(np.asarray(w, np.float64), senders, receivers)
    inf_norms = np.abs(a).sum(axis=2).max(axis=1)  # max absolute row sum, per head
    assert inf_norms.shape == (HEADS,)
    assert np.all(inf_norms <= GAMMA + 1e-6), inf_norms
    np.testing.assert_allclose(np.asarray(edge_operator_inf_norm(w, jnp.asarray(receivers), N_NODES)),
                               inf_norms, rtol=1e-6)
    # The weights themselves, from the definition (clip, divide by in-degree, times gamma).
    indeg = np.bincount(receivers, minlength=N_NODES)
    expected = GAMMA * np.clip(raw, 0, 1) / indeg[receivers][:, None]
    np.testing.assert_allclose(np.asarray(w), expected, rtol=1e-6)


def test_bound_is_tight_when_all_raw_values_saturate():
    senders, receivers, _ = _graph(3)
    w = contractive_edge_weights(jnp.full((N_EDGES, HEADS), 5.0), jnp.asarray(receivers), N_NODES,
                                 gamma=GAMMA)
    a = _dense(np.asarray(w, np.float64), senders, receivers)
    row_sums = np.abs(a).sum(axis=2)  # (H, N)
    has_in = np.bincount(receivers, minlength=N_NODES) > 0
    np.testing.assert_allclose(row_sums[:, has_in], GAMMA, rtol=1e-6)
    np.testing.assert_array_equal(row_sums[:, ~has_in], 0.0)


def test_padding_edges_are_masked_out_of_weights_and_degrees():
    senders, receivers, raw = _graph(4)
    mask = np.arange(N_EDGES) < 18  # last 7 edges are padding
    w = contractive_edge_weights(jnp.asarray(raw, jnp.float32), jnp.asarray(receivers), N_NODES,
                                 gamma=GAMMA, edge_mask_E=jnp.asarray(mask))
    w_real = contractive_edge_weights(jnp.asarray(raw[mask], jnp.float32),
                                      jnp.asarray(receivers[mask]), N_NODES, gamma=GAMMA)
    np.testing.assert_array_equal(np.asarray(w[~mask]), 0.0)
    np.testing.assert_allclose(np.asarray(w[mask]), np.asarray(w_real), rtol=1e-6)


def test_apply_and_fixed_point_match_dense_solve_per_head():
    """The edge-list map z <- A z + b and its fixed point vs (I - A_h)^{-1} b_h in NumPy."""
    senders, receivers, raw = _graph(5)
    rng = np.random.default_rng(5)
    b = rng.normal(size=(N_NODES, HEADS))
    s, r = jnp.asarray(senders), jnp.asarray(receivers)
    w = contractive_edge_weights(jnp.asarray(raw, jnp.float32), r, N_NODES, gamma=GAMMA)
    a = _dense(np.asarray(w, np.float64), senders, receivers)
    z = rng.normal(size=(N_NODES, HEADS))
    az = apply_edge_operator(w, s, r, jnp.asarray(z, jnp.float32))
    np.testing.assert_allclose(np.asarray(az), np.einsum("hij,jh->ih", a, z), atol=1e-5)

    params = (w, jnp.asarray(b, jnp.float32), s, r)
    z_star, info = jax.jit(lambda p: fixed_point(linear_edge_map, p, jnp.zeros((N_NODES, HEADS)),
                                                 tol=1e-6, max_iter=100))(params)
    expected = np.stack([np.linalg.solve(np.eye(N_NODES) - a[h], b[:, h]) for h in range(HEADS)], 1)
    assert bool(info.converged)
    np.testing.assert_allclose(np.asarray(z_star), expected, atol=1e-5)
    # Iteration bound: from z0 = 0, the k-th residual is A^k b (all heads), and
    # ||A^k b||_2 <= sqrt(N H) ||A^k b||_inf <= sqrt(N H) gamma^k ||b||_inf, so convergence to the
    # L2 tolerance takes at most ceil(log(tol / (sqrt(N H) ||b||_inf)) / log gamma) updates.
    bound = np.ceil(np.log(1e-6 / (np.sqrt(b.size) * np.abs(b).max())) / np.log(GAMMA))
    assert int(info.iterations) <= bound


def test_gradients_flow_to_raw_weights_and_b_through_the_fixed_point():
    """IFT gradients of the graph system vs the dense float64 formula dL/db = (I - A^T)^{-1} c."""
    senders, receivers, raw = _graph(6)
    rng = np.random.default_rng(6)
    b, c = rng.normal(size=(N_NODES, HEADS)), rng.normal(size=(N_NODES, HEADS))
    s, r = jnp.asarray(senders), jnp.asarray(receivers)

    def loss(raw, b):
        w = contractive_edge_weights(raw, r, N_NODES, gamma=GAMMA)
        z, _ = fixed_point(linear_edge_map, (w, b, s, r), jnp.zeros((N_NODES, HEADS)), tol=1e-7)
        return jnp.sum(jnp.asarray(c, jnp.float32) * z)

    g_raw, g_b = jax.jit(jax.grad(loss, argnums=(0, 1)))(jnp.asarray(raw, jnp.float32),
                                                         jnp.asarray(b, jnp.float32))
    w = np.asarray(contractive_edge_weights(jnp.asarray(raw, jnp.float32), r, N_NODES, gamma=GAMMA),
                   np.float64)
    a = _dense(w, senders, receivers)
    y = np.stack([np.linalg.solve(np.eye(N_NODES) - a[h].T, c[:, h]) for h in range(HEADS)], 1)
    np.testing.assert_allclose(np.asarray(g_b), y, atol=1e-5)
    # dL/dw_e = y[recv_e] * z*[send_e]; times d w / d raw = gamma / indeg inside (0, 1), else 0.
    z_star = np.stack([np.linalg.solve(np.eye(N_NODES) - a[h], b[:, h]) for h in range(HEADS)], 1)
    indeg = np.bincount(receivers, minlength=N_NODES)[receivers][:, None]
    inside = (raw > 0) & (raw < 1)
    expected = y[receivers] * z_star[senders] * GAMMA / indeg * inside
    np.testing.assert_allclose(np.asarray(g_raw), expected, atol=1e-5)


def test_bad_arguments():
    senders, receivers, raw = _graph(7)
    raw, r = jnp.asarray(raw, jnp.float32), jnp.asarray(receivers)
    with pytest.raises(ValueError, match="gamma"):
        contractive_edge_weights(raw, r, N_NODES, gamma=1.0)
    with pytest.raises(ValueError, match=r"raw_weights_ExH must have shape \(E, H\)"):
        contractive_edge_weights(raw[:, 0], r, N_NODES, gamma=GAMMA)
    with pytest.raises(ValueError, match="receivers_E must hold node indices"):
        contractive_edge_weights(raw, r + N_NODES, N_NODES, gamma=GAMMA)
    with pytest.raises(ValueError, match="receivers_E must be an integer array"):
        contractive_edge_weights(raw, r[:3], N_NODES, gamma=GAMMA)
    with pytest.raises(ValueError, match="edge_mask_E"):
        contractive_edge_weights(raw, r, N_NODES, gamma=GAMMA, edge_mask_E=jnp.ones(N_EDGES))
    with pytest.raises(ValueError, match="same number of heads"):
        apply_edge_operator(raw, jnp.asarray(senders), r, jnp.zeros((N_NODES, HEADS + 1)))
