"""FactorLLM (arXiv 2408.11855): exact factorisation, top-k MoE, PA / balance losses, experiment."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import factor_moe as factor_experiment
from jaxnets import config as config_lib
from jaxnets import experiment as experiment_lib
from jaxnets.data.char_corpus import VOCAB_SIZE
from jaxnets.models import factor_moe as fm
from jaxnets.nn.char_lm import CharLM

D, F = 8, 16


def _np_ffn(w_gate, w_up, w_down, x):
    """The gated SiLU FFN in float64 numpy, independent of jaxnets."""
    g = x @ w_gate
    return (g / (1 + np.exp(-g)) * (x @ w_up)) @ w_down


def _dense(seed=0):
    rng = np.random.default_rng(seed)
    return {"w_gate": jnp.asarray(rng.normal(size=(D, F)) / 3, jnp.float32),
            "w_up": jnp.asarray(rng.normal(size=(D, F)) / 3, jnp.float32),
            "w_down": jnp.asarray(rng.normal(size=(F, D)) / 4, jnp.float32)}


def _x(seed, *shape):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def test_permute_then_partition_is_exact_and_uses_every_neuron_once():
    dense = _dense()
    x = np.asarray(_x(5, 3, 7, D), np.float64)
    experts = jax.jit(fm.factorise_ffn, static_argnums=1)(dense, 4, jax.random.PRNGKey(1))
    assert experts["w_gate"].shape == (4, D, 4) and experts["w_down"].shape == (4, 4, D)
    y_experts = np.asarray(jax.jit(fm.expert_outputs, static_argnums=2)(
        experts, jnp.asarray(x, jnp.float32), "silu"))
    reference = _np_ffn(*(np.asarray(dense[n], np.float64) for n in ("w_gate", "w_up", "w_down")),
                        x)
    np.testing.assert_allclose(y_experts.sum(-2), reference, atol=1e-5)
    # Each dense neuron (a column of w_gate and w_up, a row of w_down) lands in exactly one expert.
    cols = np.concatenate([np.asarray(experts["w_gate"][j]).T for j in range(4)])
    order = [int(np.argmin(np.abs(np.asarray(dense["w_gate"]).T - c).sum(1))) for c in cols]
    assert sorted(order) == list(range(F)) and order != list(range(F))   # permuted
    rows = np.concatenate([np.asarray(experts["w_down"][j]) for j in range(4)])
    np.testing.assert_array_equal(rows, np.asarray(dense["w_down"])[order])
    contiguous = fm.factorise_ffn(dense, 4, None)          # the released code's slicing
    np.testing.assert_array_equal(contiguous["w_up"][1], dense["w_up"][:, 4:8])


def test_moe_layer_top_k_scales_by_e_over_k_and_k_equal_e_is_dense():
    experts = fm.factorise_ffn(_dense(2), 4, None)
    router = {"router_kernel": _x(3, D, 4), "router_bias": _x(4, 4)}
    params = {"params": {**experts, **router}}
    x = _x(6, 2, 5, D)
    apply = jax.jit(lambda p, x: (fm.FactorMoE(D, F, top_k=2).apply(p, x),
                                  fm.FactorMoE(D, F, top_k=4).apply(p, x)))
    y2, y4 = apply(params, x)
    xn = np.asarray(x, np.float64)
    dense = _dense(2)
    np.testing.assert_allclose(y4, _np_ffn(*(np.asarray(dense[n], np.float64)
                                             for n in ("w_gate", "w_up", "w_down")), xn),
                               atol=1e-5)   # k = E: scale 1, all experts on
    logits = xn @ np.asarray(router["router_kernel"]) + np.asarray(router["router_bias"])
    top2 = np.argsort(-logits, -1)[..., :2]
    expected = np.zeros_like(xn)
    for j in range(4):
        on = (top2 == j).any(-1, keepdims=True)
        expected += on * _np_ffn(*(np.asarray(experts[n][j], np.float64)
                                   for n in ("w_gate", "w_up", "w_down")), xn)
    np.testing.assert_allclose(y2, 2.0 * expected, atol=1e-5)   # (E/k) x top-2 experts
    # Param surgery on a CharLM tree: only the FFNs change, shapes match a fresh MoE CharLM,
    # and only they are trainable.
    tokens = jnp.zeros((1, 6), jnp.int32)
    dense_model = CharLM(VOCAB_SIZE, 6, d_model=D, num_heads=2, num_layers=2, d_ff=F)
    moe_model = CharLM(VOCAB_SIZE, 6, d_model=D, num_heads=2, num_layers=2, d_ff=F,
                       ffn_cls=functools.partial(fm.FactorMoE, num_experts=4, top_k=2))
    shapes = jax.eval_shape(dense_model.init, jax.random.PRNGKey(0), tokens)
    dense_params = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), shapes)
    moe = jax.eval_shape(lambda p: fm.charlm_to_moe_params(p, 2, 4, jax.random.PRNGKey(1)),
                         dense_params)
    reference = jax.eval_shape(moe_model.init, jax.random.PRNGKey(0), tokens)
    assert jax.tree.map(lambda a: a.shape, moe) == jax.tree.map(lambda a: a.shape, reference)
    labels = jax.tree_util.tree_leaves_with_path(fm.trainable_labels(reference))
    trainable = {jax.tree_util.keystr(p) for p, v in labels if v == "trainable"}
    assert len(trainable) == 2 * 5 and all("'ffn'" in p for p in trainable)
    assert sum(v == "frozen" for _, v in labels) == len(labels) - 10


def test_pa_prior_kl_and_balance_match_hand_values():
    y_dense = jnp.asarray([[4.0, 0.0]])
    # k/E = 1/2: target [2, 0]; experts 1 and 3 are closest.
    y_experts = jnp.asarray([[[0.0, 0.0], [2.0, 0.1], [5.0, 0.0], [1.9, 0.0]]])
    p = jnp.asarray([[0.1, 0.6, 0.2, 0.1]])
    q = np.asarray([1, np.e, 1, np.e]) / (2 * np.e + 2)   # softmax of the 0/1 prior

    @jax.jit
    def losses(p, q):
        prior = fm.pa_prior(y_experts, y_dense, 2)
        return (prior, fm.prior_approximate_loss(p, prior),
                fm.prior_approximate_loss(q, prior), fm.balance_loss(p, 2))

    prior, kl, kl_at_target, balance = losses(p, jnp.asarray([q], jnp.float32))
    np.testing.assert_array_equal(prior, [[0.0, 1.0, 0.0, 1.0]])
    expected = float(np.sum(np.asarray(p[0]) * np.log(np.asarray(p[0]) / q)))
    assert float(kl) == pytest.approx(expected, rel=1e-5)
    assert float(kl_at_target) == pytest.approx(0.0, abs=1e-6)
    # Balance: mean over the 4 entries of top-2 mask x p = (0.6 + 0.2) / 4.
    assert float(balance) == pytest.approx(0.2, rel=1e-6)


def test_router_gradients_hard_gate_none_straight_through_equals_soft_gate():
    experts = fm.factorise_ffn(_dense(1), 4, jax.random.PRNGKey(2))
    router = {"router_kernel": _x(3, D, 4), "router_bias": jnp.zeros(4)}
    x = _x(4, 2, 6, D)
    layer = fm.FactorMoE(D, F, top_k=2)

    def soft(r):   # the reference: the same output with the gate written as mask + p - sg(p)
        p = fm.router_probs({"kernel": r["router_kernel"], "bias": r["router_bias"]}, x)
        mask = jax.lax.stop_gradient(fm.topk_mask(p, 2))
        y_e = jax.lax.stop_gradient(fm.expert_outputs(experts, x, "silu"))
        gate = mask + p - jax.lax.stop_gradient(p)
        return jnp.sum(jnp.sin(2.0 * jnp.einsum("bte,bted->btd", gate, y_e)))

    @jax.jit
    def grads(router):
        params = {"params": {**experts, **router}}
        loss = lambda p, st: jnp.sum(jnp.sin(layer.apply(p, x, straight_through=st)))
        outputs = (layer.apply(params, x), layer.apply(params, x, straight_through=1.0))
        # PA and balance on a two-layer tree (teacher stream h = x): only routers get gradient.
        tree = {"params": {f"block_{l}": {"ffn": {**experts, **router}} for l in range(2)}}
        teacher = {"params": {f"block_{l}": {"ffn": _dense(1)} for l in range(2)}}
        g_pa = jax.grad(lambda t: sum(fm.factor_losses(t, teacher, [x, x], 2, "silu")))(tree)
        return (jax.grad(loss)(params, 0.0)["params"], jax.grad(loss)(params, 1.0)["params"],
                jax.grad(soft)(router), outputs, g_pa)

    g_hard, g_st, g_ref, (y_hard, y_st), g_pa = grads(router)
    np.testing.assert_array_equal(g_hard["router_kernel"], 0.0)
    np.testing.assert_allclose(y_st, y_hard, atol=1e-6)
    np.testing.assert_allclose(g_st["router_kernel"], g_ref["router_kernel"], rtol=1e-4,
                               atol=1e-6)
    assert float(jnp.abs(g_st["router_kernel"]).max()) > 1e-4
    for l in range(2):
        ffn_g = g_pa["params"][f"block_{l}"]["ffn"]
        assert all(float(jnp.abs(ffn_g[n]).max()) == 0.0 for n in ("w_gate", "w_up", "w_down"))
        assert float(jnp.abs(ffn_g["router_kernel"]).max()) > 0.0


def test_ffn_flops_and_bad_input():
    assert fm.ffn_flops_per_token(64, 256) == 6 * 64 * 256 + 2 * 256
    assert 2 * fm.ffn_flops_per_token(64, 256, 4, 2, overhead=False) == \
        fm.ffn_flops_per_token(64, 256)
    assert 4 * fm.ffn_flops_per_token(64, 256, 4, 1, overhead=False) == \
        fm.ffn_flops_per_token(64, 256)
    assert fm.ffn_flops_per_token(64, 256, 4, 2) == 49408 + 2 * 64 * 4 + 4 + 2 * 64 + 64
    with pytest.raises(ValueError, match="divide"):
        fm.factorise_ffn(_dense(), 3, None)
    with pytest.raises(ValueError, match="top_k"):
        fm.ffn_flops_per_token(8, 16, 4, 5)
    with pytest.raises(ValueError, match="top_k"):
        fm.FactorMoE(D, F, top_k=5).init(jax.random.PRNGKey(0), jnp.ones((1, 2, D)))
    bad = config_lib.apply_overrides(factor_experiment.get_config(), ["objective='lm'"])
    with pytest.raises(ValueError, match="objective"):
        factor_experiment.run(bad, "/nonexistent")


def test_quick_factor_moe_runs_end_to_end(tmp_path):
    config = experiment_lib.build_config(factor_experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(factor_experiment, config, tmp_path / "run")
    seeds = len(config.seeds)
    assert max(results["equiv_max_logit_rel_diff"]) < 1e-5
    assert np.max(results["equiv_ffn_max_rel_diff"]) < 1e-5
    np.testing.assert_allclose(results["full_routing_heldout_bpc"],
                               results["teacher_heldout_bpc"], atol=1e-5)
    for name in factor_experiment.CONDITIONS:
        assert len(results[f"{name}_heldout_bpc"]) == seeds
        assert np.all(np.isfinite(results[f"{name}_heldout_bpc"]))
        load = np.asarray(results[f"{name}_expert_load"])
        np.testing.assert_allclose(load.sum(-1), config.top_k, atol=1e-4)
    assert results["ffn_flops_ratio_experts"] == pytest.approx(0.5)
    assert results["max_frozen_param_change"] == 0.0
    assert results["random_router_max_router_change"] == 0.0
    assert max(results["pa_router_prior_agreement"]) > 0
    assert (tmp_path / "run" / results["plot"]).exists()
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == \
        config.finetune_steps
    assert "85%" in claim.paper and isinstance(claim.passed, bool)


@pytest.mark.slow
def test_factor_moe_claim_on_char_lm(tmp_path):
    config = experiment_lib.build_config(factor_experiment, [])
    results, claim = experiment_lib.run_experiment(factor_experiment, config, tmp_path / "run")
    assert len(results["seeds"]) == 3
    assert claim.passed, claim.text
