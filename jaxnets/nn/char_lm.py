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
  leading axis of length `num_layers`.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["ACTIVATIONS", "CharLM", "GatedFFN", "bits_per_char", "contribution_norms",
           "next_token_nll"]

ACTIVATIONS = {"relu": jax.nn.relu, "silu": jax.nn.silu, "gelu": jax.nn.gelu}


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
    """
    d_model: int
    d_ff: int
    activation: str = "silu"

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
        z = x_BxTxD @ w_gate
        gate = ACTIVATIONS[self.activation](z)
        if relu is not None:
            gate = jnp.where(relu, jax.nn.relu(z), gate)
        h = gate * (x_BxTxD @ w_up)
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

    @nn.compact
    def __call__(self, x_BxTxD: jax.Array, mask_1x1xTxT: jax.Array, ffn_kwargs: dict
                 ) -> jax.Array:
        y = nn.LayerNorm(name="ln_attn")(x_BxTxD)
        y = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, name="attn")(
            y, y, mask=mask_1x1xTxT)
        x_BxTxD = x_BxTxD + y
        y = nn.LayerNorm(name="ln_ffn")(x_BxTxD)
        y = self.ffn_cls(d_model=self.d_model, d_ff=self.d_ff, activation=self.activation,
                         name="ffn")(y, **ffn_kwargs)
        return x_BxTxD + y


class CharLM(nn.Module):
    """Causal character LM: tokens [B, T] (ids < vocab_size, T <= max_len) -> logits [B, T, V].

    Attributes:
        vocab_size: V.
        max_len: the longest sequence (learned position table size).
        d_model, num_heads, num_layers, d_ff: the usual sizes (d_model % num_heads == 0).
        activation: the FFN gate's nonlinearity ("relu", "silu", "gelu").
        ffn_cls: the FFN module class (fields d_model, d_ff, activation; call (x, **kwargs)).
    """
    vocab_size: int
    max_len: int
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 256
    activation: str = "silu"
    ffn_cls: Any = GatedFFN

    @nn.compact
    def __call__(self, tokens_BxT: jax.Array, *,
                 ffn_threshold_L: jax.Array | None = None,
                 ffn_kwargs_L: dict[str, Any] | None = None) -> jax.Array:
        if tokens_BxT.ndim != 2:
            raise ValueError(f"tokens must be [B, T], got shape {tokens_BxT.shape}")
        t = tokens_BxT.shape[1]
        if t > self.max_len:
            raise ValueError(f"sequence length {t} exceeds max_len {self.max_len}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} not divisible by num_heads "
                             f"{self.num_heads}")
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
            x = _Block(self.d_model, self.num_heads, self.d_ff, self.activation, self.ffn_cls,
                       name=f"block_{layer}")(x, mask, kwargs)
        x = nn.LayerNorm(name="ln_final")(x)
        return nn.Dense(self.vocab_size, name="head")(x)


def next_token_nll(logits_BxTxV: jax.Array, tokens_BxT: jax.Array) -> jax.Array:
    """Mean negative log-likelihood (nats) of tokens[:, 1:] given the logits at [:, :-1]."""
    logp = jax.nn.log_softmax(logits_BxTxV[:, :-1].astype(jnp.float32))
    target = tokens_BxT[:, 1:]
    return -jnp.mean(jnp.take_along_axis(logp, target[..., None], axis=-1))


def bits_per_char(logits_BxTxV: jax.Array, tokens_BxT: jax.Array) -> jax.Array:
    """`next_token_nll` in bits (divided by ln 2)."""
    return next_token_nll(logits_BxTxV, tokens_BxT) / jnp.log(2.0)
