"""A small causal (decoder-only) character transformer with a gated FFN.

The language model shared by FactorLLM (factorising the FFN into experts), Sparsing Law
(activation sparsity of ReLU vs SiLU gated FFNs) and the adaptation experiments: pre-LN blocks
`x + Attn(LN(x))`, `x + FFN(LN(x))` with learned positions, a final LayerNorm and an untied
output head. The FFN is LLaMA's gated form (Shazeer 2020, "GLU variants improve Transformer",
Eq. 5-6; TinyLlama's `LlamaMLP`):

    h = act(x W_gate) ⊙ (x W_up)          [.., F]
    FFN(x) = h W_down                      [.., D]

with no biases, so the FFN is separable over its F intermediate neurons: splitting the neurons
into groups splits the FFN into a sum of experts exactly (FactorLLM Sec. 3.1).

Hooks (all optional, none change the default forward):
- the FFN sows its input (`ffn_input`) and intermediate activation (`ffn_hidden`, h above) into
  the "intermediates" collection (`model.apply(..., mutable=["intermediates"])`);
- `ffn_threshold` zeroes neurons whose output contribution `|h_i| * ||W_down[i, :]||_2` falls
  below a per-layer threshold (Sparsing Law's CETT truncation, Luo et al. 2025, Sec. 3);
- a per-layer `relu` flag (`ffn_kwargs_L={"relu": flags_L}`) switches the gate to ReLU inside
  one compiled program (Sparsing Law trains ReLU and SiLU models together under `vmap`);
- `ffn_cls` swaps the FFN for another module with the same fields and call signature (e.g. a
  factorised mixture of experts); `ffn_kwargs_L` passes per-layer keyword arrays to it, with a
  leading axis of length `num_layers`;
- `node_deltas` adds a delta to each patching node, the residual stream entering a block
  (`resid_pre`), the attention output (`attn_out`) and the FFN output (`mlp_out`), each
  [num_layers, B, T, D]; the three are sown into "intermediates" (`block_l/<site>`, the value
  after the delta). Zero deltas leave the forward unchanged and their gradient is dm/da_n, the
  local gradient attribution patching needs (`jaxnets.explain.patching`).

LRP mode (RelP, Rezaei Jafari et al. 2025, arXiv 2508.21258, Sec. 3; off by default): the field
`lrp_rules` names propagation rules implemented as modified gradients. The forward values are
unchanged (up to float rounding); one backward pass then gives LRP's propagation coefficients:
- "ln": LN-rule (Ali et al. 2022): LayerNorm divides by sg(std), the normalising scale is a
  constant in the backward pass (the mean subtraction stays linear);
- "identity": Identity-rule (Rezaei Jafari et al. 2024) for the FFN gate's nonlinearity:
  act(z) = z~ * sg(act(z) / z~), z~ = z + (sign(z) + [z = 0]) * 1e-6, so the backward passes
  the ratio act(z)/z (ReLU is left alone: its ratio is its gradient);
- "attention": AH-rule (Ali et al. 2022): the softmax attention weights are constants,
  sg(softmax(q k^T / sqrt(d) + mask)), via flax MHA's `attention_fn`;
- "half": Half-rule (Arras et al. 2019) for the multiplicative gate h = gate * up:
  h = h/2 + sg(h/2), which halves the gradient reaching each factor.
Linear layers keep the plain gradient (LRP-0). The param tree does not depend on the rules.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["ACTIVATIONS", "CharLM", "GatedFFN", "LRP_RULES", "NODE_SITES", "bits_per_char",
           "contribution_norms", "lrp_half", "lrp_identity", "lrp_layer_norm",
           "next_token_nll", "node_activations"]

ACTIVATIONS = {"relu": jax.nn.relu, "silu": jax.nn.silu, "gelu": jax.nn.gelu}
LRP_RULES = ("ln", "identity", "attention", "half")
NODE_SITES = ("resid_pre", "attn_out", "mlp_out")
_sg = jax.lax.stop_gradient


def _check_rules(lrp_rules: tuple[str, ...]) -> None:
    unknown = [r for r in lrp_rules if r not in LRP_RULES]
    if unknown:
        raise ValueError(f"lrp_rules must be drawn from {LRP_RULES}, got unknown {unknown}")


def lrp_identity(act_x: jax.Array, x: jax.Array, eps: float = 1e-6) -> jax.Array:
    """Identity-rule: the value `act_x` = act(x) with the backward d/dx = act(x) / x~.

    x~ = x + (sign(x) + [x = 0]) * eps is the stabilised denominator of the official code's
    `stabilize`. Returns x~ * sg(act_x / x~), equal to act_x up to rounding.
    """
    x_stab = x + (jnp.sign(x) + (x == 0).astype(x.dtype)) * eps
    return x_stab * _sg(act_x / x_stab)


def lrp_half(y: jax.Array) -> jax.Array:
    """Half-rule for a product y = a * b: y/2 + sg(y/2), the same value, half the gradient."""
    return y / 2 + _sg(y / 2)


def lrp_layer_norm(x_xD: jax.Array, scale_D: jax.Array, bias_D: jax.Array,
                   epsilon: float = 1e-6) -> jax.Array:
    """LN-rule LayerNorm: (x - mean(x)) / sg(sqrt(var(x) + eps)) * scale + bias over the last
    axis; the forward equals `nn.LayerNorm(epsilon)` (up to rounding), the std is a constant
    in the backward pass."""
    centred = x_xD - jnp.mean(x_xD, axis=-1, keepdims=True)
    std = jnp.sqrt(jnp.mean(centred * centred, axis=-1, keepdims=True) + epsilon)
    lead = (1,) * (x_xD.ndim - 1)
    return centred / _sg(std) * scale_D.reshape(lead + (-1,)) + bias_D.reshape(lead + (-1,))


class _LayerNorm(nn.Module):
    """`nn.LayerNorm` (same params `scale`, `bias` [D], epsilon 1e-6) with the LN-rule on."""

    @nn.compact
    def __call__(self, x_xD: jax.Array) -> jax.Array:
        d = x_xD.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (d,))
        bias = self.param("bias", nn.initializers.zeros, (d,))
        return lrp_layer_norm(x_xD, scale, bias)


def _layer_norm(lrp_rules: tuple[str, ...], name: str) -> nn.Module:
    return _LayerNorm(name=name) if "ln" in lrp_rules else nn.LayerNorm(name=name)


def _constant_weight_attention(query, key, value, mask=None, dtype=None, precision=None):
    """AH-rule attention for flax MHA's `attention_fn`: softmax weights under stop_gradient.

    Shapes as `nn.dot_product_attention`: q [B, T, H, Dh], k, v [B, S, H, Dh] -> [B, T, H, Dh].
    No dropout (CharLM has none)."""
    weights_BxHxTxS = nn.dot_product_attention_weights(query, key, mask=mask, dtype=dtype,
                                                       precision=precision, deterministic=True)
    return jnp.einsum("...hqk,...khd->...qhd", _sg(weights_BxHxTxS), value, precision=precision)


def contribution_norms(h_xF: jax.Array, w_down_FxD: jax.Array) -> jax.Array:
    """|h_i| * ||W_down[i, :]||_2: the norm of neuron i's output contribution (Sparsing Law Eq. 2).

    Args:
        h_xF: intermediate activations, any leading shape, F neurons last.
        w_down_FxD: the down projection.
    Returns:
        Array of the shape of `h_xF`.
    """
    norms_F = jnp.linalg.norm(w_down_FxD, axis=-1)
    return jnp.abs(h_xF) * norms_F.reshape((1,) * (h_xF.ndim - 1) + (-1,))


class GatedFFN(nn.Module):
    """FFN(x) = (act(x W_gate) ⊙ x W_up) W_down, no biases (see the module docstring).

    Params: `w_gate` [D, F], `w_up` [D, F], `w_down` [F, D].

    Call keywords (both optional, both may be traced, e.g. per-layer `ffn_kwargs_L` arrays):
      relu: a boolean; true makes the gate a ReLU, false keeps `activation`. A traced flag lets
        ReLU and SiLU models share one compiled program and train side by side under `vmap`
        (Sparsing Law). Without it the gate is `activation`.
      threshold: zero neurons whose contribution norm falls below it (CETT truncation).

    `lrp_rules` (default none): "identity" and "half" switch on RelP's Identity- and Half-rule
    for the gate (see the module docstring); the forward value and the params are unchanged.
    """
    d_model: int
    d_ff: int
    activation: str = "silu"
    lrp_rules: tuple[str, ...] = ()

    @nn.compact
    def __call__(self, x_BxTxD: jax.Array, *, relu: jax.Array | None = None,
                 threshold: jax.Array | None = None) -> jax.Array:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if relu is not None and jnp.shape(relu) != ():
            raise ValueError(f"relu must be a scalar flag per layer, got shape "
                             f"{jnp.shape(relu)}")
        init = nn.initializers.lecun_normal()
        w_gate = self.param("w_gate", init, (self.d_model, self.d_ff))
        w_up = self.param("w_up", init, (self.d_model, self.d_ff))
        w_down = self.param("w_down", init, (self.d_ff, self.d_model))
        self.sow("intermediates", "ffn_input", x_BxTxD)
        _check_rules(self.lrp_rules)
        z = x_BxTxD @ w_gate
        gate = ACTIVATIONS[self.activation](z)
        if "identity" in self.lrp_rules and self.activation != "relu":
            gate = lrp_identity(gate, z)
        if relu is not None:
            gate = jnp.where(relu, jax.nn.relu(z), gate)
        h = gate * (x_BxTxD @ w_up)
        if "half" in self.lrp_rules:
            h = lrp_half(h)
        self.sow("intermediates", "ffn_hidden", h)
        if threshold is not None:
            h = jnp.where(contribution_norms(h, w_down) < threshold, 0.0, h)
        return h @ w_down


class _Block(nn.Module):
    d_model: int
    num_heads: int
    d_ff: int
    activation: str
    ffn_cls: Any
    lrp_rules: tuple[str, ...] = ()

    @nn.compact
    def __call__(self, x_BxTxD: jax.Array, mask_1x1xTxT: jax.Array, ffn_kwargs: dict,
                 deltas: dict[str, jax.Array] | None = None) -> jax.Array:
        def node(site: str, value_BxTxD: jax.Array) -> jax.Array:
            if deltas is not None:
                value_BxTxD = value_BxTxD + deltas[site]
            self.sow("intermediates", site, value_BxTxD)
            return value_BxTxD

        x_BxTxD = node("resid_pre", x_BxTxD)
        y = _layer_norm(self.lrp_rules, "ln_attn")(x_BxTxD)
        attention_fn = (_constant_weight_attention if "attention" in self.lrp_rules
                        else nn.dot_product_attention)
        y = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, name="attn",
                                            attention_fn=attention_fn)(y, y, mask=mask_1x1xTxT)
        x_BxTxD = x_BxTxD + node("attn_out", y)
        y = _layer_norm(self.lrp_rules, "ln_ffn")(x_BxTxD)
        ffn_rules = tuple(r for r in self.lrp_rules if r in ("identity", "half"))
        lrp_field = {"lrp_rules": ffn_rules} if ffn_rules else {}   # other ffn_cls need no field
        y = self.ffn_cls(d_model=self.d_model, d_ff=self.d_ff, activation=self.activation,
                         name="ffn", **lrp_field)(y, **ffn_kwargs)
        return x_BxTxD + node("mlp_out", y)


class CharLM(nn.Module):
    """Causal character LM: tokens [B, T] (ids < vocab_size, T <= max_len) -> logits [B, T, V].

    Attributes:
        vocab_size: V.
        max_len: the longest sequence (learned position table size).
        d_model, num_heads, num_layers, d_ff: the usual sizes (d_model % num_heads == 0).
        activation: the FFN gate's nonlinearity ("relu", "silu", "gelu").
        ffn_cls: the FFN module class (fields d_model, d_ff, activation; call (x, **kwargs)).
        lrp_rules: RelP propagation rules, a subset of `LRP_RULES` (default none: plain
            gradients); the forward and the params do not depend on them. "identity" and
            "half" are passed on to the FFN, so a custom `ffn_cls` needs an `lrp_rules` field
            to be used with them (it is not passed when they are off).

    Call keywords: `ffn_threshold_L`, `ffn_kwargs_L` (see the module docstring) and
    `node_deltas`, a dict from each of `NODE_SITES` to [num_layers, B, T, D] added to that node.
    """
    vocab_size: int
    max_len: int
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 256
    activation: str = "silu"
    ffn_cls: Any = GatedFFN
    lrp_rules: tuple[str, ...] = ()

    @nn.compact
    def __call__(self, tokens_BxT: jax.Array, *,
                 ffn_threshold_L: jax.Array | None = None,
                 ffn_kwargs_L: dict[str, Any] | None = None,
                 node_deltas: dict[str, jax.Array] | None = None) -> jax.Array:
        if tokens_BxT.ndim != 2:
            raise ValueError(f"tokens must be [B, T], got shape {tokens_BxT.shape}")
        t = tokens_BxT.shape[1]
        if t > self.max_len:
            raise ValueError(f"sequence length {t} exceeds max_len {self.max_len}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} not divisible by num_heads "
                             f"{self.num_heads}")
        _check_rules(self.lrp_rules)
        if node_deltas is not None:
            expected = (self.num_layers, *tokens_BxT.shape, self.d_model)
            if set(node_deltas) != set(NODE_SITES):
                raise ValueError(f"node_deltas needs exactly the sites {NODE_SITES}, got "
                                 f"{sorted(node_deltas)}")
            for site, delta in node_deltas.items():
                if jnp.shape(delta) != expected:
                    raise ValueError(f"node_deltas[{site!r}] must have shape [L, B, T, D] = "
                                     f"{expected}, got {jnp.shape(delta)}")
        per_layer = dict(ffn_kwargs_L or {})
        if ffn_threshold_L is not None:
            per_layer["threshold"] = jnp.asarray(ffn_threshold_L)
        for name, value in per_layer.items():
            if jnp.shape(value)[:1] != (self.num_layers,):
                raise ValueError(f"ffn kwarg {name!r} needs a leading axis of {self.num_layers} "
                                 f"layers, got shape {jnp.shape(value)}")
        x = nn.Embed(self.vocab_size, self.d_model, name="embed")(tokens_BxT)
        pos = self.param("pos", nn.initializers.normal(0.02), (self.max_len, self.d_model))
        x = x + pos[None, :t]
        mask = nn.make_causal_mask(jnp.ones((1, t), bool))
        for layer in range(self.num_layers):
            kwargs = {name: value[layer] for name, value in per_layer.items()}
            deltas = (None if node_deltas is None
                      else {site: delta[layer] for site, delta in node_deltas.items()})
            x = _Block(self.d_model, self.num_heads, self.d_ff, self.activation, self.ffn_cls,
                       self.lrp_rules, name=f"block_{layer}")(x, mask, kwargs, deltas)
        x = _layer_norm(self.lrp_rules, "ln_final")(x)
        return nn.Dense(self.vocab_size, name="head")(x)


def node_activations(intermediates: dict, num_layers: int) -> dict[str, jax.Array]:
    """The sown patching nodes as {site: [num_layers, B, T, D]} from `model.apply(...,
    mutable=["intermediates"])[1]["intermediates"]`."""
    return {site: jnp.stack([intermediates[f"block_{l}"][site][0] for l in range(num_layers)])
            for site in NODE_SITES}


def next_token_nll(logits_BxTxV: jax.Array, tokens_BxT: jax.Array) -> jax.Array:
    """Mean negative log-likelihood (nats) of tokens[:, 1:] given the logits at [:, :-1]."""
    logp = jax.nn.log_softmax(logits_BxTxV[:, :-1].astype(jnp.float32))
    target = tokens_BxT[:, 1:]
    return -jnp.mean(jnp.take_along_axis(logp, target[..., None], axis=-1))


def bits_per_char(logits_BxTxV: jax.Array, tokens_BxT: jax.Array) -> jax.Array:
    """`next_token_nll` in bits (divided by ln 2)."""
    return next_token_nll(logits_BxTxV, tokens_BxT) / jnp.log(2.0)
