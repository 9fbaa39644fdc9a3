"""4-bit blockwise weight quantisation: NF4, FP4 and INT4 codebooks, double quantisation.

QLoRA (Dettmers, Pagnoni, Holtzman & Zettlemoyer, "QLoRA: Efficient Finetuning of Quantized
LLMs", NeurIPS 2023), Sec. 3, as used by TSLAM-Mini:

* **Blockwise absmax quantisation** (Eq. 1-2): a weight tensor is flattened and cut into blocks
  of 64; each block b keeps one float32 constant c_b = max |w| over the block and each weight
  the index of the codebook value nearest to w / c_b. Two 4-bit indices are packed per byte.
  Dequantisation is w ≈ q[code] * c_b.
* **4-bit NormalFloat (NF4)**: the 16 codebook values are quantiles of N(0, 1), so that each
  code is equally likely for normally distributed weights; asymmetric (8 positive, 7 negative
  values plus an exact 0) and normalised to [-1, 1] (`nf4_codebook`).
* **Double quantisation** (Sec. 3, "Double Quantization"): the float32 constants c_b are
  themselves quantised, to 8-bit floats in blocks of 256 after subtracting their mean, leaving
  one float32 constant per 256 blocks: 4 + 8/64 + 32/(64 * 256) ≈ 4.127 bits per parameter
  instead of 4 + 32/64 = 4.5 (`bits_per_param`).

The comparison codebooks of the paper's Table 2 / Fig. 3: `fp4_codebook` (E2M1 floats: OCP
micro-scaling FP4, values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6} / 6) and `int4_codebook` (symmetric
absmax integers k / 7, k = -7..7). The 8-bit float of the second quantisation is E4M3
(`fp8_e4m3_codebook`: the paper says "8-bit Floats"; bitsandbytes' kernel uses its own
"dynamic" 8-bit map, which has the same storage cost).

Everything is pure jax.numpy and jit-able: `QuantizedTensor` is a pytree whose static fields
(shape, block sizes) live in the treedef. `quantize_params` / `dequantize_params` apply the
scheme to the leaves of a Flax param tree that a `jaxnets.nn.lora.Target` selects.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import norm

from jaxnets.nn.lora import Target, leaf_path

__all__ = ["NF4_PUBLISHED", "QuantizedTensor", "bits_per_param", "dequantize",
           "dequantize_params", "fp4_codebook", "fp8_e4m3_codebook", "int4_codebook",
           "nearest_code", "nf4_codebook", "pack_nibbles", "quantize", "quantize_params",
           "storage_bits", "unpack_nibbles"]

# The 16 NF4 values as published with bitsandbytes / QLoRA (Appendix E), used only to check
# `nf4_codebook`'s construction.
NF4_PUBLISHED = (-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                 -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                 0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                 0.7229568362236023, 1.0)


def nf4_codebook() -> np.ndarray:
    """The 16 NF4 values, sorted, float32 (QLoRA Sec. 3, "4-bit NormalFloat Quantization").

    q_i are N(0, 1) quantiles Q at evenly spaced probabilities: 9 points from 1 - δ down to 1/2
    give 8 positive values (1/2 itself is the shared 0), 8 points give 7 negative ones, with
    δ = (1/30 + 1/32) / 2 the mean of the half-steps of 15 and 16 levels, so that the extreme
    quantile is finite; the union with 0 is divided by its largest magnitude.
    """
    offset = 1.0 - 0.5 * (1.0 / 30.0 + 1.0 / 32.0)            # 0.9677083
    positive = norm.ppf(np.linspace(offset, 0.5, 9)[:-1])       # 8 values
    negative = -norm.ppf(np.linspace(offset, 0.5, 8)[:-1])      # 7 values
    values = np.sort(np.concatenate([positive, [0.0], negative]))
    return (values / np.abs(values).max()).astype(np.float32)


def fp4_codebook() -> np.ndarray:
    """E2M1 4-bit floats normalised to [-1, 1]: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6} / 6, sorted.

    1 sign, 2 exponent (bias 1) and 1 mantissa bit; exponent 0 is subnormal (0 and 0.5). The
    bit patterns ±0 hold the same value, so the table has 15 distinct values (as INT4's); one
    code stays unused, and every value has exactly one code (quantisation is idempotent).
    """
    magnitudes = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]) / 6.0
    return np.unique(np.concatenate([-magnitudes, magnitudes])).astype(np.float32)


def int4_codebook() -> np.ndarray:
    """Symmetric absmax 4-bit integers, k / 7 for k = -7..7 (15 values; code 15 unused)."""
    return (np.arange(-7, 8) / 7.0).astype(np.float32)


def fp8_e4m3_codebook() -> np.ndarray:
    """The distinct finite E4M3 8-bit float values normalised to [-1, 1], sorted (253 values).

    1 sign, 4 exponent (bias 7), 3 mantissa bits; largest finite value 448 (S.1111.111 is NaN).
    """
    mantissa = np.arange(8) / 8.0
    subnormal = mantissa * 2.0 ** -6
    normal = ((1.0 + mantissa)[None, :] * 2.0 ** (np.arange(1, 16) - 7)[:, None]).ravel()[:-1]
    magnitudes = np.unique(np.concatenate([subnormal, normal])) / 448.0
    return np.unique(np.concatenate([-magnitudes, magnitudes])).astype(np.float32)


def _check_codebook(codebook: np.ndarray, max_codes: int) -> np.ndarray:
    codebook = np.asarray(codebook, np.float32)
    if codebook.ndim != 1 or not 2 <= codebook.size <= max_codes:
        raise ValueError(f"codebook must be 1-D with 2..{max_codes} values, got shape "
                         f"{codebook.shape}")
    if np.any(np.diff(codebook) < 0) or np.abs(codebook).max() != 1.0:
        raise ValueError("codebook must be sorted and normalised so that max |q| = 1")
    return codebook


def nearest_code(x: jax.Array, codebook: jax.Array) -> jax.Array:
    """Index of the (sorted) codebook value nearest to each x (ties go to the lower index), int32.

    A sorted codebook's decision boundaries are the midpoints of neighbours, so the nearest
    value is a binary search instead of a [.., K] distance table.
    """
    codebook = jnp.asarray(codebook, jnp.float32)
    midpoints = (codebook[1:] + codebook[:-1]) / 2
    return jnp.searchsorted(midpoints, x, side="left").astype(jnp.int32)


def pack_nibbles(codes: jax.Array) -> jax.Array:
    """[2n] ints in 0..15 -> [n] uint8, element 2i in the high nibble, 2i+1 in the low one."""
    if codes.ndim != 1 or codes.shape[0] % 2:
        raise ValueError(f"pack_nibbles needs a 1-D array of even length, got {codes.shape}")
    pairs = codes.astype(jnp.uint8).reshape(-1, 2)
    return (pairs[:, 0] << 4) | pairs[:, 1]


def unpack_nibbles(packed: jax.Array) -> jax.Array:
    """The inverse of `pack_nibbles`: [n] uint8 -> [2n] uint8 codes."""
    return jnp.stack([packed >> 4, packed & 0x0F], axis=-1).reshape(-1)


@flax.struct.dataclass
class QuantizedTensor:
    """A blockwise 4-bit tensor (QLoRA's storage format).

    Array fields (pytree children):
      packed: [ceil(size / block) * block / 2] uint8, two codes per byte (zero padding at the end).
      absmax: [num_blocks] float32 c_b, or, with double quantisation, [num_blocks] uint8 codes of
        (c_b - mean) / c2 in the 8-bit codebook.
      absmax_scale: [num_blocks2] float32 c2 per block of `dq_block_size` constants ([0] without
        double quantisation).
      absmax_mean: [] float32, the mean subtracted before the second quantisation.
      codebook: [16] float32, the 4-bit values.
    Static fields: shape, block_size, dq_block_size (0 = no double quantisation).
    """
    packed: jax.Array
    absmax: jax.Array
    absmax_scale: jax.Array
    absmax_mean: jax.Array
    codebook: jax.Array
    shape: tuple[int, ...] = flax.struct.field(pytree_node=False)
    block_size: int = flax.struct.field(pytree_node=False, default=64)
    dq_block_size: int = flax.struct.field(pytree_node=False, default=0)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _blocks(x: jax.Array, block_size: int) -> jax.Array:
    """Flattened x, zero-padded to a multiple of block_size, as [num_blocks, block_size]."""
    flat = x.reshape(-1)
    pad = -flat.shape[0] % block_size
    return jnp.pad(flat, (0, pad)).reshape(-1, block_size)


def _absmax_quantize(blocks: jax.Array, codebook: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(codes [nb, B] int32, c [nb] float32) with codes = nearest(w / c_b) (QLoRA Eq. 1)."""
    c = jnp.abs(blocks).max(axis=1)
    safe = jnp.where(c > 0, c, 1.0)           # an all-zero block: every code is the zero code
    return nearest_code(blocks / safe[:, None], codebook), c


def quantize(w: jax.Array, codebook: np.ndarray | None = None, block_size: int = 64,
             double_quant: bool = True, dq_block_size: int = 256) -> QuantizedTensor:
    """Blockwise absmax 4-bit quantisation of any float array, with optional double quantisation.

    Args:
      w: the weights, any shape (flattened in C order; the last block is zero-padded).
      codebook: 16 sorted values in [-1, 1] with max |q| = 1; NF4 if None.
      block_size: weights per absmax constant (QLoRA: 64); must be even.
      double_quant: quantise the constants to 8-bit E4M3 after subtracting their mean.
      dq_block_size: constants per second-level float32 scale (QLoRA: 256).
    Returns:
      A `QuantizedTensor`.
    """
    codebook = _check_codebook(nf4_codebook() if codebook is None else codebook, 16)
    if block_size < 2 or block_size % 2:
        raise ValueError(f"block_size must be even and >= 2, got {block_size}")
    if dq_block_size < 1:
        raise ValueError(f"dq_block_size must be >= 1, got {dq_block_size}")
    if not jnp.issubdtype(jnp.asarray(w).dtype, jnp.floating):
        raise ValueError(f"quantize expects a float array, got dtype {jnp.asarray(w).dtype}")
    return _quantize_core(jnp.asarray(w, jnp.float32), jnp.asarray(codebook), block_size,
                          dq_block_size if double_quant else 0)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _quantize_core(w: jax.Array, codebook: jax.Array, block_size: int, dq_block_size: int
                   ) -> QuantizedTensor:
    """`quantize` after its checks, as one compiled program per shape (dq_block_size 0: no DQ)."""
    codes, c = _absmax_quantize(_blocks(w, block_size), codebook)
    packed = pack_nibbles(codes.reshape(-1))
    if not dq_block_size:
        return QuantizedTensor(packed, c, jnp.zeros((0,), jnp.float32), jnp.zeros((), jnp.float32),
                               codebook, tuple(w.shape), block_size, 0)
    mean = jnp.mean(c)
    c_codes, c2 = _absmax_quantize(_blocks(c - mean, dq_block_size),
                                   jnp.asarray(fp8_e4m3_codebook()))
    c_codes = c_codes.reshape(-1)[:c.shape[0]].astype(jnp.uint8)
    return QuantizedTensor(packed, c_codes, c2, mean, codebook, tuple(w.shape), block_size,
                           dq_block_size)


def _absmax(q: QuantizedTensor) -> jax.Array:
    """The first-level constants c_b [num_blocks] (dequantised if doubly quantised)."""
    if not q.dq_block_size:
        return q.absmax
    levels = jnp.asarray(fp8_e4m3_codebook())[q.absmax.astype(jnp.int32)]
    scale = jnp.repeat(q.absmax_scale, q.dq_block_size)[:q.absmax.shape[0]]
    return levels * scale + q.absmax_mean


@functools.partial(jax.jit, static_argnums=1)
def dequantize(q: QuantizedTensor, dtype: Any = jnp.float32) -> jax.Array:
    """w ≈ q[code] * c_b in `dtype` (QLoRA dequantises in the compute dtype); shape q.shape."""
    codes = unpack_nibbles(q.packed).astype(jnp.int32).reshape(-1, q.block_size)
    w = q.codebook[codes] * _absmax(q)[:, None]
    return w.reshape(-1)[:q.size].reshape(q.shape).astype(dtype)


def bits_per_param(block_size: int = 64, double_quant: bool = True,
                   dq_block_size: int = 256, code_bits: int = 4) -> float:
    """Storage per weight: 4 + 32/64 = 4.5 bits, or 4 + 8/64 + 32/(64*256) ≈ 4.127 with DQ.

    Ignores the single float32 mean per tensor (32 / size bits), which `storage_bits` counts.
    """
    if not double_quant:
        return code_bits + 32.0 / block_size
    return code_bits + 8.0 / block_size + 32.0 / (block_size * dq_block_size)


def storage_bits(q: QuantizedTensor) -> int:
    """Bits actually held by q's arrays (codes, constants, scales, mean; not the shared codebook),
    for a tensor whose size is a multiple of the block sizes."""
    bits = q.packed.size * 8 + q.absmax.size * jnp.dtype(q.absmax.dtype).itemsize * 8
    if q.dq_block_size:
        bits += q.absmax_scale.size * 32 + 32
    return int(bits)


def quantize_params(params: Any, target: Target, **kwargs) -> Any:
    """Replaces every leaf that `target` selects by its `QuantizedTensor` (see `quantize`).

    Args:
      params: a Flax param tree.
      target: `(path, leaf) -> int | None` as in `jaxnets.nn.lora`; leaves with a non-None answer
        are quantised (QLoRA: the linear layers), the others are kept as they are.
      **kwargs: forwarded to `quantize` (codebook, block_size, double_quant, dq_block_size).
    Raises:
      ValueError: when `target` selects no leaf.
    """
    hits = []

    def one(path, leaf):
        if target(leaf_path(path), leaf) is None:
            return leaf
        hits.append(path)
        return quantize(leaf, **kwargs)

    out = jax.tree_util.tree_map_with_path(one, params)
    if not hits:
        raise ValueError("quantize_params: the target selected no parameter")
    return out


def dequantize_params(qparams: Any, dtype: Any = jnp.float32) -> Any:
    """The param tree with every `QuantizedTensor` dequantised to `dtype`; other leaves cast."""
    return jax.tree_util.tree_map(
        lambda x: dequantize(x, dtype) if isinstance(x, QuantizedTensor) else x.astype(dtype),
        qparams, is_leaf=lambda x: isinstance(x, QuantizedTensor))
