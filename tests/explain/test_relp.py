"""RelP: activation / attribution / relevance patching, the LRP rules in CharLM, the IOI corpus."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.data.ioi_corpus import (NAMES, PROMPT_LEN, SEQ_LEN, VOCAB, VOCAB_SIZE, decode,
                                     ioi_pairs, ioi_sequences, name_positions)
from jaxnets.explain.patching import (activation_patching, attribution_patching,
                                      logit_difference, patch_char_lm, pearson,
                                      relevance_patching)
from jaxnets.nn.char_lm import (LRP_RULES, CharLM, lrp_half, lrp_identity, lrp_layer_norm,
                                _constant_weight_attention)

T = 6
MODEL = CharLM(vocab_size=VOCAB_SIZE, max_len=T, d_model=8, num_heads=2, num_layers=1, d_ff=16)


def _pairs(b=3):
    rng = np.random.default_rng(0)
    clean = rng.integers(0, VOCAB_SIZE, (b, T)).astype(np.int32)
    corrupt = clean.copy()
    corrupt[:, 3] = (clean[:, 3] + 1) % VOCAB_SIZE        # tokens differ from position 3 on
    answers = rng.integers(0, VOCAB_SIZE, (b, 2)).astype(np.int32)
    return jnp.asarray(clean), jnp.asarray(corrupt), jnp.asarray(answers)


@pytest.fixture(scope="module")
def patched():
    clean, corrupt, answers = _pairs()
    params = MODEL.init(jax.random.key(1), clean)

    @jax.jit
    def both(p):   # one compiled program for both rule sets
        return {rules: patch_char_lm(MODEL, p, clean, corrupt, answers, lrp_rules=rules)
                for rules in ((), LRP_RULES)}

    return params, (clean, corrupt, answers), both(params)


def test_relp_with_all_rules_off_equals_attribution_patching(patched):
    _, _, results = patched
    off, on = results[()], results[LRP_RULES]
    for site in off.attribution:
        np.testing.assert_array_equal(off.relevance[site], off.attribution[site])
    # the rules do change the backward pass (and nothing else: AP and AtP are the same)
    assert any(not np.allclose(on.relevance[s], on.attribution[s], atol=1e-4)
               for s in on.relevance)
    for site in on.attribution:
        np.testing.assert_allclose(on.attribution[site], off.attribution[site], atol=1e-6)


def test_activation_patching_against_direct_interventions(patched):
    params, (clean, corrupt, answers), results = patched
    ap = results[()].activation
    base = logit_difference(MODEL.apply(params, corrupt), answers)
    # resid_pre of layer 0 is the token + position embedding: patching it = swapping the token
    swapped = logit_difference(MODEL.apply(params, corrupt.at[:, 3].set(clean[:, 3])), answers)
    np.testing.assert_allclose(ap["resid_pre"][0, 3], swapped - base, rtol=1e-4, atol=1e-5)
    # before the first differing token clean and corrupted activations agree (causal mask):
    # every method gives exactly zero there
    for method in (results[()].activation, results[()].attribution, results[LRP_RULES].relevance):
        for site, grid in method.items():
            np.testing.assert_allclose(grid[:, :3], 0.0, atol=1e-6)
            assert grid.shape == (1, T)
    # the clean metric is the logit difference of the clean run
    np.testing.assert_allclose(results[()].clean_metric,
                               logit_difference(MODEL.apply(params, clean), answers), rtol=1e-6)


def test_lrp_mode_keeps_the_forward_and_the_params():
    clean, _, _ = _pairs()
    params = MODEL.init(jax.random.key(2), clean)
    lrp = MODEL.clone(lrp_rules=LRP_RULES)
    assert jax.tree.structure(lrp.init(jax.random.key(2), clean)) == jax.tree.structure(params)
    np.testing.assert_allclose(lrp.apply(params, clean), MODEL.apply(params, clean), atol=1e-5)
    with pytest.raises(ValueError, match="lrp_rules must be drawn"):
        MODEL.clone(lrp_rules=("softmax",)).apply(params, clean)
    with pytest.raises(ValueError, match=r"\[L, B, T, D\]"):
        MODEL.apply(params, clean, node_deltas={s: jnp.zeros((2, 3, T, 8))
                                                for s in ("resid_pre", "attn_out", "mlp_out")})


@jax.jit
def _rule_values_and_backwards(z, w, a, b, x, scale, bias):
    identity, vjp = jax.vjp(lambda v: lrp_identity(jax.nn.silu(v), v), z)
    half_grads = jax.grad(lambda a, b: lrp_half(a * b), argnums=(0, 1))(a, b)
    ln_jac = jax.jacobian(lambda v: lrp_layer_norm(v, scale, bias)[0])(x)[:, 0]
    flax_ln = nn.LayerNorm().apply({"params": {"scale": scale, "bias": bias}}, x)
    return (identity, vjp(w)[0], lrp_half(a * b), half_grads, lrp_layer_norm(x, scale, bias),
            flax_ln, ln_jac)


def test_lrp_rules_have_the_stated_backward():
    z = jnp.asarray([-2.0, -0.3, 0.0, 0.7, 3.0])
    w = jnp.asarray([1.0, 2.0, 3.0, 4.0, 5.0])
    a, b = jnp.asarray(1.5), jnp.asarray(-4.0)
    x = jnp.asarray([[0.5, -1.0, 2.0, 0.1]])
    scale, bias = jnp.asarray([1.0, 2.0, 0.5, -1.0]), jnp.asarray([0.1, 0.0, -0.2, 0.3])
    identity, g, half, (ga, gb), ln, flax_ln, jac = _rule_values_and_backwards(
        z, w, a, b, x, scale, bias)
    # Identity-rule: value silu(z), backward silu(z) / z~ with the official stabiliser
    np.testing.assert_allclose(identity, jax.nn.silu(z), atol=1e-6)
    zn = np.asarray(z, np.float64)
    stabilised = zn + (np.sign(zn) + (zn == 0)) * 1e-6     # the official `stabilize`
    np.testing.assert_allclose(g, w * np.asarray(jax.nn.silu(z)) / stabilised, rtol=1e-4)
    # Half-rule: value a * b, each factor gets half its gradient
    np.testing.assert_allclose(half, a * b)
    np.testing.assert_allclose((ga, gb), (b / 2, a / 2))
    # LN-rule: the forward is flax's LayerNorm, the Jacobian that of (x - mean) / const
    np.testing.assert_allclose(ln, flax_ln, atol=1e-6)
    xs = np.asarray(x[0], np.float64)
    std = np.sqrt(np.var(xs) + 1e-6)
    expected = (np.eye(4) - 1 / 4) / std * np.asarray(scale)[:, None]
    np.testing.assert_allclose(jac, expected, rtol=1e-5)


def test_ah_rule_attention_freezes_the_weights():
    """With constant attention weights the output depends on the query only through them."""
    rng = np.random.default_rng(3)
    q_in = jnp.asarray(rng.normal(size=(1, 4, 8)), jnp.float32)
    kv_in = jnp.asarray(rng.normal(size=(1, 4, 8)), jnp.float32)
    plain = nn.MultiHeadDotProductAttention(num_heads=2)
    frozen = nn.MultiHeadDotProductAttention(num_heads=2, attention_fn=_constant_weight_attention)
    params = jax.jit(plain.init)(jax.random.key(0), q_in, kv_in)

    @jax.jit
    def outputs_and_query_grads(q):
        return [(m.apply(params, q, kv_in),
                 jax.grad(lambda q: jnp.sum(m.apply(params, q, kv_in)))(q))
                for m in (frozen, plain)]

    (out_frozen, g_frozen), (out_plain, g_plain) = outputs_and_query_grads(q_in)
    np.testing.assert_allclose(out_frozen, out_plain, atol=1e-6)
    np.testing.assert_array_equal(g_frozen, 0.0)
    assert np.abs(g_plain).max() > 1e-3


def _linear_metric(params, tokens_BxT, answers_Bx2, identity_rule=False):
    """A purely linear 'transformer': embedding, fixed causal averaging, linear FFN, readout."""
    t = tokens_BxT.shape[1]
    mix_TxT = np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None]

    def metric(deltas):
        x = params["embed"][tokens_BxT] + deltas["resid_pre"][0]
        attn = jnp.einsum("ts,bsd->btd", mix_TxT, x @ params["wv"]) + deltas["attn_out"][0]
        x = x + attn
        hidden = x @ params["w1"]
        if identity_rule:                 # the Identity-rule on an identity "activation"
            hidden = lrp_identity(hidden, hidden)
        x = x + hidden @ params["w2"] + deltas["mlp_out"][0]
        logits = x @ params["head"]
        return logit_difference(logits, answers_Bx2)

    def nodes(tokens):
        x = params["embed"][tokens]
        attn = jnp.einsum("ts,bsd->btd", mix_TxT, x @ params["wv"])
        mlp = (x + attn) @ params["w1"] @ params["w2"]
        return {"resid_pre": x[None], "attn_out": attn[None], "mlp_out": mlp[None]}

    return metric, nodes


def test_on_a_linear_model_all_three_patching_methods_agree():
    rng = np.random.default_rng(4)
    d, v = 6, VOCAB_SIZE
    params = {k: jnp.asarray(rng.normal(size=s) / np.sqrt(s[0]), jnp.float32)
              for k, s in (("embed", (v, d)), ("wv", (d, d)), ("w1", (d, 12)), ("w2", (12, d)),
                           ("head", (d, v)))}
    clean, corrupt, answers = _pairs(4)
    metric, nodes = _linear_metric(params, corrupt, answers)
    lrp_metric, _ = _linear_metric(params, corrupt, answers, identity_rule=True)
    clean_nodes, corrupt_nodes = nodes(clean), nodes(corrupt)
    ap, atp, relp = jax.jit(lambda c, r: (activation_patching(metric, c, r, chunk=8),
                                          attribution_patching(metric, c, r),
                                          relevance_patching(lrp_metric, c, r)))(
        clean_nodes, corrupt_nodes)
    for site in ap:
        assert np.abs(ap[site]).max() > 1e-2
        np.testing.assert_allclose(atp[site], ap[site], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(relp[site], ap[site], rtol=1e-4, atol=1e-5)
        assert float(pearson(relp[site], ap[site])) > 0.9999
    with pytest.raises(ValueError, match="node grid"):
        activation_patching(metric, {**clean_nodes, "mlp_out": clean_nodes["mlp_out"][:, :, :3]},
                            {**corrupt_nodes, "mlp_out": corrupt_nodes["mlp_out"][:, :, :3]})


def test_pearson_against_numpy():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(3, 7)), rng.normal(size=(3, 7))
    np.testing.assert_allclose(pearson(jnp.asarray(x), jnp.asarray(y)),
                               np.corrcoef(x.ravel(), y.ravel())[0, 1], rtol=1e-5)
    assert float(pearson(jnp.ones(4), jnp.arange(4.0))) == 0.0


def test_ioi_corpus_pairs():
    pairs = ioi_pairs(200, seed=7)
    pos = name_positions()
    assert pairs.clean.shape == pairs.corrupt.shape == (200, PROMPT_LEN)
    io, s = pairs.answers[:, 0], pairs.answers[:, 1]
    a, b = pairs.clean[:, pos["A"]], pairs.clean[:, pos["B"]]
    names = {VOCAB.index(n) for n in NAMES}
    assert set(io) | set(s) <= names and np.all(a != b) and np.all(io != s)
    assert np.all(((io == a) & (s == b)) | ((io == b) & (s == a)))
    assert np.all(pairs.clean[:, pos["S2"]] == s) and np.all(pairs.corrupt[:, pos["S2"]] == io)
    differs = pairs.clean != pairs.corrupt
    assert np.all(differs[:, pos["S2"]]) and differs.sum() == 200
    assert 60 < np.sum(s == a) < 140                     # both name orders occur
    np.testing.assert_array_equal(ioi_pairs(200, seed=7).clean, pairs.clean)
    seqs = ioi_sequences(5, seed=1)
    assert seqs.shape == (5, SEQ_LEN)
    assert decode(seqs[0]).startswith("<bos> ") and decode(seqs[0]).split()[-2] == "to"
    with pytest.raises(ValueError, match="positive"):
        ioi_pairs(0, seed=0)


def test_experiment_smoke(tmp_path):
    from experiments import relp as experiment
    import jaxnets.experiment as experiment_lib
    config = experiment_lib.build_config(experiment, ["d_model=8", "d_ff=8", "num_pairs=2",
                                                      "steps=10", "log_every=5"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    for site in ("resid_pre", "attn_out", "mlp_out"):
        entry = results["correlations"][site]
        assert len(entry["relp"]) == len(entry["atp"]) == len(config.seeds)
        assert all(-1.0 <= r <= 1.0 for r in entry["relp"] + entry["atp"])
    assert isinstance(claim.passed, bool) and "0.992" in claim.paper
    assert (tmp_path / results["plot"]).exists() and (tmp_path / "results.json").exists()
    assert (tmp_path / "metrics.jsonl").exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import relp as experiment
    import jaxnets.experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text
