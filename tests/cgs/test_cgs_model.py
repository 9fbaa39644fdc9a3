"""CGS model: contraction of the encoder-generated maps, IFT gradients against a dense float64
linear solve and against unrolled backprop, the Banach iteration bound, composability in `fit`."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
import pytest

from jaxnets import graph as graph_lib
from jaxnets.models import CGS, MPNN, CGSConfig, CGSLayer, cgs_fixed_point
from jaxnets.models import cgs_tasks as tasks
from jaxnets.models.cgs import graph_readout
from jaxnets.train import TrainState, fit, init_population

SMALL = CGSConfig(heads=3, hidden=8, encoder_layers=2, mlp_hidden=(8,))


BUDGET = graph_lib.PaddingBudget(n_node=40, n_edge=112, n_graph=5)  # fits 4 graphs of <= 8 x 3


def _graph(seed, num_graphs=3, states=(6, 9), actions=(2, 4), pad=True):
    """A batch of small GVI graphs, padded to one budget (one compile for all seeds), and its
    model inputs. Padding edges are loops on the padding node; the dense references include
    them exactly as the model does."""
    batch = jraph.batch(tasks.gvi_graphs(seed, num_graphs, states, actions))
    if pad:
        batch = graph_lib.pad_graph(batch, *BUDGET)
    graph = batch._replace(edges=jnp.asarray(batch.edges["reward"]), nodes=None)
    return batch, graph, jnp.asarray(batch.nodes["x"])


def _dense_operator(raw_ExH, senders, receivers, num_nodes, gamma, orientation="receiver"):
    """A[h, i, j] = sum over edges j -> i of gamma clip(raw, 0, 1) / indeg(i) (receiver
    orientation) or the same on the reversed edges (sender orientation), written out densely."""
    if orientation == "sender":
        senders, receivers = receivers, senders
    indeg = jnp.zeros(num_nodes).at[receivers].add(1.0)
    w = gamma * jnp.clip(raw_ExH, 0.0, 1.0) / indeg[receivers][:, None]
    return jnp.zeros((raw_ExH.shape[1], num_nodes, num_nodes), raw_ExH.dtype).at[
        :, receivers, senders].add(w.T)


@pytest.mark.parametrize("orientation", ["receiver", "sender"])
def test_encoder_generated_maps_are_contractions_for_random_draws(orientation):
    """Property test: for several random encoders and graphs (params scaled up so that the raw
    edge values span far beyond [0, 1]), every head's ||A_h||_inf <= gamma, and the model's fixed
    point is the dense solution of (I - A_h) z = b_h for exactly that A."""
    config = CGSConfig(**{**SMALL.__dict__, "orientation": orientation, "tol": 1e-7,
                          "max_iter": 200})
    layer = CGSLayer(config)
    encode = jax.jit(lambda p, g, x: layer.apply(p, g, x, method=CGSLayer.encode))
    solve = jax.jit(layer.apply)
    for draw in range(5):
        _, graph, x = _graph(draw)
        params = layer.init(jax.random.PRNGKey(draw), graph, x)
        params = jax.tree.map(lambda p: p * (1.0 + 2.0 * draw), params)
        raw, b = encode(params, graph, x)
        assert float(jnp.min(raw)) < 0.0 or float(jnp.max(raw)) > 1.0 or draw == 0
        a = np.asarray(_dense_operator(raw, graph.senders, graph.receivers, x.shape[0],
                                       config.gamma, orientation), np.float64)
        inf_norms = np.abs(a).sum(axis=2).max(axis=1)
        assert np.all(inf_norms <= config.gamma + 1e-6), inf_norms
        z = np.asarray(solve(params, graph, x))
        expected = np.stack([np.linalg.solve(np.eye(x.shape[0]) - a[h], np.asarray(b)[:, h])
                             for h in range(config.heads)], axis=1)
        np.testing.assert_allclose(z, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def _losses(model, graph, x, target):
    def ift_loss(params):
        return jnp.sum((model.apply(params, graph, x)[:, 0] - target) ** 2)

    def dense_loss(params):
        """The same model with the fixed point replaced by a dense linear solve."""
        raw, b = model.apply(params, graph, x, method=CGS.encode)
        a = _dense_operator(raw, graph.senders, graph.receivers, x.shape[0], model.config.gamma)
        eye = jnp.eye(x.shape[0], dtype=b.dtype)
        z = jax.vmap(lambda a_h, b_h: jnp.linalg.solve(eye - a_h, b_h), in_axes=(0, 1),
                     out_axes=1)(a, b)
        return jnp.sum((model.apply(params, z, graph, method=CGS.decode)[:, 0] - target) ** 2)

    return ift_loss, dense_loss


def _rel_error(a, b):
    """(||a - b|| / ||b||, cosine(a, b)) over all leaves of two gradient pytrees."""
    fa, fb = (np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(t)]) for t in (a, b))
    cosine = fa @ fb / np.linalg.norm(fa) / np.linalg.norm(fb)
    return np.linalg.norm(fa - fb) / np.linalg.norm(fb), cosine


def test_ift_gradients_match_dense_float64_solve():
    with jax.enable_x64(True):
        batch, graph, x = _graph(11)
        x = x.astype(jnp.float64)
        graph = graph._replace(edges=graph.edges.astype(jnp.float64))
        model = CGS(CGSConfig(**{**SMALL.__dict__, "tol": 1e-13, "max_iter": 300}))
        params = jax.tree.map(lambda p: p.astype(jnp.float64),
                              model.init(jax.random.PRNGKey(0), graph, x))
        target = jnp.asarray(batch.nodes["value"], jnp.float64)
        ift_loss, dense_loss = _losses(model, graph, x, target)
        g_ift = jax.jit(jax.grad(ift_loss))(params)
        g_dense = jax.jit(jax.grad(dense_loss))(params)
        assert jax.tree.leaves(g_ift)[0].dtype == jnp.float64
        rel, _ = _rel_error(g_ift, g_dense)
        assert rel < 1e-4, rel
        # Every parameter leaf (encoder and decoder) gets a nonzero gradient on both sides.
        assert all(float(jnp.max(jnp.abs(g))) > 0 for g in jax.tree.leaves(g_dense))


def test_ift_gradients_match_unrolled_at_convergence():
    batch, graph, x = _graph(12, num_graphs=4)
    ift = CGS(CGSConfig(**{**SMALL.__dict__, "tol": 1e-7, "max_iter": 100}))
    unrolled = CGS(CGSConfig(**{**SMALL.__dict__, "solver": "unrolled", "max_iter": 60}))
    # Scaled-up weights: at the default initialisation the raw edge values are small and
    # A z is a small correction to b; here the fixed point is far from b (checked below).
    params = jax.tree.map(lambda p: 3.0 * p, ift.init(jax.random.PRNGKey(1), graph, x))
    target = jnp.asarray(batch.nodes["value"])

    def loss(model):
        return lambda p: jnp.sum((model.apply(p, graph, x)[:, 0] - target) ** 2)

    g_ift = jax.jit(jax.grad(loss(ift)))(params)
    g_unr = jax.jit(jax.grad(loss(unrolled)))(params)
    rel, cosine = _rel_error(g_ift, g_unr)
    assert rel < 1e-4 and cosine > 0.9999, (rel, cosine)
    # And not trivially: a 2-step unrolled solve gives a visibly different gradient.
    short = CGS(CGSConfig(**{**SMALL.__dict__, "solver": "unrolled", "max_iter": 2}))
    assert _rel_error(jax.jit(jax.grad(loss(short)))(params), g_unr)[0] > 1e-2


@pytest.mark.parametrize("seed", [0, 1])
def test_iteration_count_obeys_the_banach_bound(seed):
    """From z0 = 0 the k-th step is A^k b, ||A^k b||_2 <= sqrt(N H) gamma^k ||b||_inf, so the L2
    stopping rule holds after at most ceil(log(tol / (sqrt(N H) ||b||_inf)) / log gamma) steps."""
    _, graph, x = _graph(20 + seed, num_graphs=4)
    tol = 1e-5
    model = CGS(CGSConfig(**{**SMALL.__dict__, "gamma": 0.3 + 0.3 * seed, "tol": tol}))
    params = jax.tree.map(lambda p: 3.0 * p, model.init(jax.random.PRNGKey(seed), graph, x))
    _, b = model.apply(params, graph, x, method=CGS.encode)
    _, inter = jax.jit(lambda p: model.apply(p, graph, x, mutable=["intermediates"]))(params)
    info = inter["intermediates"]["block"]
    iterations = int(info["fixed_point_iterations"][0])
    bound = np.ceil(np.log(tol / (np.sqrt(b.size) * float(jnp.max(jnp.abs(b)))))
                    / np.log(model.config.gamma))
    assert bool(info["fixed_point_converged"][0]) and float(info["fixed_point_residual"][0]) <= tol
    assert iterations >= 1 and iterations <= bound, (iterations, bound)


def test_graph_task_readout_and_baseline_shapes():
    batch, graph, x = _graph(3, num_graphs=3, pad=False)
    model = CGS(SMALL, out_features=2, readout="sum")
    out = jax.eval_shape(lambda k: model.apply(model.init(k, graph, x), graph, x),
                         jax.random.PRNGKey(0))
    assert out.shape == (3, 2)
    h = np.arange(2 * x.shape[0], dtype=np.float32).reshape(-1, 2)
    ids = np.repeat(np.arange(3), batch.n_node)
    expected = np.stack([h[ids == g].sum(0) for g in range(3)])
    np.testing.assert_allclose(np.asarray(graph_readout(jnp.asarray(h), graph)), expected)
    np.testing.assert_allclose(np.asarray(graph_readout(jnp.asarray(h), graph, "mean")),
                               expected / batch.n_node[:, None])
    mpnn = MPNN(hidden=8, out_width=3, num_layers=3, mlp_hidden=(8,))
    out = jax.eval_shape(lambda k: mpnn.apply(mpnn.init(k, graph, x), graph, x),
                         jax.random.PRNGKey(0))
    assert out.shape == (x.shape[0], 1)


def test_bad_arguments_name_what_is_wrong():
    _, graph, x = _graph(4)
    with pytest.raises(ValueError, match="gamma"):
        CGSConfig(gamma=1.0)
    with pytest.raises(ValueError, match="solver"):
        CGSConfig(solver="anderson")
    with pytest.raises(ValueError, match="orientation"):
        CGSConfig(orientation="both")
    with pytest.raises(ValueError, match="graph.edges"):
        CGS(SMALL).init(jax.random.PRNGKey(0), graph._replace(edges=None), x)
    with pytest.raises(ValueError, match="share H"):
        cgs_fixed_point(jnp.zeros((graph.senders.shape[0], 2)), jnp.zeros((x.shape[0], 3)),
                        graph.senders, graph.receivers, gamma=0.5)
    with pytest.raises(ValueError, match="readout"):
        graph_readout(jnp.zeros((x.shape[0], 2)), graph, "max")


class _Hybrid(nn.Module):
    """Another model that uses a CGS block as one of its layers."""

    @nn.compact
    def __call__(self, graph, x):
        h = nn.Dense(4)(x)
        z = CGSLayer(SMALL)(graph, h)
        return nn.Dense(1)(jnp.concatenate([z, h], axis=-1))[:, 0]


def test_cgs_block_composes_inside_another_model_trained_by_fit():
    batch, graph, x = _graph(5, num_graphs=4)
    target = jnp.asarray(batch.nodes["value"])
    model, tx = _Hybrid(), optax.adam(1e-2)

    def loss_fn(params):
        return jnp.mean((model.apply({"params": params}, graph, x) - target) ** 2)

    def init(key):
        return TrainState.create(model.init(key, graph, x)["params"], tx, key)

    def step(state):
        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(tx, grads), {"loss": loss}

    population = init_population(init, [0, 1])
    result = fit(population, step, num_steps=60, eval_every=30, progress=False)
    losses = jax.jit(jax.vmap(loss_fn))
    before_loss, after_loss = losses(population.params), losses(result.state.params)
    assert np.all(np.asarray(after_loss) < 0.5 * np.asarray(before_loss)), (before_loss, after_loss)
    before = population.params["CGSLayer_0"]
    after = result.state.params["CGSLayer_0"]
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), before, after)
    assert min(jax.tree.leaves(moved)) > 0  # every encoder weight of the block was trained
