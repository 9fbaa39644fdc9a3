"""VARiant: a next-scale autoregressive transformer whose depth subnets share weights.

Chen et al., "VARiant: Progressive Supernet Training for Efficient Visual Autoregressive
Modeling" (arXiv 2025 / CVPR 2026), on top of VAR (Tian et al., NeurIPS 2024):
  * next-scale prediction: tokens of scale k are predicted from the class token and the token
    maps r_1..r_{k-1}; the input at the positions of scale k is the embedding of r_{k-1}
    upsampled to s_k x s_k (teacher forcing) plus a position and a scale embedding; attention is
    block-causal (a token of scale k sees the tokens of scales <= k);
  * scale-depth asymmetry and cross-scale allocation: the first k0 scales run through all D
    layers, the later ones through the layers I_d of a d-layer subnet chosen by the equidistant
    rule I_d = {floor(i (D-1)/(d-1)) : i < d} (`jaxnets.supernet.equidistant_layers`).
    Per token t and layer l the gate is

        G[t, l] = 1 if scale(t) < k0 or l in I_d else 0,
        h_t <- h_t + G[t, l] (block_l(h)_t - h_t),

    which equals running the late tokens through the physically smaller subnet, their attention
    at a kept layer reading the early tokens' keys/values of that same layer (the KV cache the
    full-depth early scales leave behind).
A gate is a `ScaleDepthArch` (one keep pattern per scale), so a batch of subnets runs under one
`jax.vmap`, and `ScaleDepthSpace` gives `jaxnets.supernet.sample_progressive` what it needs for
the progressive full/subnet training schedule.
"""
from __future__ import annotations

import dataclasses
import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.data.scale_tokens import ScaleLayout
from jaxnets.nn.elastic_transformer import ElasticTransformerBlock
from jaxnets.supernet.space import depth_table

__all__ = ["NextScaleTransformer", "ScaleDepthArch", "ScaleDepthSpace",
           "sample_tokens"]


@flax.struct.dataclass
class ScaleDepthArch:
    """Which layers each scale runs through (a leading axis batches archs).

    Attributes:
        layers: bool [K, D]; `layers[k, l]` = tokens of scale k are updated by layer l.
    """
    layers: jax.Array

    @classmethod
    def allocate(cls, keep_D: jax.Array, k0: int | jax.Array, num_scales: int,
                 early_subnet: bool = False) -> "ScaleDepthArch":
        """VARiant's cross-scale allocation: scales < k0 full depth, the rest the subnet `keep_D`.

        With `early_subnet` it is reversed (scales < k0 run the subnet, the rest full depth), the
        probe of the paper's scale-depth asymmetry study.
        """
        keep_D = jnp.asarray(keep_D, bool)
        early = (jnp.arange(num_scales) < k0).reshape(-1, 1)
        if early_subnet:
            early = ~early
        return cls(jnp.logical_or(early, keep_D.reshape(1, -1)))


@dataclasses.dataclass(frozen=True)
class ScaleDepthSpace:
    """VARiant's subnets: depth d from `depth_choices` for the scales >= k0, all layers before.

    Attributes:
        num_layers: D.
        num_scales: K.
        depth_choices: subnet depths (e.g. (4, 2) for D = 8).
        k0: number of early scales always run at full depth.
        depth_rule: "equidistant" (the paper's floor rule) or "nested" (`depth_table`).
    """
    num_layers: int
    num_scales: int
    depth_choices: tuple[int, ...]
    k0: int
    depth_rule: str = "equidistant"

    def __post_init__(self):
        if not 0 <= self.k0 <= self.num_scales:
            raise ValueError(f"k0 must be in [0, {self.num_scales}], got {self.k0}")
        self.patterns()  # validates the depths and the rule

    def patterns(self) -> np.ndarray:
        """bool [len(depth_choices), D]: I_d of each depth choice."""
        return depth_table(self.num_layers, self.depth_choices, self.depth_rule)

    def subnet(self, depth: int, early_subnet: bool = False) -> ScaleDepthArch:
        """The arch of one depth (need not be a training choice)."""
        keep = depth_table(self.num_layers, (depth,), self.depth_rule)[0]
        return ScaleDepthArch.allocate(keep, self.k0, self.num_scales, early_subnet)

    def largest(self) -> ScaleDepthArch:
        return ScaleDepthArch(jnp.ones((self.num_scales, self.num_layers), bool))

    def smallest(self) -> ScaleDepthArch:
        return self.subnet(min(self.depth_choices))

    def sample(self, key: jax.Array) -> ScaleDepthArch:
        """A subnet of uniformly drawn depth."""
        index = jax.random.randint(key, (), 0, len(self.depth_choices))
        return ScaleDepthArch.allocate(jnp.asarray(self.patterns())[index], self.k0,
                                       self.num_scales)


class NextScaleTransformer(nn.Module):
    """VAR-style next-scale predictor (pre-LN blocks; class token as the start of scale 1).

    Attributes:
        layout: the token pyramid (T positions, K scales).
        levels: V, token vocabulary per position.
        num_classes: class labels for conditioning.
        num_layers: D.
        embed_dim: width.
        num_heads: attention heads.
        ffn_ratio: FFN hidden width / embed_dim.
    """
    layout: ScaleLayout
    levels: int
    num_classes: int
    num_layers: int = 8
    embed_dim: int = 64
    num_heads: int = 4
    ffn_ratio: int = 4

    def setup(self):
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim ({self.embed_dim}) must be a multiple of num_heads "
                             f"({self.num_heads})")
        d, t = self.embed_dim, self.layout.length
        init = nn.initializers.normal(0.02)
        self.token_embed = nn.Embed(self.levels, d, embedding_init=init)
        self.class_embed = nn.Embed(self.num_classes, d, embedding_init=init)
        self.pos_embed = self.param("pos_embed", init, (t, d))
        self.scale_embed = self.param("scale_embed", init, (self.layout.num_scales, d))
        self.blocks = [ElasticTransformerBlock(d, self.num_heads, d // self.num_heads,
                                               self.ffn_ratio * d, pre_norm=True)
                       for _ in range(self.num_layers)]
        self.norm = nn.LayerNorm()
        self.head = nn.Dense(self.levels)

    def embed(self, tokens_BxT: jax.Array, labels_B: jax.Array) -> jax.Array:
        """Teacher-forced inputs [B, T, D]: class embedding at scale 1, the upsampled embedding of
        scale k-1 at scale k, plus position and scale embeddings."""
        if tokens_BxT.ndim != 2 or tokens_BxT.shape[1] != self.layout.length:
            raise ValueError(f"tokens must be [B, {self.layout.length}], got shape "
                             f"{tokens_BxT.shape}")
        if labels_B.shape != tokens_BxT.shape[:1]:
            raise ValueError(f"labels must be [B={tokens_BxT.shape[0]}], got {labels_B.shape}")
        parent_T = jnp.asarray(self.layout.parent_of())
        h = self.token_embed(tokens_BxT[:, parent_T])
        first = jnp.asarray(self.layout.scale_of() == 0).reshape(1, -1, 1)
        h = jnp.where(first, self.class_embed(labels_B)[:, None, :], h)
        scale = self.scale_embed[jnp.asarray(self.layout.scale_of())]
        return h + (self.pos_embed + scale)[None]

    def block(self, h_BxTxD: jax.Array, layer: int) -> jax.Array:
        """Layer `layer` on a (possibly truncated, T' <= T) sequence [B, T', D]."""
        t = h_BxTxD.shape[-2]
        allowed_TxT = jnp.asarray(self.layout.block_causal_mask()[:t, :t])  # VAR's block-causal
        return self.blocks[layer](h_BxTxD, attn_mask_TxT=allowed_TxT)

    def logits(self, h_BxTxD: jax.Array) -> jax.Array:
        """Final LayerNorm and the token head: [B, T, V]."""
        return self.head(self.norm(h_BxTxD))

    def __call__(self, tokens_BxT: jax.Array, labels_B: jax.Array,
                 arch: ScaleDepthArch | None = None) -> jax.Array:
        """Logits [B, T, V] of every token given the earlier scales; `arch=None` is full depth.

        Layer l updates token t only where G[t, l] = arch.layers[scale(t), l] (VARiant's gate).
        """
        h = self.embed(tokens_BxT, labels_B)
        if arch is not None:
            shape = jnp.shape(arch.layers)
            if shape != (self.layout.num_scales, self.num_layers):
                raise ValueError(f"arch.layers must be [K={self.layout.num_scales}, "
                                 f"D={self.num_layers}], got {shape} (batch archs by vmap)")
            gate_TxD = arch.layers[jnp.asarray(self.layout.scale_of())].astype(h.dtype)
        for layer in range(self.num_layers):
            out = self.block(h, layer)
            if arch is None:
                h = out
            else:
                h = h + gate_TxD[:, layer].reshape(1, -1, 1) * (out - h)
        return self.logits(h)


def sample_tokens(model: NextScaleTransformer, params, labels_B: jax.Array,
                  arch: ScaleDepthArch | None, key: jax.Array, temperature: float = 1.0
                  ) -> jax.Array:
    """Class-conditional generation, one scale per step (K forward passes): int32 [B, T].

    Step k runs the whole sequence (static shape; block-causal attention makes the not yet
    generated later positions irrelevant) and draws the s_k^2 tokens of scale k at once from
    softmax(logits / temperature), as VAR does (without its top-k/top-p and guidance). The
    scales are a `lax.fori_loop` (one trace of the network): every position is drawn and only
    those of scale k are kept.
    """
    layout = model.layout
    scale_T = jnp.asarray(layout.scale_of())

    def next_scale(k, tokens):
        logits = model.apply({"params": params}, tokens, labels_B, arch) / temperature
        drawn = jax.random.categorical(jax.random.fold_in(key, k), logits).astype(jnp.int32)
        return jnp.where((scale_T == k).reshape(1, -1), drawn, tokens)

    tokens = jnp.zeros((labels_B.shape[0], layout.length), jnp.int32)
    return jax.lax.fori_loop(0, layout.num_scales, next_scale, tokens)

