"""LoRA in weight space: B = 0 is the base model, the merged update is x W + s x A B."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.nn import lora
from jaxnets.nn.char_lm import CharLM


def _char_lm():
    model = CharLM(vocab_size=11, max_len=6, d_model=8, num_heads=2, num_layers=1, d_ff=16)
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 6), 0, 11)
    params = model.init(jax.random.PRNGKey(0), tokens)
    return model, params, tokens


def test_zero_b_equals_base_model():
    model, params, tokens = _char_lm()
    target = lora.attention_and_dense_kernels()
    adapters = lora.init_lora(jax.random.PRNGKey(2), params, rank=2, target=target)
    merged = lora.merge_lora(params, adapters, alpha=4.0)
    np.testing.assert_array_equal(model.apply(merged, tokens), model.apply(params, tokens))


def test_targets_every_linear_weight_and_nothing_else():
    _, params, _ = _char_lm()
    adapters = lora.init_lora(jax.random.PRNGKey(2), params, 2,
                              lora.attention_and_dense_kernels())
    names = {n.split("/", 1)[1] for n in adapters}
    assert names == {"block_0/attn/query/kernel", "block_0/attn/key/kernel",
                     "block_0/attn/value/kernel", "block_0/attn/out/kernel",
                     "block_0/ffn/w_gate", "block_0/ffn/w_up", "block_0/ffn/w_down",
                     "head/kernel"}
    # MHA's out kernel [H, Dh, D] has two input axes: A is [H * Dh, r], B is [r, D].
    out = adapters["params/block_0/attn/out/kernel"]
    assert out["a"].shape == (8, 2) and out["b"].shape == (2, 8)


def test_merged_update_matches_dense_low_rank_formula():
    w = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
    params = {"dense": {"kernel": w, "bias": jnp.zeros(3)}}
    target = lora.path_target(r"dense/kernel$")
    adapters = lora.init_lora(jax.random.PRNGKey(1), params, rank=2, target=target)
    b = jax.random.normal(jax.random.PRNGKey(3), (2, 3))
    adapters["dense/kernel"]["b"] = b
    merged = lora.merge_lora(params, adapters, alpha=6.0)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (4, 5)), np.float64)
    a = np.asarray(adapters["dense/kernel"]["a"], np.float64)
    expected = x @ np.asarray(w, np.float64) + (6.0 / 2) * (x @ a) @ np.asarray(b, np.float64)
    np.testing.assert_allclose(x @ np.asarray(merged["dense"]["kernel"]), expected, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_array_equal(merged["dense"]["bias"], params["dense"]["bias"])


def test_gradient_reaches_only_adapters_and_counts():
    model, params, tokens = _char_lm()
    target = lora.attention_and_dense_kernels()
    adapters = lora.init_lora(jax.random.PRNGKey(2), params, 2, target)

    def loss(ad):
        return jnp.mean(model.apply(lora.merge_lora(params, ad, 4.0), tokens) ** 2)

    grads = jax.grad(loss)(adapters)
    # B receives gradient at B = 0 (A does not until B moves, as in LoRA).
    assert float(jnp.abs(grads["params/head/kernel"]["b"]).sum()) > 0
    assert 0 < lora.count_params(adapters) < lora.count_params(params)


def test_bad_adapters_are_named():
    params = {"dense": {"kernel": jnp.zeros((4, 3))}}
    with pytest.raises(ValueError, match="matched no parameter"):
        lora.init_lora(jax.random.PRNGKey(0), params, 2, lora.path_target("nothing"))
    with pytest.raises(ValueError, match="rank"):
        lora.init_lora(jax.random.PRNGKey(0), params, 0, lora.path_target("kernel"))
    bad = {"dense/kernel": {"a": jnp.zeros((5, 2)), "b": jnp.zeros((2, 3))}}
    with pytest.raises(ValueError, match="do not factor"):
        lora.merge_lora(params, bad, 1.0)
    with pytest.raises(ValueError, match="does not have"):
        lora.merge_lora(params, {"other/kernel": bad["dense/kernel"]}, 1.0)
