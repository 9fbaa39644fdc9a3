"""The shared causal character LM: causality, hooks, FFN truncation and swapping."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnets.data.char_corpus import VOCAB_SIZE, char_corpus
from jaxnets.nn import CharLM, GatedFFN, next_token_nll
from jaxnets.nn.char_lm import contribution_norms

MODEL = CharLM(vocab_size=VOCAB_SIZE, max_len=16, d_model=16, num_heads=2, num_layers=2,
               d_ff=32)


def _init(model=MODEL, t=12):
    tokens = jnp.asarray(char_corpus(3, t, seed=0))
    return model.init(jax.random.key(0), tokens), tokens


def test_logits_are_causal():
    params, tokens = _init()
    logits = MODEL.apply(params, tokens)
    assert logits.shape == (3, 12, VOCAB_SIZE)
    changed = tokens.at[:, 8].set((tokens[:, 8] + 1) % VOCAB_SIZE)
    logits2 = MODEL.apply(params, changed)
    np.testing.assert_allclose(logits[:, :8], logits2[:, :8], atol=1e-6)
    assert not np.allclose(logits[:, 8:], logits2[:, 8:])


def test_threshold_zero_is_dense_and_infinite_threshold_removes_the_ffn():
    params, tokens = _init()
    dense = MODEL.apply(params, tokens)
    np.testing.assert_allclose(MODEL.apply(params, tokens, ffn_threshold_L=jnp.zeros(2)), dense,
                               atol=1e-6)
    no_ffn = jax.tree_util.tree_map_with_path(
        lambda path, p: jnp.zeros_like(p) if "w_down" in jax.tree_util.keystr(path) else p,
        params)
    np.testing.assert_allclose(
        MODEL.apply(params, tokens, ffn_threshold_L=jnp.full(2, jnp.inf)),
        MODEL.apply(no_ffn, tokens), atol=1e-5)
    with pytest.raises(ValueError, match="leading axis of 2"):
        MODEL.apply(params, tokens, ffn_threshold_L=jnp.zeros(3))


def test_sown_hidden_matches_contribution_norm_definition():
    params, tokens = _init()
    _, state = MODEL.apply(params, tokens, mutable=["intermediates"])
    ffn = state["intermediates"]["block_0"]["ffn"]
    x, h = ffn["ffn_input"][0], ffn["ffn_hidden"][0]
    w = params["params"]["block_0"]["ffn"]
    np.testing.assert_allclose(h, jax.nn.silu(x @ w["w_gate"]) * (x @ w["w_up"]), atol=1e-6)
    r = contribution_norms(h, w["w_down"])
    np.testing.assert_allclose(r[0, 0, 3], abs(h[0, 0, 3]) * np.linalg.norm(w["w_down"][3]),
                               rtol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "silu"])
def test_relu_flag_equals_the_fixed_activation(activation):
    """A traced per-layer `relu` flag on a SiLU GatedFFN gives the plain ReLU / SiLU model."""
    plain = CharLM(vocab_size=VOCAB_SIZE, max_len=16, d_model=16, num_heads=2, num_layers=2,
                   d_ff=32, activation=activation)
    params, tokens = _init(plain)
    flags = {"relu": jnp.full((2,), activation == "relu")}
    t = jnp.asarray([0.05, 0.1])
    switched = jax.jit(lambda f: MODEL.apply(params, tokens, ffn_kwargs_L=f, ffn_threshold_L=t))
    np.testing.assert_allclose(switched(flags), plain.apply(params, tokens, ffn_threshold_L=t),
                               atol=1e-5)   # jitted vs eager: float32 fusion differences
    # mixed flags: layer 0 ReLU, layer 1 SiLU, checked against the formula on the sown input
    _, state = MODEL.apply(params, tokens, ffn_kwargs_L={"relu": jnp.asarray([True, False])},
                           mutable=["intermediates"])
    for layer, act in ((0, jax.nn.relu), (1, jax.nn.silu)):
        ffn = state["intermediates"][f"block_{layer}"]["ffn"]
        w = params["params"][f"block_{layer}"]["ffn"]
        x = ffn["ffn_input"][0]
        np.testing.assert_allclose(ffn["ffn_hidden"][0],
                                   act(x @ w["w_gate"]) * (x @ w["w_up"]), atol=1e-6)
    with pytest.raises(ValueError, match="scalar flag"):
        MODEL.apply(params, tokens, ffn_kwargs_L={"relu": jnp.ones((2, 3), bool)})


class _ScaledFFN(GatedFFN):
    scale: float = 1.0

    @nn.compact
    def __call__(self, x, *, gain=None, threshold=None):
        return super().__call__(x) * (self.scale if gain is None else gain)


def test_ffn_class_and_per_layer_kwargs_can_be_swapped_in():
    params, tokens = _init()
    swapped = CharLM(vocab_size=VOCAB_SIZE, max_len=16, d_model=16, num_heads=2, num_layers=2,
                     d_ff=32, ffn_cls=functools.partial(_ScaledFFN, scale=1.0))
    np.testing.assert_allclose(swapped.apply(params, tokens), MODEL.apply(params, tokens),
                               atol=1e-6)
    zero_second = swapped.apply(params, tokens, ffn_kwargs_L={"gain": jnp.array([1.0, 0.0])})
    assert not np.allclose(zero_second, MODEL.apply(params, tokens))


def test_a_few_adam_steps_lower_the_next_char_loss():
    params, tokens = _init(t=16)
    tokens = jnp.asarray(char_corpus(16, 16, seed=1))
    tx = optax.adam(3e-3)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt):
        loss, grads = jax.value_and_grad(lambda p: next_token_nll(MODEL.apply(p, tokens),
                                                                  tokens))(params)
        updates, opt = tx.update(grads, opt)
        return optax.apply_updates(params, updates), opt, loss

    first = None
    for _ in range(30):
        params, opt, loss = step(params, opt)
        first = loss if first is None else first
    assert float(loss) < float(first) - 0.5


def test_bad_inputs():
    params, tokens = _init()
    with pytest.raises(ValueError, match="max_len"):
        MODEL.apply(params, jnp.zeros((1, 20), jnp.int32))
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        MODEL.apply(params, jnp.zeros((20,), jnp.int32))


def test_pretrain_lm_lowers_the_loss_and_is_seeded():
    import jax
    import numpy as np
    from jaxnets.nn.char_lm import CharLM
    from jaxnets.train.lm import pretrain_lm
    tokens = np.tile(np.arange(8, dtype=np.int32), (16, 1))   # a fully predictable sequence
    model = CharLM(vocab_size=8, max_len=8, d_model=16, num_heads=2, num_layers=1, d_ff=32)
    kwargs = dict(key=jax.random.PRNGKey(0), steps=30, batch_size=4, learning_rate=1e-2)
    params, losses = pretrain_lm(model, tokens, **kwargs)
    assert losses.shape == (30,) and float(losses[-1]) < 0.5 * float(losses[0])
    again, _ = pretrain_lm(model, tokens, **kwargs)
    np.testing.assert_array_equal(jax.tree.leaves(params)[0], jax.tree.leaves(again)[0])
