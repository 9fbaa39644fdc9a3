"""FedZip (Malekijoo, Fabbri, Kalantidis & Mottaghi, "FEDZIP: A Compression Framework for
Communication-Efficient Federated Learning", arXiv 2102.01593): compress each client's update
Delta w = w_local - w_global in three stages.

1. Top-z sparsification (the paper's Sec. 3.1), per weight layer (biases are not sparsified, as
   in the official `applying_prune`): keep the z fraction of entries of largest |Delta w|, zero
   the rest (official: prune rate 0.5 + 0.3, so z = 20 % kept).
2. Quantisation by clustering (Sec. 3.2), per layer (biases included): 1-D k-means with k = 3
   centroids initialised at linspace(min, max, k) and a fixed number of Lloyd iterations
   (official: 4); each entry is replaced by its centroid, so a layer becomes k float32
   centroids plus one symbol (cluster index) per entry.
3. Encoding (Sec. 3.3) of the symbols, lossless and host-side (numpy, below): each layer is
   written as a real bit string that `decode_layer` reads back, so the bit counts are measured,
   not estimated. Every scheme also stores the k centroids as 32-bit floats.
   * "huffman": a canonical Huffman code over the k symbols (header: 5-bit code length per
     symbol), then one codeword per entry. (The official `huffman_encoding` assigns lengths
     [2, 1, 1] to the clusters sorted by ascending count, which is not a prefix code; a real
     Huffman code gives the most frequent symbol 1 bit.)
   * "position": the dominant symbol implicit; for each other symbol a count and the positions
     of its entries as fixed-width addresses of ceil(log2 n) bits (official: a fixed 27 bits).
   * "run_length": as "position" but with the gaps between consecutive positions (the official
     "difference" table), written as Elias-gamma codes so the stream is self-delimiting (the
     official code counts floor(log2 gap) + 1 bits per gap and no length prefix, which cannot
     be decoded).

Stages 1-2 are pure, jittable and vmappable over clients; `compress` works on a whole update
pytree and returns the quantised update (what the server receives after decoding), the symbols
and the centroids (what is encoded).
"""
from __future__ import annotations

import heapq
import math
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any


def num_kept(size: int, z: float) -> int:
    """Entries kept by top-z of a layer of `size` entries: size - round(size (1 - z))
    (the official `prune`), at least 1."""
    if not 0.0 < z <= 1.0:
        raise ValueError(f"z (fraction kept) must be in (0, 1], got {z}")
    return max(1, size - int(round(size * (1.0 - z))))


def top_z_sparsify(x: jax.Array, z: float) -> jax.Array:
    """Keeps the `num_kept(x.size, z)` entries of largest magnitude (exactly that many; ties
    broken by position), zeros the rest. Same shape as x."""
    flat = x.reshape(-1)
    k = num_kept(flat.size, z)
    _, idx = jax.lax.top_k(jnp.abs(flat), k)
    kept = jnp.zeros_like(flat).at[idx].set(flat[idx])
    return kept.reshape(x.shape)


def kmeans_1d(x: jax.Array, num_clusters: int = 3, iters: int = 4) -> tuple[jax.Array, jax.Array]:
    """Lloyd's k-means on the entries of x (the paper's quantisation, Sec. 3.2).

    Centroids start at linspace(min(x), max(x), num_clusters); each iteration assigns every
    entry to its nearest centroid (ties to the lower index) and moves each centroid to the mean
    of its members; an empty cluster keeps its centroid.

    Returns:
      (symbols [x.size] int32 in [0, num_clusters), centroids [num_clusters] float32).
    """
    if num_clusters < 1 or iters < 0:
        raise ValueError(f"need num_clusters >= 1 and iters >= 0, got {num_clusters}, {iters}")
    flat = x.reshape(-1).astype(jnp.float32)
    centroids = jnp.linspace(flat.min(), flat.max(), num_clusters)

    def assign(c):
        return jnp.argmin(jnp.abs(flat[:, None] - c[None, :]), axis=1).astype(jnp.int32)

    def lloyd(_, c):
        symbols = assign(c)
        sums = jax.ops.segment_sum(flat, symbols, num_clusters)
        counts = jax.ops.segment_sum(jnp.ones_like(flat), symbols, num_clusters)
        return jnp.where(counts > 0, sums / jnp.maximum(counts, 1.0), c)

    centroids = jax.lax.fori_loop(0, iters, lloyd, centroids)
    return assign(centroids), centroids


class Compressed(NamedTuple):
    """A compressed update: `values` is the quantised update (a pytree like the input),
    `symbols` the flat int32 cluster index of each entry per leaf, `centroids` [k] per leaf."""

    values: PyTree
    symbols: PyTree
    centroids: PyTree


def is_sparsified(leaf: jax.Array) -> bool:
    """Which leaves top-z applies to: weight matrices/kernels (ndim >= 2), not biases."""
    return leaf.ndim >= 2


def compress(update: PyTree, z: float = 0.2, num_clusters: int = 3, iters: int = 4) -> Compressed:
    """FedZip stages 1-2 on an update pytree (jittable, vmappable over clients)."""

    def one(leaf):
        sparse = top_z_sparsify(leaf, z) if is_sparsified(leaf) else leaf
        symbols, centroids = kmeans_1d(sparse, num_clusters, iters)
        return centroids[symbols].reshape(leaf.shape).astype(leaf.dtype), symbols, centroids

    leaves, treedef = jax.tree.flatten(update)
    out = [one(leaf) for leaf in leaves]
    return Compressed(*(jax.tree.unflatten(treedef, [o[i] for o in out]) for i in range(3)))


def dense_bits(update: PyTree) -> int:
    """Bits of the uncompressed float32 update: 32 per parameter."""
    return 32 * sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(update))


# ---------------------------------------------------------------------------------------------
# Host-side lossless encoders (numpy). A bit string is a uint8 array of 0/1, most significant
# bit first; `to_bytes` packs it (the last byte zero-padded).

SCHEMES = ("huffman", "position", "run_length")
_LENGTH_BITS = 5  # Huffman header: one code length (< 32) per symbol


def _uint_bits(values: np.ndarray, width: int) -> np.ndarray:
    """Each value as `width` bits, MSB first, concatenated."""
    values = np.asarray(values, np.uint64).reshape(-1)
    if width == 0:
        return np.zeros(0, np.uint8)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    return ((values[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.uint8).reshape(-1)


def _varlen_bits(codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Codeword i = the low lengths[i] bits of codes[i], MSB first, concatenated."""
    codes = np.asarray(codes, np.int64)
    lengths = np.asarray(lengths, np.int64)
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(codes)), lengths)
    starts = np.cumsum(lengths) - lengths
    shift = lengths[owner] - 1 - (np.arange(total) - starts[owner])
    return ((codes[owner] >> shift) & 1).astype(np.uint8)


class _Reader:
    """Reads a bit string front to back."""

    def __init__(self, bits: np.ndarray):
        self.bits = np.asarray(bits, np.uint8)
        self.pos = 0

    def uint(self, width: int) -> int:
        if self.pos + width > len(self.bits):
            raise ValueError(f"bit string ends at {len(self.bits)}, needed {self.pos + width}")
        value = 0
        for bit in self.bits[self.pos:self.pos + width].tolist():
            value = (value << 1) | bit
        self.pos += width
        return value

    def float32(self) -> np.float32:
        return np.array([self.uint(32)], np.uint32).view(np.float32)[0]


def _address_bits(n: int) -> int:
    """Bits of a fixed-width position in [0, n): max(1, ceil(log2 n))."""
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


def _count_bits(n: int) -> int:
    """Bits of a count in [0, n]."""
    return max(1, math.ceil(math.log2(n + 1)))


def huffman_lengths(counts: Sequence[int]) -> np.ndarray:
    """Huffman code lengths for symbols with these counts (0 for unused symbols; a single used
    symbol gets length 1). Ties are broken by symbol index, so the result is deterministic."""
    counts = [int(c) for c in counts]
    lengths = np.zeros(len(counts), np.int64)
    heap = [(c, s, [s]) for s, c in enumerate(counts) if c > 0]
    if len(heap) == 1:
        lengths[heap[0][1]] = 1
        return lengths
    heapq.heapify(heap)
    while len(heap) > 1:
        c1, t1, s1 = heapq.heappop(heap)
        c2, t2, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            lengths[s] += 1
        heapq.heappush(heap, (c1 + c2, min(t1, t2), s1 + s2))
    return lengths


def canonical_codes(lengths: Sequence[int]) -> np.ndarray:
    """The canonical prefix code for these lengths: symbols sorted by (length, index) get
    consecutive codewords, shifted left when the length grows. 0-length symbols get no code."""
    lengths = np.asarray(lengths, np.int64)
    codes = np.zeros(len(lengths), np.int64)
    code, previous = 0, 0
    for s in sorted(np.flatnonzero(lengths).tolist(), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[s]) - previous
        codes[s], previous = code, int(lengths[s])
        code += 1
    return codes


def _huffman_decode(reader: _Reader, lengths: np.ndarray, n: int) -> np.ndarray:
    """Canonical decoding: extend the codeword bit by bit until it is a code of that length."""
    table = {(int(lengths[s]), int(c)): s
             for s, c in enumerate(canonical_codes(lengths)) if lengths[s] > 0}
    out = np.empty(n, np.int32)
    bits, pos = reader.bits.tolist(), reader.pos
    for i in range(n):
        code, length = 0, 0
        while True:
            if pos >= len(bits):
                raise ValueError("bit string ended inside a Huffman codeword")
            code, length, pos = (code << 1) | bits[pos], length + 1, pos + 1
            if (length, code) in table:
                out[i] = table[(length, code)]
                break
            if length > _LENGTH_BITS ** 2:
                raise ValueError("invalid Huffman codeword")
    reader.pos = pos
    return out


def _elias_gamma(values: np.ndarray) -> np.ndarray:
    """Elias-gamma codes of integers >= 1: floor(log2 v) zeros, then v in binary."""
    values = np.asarray(values, np.int64)
    if values.size and values.min() < 1:
        raise ValueError("Elias-gamma codes integers >= 1")
    lengths = 2 * np.floor(np.log2(np.maximum(values, 1))).astype(np.int64) + 1
    return _varlen_bits(values, lengths)


def _elias_gamma_decode(reader: _Reader, count: int) -> np.ndarray:
    out = np.empty(count, np.int64)
    for i in range(count):
        zeros = 0
        while reader.uint(1) == 0:
            zeros += 1
        out[i] = (1 << zeros) | reader.uint(zeros)
    return out


def _check_symbols(symbols: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, int]:
    symbols = np.asarray(symbols).reshape(-1)
    k = len(np.asarray(centroids).reshape(-1))
    if symbols.size == 0:
        raise ValueError("cannot encode an empty layer")
    if symbols.min() < 0 or symbols.max() >= k:
        raise ValueError(f"symbols must lie in [0, {k}) (one per centroid), got range "
                         f"[{symbols.min()}, {symbols.max()}]")
    if k >= 2 ** _LENGTH_BITS:
        raise ValueError(f"at most {2 ** _LENGTH_BITS - 1} clusters are supported, got {k}")
    return symbols.astype(np.int64), k


def encode_layer(symbols: np.ndarray, centroids: np.ndarray, scheme: str) -> np.ndarray:
    """One layer (flat symbols [n] in [0, k), centroids [k]) as a bit string (uint8 0/1).

    The layer size n and k are known to both sides (the model architecture and the config)
    and are not written.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    symbols, k = _check_symbols(symbols, centroids)
    n = symbols.size
    parts = [_uint_bits(np.asarray(centroids, np.float32).reshape(-1).view(np.uint32), 32)]
    counts = np.bincount(symbols, minlength=k)
    if scheme == "huffman":
        lengths = huffman_lengths(counts)
        parts += [_uint_bits(lengths, _LENGTH_BITS),
                  _varlen_bits(canonical_codes(lengths)[symbols], lengths[symbols])]
    else:
        dominant = int(np.argmax(counts))
        parts.append(_uint_bits([dominant], _address_bits(k)))
        for s in range(k):
            if s == dominant:
                continue
            positions = np.flatnonzero(symbols == s)
            parts.append(_uint_bits([len(positions)], _count_bits(n)))
            if scheme == "position":
                parts.append(_uint_bits(positions, _address_bits(n)))
            else:
                parts.append(_elias_gamma(np.diff(positions, prepend=-1)))
    return np.concatenate(parts)


def decode_layer(bits: np.ndarray, n: int, k: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `encode_layer`: (symbols [n] int32, centroids [k] float32). Raises ValueError
    if the string is too short or has bits left over."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    reader = _Reader(bits)
    centroids = np.array([reader.float32() for _ in range(k)], np.float32)
    if scheme == "huffman":
        lengths = np.array([reader.uint(_LENGTH_BITS) for _ in range(k)], np.int64)
        symbols = _huffman_decode(reader, lengths, n)
    else:
        dominant = reader.uint(_address_bits(k))
        symbols = np.full(n, dominant, np.int32)
        for s in range(k):
            if s == dominant:
                continue
            count = reader.uint(_count_bits(n))
            if scheme == "position":
                positions = np.array([reader.uint(_address_bits(n)) for _ in range(count)],
                                     np.int64)
            else:
                positions = np.cumsum(_elias_gamma_decode(reader, count)) - 1
            if count and (positions.min() < 0 or positions.max() >= n):
                raise ValueError(f"decoded position out of range [0, {n})")
            symbols[positions] = s
    if reader.pos != len(reader.bits):
        raise ValueError(f"{len(reader.bits) - reader.pos} bits left over after decoding")
    return symbols, centroids


def to_bytes(bits: np.ndarray) -> bytes:
    """The bit string packed into ceil(len(bits) / 8) bytes (last byte zero-padded)."""
    return np.packbits(np.asarray(bits, np.uint8)).tobytes()


def encode_update(symbols: PyTree, centroids: PyTree, scheme: str) -> list[np.ndarray]:
    """`encode_layer` on every leaf of one client's compressed update (host arrays)."""
    return [encode_layer(np.asarray(s), np.asarray(c), scheme)
            for s, c in zip(jax.tree.leaves(symbols), jax.tree.leaves(centroids))]


def decode_update(streams: Sequence[np.ndarray], template: PyTree, k: int, scheme: str) -> PyTree:
    """Inverse of `encode_update`: the quantised update, shaped like `template`."""
    leaves, treedef = jax.tree.flatten(template)
    if len(streams) != len(leaves):
        raise ValueError(f"{len(streams)} streams for {len(leaves)} leaves")
    out = []
    for bits, leaf in zip(streams, leaves):
        symbols, cents = decode_layer(bits, math.prod(leaf.shape), k, scheme)
        out.append(cents[symbols].reshape(leaf.shape))
    return jax.tree.unflatten(treedef, out)
