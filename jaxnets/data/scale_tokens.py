"""Multi-scale token pyramids for next-scale autoregressive models on small images.

VAR (Tian et al., "Visual Autoregressive Modeling: Scalable Image Generation via Next-Scale
Prediction", NeurIPS 2024) and VARiant (Chen et al., "VARiant: Progressive Supernet Training for
Efficient Visual Autoregressive Modeling", 2025) generate an image as a sequence of token maps
r_1, ..., r_K of growing resolution s_1 < ... < s_K. Their tokens come from a multi-scale VQ-VAE;
at CPU scale we replace it by a fixed tokenizer (VARiant mini-reproduction in our research notes):
each map is the area-pooled image at resolution s_k, quantised to `levels` uniform levels,

    r_k[i, j] = q( mean of the (H/s_k) x (W/s_k) block (i, j) ),  q(v) = clip(floor(v L), 0, L-1),

so an 8x8 digit gives the pyramid 1x1, 2x2, 4x4, 8x8 = 85 tokens. `ScaleLayout` holds the static
bookkeeping of the flattened sequence (which scale each position belongs to, and the position of
its parent in the previous scale, used to upsample the previous map for teacher forcing).
"""
from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["ScaleLayout", "dequantize", "detokenize", "pool", "quantize", "tokenize"]


@dataclasses.dataclass(frozen=True)
class ScaleLayout:
    """The flattened token sequence of a pyramid of square maps (static, hashable).

    Attributes:
        scales: side lengths s_1 < ... < s_K; each divides the image side.
        image_size: the image side H = W (a multiple of every scale).
    """
    scales: tuple[int, ...] = (1, 2, 4, 8)
    image_size: int = 8

    def __post_init__(self):
        if not self.scales or list(self.scales) != sorted(set(self.scales)) or self.scales[0] < 1:
            raise ValueError(f"scales must be strictly increasing positive ints, got "
                             f"{self.scales}")
        bad = [s for s in self.scales if self.image_size % s]
        if bad:
            raise ValueError(f"every scale must divide image_size={self.image_size}; {bad} "
                             "do not")

    @property
    def num_scales(self) -> int:
        return len(self.scales)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Tokens per scale, s_k^2."""
        return tuple(s * s for s in self.scales)

    @property
    def offsets(self) -> tuple[int, ...]:
        """Index of the first token of each scale in the flattened sequence."""
        return tuple(int(o) for o in np.concatenate([[0], np.cumsum(self.sizes)[:-1]]))

    @property
    def length(self) -> int:
        """T = sum_k s_k^2."""
        return int(sum(self.sizes))

    def scale_of(self) -> np.ndarray:
        """int32 [T]: the scale index k of each position."""
        return np.repeat(np.arange(self.num_scales), self.sizes).astype(np.int32)

    def parent_of(self) -> np.ndarray:
        """int32 [T]: for a position (i, j) of scale k >= 1 (0-based), the flat index of token
        (floor(i s_{k-1}/s_k), floor(j s_{k-1}/s_k)) of scale k-1 — nearest-neighbour upsampling
        of the previous map; 0 for the positions of the first scale (they read the class token)."""
        parent = np.zeros(self.length, np.int32)
        for k in range(1, self.num_scales):
            s, prev = self.scales[k], self.scales[k - 1]
            i, j = np.divmod(np.arange(s * s), s)
            flat = (i * prev // s) * prev + (j * prev // s)
            parent[self.offsets[k]: self.offsets[k] + s * s] = self.offsets[k - 1] + flat
        return parent

    def block_causal_mask(self) -> np.ndarray:
        """bool [T, T]: `mask[t, u]` iff position t may attend to u, i.e. scale(u) <= scale(t)
        (VAR's block-wise causal attention)."""
        scale = self.scale_of()
        return scale.reshape(-1, 1) >= scale.reshape(1, -1)


def pool(images_NxP: np.ndarray, layout: ScaleLayout) -> list[np.ndarray]:
    """Area pooling of flattened square images to every scale.

    Args:
        images_NxP: [N, H*H] images (values in [0, 1]).
        layout: the pyramid.

    Returns:
        K arrays [N, s_k^2], row-major.
    """
    images = np.asarray(images_NxP, np.float32)
    h = layout.image_size
    if images.ndim != 2 or images.shape[1] != h * h:
        raise ValueError(f"images must be [N, {h * h}], got shape {images.shape}")
    square = images.reshape(-1, h, h)
    out = []
    for s in layout.scales:
        f = h // s
        out.append(square.reshape(-1, s, f, s, f).mean(axis=(2, 4)).reshape(-1, s * s))
    return out


def quantize(values: np.ndarray, levels: int) -> np.ndarray:
    """`clip(floor(v L), 0, L-1)` as int32 (uniform levels on [0, 1])."""
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    return np.clip(np.floor(np.asarray(values) * levels), 0, levels - 1).astype(np.int32)


def dequantize(tokens, levels: int):
    """The centre of each level, `(q + 0.5) / L` (works on numpy and jax arrays)."""
    return (tokens + 0.5) / levels


def tokenize(images_NxP: np.ndarray, layout: ScaleLayout, levels: int) -> np.ndarray:
    """int32 [N, T]: the quantised pyramid r_1, ..., r_K, flattened scale by scale."""
    return np.concatenate([quantize(m, levels) for m in pool(images_NxP, layout)], axis=1)


def detokenize(tokens_NxT, layout: ScaleLayout, levels: int) -> list:
    """The K dequantised maps [N, s_k^2] of a token sequence [N, T]; the last one is the image."""
    if tokens_NxT.shape[-1] != layout.length:
        raise ValueError(f"tokens must have {layout.length} positions on their last axis, got "
                         f"shape {tokens_NxT.shape}")
    return [dequantize(tokens_NxT[..., o: o + n], levels)
            for o, n in zip(layout.offsets, layout.sizes)]
