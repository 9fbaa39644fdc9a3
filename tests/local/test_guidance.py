"""Guidance (Training the Untrainable): CKA and RSA against numpy references, their invariances,
the layer mapping, the frozen guide (zero gradient, unchanged by training), and the experiment."""
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnets import experiment as experiment_lib
from jaxnets.explain import layer_mapping, linear_cka, neural_distance, rsa
from jaxnets.train import TrainState, fit
from jaxnets.train import local
from jaxnets.train.local import guidance


def _np_cka(x, y):
    """Kernel form: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), K = X X^T, H = I - 11^T / n."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return np.sum(k * l) / np.sqrt(np.sum(k * k) * np.sum(l * l))


def _np_rsa(x, y):
    def cos(a):
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        return a @ a.T
    iu = np.triu_indices(x.shape[0], 1)
    return np.corrcoef(cos(x)[iu], cos(y)[iu])[0, 1]


RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 7))
Y = X @ RNG.normal(size=(7, 5)) + 0.5 * RNG.normal(size=(20, 5))


def test_cka_matches_the_kernel_form_and_is_one_on_itself():
    np.testing.assert_allclose(float(linear_cka(X, Y)), _np_cka(X, Y), rtol=1e-5)
    np.testing.assert_allclose(float(linear_cka(X, X)), 1.0, rtol=1e-6)
    other = RNG.normal(size=(20, 9))
    np.testing.assert_allclose(float(linear_cka(X, other)), _np_cka(X, other), rtol=1e-5)


def test_cka_is_invariant_to_rotation_and_isotropic_scaling():
    q, _ = np.linalg.qr(RNG.normal(size=(7, 7)))
    reference = _np_cka(X, Y)
    np.testing.assert_allclose(_np_cka(X @ q, Y), reference, rtol=1e-10)   # the reference agrees
    np.testing.assert_allclose(float(linear_cka(X @ q, Y)), reference, rtol=1e-5)
    np.testing.assert_allclose(float(linear_cka(3.7 * X, 0.2 * Y)), reference, rtol=1e-5)
    # not invariant to a non-isotropic scaling: the check can fail
    assert abs(float(linear_cka(X * np.arange(1, 8), Y)) - reference) > 1e-3


def test_rsa_matches_numpy():
    np.testing.assert_allclose(float(rsa(X, Y)), _np_rsa(X, Y), rtol=1e-4)
    np.testing.assert_allclose(float(rsa(X, X)), 1.0, rtol=1e-5)


def test_layer_mapping_spreads_guide_layers_over_the_target():
    assert layer_mapping(5, 5) == (0, 1, 2, 3, 4)
    assert layer_mapping(5, 3) == (0, 2, 4)
    assert layer_mapping(17, 5) == (0, 4, 8, 12, 16)
    assert layer_mapping(3, 5) == (0, 0, 1, 2, 2)     # round half to even, as Python's round
    assert layer_mapping(4, 1) == (3,)
    with pytest.raises(ValueError, match="num_target"):
        layer_mapping(0, 2)


def test_neural_distance_sums_one_minus_cka_over_mapped_layers():
    t = [RNG.normal(size=(10, 4)) for _ in range(3)]
    g = [RNG.normal(size=(10, 6)) for _ in range(2)]
    expected = (1 - _np_cka(t[0], g[0])) + (1 - _np_cka(t[2], g[1]))
    np.testing.assert_allclose(float(neural_distance(t, g)), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="metric"):
        neural_distance(t, g, metric="cca")
    with pytest.raises(ValueError, match="same B"):
        linear_cka(X, Y[:5])


def _setup(depth=3, width=8):
    x = jax.random.uniform(jax.random.PRNGKey(1), (16, 12))
    y = jnp.arange(16, dtype=jnp.int32) % 4
    target, guide = guidance.PlainMLP(depth, width, 4), guidance.ResidualMLP(depth, width, 4)
    tp = target.init(jax.random.PRNGKey(2), x)["params"]
    gp = guide.init(jax.random.PRNGKey(3), x)["params"]
    fn = guidance.guided_losses(guidance.module_apply(target), guidance.module_apply(guide))
    return x, y, tp, gp, fn


def test_guide_parameters_receive_zero_gradient():
    x, y, tp, gp, fn = _setup()
    batch = {"x": x, "labels": y}
    total = lambda p, ms: jnp.sum(fn(p, ms, batch, jax.random.PRNGKey(0)))  # noqa: E731
    g_target, g_model_state = jax.grad(total, argnums=(0, 1))((tp,), {"guide": gp})
    assert all(bool(jnp.all(l == 0)) for l in jax.tree.leaves(g_model_state))
    assert max(float(jnp.max(jnp.abs(l))) for l in jax.tree.leaves(g_target)) > 0
    # the alignment term alone also trains the target
    align = lambda p: fn(p, {"guide": gp}, batch, jax.random.PRNGKey(0))[1]  # noqa: E731
    assert max(float(jnp.max(jnp.abs(l))) for l in jax.tree.leaves(jax.grad(align)((tp,)))) > 0


def test_torch_default_init_has_the_stated_variance():
    layer = guidance.TorchDense(64)
    p = layer.init(jax.random.PRNGKey(0), jnp.zeros((1, 400)))["params"]
    np.testing.assert_allclose(float(jnp.var(p["kernel"])), 1 / (3 * 400), rtol=0.05)
    assert float(jnp.max(jnp.abs(p["bias"]))) <= 1 / 20


def test_guided_training_leaves_the_guide_unchanged_and_lowers_the_loss(tmp_path):
    x, y, tp, gp, fn = _setup()
    tx = local.grouped([optax.adam(1e-2)])
    state = TrainState.create((tp,), tx, jax.random.PRNGKey(0), {"guide": gp})
    step = local.local_step(fn, tx, batch_fn=local.full_batch({"x": x, "labels": y}))
    first = jax.jit(step)(state)[1]["loss"]
    result = fit(state, step, num_steps=40, workdir=tmp_path / "g", description="guided")
    for a, b in zip(jax.tree.leaves(result.state.model_state), jax.tree.leaves(gp)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert result.history[-1]["train/loss"] < float(first)
    unguided = guidance.guided_losses(guidance.module_apply(guidance.PlainMLP(3, 8, 4)), None)
    assert float(unguided((tp,), {}, {"x": x, "labels": y}, jax.random.PRNGKey(0))[1]) == 0.0


def _run(tmp_path, quick=True):
    module = importlib.import_module("experiments.guidance")
    config = experiment_lib.build_config(module, [], quick=quick)
    return experiment_lib.run_experiment(module, config, tmp_path / "guidance")


def test_quick_guidance_runs(tmp_path):
    results, claim = _run(tmp_path)
    for name in ("unguided", "guided_untrained", "guided_trained", "guide_bp"):
        assert len(results[name]) == 2 and all(0.0 <= a <= 1.0 for a in results[name])
    assert all(a > 0 for a in results["guided_trained_final_alignment"])
    assert "ResNet-18" in claim.paper and (tmp_path / "guidance" / "curves.png").exists()


@pytest.mark.slow
def test_guidance_reproduces_the_claim(tmp_path):
    results, claim = _run(tmp_path, quick=False)
    assert len(results["unguided"]) == 3
    assert claim.passed, claim.text
