"""Low-rank adapters (LoRA) on any Flax parameter pytree, in weight space.

Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022, Eq. 3: a frozen
weight W gains a trainable low-rank update,

    h = x W + (alpha / r) x A B,      A [in, r] random,  B [r, out] = 0 at init,

so training starts from the base model exactly. QLoRA (Dettmers et al. 2023) keeps the same
update on top of a frozen 4-bit weight: W is then `dequantize(q)` (see `jaxnets.nn.quantize`).

Here the update is merged into the weight, `W' = W + (alpha / r) A B`, and the model's own
`apply` runs on the merged params. This works for every module (Dense, the 3-D kernels of
`MultiHeadDotProductAttention`, the gated FFN of `CharLM`) without touching its code, and the
gradient reaches only A and B when the base params are passed as a non-differentiated argument.
What the weight-space form cannot carry is LoRA's dropout on the adapter's input (it acts on
activations); it is left out.

Adapters are a flat dict keyed by the '/'-joined path of the adapted leaf, e.g.
``"params/block_0/attn/query/kernel"``, each holding ``{"a": [in, r], "b": [r, out]}`` where
`in` and `out` are the kernel's input and output axes flattened. A `Target` decides which leaves
are adapted and how many leading axes of each are input axes.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxnets._paths import path_name as leaf_path

__all__ = ["Target", "attention_and_dense_kernels", "count_params", "init_lora", "leaf_path",
           "merge_lora", "path_target"]

Params = Any
Adapters = dict[str, dict[str, jax.Array]]
# (path, leaf) -> number of leading input axes of the leaf, or None to leave it frozen.
Target = Callable[[str, jax.Array], "int | None"]


def _fan_in_axes(path: str, leaf: jax.Array) -> int:
    """Input axes of a kernel: MHA's output kernel is [heads, head_dim, D] (two input axes)."""
    if leaf.ndim == 3 and path.endswith("out/kernel"):
        return 2
    return 1


def path_target(*patterns: str) -> Target:
    """Targets the leaves of two or more axes whose path matches one of the regexes (re.search).

    Fan-in: one leading axis, except MHA's `out/kernel` [H, Dh, D] (two).
    """
    compiled = [re.compile(p) for p in patterns]

    def target(path: str, leaf: jax.Array) -> int | None:
        if leaf.ndim < 2 or not any(c.search(path) for c in compiled):
            return None
        return _fan_in_axes(path, leaf)

    return target


def attention_and_dense_kernels() -> Target:
    """QLoRA's choice (Dettmers et al. 2023, Sec. 4): every linear layer of the network.

    Matches Dense/DenseGeneral `kernel`s and `CharLM`'s FFN weights (`w_gate`, `w_up`, `w_down`);
    embeddings and position tables stay frozen.
    """
    return path_target(r"/kernel$", r"/w_(gate|up|down)$")


def _in_out(leaf: jax.Array, fan_in: int) -> tuple[int, int]:
    return math.prod(leaf.shape[:fan_in]), math.prod(leaf.shape[fan_in:])


def init_lora(key: jax.Array, params: Params, rank: int, target: Target) -> Adapters:
    """Adapters for every targeted leaf: A ~ U(-1/sqrt(in), 1/sqrt(in)) [in, r], B = 0 [r, out].

    A's scale is the Kaiming-uniform bound peft uses; B = 0 makes the adapted model equal the
    base model at initialisation (Hu et al. 2022, Sec. 4.1).

    Raises:
        ValueError: for rank < 1, or when `target` selects nothing.
    """
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    adapters: Adapters = {}
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    for index, (path, leaf) in enumerate(leaves):
        name = leaf_path(path)
        fan_in = target(name, leaf)
        if fan_in is None:
            continue
        d_in, d_out = _in_out(leaf, fan_in)
        bound = 1.0 / math.sqrt(d_in)
        a = jax.random.uniform(jax.random.fold_in(key, index), (d_in, rank), leaf.dtype,
                               -bound, bound)
        adapters[name] = {"a": a, "b": jnp.zeros((rank, d_out), leaf.dtype)}
    if not adapters:
        raise ValueError("the LoRA target matched no parameter; paths look like "
                         f"{[leaf_path(p) for p, _ in leaves[:3]]}")
    return adapters


def _split_point(shape: tuple[int, ...], d_in: int) -> int | None:
    """The k with prod(shape[:k]) == d_in (the kernel's input axes), or None."""
    for k in range(1, len(shape)):
        if math.prod(shape[:k]) == d_in:
            return k
    return None


def merge_lora(params: Params, adapters: Adapters, alpha: float) -> Params:
    """W' = W + (alpha / r) A B for every adapted leaf (LoRA Eq. 3 in weight space).

    Args:
        params: the frozen base params (e.g. dequantised NF4 weights for QLoRA).
        adapters: from `init_lora`; r is read from A's shape.
        alpha: the LoRA scale numerator (scale = alpha / r).
    Returns:
        Params of the base's structure, shapes and dtypes.
    Raises:
        ValueError: if an adapter's path is missing from `params` or its shape disagrees.
    """
    seen = set()

    def merge(path, leaf):
        name = leaf_path(path)
        if name not in adapters:
            return leaf
        seen.add(name)
        a, b = adapters[name]["a"], adapters[name]["b"]
        k = _split_point(leaf.shape, a.shape[0])
        if k is None or math.prod(leaf.shape[k:]) != b.shape[1] or a.shape[1] != b.shape[0]:
            raise ValueError(f"adapter {name!r} has A {a.shape}, B {b.shape}, which do not "
                             f"factor the weight {leaf.shape}")
        delta = ((alpha / a.shape[1]) * (a @ b)).reshape(leaf.shape)
        return leaf + delta.astype(leaf.dtype)

    merged = jax.tree_util.tree_map_with_path(merge, params)
    missing = sorted(set(adapters) - seen)
    if missing:
        raise ValueError(f"adapters for parameters the model does not have: {missing[:3]}")
    return merged


def count_params(tree: Any) -> int:
    """Number of scalars in a pytree (trainable-fraction accounting)."""
    return int(sum(math.prod(jnp.shape(x)) for x in jax.tree_util.tree_leaves(tree)))
