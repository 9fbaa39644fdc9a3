"""TAS search pieces: Transformable Architecture Search for pruning (Dong & Yang, NeurIPS 2019).

A network's width (channels per layer) and depth (blocks per stage) are searched, not fixed:
each layer l holds logits alpha_l over K width candidates C_1 < ... < C_K (int(C_max * rho),
rho in {0.3, ..., 1.0}); the stage holds logits beta over depth candidates {1, 3, ..., n}.
Following the official code (AutoDL-Projects, `models/shape_searchs/SoftSelect.py` and
`SearchCifarResNet.py`) and the paper's Eqs. 2-6:
  * Eq. 3-4, `gumbel_top2`: z = (log_softmax(alpha) + Gumbel) / tau; two distinct candidates are
    drawn from softmax(z) (multinomial without replacement, here Gumbel-top-2 on log p, equal in
    distribution); their mixing weights are the softmax of z restricted to the pair, so the loss
    differentiates into alpha through z.
  * Eq. 5, `interpolation_matrix`: channel-wise interpolation (adaptive average pooling along
    the channel axis) maps a prefix of C channels onto C' channels, so the two candidates' feature
    maps, each normalised with its own per-width-choice parameters, can be summed.
  * Eq. 6, `expected_flops`: the cost from the (noise-free) softmax probabilities,
    E[C_l] = sum_j softmax(alpha_l)_j C_j chained through the layers, each block weighted by
    P(depth >= block), the reverse cumulative sum of softmax(beta).
  * `flop_loss`: log E[F] when the argmax architecture is above the target, -log E[F] when it is
    more than the tolerance below it, 0 in between (`get_flop_loss` in `search_main.py`).
  * `genotype`: argmax width per layer, argmax depth (the last epoch's, not the best).

The searchable network is a residual MLP (a CPU-scale stand-in for the CIFAR ResNet): a stem
Linear, `num_blocks` residual blocks of two Linears (Linear-Norm-ReLU, Linear-Norm, add, ReLU),
a classifier head. All features are carried at the supernet width W, zero past their active
prefix, so every shape is static. Normalisation is LayerNorm over the active prefix with one
(scale, bias) per width choice (TAS keeps one BatchNorm per choice; LayerNorm needs no running
statistics). One deviation: TAS's pruned ResNet adds a 1x1 projection when a block's input and
output widths differ; here the identity shortcut is zero-padded or truncated to the block's
output width instead (no FLOPs), so sum(in * out) over the Linears is the exact cost of both the
expected and the discrete architecture. Layer order everywhere: 0 = stem, 1 + 2k / 2 + 2k = the
first / second Linear of block k.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.nn.elastic import masked_layer_norm, prefix_mask

__all__ = [
    "TASSpace", "arch_flops", "block_depth_weights", "depth_choices", "expected_flops",
    "fixed_forward", "flop_loss", "genotype", "gumbel_softmax", "gumbel_top2", "init_alpha",
    "init_weights", "interpolation_matrix", "interpolation_table", "search_forward", "tau_at",
    "width_choices",
]

RATIOS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # TAS's width ratios rho


def width_choices(width: int, ratios=RATIOS) -> tuple[int, ...]:
    """Sorted unique int(width * rho), e.g. 64 -> (19, 25, 32, 38, 44, 51, 57, 64)."""
    choices = sorted({int(width * r) for r in ratios if int(width * r) > 0})
    if not choices or choices[-1] != width:
        raise ValueError(f"ratios must include 1.0 so the full width {width} is a choice")
    return tuple(choices)


def depth_choices(num_blocks: int, step: int = 2) -> tuple[int, ...]:
    """TAS's depth candidates {1, 1 + step, ...} with `num_blocks` appended, e.g. 4 -> (1, 3, 4)."""
    choices = list(range(1, num_blocks + 1, step))
    return tuple(choices if choices[-1] == num_blocks else choices + [num_blocks])


@dataclasses.dataclass(frozen=True)
class TASSpace:
    """The searchable residual MLP: in -> stem W -> num_blocks x (W -> W -> W) -> classes."""

    in_features: int = 64
    num_classes: int = 10
    width: int = 64
    num_blocks: int = 4
    ratios: tuple[float, ...] = RATIOS
    depth_step: int = 2

    def __post_init__(self):
        if min(self.in_features, self.num_classes, self.width, self.num_blocks) < 1:
            raise ValueError(f"TASSpace sizes must be positive, got {self}")

    @property
    def choices(self) -> tuple[int, ...]:
        return width_choices(self.width, self.ratios)

    @property
    def depths(self) -> tuple[int, ...]:
        return depth_choices(self.num_blocks, self.depth_step)

    @property
    def num_layers(self) -> int:
        return 1 + 2 * self.num_blocks

    def full_widths(self) -> jax.Array:
        return jnp.full((self.num_layers,), self.width, jnp.int32)

    def dense_flops(self) -> float:
        w, n = self.width, self.num_blocks
        return float(self.in_features * w + 2 * n * w * w + w * self.num_classes)


def interpolation_matrix(c_in: int, c_out: int, size: int) -> np.ndarray:
    """[size, size] matrix M with `x @ M` = channel-wise interpolation of x's first `c_in`
    channels to `c_out` channels (TAS Eq. 5, `ChannelWiseInter`: adaptive average pooling along
    channels); output o averages inputs floor(o c_in / c_out) .. ceil((o+1) c_in / c_out) - 1."""
    if not (0 < c_in <= size and 0 < c_out <= size):
        raise ValueError(f"widths must be in [1, {size}], got c_in={c_in}, c_out={c_out}")
    m = np.zeros((size, size), np.float32)
    for o in range(c_out):
        start, end = (o * c_in) // c_out, -((-(o + 1) * c_in) // c_out)
        m[start:end, o] = 1.0 / (end - start)
    return m


def interpolation_table(choices, size: int) -> jax.Array:
    """[K, K, size, size]: entry [j, m] interpolates width choices[j] to choices[m]."""
    return jnp.asarray(np.stack([np.stack([interpolation_matrix(a, b, size) for b in choices])
                                 for a in choices]))


def tau_at(step: jax.Array, total: int, tau_max: float = 5.0, tau_min: float = 0.1) -> jax.Array:
    """Cosine-annealed Gumbel temperature tau_min + (tau_max - tau_min)(1 + cos(pi t/T)) / 2."""
    frac = jnp.asarray(step, jnp.float32) / max(total, 1)
    return tau_min + (tau_max - tau_min) * (1.0 + jnp.cos(jnp.pi * frac)) / 2.0


def gumbel_softmax(key: jax.Array, logits_K: jax.Array, tau: jax.Array) -> jax.Array:
    """softmax((log_softmax(logits) + Gumbel) / tau), [K] (TAS's depth sampling, no top-2)."""
    noise = jax.random.gumbel(key, logits_K.shape, logits_K.dtype)
    return jax.nn.softmax((jax.nn.log_softmax(logits_K) + noise) / tau)


def gumbel_top2(key: jax.Array, logits_K: jax.Array, tau: jax.Array,
                eps: float = 1e-7) -> tuple[jax.Array, jax.Array]:
    """Two distinct width candidates and their mixing weights (TAS Eqs. 3-4, `select2withP`).

    Args:
      key: PRNG key.
      logits_K: [K] architecture logits alpha of one layer.
      tau: Gumbel temperature.
      eps: added to the probabilities before the draw (as the official code).

    Returns:
      (index_2 int32 [2], weights_2 [2]): the drawn candidates and softmax(z[index]), which sums
      to one and carries the gradient to alpha.
    """
    k_gumbel, k_draw = jax.random.split(key)
    z = (jax.nn.log_softmax(logits_K) + jax.random.gumbel(k_gumbel, logits_K.shape)) / tau
    log_p = jnp.log(jax.nn.softmax(jax.lax.stop_gradient(z)) + eps)
    _, index = jax.lax.top_k(log_p + jax.random.gumbel(k_draw, logits_K.shape), 2)
    return index.astype(jnp.int32), jax.nn.softmax(z[index])


def block_depth_weights(depth_probs_D: jax.Array, depths, num_blocks: int) -> jax.Array:
    """[num_blocks] P(depth >= k + 1): block k's FLOP weight (reverse cumsum of the depth
    probabilities over the candidates whose depth reaches the block)."""
    reach = np.arange(1, num_blocks + 1)[:, None] <= np.asarray(depths)[None, :]
    return jnp.asarray(reach, depth_probs_D.dtype) @ depth_probs_D


def expected_flops(space: TASSpace, width_logits_LxK: jax.Array,
                   depth_logits_D: jax.Array) -> jax.Array:
    """E[FLOPs] = sum over Linears of E[C_in] E[C_out] (TAS Eq. 6), blocks weighted by
    P(depth >= block); the head reads the depth-weighted expected width of the stage output."""
    widths = jnp.asarray(space.choices, jnp.float32)
    e = jax.nn.softmax(width_logits_LxK, axis=-1) @ widths  # [L]
    e_a, e_b = e[1::2], e[2::2]
    e_in = jnp.concatenate([e[:1], e_b[:-1]])
    q = jax.nn.softmax(depth_logits_D)
    blocks = block_depth_weights(q, space.depths, space.num_blocks) @ (e_in * e_a + e_a * e_b)
    head_in = q @ e_b[np.asarray(space.depths) - 1]
    return space.in_features * e[0] + blocks + head_in * space.num_classes


def arch_flops(space: TASSpace, widths_L: jax.Array, depth: jax.Array) -> jax.Array:
    """Exact sum(in * out) of a discrete architecture (widths [L] ints, depth int; traceable)."""
    w = jnp.asarray(widths_L).astype(jnp.float32)
    w_a, w_b = w[1::2], w[2::2]
    w_in = jnp.concatenate([w[:1], w_b[:-1]])
    active = (jnp.arange(space.num_blocks) < depth).astype(jnp.float32)
    head_in = w_b[jnp.asarray(depth) - 1]
    return space.in_features * w[0] + active @ (w_in * w_a + w_a * w_b) + head_in * space.num_classes


def flop_loss(expected: jax.Array, flop_arg: jax.Array, target: float,
              tolerance: float) -> jax.Array:
    """`get_flop_loss`: +log E[F] if F_arg > F*, -log E[F] if F_arg < F* - tol, else 0; F_arg
    (the argmax architecture's cost, a constant) only picks the sign. Any common unit works."""
    flop_arg = jax.lax.stop_gradient(flop_arg)
    log_e = jnp.log(expected)
    return jnp.where(flop_arg > target, log_e,
                     jnp.where(flop_arg < target - tolerance, -log_e, 0.0))


def genotype(space: TASSpace, width_logits_LxK: jax.Array,
             depth_logits_D: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The argmax architecture: (widths [L] int32, depth int32)."""
    widths = jnp.asarray(space.choices, jnp.int32)[jnp.argmax(width_logits_LxK, axis=-1)]
    return widths, jnp.asarray(space.depths, jnp.int32)[jnp.argmax(depth_logits_D)]


def init_alpha(space: TASSpace, key: jax.Array, std: float = 0.01) -> dict:
    """Architecture logits {"width": [L, K], "depth": [D]} ~ N(0, std^2)."""
    kw, kd = jax.random.split(key)
    return {"width": std * jax.random.normal(kw, (space.num_layers, len(space.choices))),
            "depth": std * jax.random.normal(kd, (len(space.depths),))}


def init_weights(space: TASSpace, key: jax.Array, norms: int = 1) -> dict:
    """Max-size weights (PyTorch's default Linear init) and `norms` LayerNorms per layer (K for
    the search network, one per width choice; 1 for a fixed network)."""
    w, n, f, c = space.width, space.num_blocks, space.in_features, space.num_classes
    ks = jax.random.split(key, 6)

    def u(k, shape, fan_in):
        return jax.random.uniform(k, shape, jnp.float32, -1.0, 1.0) / math.sqrt(fan_in)

    return {"stem": {"kernel": u(ks[0], (f, w), f), "bias": u(ks[1], (w,), f)},
            "blocks": {"kernel": u(ks[2], (n, 2, w, w), w), "bias": u(ks[3], (n, 2, w), w)},
            "head": {"kernel": u(ks[4], (w, c), w), "bias": u(ks[5], (c,), w)},
            "norm": {"scale": jnp.ones((space.num_layers, norms, w)),
                     "bias": jnp.zeros((space.num_layers, norms, w))}}


def _split_norm(weights: dict) -> tuple[tuple, tuple]:
    s, b = weights["norm"]["scale"], weights["norm"]["bias"]
    n = weights["blocks"]["kernel"].shape[0]
    stem = (s[0], b[0])
    blocks = (s[1:].reshape((n, 2) + s.shape[1:]), b[1:].reshape((n, 2) + b.shape[1:]))
    return stem, blocks


def search_forward(space: TASSpace, weights: dict, alpha: dict, x_BxF: jax.Array,
                   key: jax.Array, tau: jax.Array, table: jax.Array) -> jax.Array:
    """The search network's logits [B, classes] with sampled widths and depth (TAS Sec. 3.2).

    Every Linear computes all W outputs; the two sampled prefixes get their own LayerNorm, are
    interpolated to the larger one (`table`, from `interpolation_table`) and mixed. The stage
    output mixes the depth candidates' block outputs by a Gumbel-softmax over beta.
    """
    c = jnp.asarray(space.choices, jnp.int32)
    keys = jax.random.split(key, space.num_layers + 1)
    index, mix = jax.vmap(gumbel_top2, (0, 0, None))(keys[:-1], alpha["width"], tau)  # [L, 2]
    (stem_s, stem_b), (blk_s, blk_b) = _split_norm(weights)

    def mixed(z, scale_KxW, bias_KxW, idx, w):
        m = jnp.maximum(idx[0], idx[1])
        h = [masked_layer_norm(z, prefix_mask(c[j], space.width), scale_KxW[j], bias_KxW[j])
             @ table[j, m] for j in (idx[0], idx[1])]
        return w[0] * h[0] + w[1] * h[1], m

    stem = weights["stem"]
    h, _ = mixed(x_BxF @ stem["kernel"] + stem["bias"][None], stem_s, stem_b, index[0], mix[0])
    h = jax.nn.relu(h)
    n = space.num_blocks
    blk_index, blk_mix = index[1:].reshape(n, 2, 2), mix[1:].reshape(n, 2, 2)

    def block(h, xs):
        kernel, bias, scale, nbias, idx, w = xs
        a, _ = mixed(h @ kernel[0] + bias[0][None], scale[0], nbias[0], idx[0], w[0])
        b, m = mixed(jax.nn.relu(a) @ kernel[1] + bias[1][None], scale[1], nbias[1], idx[1], w[1])
        out = jax.nn.relu(b + h * prefix_mask(c[m], space.width)[None])
        return out, (out, m)

    xs = (weights["blocks"]["kernel"], weights["blocks"]["bias"], blk_s, blk_b, blk_index,
          blk_mix)
    _, (outs, out_index) = jax.lax.scan(block, h, xs)  # [n, B, W], [n]
    q = gumbel_softmax(keys[-1], alpha["depth"], tau)
    sel = np.asarray(space.depths) - 1
    top = jnp.max(out_index[sel])
    h = jnp.einsum("d,dbw,dwv->bv", q, outs[sel], table[out_index[sel], top])
    return h @ weights["head"]["kernel"] + weights["head"]["bias"][None]


def fixed_forward(space: TASSpace, weights: dict, widths_L: jax.Array, depth: jax.Array,
                  x_BxF: jax.Array) -> jax.Array:
    """Logits [B, classes] of the discrete network with `widths_L` (any ints <= W) and `depth`
    blocks; equal to the physically sliced small network (norm index 0 of `weights`)."""
    (stem_s, stem_b), (blk_s, blk_b) = _split_norm(weights)
    widths_L = jnp.asarray(widths_L)

    def layer(h, kernel, bias, scale, nbias, width):
        return masked_layer_norm(h @ kernel + bias[None], prefix_mask(width, space.width), scale, nbias)

    stem = weights["stem"]
    h = jax.nn.relu(layer(x_BxF, stem["kernel"], stem["bias"], stem_s[0], stem_b[0], widths_L[0]))

    def block(h, xs):
        kernel, bias, scale, nbias, wid, k = xs
        a = jax.nn.relu(layer(h, kernel[0], bias[0], scale[0, 0], nbias[0, 0], wid[0]))
        b = layer(a, kernel[1], bias[1], scale[1, 0], nbias[1, 0], wid[1])
        out = jax.nn.relu(b + h * prefix_mask(wid[1], space.width)[None])
        return jnp.where(k < depth, out, h), None

    xs = (weights["blocks"]["kernel"], weights["blocks"]["bias"], blk_s, blk_b,
          widths_L[1:].reshape(space.num_blocks, 2), jnp.arange(space.num_blocks))
    h, _ = jax.lax.scan(block, h, xs)
    return h @ weights["head"]["kernel"] + weights["head"]["bias"][None]
