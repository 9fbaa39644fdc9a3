"""Elastic transformer layers: variable embedding width, heads, FFN width and depth by masks.

The slicing rules are LightHuBERT's (Wang et al., "LightHuBERT: Lightweight and Configurable Speech
Representation Learning with Once-for-All Hidden-Unit BERT", Interspeech 2022; reference code
`lighthubert/modules/scaling_*.py`), so one max-size set of weights serves every subnet:
  * embedding width E (global): every [.., D] activation uses its first E features, every
    LayerNorm normalises over those E features only (`masked_layer_norm`);
  * heads H_l (per layer): q/k/v keep the first H_l heads of fixed size `head_dim` (the softmax
    scale stays 1/sqrt(head_dim)); the out-projection reads those heads;
  * FFN hidden width F_l = int(r_l E) (per layer), by the *chunked* rule: fc1's D_ffn units are
    D_ffn / D chunks of D units, and chunk c keeps its first `min(E, F_l - c E)` units
    (`lighthubert_ffn_mask`); a plain prefix is available as `ffn_slicing="prefix"`;
  * depth: a 0/1 keep pattern over the layers (`TransformerArch.layers`); a dropped layer is the
    identity. Which patterns are allowed (LightHuBERT's table, VARiant's equidistant sets) is the
    search space's business (`jaxnets.supernet.space`).
Every shape is the supernet's, so a batch of K `TransformerArch`s runs under one `jax.vmap`.
Dropout is left out (the equivalence to a physically sliced network is exact, deterministic).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from jaxnets.nn.elastic import ElasticDense, masked_layer_norm, prefix_mask

__all__ = ["ElasticTransformer", "ElasticTransformerBlock", "TransformerArch",
           "lighthubert_ffn_mask"]


@flax.struct.dataclass
class TransformerArch:
    """A subnet of an `ElasticTransformer`, as arrays (a leading axis batches subnets).

    Attributes:
        embed: int32 [], the embedding width E (<= D).
        heads: int32 [L], active heads per layer.
        ffn: int32 [L], FFN hidden units per layer, F_l = int(r_l * E).
        layers: bool [L], which layers run.
    """
    embed: jax.Array
    heads: jax.Array
    ffn: jax.Array
    layers: jax.Array


def lighthubert_ffn_mask(embed: jax.Array, ffn: jax.Array, embed_max: int, ffn_max: int
                         ) -> jax.Array:
    """LightHuBERT's chunked FFN mask (`scaling_linear.py`, "split" slicing), shape [ffn_max].

    The ffn_max hidden units are ffn_max / embed_max chunks of embed_max units; chunk c keeps its
    first `clip(ffn - c * embed, 0, embed)` units. E.g. D=768, E=640, F=2240 keeps
    [0,640) u [768,1408) u [1536,2176) u [2304,2624).

    Args:
        embed: int [] active embedding width E.
        ffn: int [] active hidden units F.
        embed_max: D.
        ffn_max: the supernet's FFN width, a multiple of D.
    """
    if ffn_max % embed_max:
        raise ValueError(f"chunked FFN slicing needs ffn_max ({ffn_max}) to be a multiple of "
                         f"embed_max ({embed_max}); use ffn_slicing='prefix' otherwise")
    unit = jnp.arange(ffn_max)
    chunk, within = unit // embed_max, unit % embed_max
    keep = jnp.clip(ffn - chunk * embed, 0, embed)
    return (within < keep).astype(jnp.float32)


class ElasticTransformerBlock(nn.Module):
    """Self-attention + FFN with residuals; post-LN (LightHuBERT/HuBERT default) or pre-LN.

    Attributes:
        embed_dim: D.
        num_heads: max heads of this layer.
        head_dim: fixed per-head width.
        ffn_hidden: max FFN width of this layer.
        pre_norm: LayerNorm before each sublayer instead of after the residual.
    """
    embed_dim: int
    num_heads: int
    head_dim: int
    ffn_hidden: int
    pre_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, embed_mask_D: jax.Array | None = None,
                 head_mask_H: jax.Array | None = None, ffn_mask_F: jax.Array | None = None,
                 attn_mask_TxT: jax.Array | None = None) -> jax.Array:
        """Maps x [..., T, D] to [..., T, D]; unit masks None = all active.

        `attn_mask_TxT` (bool, True = query t may attend to key s) restricts attention, e.g. to
        VAR's block-causal pattern; None = full attention.
        """
        d = self.embed_dim
        if embed_mask_D is None:
            embed_mask_D = jnp.ones((d,), jnp.float32)
        norm1 = _MaskedLayerNorm(d, name="norm1")
        norm2 = _MaskedLayerNorm(d, name="norm2")
        h = norm1(x, embed_mask_D) if self.pre_norm else x
        x = x + self._attention(h, embed_mask_D, head_mask_H, attn_mask_TxT)
        if not self.pre_norm:
            x = norm1(x, embed_mask_D)
        h = norm2(x, embed_mask_D) if self.pre_norm else x
        x = x + self._ffn(h, embed_mask_D, ffn_mask_F)
        return x if self.pre_norm else norm2(x, embed_mask_D)

    def _attention(self, x, embed_mask, head_mask, attn_mask=None):
        width = self.num_heads * self.head_dim
        unit_mask = None if head_mask is None else jnp.repeat(head_mask, self.head_dim)
        q, k, v = (ElasticDense(width, name=n)(x, embed_mask, unit_mask) for n in "qkv")
        split = x.shape[:-1] + (self.num_heads, self.head_dim)
        q, k, v = (a.reshape(split) for a in (q, k, v))
        logits = jnp.einsum("...thd,...shd->...hts", q, k) / jnp.sqrt(float(self.head_dim))
        if attn_mask is not None:
            t, s = logits.shape[-2:]
            if attn_mask.shape != (t, s):
                raise ValueError(f"attn_mask_TxT must be [{t}, {s}], got {attn_mask.shape}")
            logits = jnp.where(attn_mask.reshape((1,) * (logits.ndim - 2) + (t, s)), logits,
                               -jnp.inf)
        weights = jax.nn.softmax(logits, axis=-1)
        out = jnp.einsum("...hts,...shd->...thd", weights, v).reshape(x.shape[:-1] + (width,))
        return ElasticDense(self.embed_dim, name="out")(out, unit_mask, embed_mask)

    def _ffn(self, x, embed_mask, ffn_mask):
        # The FFN mask is applied after the GELU: gelu(0) = 0, so gelu(y) m = gelu(y m) in value
        # and gradient, and fc2 then reads already-masked units. Masking before the GELU made
        # XLA's CPU backward recompute the masked GELU derivative in a transposed copy for
        # fc1's weight gradient (the FFN backward ran 1.8-2.9x slower, BENCH.md section 2).
        h = nn.gelu(ElasticDense(self.ffn_hidden, name="fc1")(x, embed_mask, None),
                    approximate=False)
        if ffn_mask is not None:
            h = h * ffn_mask.astype(h.dtype).reshape((1,) * (h.ndim - 1) + ffn_mask.shape)
        return ElasticDense(self.embed_dim, name="fc2")(h, None, embed_mask)


class _MaskedLayerNorm(nn.Module):
    """LayerNorm whose statistics and affine params cover the active features only."""
    features: int
    eps: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, mask_D: jax.Array) -> jax.Array:
        scale = self.param("scale", nn.initializers.ones_init(), (self.features,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        return masked_layer_norm(x, mask_D, scale, bias, self.eps)


class ElasticTransformer(nn.Module):
    """A transformer encoder supernet (LightHuBERT's shape, without the CNN front end).

    `in_proj` (F_in -> D, outputs [0, E)) + a learned positional embedding (columns [0, E)),
    LayerNorm (post-LN: before the blocks; pre-LN: after them), L `ElasticTransformerBlock`s gated
    by `arch.layers`, and a linear `head` reading features [0, E). With `arch=None` it is a plain
    transformer; `jaxnets.supernet.extract_subnet` builds such a plain one (max sizes = the
    subnet's) from a supernet and an arch.

    Attributes:
        embed_dim: D (max embedding width).
        num_heads: max heads, one entry per layer (its length is the depth L).
        ffn_hidden: max FFN width, one entry per layer.
        head_dim: per-head width (fixed across subnets).
        out_features: output width of the head.
        max_len: longest sequence (positional embedding rows).
        pre_norm: pre-LN blocks (False: post-LN as HuBERT/LightHuBERT).
        ffn_slicing: "chunked" (LightHuBERT) or "prefix".
    """
    embed_dim: int
    num_heads: Sequence[int]
    ffn_hidden: Sequence[int]
    head_dim: int
    out_features: int
    max_len: int
    pre_norm: bool = False
    ffn_slicing: str = "chunked"

    @nn.compact
    def __call__(self, x: jax.Array, arch: TransformerArch | None = None) -> jax.Array:
        """Maps x [..., T, F_in] to [..., T, out_features]; `arch=None` runs every unit."""
        num_layers = len(self.num_heads)
        if len(self.ffn_hidden) != num_layers:
            raise ValueError(f"ElasticTransformer: num_heads has {num_layers} layers but "
                             f"ffn_hidden has {len(self.ffn_hidden)}")
        if self.ffn_slicing not in ("chunked", "prefix"):
            raise ValueError(f"ffn_slicing must be 'chunked' or 'prefix', got "
                             f"{self.ffn_slicing!r}")
        if x.ndim < 2 or x.shape[-2] > self.max_len:
            raise ValueError(f"x must be [..., T, F] with T <= max_len={self.max_len}, got "
                             f"shape {x.shape}")
        d = self.embed_dim
        if arch is not None:
            _check_arch(arch, num_layers)
        embed_mask = prefix_mask(arch.embed, d) if arch is not None else jnp.ones((d,))
        x = ElasticDense(d, name="in_proj")(x, None, embed_mask)
        pos = self.param("pos_embed", nn.initializers.normal(0.02), (self.max_len, d))
        pos = pos[: x.shape[-2]] * embed_mask.reshape(1, d)
        x = x + pos.reshape((1,) * (x.ndim - 2) + pos.shape)
        final_norm = _MaskedLayerNorm(d, name="norm")
        if not self.pre_norm:
            x = final_norm(x, embed_mask)
        for layer in range(num_layers):
            block = ElasticTransformerBlock(d, self.num_heads[layer], self.head_dim,
                                            self.ffn_hidden[layer], self.pre_norm,
                                            name=f"block_{layer}")
            if arch is None:
                x = block(x)
                continue
            head_mask = prefix_mask(arch.heads[layer], self.num_heads[layer])
            if self.ffn_slicing == "chunked":
                ffn_mask = lighthubert_ffn_mask(arch.embed, arch.ffn[layer], d,
                                                self.ffn_hidden[layer])
            else:
                ffn_mask = prefix_mask(arch.ffn[layer], self.ffn_hidden[layer])
            x = jnp.where(arch.layers[layer], block(x, embed_mask, head_mask, ffn_mask), x)
        if self.pre_norm:
            x = final_norm(x, embed_mask)
        return ElasticDense(self.out_features, name="head")(x, embed_mask, None)


def _check_arch(arch: TransformerArch, num_layers: int) -> None:
    if not isinstance(arch, TransformerArch):
        raise TypeError(f"ElasticTransformer expects arch to be a TransformerArch, got "
                        f"{type(arch).__name__}")
    shapes = {k: jnp.shape(getattr(arch, k)) for k in ("embed", "heads", "ffn", "layers")}
    expected = {"embed": (), "heads": (num_layers,), "ffn": (num_layers,),
                "layers": (num_layers,)}
    if shapes != expected:
        raise ValueError(f"ElasticTransformer: arch field shapes {shapes} != {expected} (a batch "
                         "of archs goes through jax.vmap)")
