"""Architecture spaces: which subnets a supernet holds, and how to draw one as arrays.

A space is a frozen dataclass (static, hashable, safe to close over in `jit`) with three pure
methods that return an architecture pytree of int/bool arrays: `largest()`, `smallest()` and
`sample(key)`. Batches of architectures (a leading axis) come from `jax.vmap(space.sample)`; see
`jaxnets.supernet.sampling` for the uniform, sandwich and progressive rules.

Depth patterns (which layers of the supernet a d-layer subnet keeps) follow the papers:
  * `lighthubert_layers`: LightHuBERT's table (`lighthubert.py`): layers are blocks of 4 and
    layers are dropped from the ends of the blocks, last block first (L=12: d=11 drops layer 12,
    d=10 drops 8 and 12, d=9 drops 4, 8, 12, d=8 also 11, ...);
  * `equidistant_layers`: VARiant's equidistant selection `I_d = {floor(i (L-1)/(d-1))}` (first
    and last layer always kept), or its `nested` variant (each set subsamples the next larger
    one equidistantly, so I_d is a subset of I_d' for d < d');
  * `prefix`: the first d layers (once-for-all style elastic depth).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.nn.elastic import ElasticGCN, ElasticMLP, WidthDepthArch
from jaxnets.nn.elastic_transformer import ElasticTransformer, TransformerArch

__all__ = ["DEPTH_RULES", "TransformerSpace", "WidthDepthSpace", "depth_table",
           "equidistant_layers", "lighthubert_layers"]

DEPTH_RULES = ("lighthubert", "equidistant", "nested", "prefix")


def lighthubert_layers(num_layers: int, depth: int, block_size: int = 4) -> np.ndarray:
    """LightHuBERT's keep pattern: bool [num_layers] with `depth` True entries.

    Layers are grouped in blocks of `block_size`; the k-th round of drops removes, for each block
    from the last to the first, the block's (k+1)-th layer from its end.
    """
    if num_layers % block_size:
        raise ValueError(f"num_layers ({num_layers}) must be a multiple of block_size "
                         f"({block_size})")
    _check_depth(num_layers, depth)
    blocks = num_layers // block_size
    order = [b * block_size + block_size - 1 - k for k in range(block_size)
             for b in reversed(range(blocks))]
    keep = np.ones(num_layers, bool)
    keep[order[: num_layers - depth]] = False
    return keep


def equidistant_layers(num_layers: int, depth: int) -> np.ndarray:
    """VARiant's floor-equidistant selection `{floor(i (L-1)/(d-1)) : i < d}` as a bool mask."""
    _check_depth(num_layers, depth)
    keep = np.zeros(num_layers, bool)
    if depth == 1:
        keep[0] = True
        return keep
    keep[[i * (num_layers - 1) // (depth - 1) for i in range(depth)]] = True
    return keep


def depth_table(num_layers: int, depths: Sequence[int], rule: str) -> np.ndarray:
    """Keep patterns, bool [len(depths), num_layers], one row per entry of `depths`.

    Args:
        num_layers: L of the supernet.
        depths: the allowed depths (any order).
        rule: one of `DEPTH_RULES`; "nested" applies the equidistant rule to the layers kept by
            the next larger allowed depth (the largest taken from all L layers).
    """
    if rule not in DEPTH_RULES:
        raise ValueError(f"depth rule must be one of {DEPTH_RULES}, got {rule!r}")
    for d in depths:
        _check_depth(num_layers, d)
    if rule == "lighthubert":
        return np.stack([lighthubert_layers(num_layers, d) for d in depths])
    if rule == "equidistant":
        return np.stack([equidistant_layers(num_layers, d) for d in depths])
    if rule == "prefix":
        return np.stack([np.arange(num_layers) < d for d in depths])
    rows, parent = {}, np.arange(num_layers)
    for d in sorted(set(depths), reverse=True):
        parent = parent[equidistant_layers(len(parent), d)]
        rows[d] = np.isin(np.arange(num_layers), parent)
    return np.stack([rows[d] for d in depths])


def _check_depth(num_layers: int, depth: int) -> None:
    if not 1 <= depth <= num_layers:
        raise ValueError(f"depth must be in [1, {num_layers}], got {depth}")


def _choice(key: jax.Array, choices: Sequence, shape: tuple = (), dtype=jnp.int32) -> jax.Array:
    return jax.random.choice(key, jnp.asarray(choices, dtype), shape)


@dataclasses.dataclass(frozen=True)
class TransformerSpace:
    """LightHuBERT's search space: global embedding width, per-layer heads and FFN ratio, depth.

    Attributes:
        embed_choices: allowed E; the supernet's D is the largest.
        head_choices: allowed heads per layer; the supernet has the largest.
        ffn_ratio_choices: allowed r; F_l = int(r_l E); the supernet's FFN width is ceil(max r) D.
        depth_choices: allowed depths.
        num_layers: L of the supernet (>= every depth choice).
        depth_rule: one of `DEPTH_RULES` (default LightHuBERT's table).
        per_layer: heads and ratios drawn per layer (LightHuBERT) rather than once for all layers.
    """
    embed_choices: tuple[int, ...]
    head_choices: tuple[int, ...]
    ffn_ratio_choices: tuple[float, ...]
    depth_choices: tuple[int, ...]
    num_layers: int
    depth_rule: str = "lighthubert"
    per_layer: bool = True

    def __post_init__(self):
        for name in ("embed_choices", "head_choices", "ffn_ratio_choices", "depth_choices"):
            values = getattr(self, name)
            if not values or min(values) <= 0:
                raise ValueError(f"TransformerSpace.{name} must be non-empty and positive, got "
                                 f"{values}")
        self.depth_patterns()  # validates depth_rule and depth_choices

    @property
    def embed_max(self) -> int:
        return max(self.embed_choices)

    @property
    def heads_max(self) -> int:
        return max(self.head_choices)

    @property
    def ffn_max(self) -> int:
        return math.ceil(max(self.ffn_ratio_choices)) * self.embed_max

    def depth_patterns(self) -> np.ndarray:
        """bool [len(depth_choices), num_layers]."""
        return depth_table(self.num_layers, self.depth_choices, self.depth_rule)

    def supernet(self, *, head_dim: int, out_features: int, max_len: int,
                 pre_norm: bool = False) -> ElasticTransformer:
        """The max-size `ElasticTransformer` of this space (chunked FFN slicing)."""
        return ElasticTransformer(
            embed_dim=self.embed_max, num_heads=(self.heads_max,) * self.num_layers,
            ffn_hidden=(self.ffn_max,) * self.num_layers, head_dim=head_dim,
            out_features=out_features, max_len=max_len, pre_norm=pre_norm)

    def _arch(self, embed, heads, ratios, depth_index) -> TransformerArch:
        ffn = jnp.floor(jnp.asarray(ratios, jnp.float32) * embed).astype(jnp.int32)
        layers = jnp.asarray(self.depth_patterns())[depth_index]
        return TransformerArch(jnp.asarray(embed, jnp.int32), jnp.asarray(heads, jnp.int32),
                               ffn, layers)

    def largest(self) -> TransformerArch:
        L = self.num_layers
        return self._arch(self.embed_max, jnp.full((L,), self.heads_max),
                          jnp.full((L,), max(self.ffn_ratio_choices)),
                          int(np.argmax(self.depth_choices)))

    def smallest(self) -> TransformerArch:
        L = self.num_layers
        return self._arch(min(self.embed_choices), jnp.full((L,), min(self.head_choices)),
                          jnp.full((L,), min(self.ffn_ratio_choices)),
                          int(np.argmin(self.depth_choices)))

    def sample(self, key: jax.Array) -> TransformerArch:
        """Uniform over each choice independently (LightHuBERT's `sample_subnet`)."""
        k_embed, k_heads, k_ratio, k_depth = jax.random.split(key, 4)
        shape = (self.num_layers,) if self.per_layer else ()
        heads = jnp.broadcast_to(_choice(k_heads, self.head_choices, shape), (self.num_layers,))
        ratios = jnp.broadcast_to(_choice(k_ratio, self.ffn_ratio_choices, shape, jnp.float32),
                                  (self.num_layers,))
        depth_index = jax.random.randint(k_depth, (), 0, len(self.depth_choices))
        return self._arch(_choice(k_embed, self.embed_choices), heads, ratios, depth_index)


@dataclasses.dataclass(frozen=True)
class WidthDepthSpace:
    """MLP/GNN space: a width per hidden layer, a prefix depth and an activation.

    Attributes:
        width_choices: allowed hidden widths; the supernet has the largest in every layer.
        depth_choices: allowed numbers of hidden layers (prefix depth).
        activations: activation names (see `jaxnets.nn.elastic.ACTIVATIONS`), drawn uniformly.
        per_layer_width: draw each layer's width independently (else one width for all layers).
    """
    width_choices: tuple[int, ...]
    depth_choices: tuple[int, ...]
    activations: tuple[str, ...] = ("relu",)
    per_layer_width: bool = True

    def __post_init__(self):
        if not self.width_choices or min(self.width_choices) < 1:
            raise ValueError(f"WidthDepthSpace.width_choices must be positive, got "
                             f"{self.width_choices}")
        if not self.depth_choices or min(self.depth_choices) < 1:
            raise ValueError(f"WidthDepthSpace.depth_choices must be >= 1, got "
                             f"{self.depth_choices}")
        if not self.activations:
            raise ValueError("WidthDepthSpace.activations must name at least one activation")

    @property
    def hidden(self) -> tuple[int, ...]:
        """The supernet's hidden widths."""
        return (max(self.width_choices),) * max(self.depth_choices)

    def mlp(self, out_features: int, *, init_per_arch: bool = False) -> ElasticMLP:
        return ElasticMLP(self.hidden, out_features, self.activations, init_per_arch)

    def gcn(self, out_features: int, *, init_per_arch: bool = False) -> ElasticGCN:
        return ElasticGCN(self.hidden, out_features, self.activations, init_per_arch)

    def largest(self) -> WidthDepthArch:
        L = max(self.depth_choices)
        return WidthDepthArch(jnp.full((L,), max(self.width_choices), jnp.int32),
                              jnp.asarray(L, jnp.int32), jnp.asarray(0, jnp.int32))

    def smallest(self) -> WidthDepthArch:
        L = max(self.depth_choices)
        return WidthDepthArch(jnp.full((L,), min(self.width_choices), jnp.int32),
                              jnp.asarray(min(self.depth_choices), jnp.int32),
                              jnp.asarray(0, jnp.int32))

    def sample(self, key: jax.Array) -> WidthDepthArch:
        k_width, k_depth, k_act = jax.random.split(key, 3)
        L = max(self.depth_choices)
        shape = (L,) if self.per_layer_width else ()
        widths = jnp.broadcast_to(_choice(k_width, self.width_choices, shape), (L,))
        return WidthDepthArch(widths, _choice(k_depth, self.depth_choices),
                              jax.random.randint(k_act, (), 0, len(self.activations)))
