"""Every local loss reaches only its own layer: `jax.grad` of each loss separately, checked
leaf by leaf, for MF, FF, CaFo (predictors and DFA), CCL and a GCN stack; DFA's update against an
independently computed VJP; the FF and CCL losses against numpy."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from jaxnets import graph as graph_lib
from jaxnets import nn as jnn
from jaxnets.train.local import LocalLayer, LocalStack, cross_entropy_loss, locality_matrix
from jaxnets.train.local import cafo, counter_current as ccl, forward_forward as ff
from jaxnets.train.local import mono_forward as mf

C = 4
KEY = jax.random.PRNGKey(0)


def _data(b=6, f=12):
    x = jax.random.uniform(jax.random.PRNGKey(1), (b, f))
    y = jnp.arange(b, dtype=jnp.int32) % C
    return x, y


def _max_abs(tree):
    leaves = jax.tree.leaves(tree)
    return max(float(jnp.max(jnp.abs(l))) for l in leaves) if leaves else 0.0


def _per_loss_grads(losses_fn, params, model_state, batch, num_losses):
    """[jax.grad of loss k alone for k in range(K)], compiled once."""
    def grads(p):
        return [jax.grad(lambda q, k=k: losses_fn(q, model_state, batch, KEY)[k])(p)
                for k in range(num_losses)]
    return jax.jit(grads)(params)


def _assert_block_diagonal(losses_fn, params, model_state, batch, owners):
    """owners[k] = the set of groups loss k may reach; each loss differentiated on its own."""
    for k, grads in enumerate(_per_loss_grads(losses_fn, params, model_state, batch,
                                              len(owners))):
        for g, group in enumerate(grads):
            size = _max_abs(group)
            if g in owners[k]:
                assert size > 0, f"loss {k} does not train its own group {g}"
            else:
                leaves = jax.tree.leaves(group)
                assert all(bool(jnp.all(l == 0)) for l in leaves), \
                    f"loss {k} leaks into group {g} (max |grad| {size})"


def test_mono_forward_losses_are_local():
    x, y = _data()
    stack = mf.mono_forward_stack((8, 8, 8), C)
    batch = {"x": x, "labels": y}
    params, state = stack.init(KEY, batch)
    _assert_block_diagonal(stack.losses, params, state, batch, [{0}, {1}, {2}])
    matrix = np.asarray(jax.jit(lambda p: locality_matrix(stack.losses, p, state, batch, KEY))(
        params))
    np.testing.assert_array_equal(matrix > 0, np.eye(3, dtype=bool))


def test_forward_forward_losses_are_local():
    x, y = _data()
    stack = ff.forward_forward_stack((8, 8, 8))
    xe = ff.embed_labels(x, y, C)
    batch = {"x": jnp.concatenate([xe, xe[::-1]]),
             "positive": jnp.arange(2 * x.shape[0]) < x.shape[0]}
    params, state = stack.init(KEY, batch)
    _assert_block_diagonal(stack.losses, params, state, batch, [{0}, {1}, {2}])


def test_cafo_predictors_and_dfa_losses_are_local():
    x, y = _data(b=5, f=64)
    img = x.reshape(-1, 8, 8, 1)
    stack = cafo.cafo_stack((3, 4), C)
    batch = {"x": img, "labels": y[:5]}
    params, state = stack.init(KEY, batch)
    assert set(params[0]) == {"head"} and set(state[0]) == {"module"}   # blocks frozen
    _assert_block_diagonal(stack.losses, params, state, batch, [{0}, {1}])
    dparams, dstate = cafo.dfa_init((3, 4, 5), C, KEY, img)
    _assert_block_diagonal(cafo.dfa_losses((3, 4, 5), C), dparams, dstate, batch,
                           [{0}, {1}, {2}])


def test_dfa_update_is_the_block_vjp_of_the_projected_error():
    x, y = _data(b=5, f=64)
    img = x.reshape(-1, 8, 8, 1)
    channels = (3, 4)
    params, state = cafo.dfa_init(channels, C, KEY, img)
    batch = {"x": img, "labels": y[:5]}
    grads = jax.grad(lambda p: cafo.dfa_losses(channels, C)(p, state, batch, KEY)[0])(params)
    # Independent reference: forward by hand, error e = softmax(aux) - onehot, cotangent e B_1 / B.
    b1 = cafo.ConvBlock(3)
    h1, vjp = jax.vjp(lambda p: b1.apply({"params": p}, img), params[0])
    h2 = cafo.ConvBlock(4).apply({"params": params[1]["block"]}, h1)
    logits = cafo.LinearPredictor(C).apply({"params": params[1]["aux"]}, h2)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    error = probs - np.eye(C)[np.asarray(y[:5])]
    cotangent = (error @ np.asarray(state["feedback"][0])).reshape(h1.shape) / 5
    (expected,) = vjp(jnp.asarray(cotangent, jnp.float32))
    for got, want in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    norms = np.linalg.norm(np.asarray(state["feedback"][0]), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


def test_counter_current_losses_reach_only_their_pair():
    x, y = _data()
    sizes = (12, 7, 6, 5, C)
    params = ccl.ccl_init(KEY, sizes)
    batch = {"x": x, "labels": y}
    losses_fn = ccl.ccl_losses(C)
    num_layers = len(sizes) - 1
    per_loss = _per_loss_grads(losses_fn, params, None, batch, num_layers + 1)
    for k, grads in enumerate(per_loss):
        gf, gb = grads[0]["forward"], grads[1]["feedback"]
        # loss k < L: W^F_k (index k-1; none for k = 0) and W^B_{k+1} (index k); CE: W^F_L.
        allowed_f = {k - 1} if 0 < k < num_layers else ({num_layers - 1} if k == num_layers
                                                         else set())
        allowed_b = {k} if k < num_layers else set()
        for i, g in enumerate(gf):
            assert bool(jnp.any(g != 0)) == (i in allowed_f), (k, "forward", i)
        for i, g in enumerate(gb):
            assert bool(jnp.any(g != 0)) == (i in allowed_b), (k, "feedback", i)


def test_counter_current_loss_matches_numpy():
    x, y = _data()
    sizes = (12, 7, 5, C)
    params = ccl.ccl_init(KEY, sizes)
    wf = [np.asarray(w, np.float64) for w in params[0]["forward"]]
    wb = [np.asarray(w, np.float64) for w in params[1]["feedback"]]
    elu = lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0)))  # noqa: E731
    a = [np.asarray(x, np.float64)]
    a.append(elu(a[0] @ wf[0]))
    a.append(elu(a[1] @ wf[1]))
    logits = a[2] @ wf[2]
    c2 = elu(np.eye(C) @ wb[2])
    c1 = elu(c2 @ wb[1])
    c0 = c1 @ wb[0]
    onehot = np.eye(C)[np.asarray(y)]
    expected = [np.mean((ai @ ci.T - onehot) ** 2) / ai.shape[1] * 0.5 * 256
                for ai, ci in zip(a, (c0, c1, c2))]
    z = logits - logits.max(1, keepdims=True)
    expected.append(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), np.asarray(y)]))
    got = ccl.ccl_losses(C)(params, None, {"x": x, "labels": y}, KEY)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)


def test_forward_forward_loss_and_straight_through_relu_match_references():
    a = jax.random.normal(KEY, (6, 5)) * 0.8
    positive = jnp.array([True, True, True, False, False, False])
    got = ff.ff_loss(5.0)(a, {"positive": positive})
    g = np.sum(np.asarray(a, np.float64) ** 2, axis=1) - 5.0
    label = np.asarray(positive, np.float64)
    # BCE with logits, written out: -(t log s(g) + (1 - t) log(1 - s(g))).
    s = 1 / (1 + np.exp(-g))
    expected = np.mean(-(label * np.log(s) + (1 - label) * np.log1p(-s)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    z = jnp.array([-2.0, -0.5, 0.0, 1.5])
    w = jnp.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(ff.straight_through_relu(z), jnp.array([0, 0, 0, 1.5]))
    np.testing.assert_array_equal(jax.grad(lambda v: jnp.sum(ff.straight_through_relu(v) * w))(z),
                                  w)
    h = jnp.array([[3.0, 4.0, 0.0, 0.0]])
    np.testing.assert_allclose(ff.length_normalize(h), h / (np.sqrt(25 / 4) + 1e-8), rtol=1e-6)


def test_gcn_stack_losses_are_local():
    senders = jnp.array([0, 1, 1, 2, 2, 3, 3, 4], jnp.int32)
    receivers = jnp.array([1, 0, 2, 1, 3, 2, 4, 3], jnp.int32)
    graph = graph_lib.gcn_preprocess(jraph.GraphsTuple(
        nodes=None, edges=None, globals=None, senders=senders, receivers=receivers,
        n_node=jnp.array([5]), n_edge=jnp.array([8])))
    stack = LocalStack((
        LocalLayer(jnn.GCNConv(6), head=jnn.Linear(C), activation=nn.relu,
                   loss=cross_entropy_loss),
        LocalLayer(jnn.GCNConv(C), loss=cross_entropy_loss),
    ))
    batch = {"x": jax.random.normal(KEY, (5, 3)), "context": (graph,),
             "labels": jnp.array([0, 1, 2, 3, 0]), "mask": jnp.array([1, 1, 0, 1, 0], bool)}
    params, state = stack.init(KEY, batch)
    _assert_block_diagonal(stack.losses, params, state, batch, [{0}, {1}])


def test_stack_rejects_bad_inputs():
    with pytest.raises(ValueError, match="at least one layer"):
        LocalStack(())
    with pytest.raises(TypeError, match="LocalLayer"):
        LocalStack((nn.Dense(3),))
    stack = mf.mono_forward_stack((4,), C)
    with pytest.raises(ValueError, match="'x'"):
        stack.init(KEY, {"inputs": jnp.ones((2, 3))})
    with pytest.raises(ValueError, match="hidden"):
        mf.mono_forward_stack((), C)
    with pytest.raises(ValueError, match="mode"):
        ff.embed_labels(jnp.ones((2, 3)), jnp.zeros(2, jnp.int32), C, mode="prepend")
