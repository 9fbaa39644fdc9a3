"""GradSign, grad_norm and SNIP against a hand-written numpy backprop of a tiny MLP."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import supernet_reference as ref
from jaxnets.nn.elastic import ElasticMLP, WidthDepthArch
from jaxnets.supernet import grad_norm, gradsign, snip


def _numpy_grads(w0, b0, w1, b1, x, y):
    """Gradients of the mean softmax cross-entropy of `tanh(x W0 + b0) W1 + b1` (float64)."""
    h = np.tanh(x @ w0 + b0)
    logits = h @ w1 + b1
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d_logits = (p - np.eye(p.shape[1])[y]) / len(y)
    d_w1 = h.T @ d_logits
    d_h = d_logits @ w1.T * (1 - h ** 2)
    d_w0 = x.T @ d_h
    return d_w0, d_w1


def _tiny_problem(seed=0):
    rng = np.random.default_rng(seed)
    model = ElasticMLP((5,), 3, activations=("tanh",))
    x = rng.standard_normal((9, 4)).astype(np.float32)
    y = rng.integers(0, 3, 9).astype(np.int32)
    params = ref.perturb(jax.jit(model.init)(jax.random.PRNGKey(seed), x), rng, 0.5)

    def loss_fn(p, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply(p, xb), yb).mean()

    p = ref.f64(params["params"])
    weights = (p["dense_0"]["kernel"], p["dense_0"]["bias"], p["head"]["kernel"],
               p["head"]["bias"])
    return model, params, loss_fn, x, y, weights


def test_gradsign_equals_numpy_per_sample_sign_agreement():
    _, params, loss_fn, x, y, weights = _tiny_problem()
    x64 = x.astype(np.float64)
    signs = [np.zeros_like(weights[0]), np.zeros_like(weights[2])]
    for i in range(len(y)):  # each sample forwarded alone (Algorithm 1)
        g0, g1 = _numpy_grads(*weights, x64[i:i + 1], y[i:i + 1])
        signs[0] += np.sign(g0)
        signs[1] += np.sign(g1)
    expected = sum(np.abs(s).sum() for s in signs)  # kernels only, no biases
    score = jax.jit(gradsign, static_argnums=0)(loss_fn, params, jnp.asarray(x), jnp.asarray(y))
    assert float(score) == pytest.approx(expected, abs=1e-6)
    assert expected < len(y) * (4 * 5 + 5 * 3)  # samples disagree somewhere: not trivially max
    mean = jax.jit(gradsign, static_argnums=0, static_argnames="reduce")(
        loss_fn, params, jnp.asarray(x), jnp.asarray(y), reduce="mean")
    assert float(mean) == pytest.approx(expected / (4 * 5 + 5 * 3), rel=1e-6)


def test_grad_norm_and_snip_equal_numpy():
    _, params, loss_fn, x, y, weights = _tiny_problem(1)
    g0, g1 = _numpy_grads(*weights, x.astype(np.float64), y)
    norm = np.linalg.norm(g0) + np.linalg.norm(g1)
    sensitivity = np.abs(weights[0] * g0).sum() + np.abs(weights[2] * g1).sum()
    got = jax.jit(lambda p: (grad_norm(loss_fn, p, x, y), snip(loss_fn, p, x, y)))(params)
    assert float(got[0]) == pytest.approx(norm, rel=1e-5)
    assert float(got[1]) == pytest.approx(sensitivity, rel=1e-5)


def test_proxies_of_a_masked_subnet_equal_those_of_the_sliced_network():
    rng = np.random.default_rng(2)
    big = ElasticMLP((6, 6), 3, activations=("relu", "tanh"))
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16).astype(np.int32)
    params = ref.perturb(jax.jit(big.init)(jax.random.PRNGKey(0), x), rng, 0.5)
    arch = WidthDepthArch(jnp.array([4, 2]), jnp.array(2), jnp.array(1))
    from jaxnets.supernet import extract_subnet
    small, small_params = extract_subnet(big, params, arch)

    def ce(logits, yb):
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    masked_loss = lambda p, xb, yb: ce(big.apply(p, xb, arch), yb)  # noqa: E731
    small_loss = lambda p, xb, yb: ce(small.apply(p, xb), yb)  # noqa: E731

    @jax.jit
    def scores(params, small_params):
        return [(proxy(masked_loss, params, x, y), proxy(small_loss, small_params, x, y))
                for proxy in (gradsign, grad_norm, snip)]

    for name, (masked, sliced) in zip(("gradsign", "grad_norm", "snip"),
                                      scores(params, small_params)):
        assert float(masked) == pytest.approx(float(sliced), rel=1e-5), name


def test_proxy_arguments_are_checked():
    _, params, loss_fn, x, y, _ = _tiny_problem()
    with pytest.raises(ValueError, match="leading batch"):
        gradsign(loss_fn, params, x, y[:3])
    with pytest.raises(ValueError, match="reduce"):
        gradsign(loss_fn, params, x, y, reduce="max")
    with pytest.raises(ValueError, match="select"):
        snip(loss_fn, params, x, y, select=lambda path: False)
