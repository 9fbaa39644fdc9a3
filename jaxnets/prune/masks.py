"""Binary masks over parameter pytrees: magnitude pruning, random controls, masked updates.

A mask is a pytree with the structure of the parameters whose leaves are float arrays of 0/1 of
the leaf's shape (float, so `params * mask` needs no cast). Leaves that are not *prunable* (by
default everything except linear kernels: biases, norms, embeddings named otherwise) get an
all-ones mask and are never touched.

Pruning follows the Lottery Ticket Hypothesis (Frankle & Carbin, ICLR 2019, Sec. 2 and
Appendix; open_lth `pruning/sparse_global.py`): each round removes the fraction `p` of the
*still surviving* prunable weights with the smallest magnitude, either with one threshold across
all layers (global, open_lth) or per layer with layer-specific rates (the paper's LeNet: 20 % per
hidden layer, 10 % for the output layer). Counts are exact: ties are broken by position, so a
round keeps exactly `alive - round(p * alive)` weights of each pruned group.

Masks must be applied to the *updates* as well as to the parameters: an optimizer with momentum
or weight decay would otherwise move pruned weights away from zero (`mask_updates`,
`masked_optimizer`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets._paths import path_name

__all__ = [
    "Rate", "apply_mask", "density", "layer_densities", "magnitude_prune", "mask_updates",
    "masked_optimizer", "ones_mask", "path_name", "random_mask_like", "default_prunable",
]

PyTree = Any
Path = tuple
# A pruning rate: one number for every prunable leaf, or a function of the leaf's path name.
Rate = float | Callable[[str], float]


def default_prunable(name: str, leaf: jax.Array) -> bool:
    """Linear and conv kernels (leaves named 'kernel' with >= 2 dims) are prunable."""
    return name.rsplit("/", 1)[-1] == "kernel" and jnp.ndim(leaf) >= 2


def ones_mask(params: PyTree) -> PyTree:
    """The dense mask: ones of every leaf's shape (float32)."""
    return jax.tree_util.tree_map(lambda p: jnp.ones(jnp.shape(p), jnp.float32), params)


def apply_mask(params: PyTree, mask: PyTree) -> PyTree:
    """params ⊙ mask, leaf by leaf (dtype of the params kept)."""
    return jax.tree_util.tree_map(lambda p, m: (p * m).astype(p.dtype), params, mask)


def mask_updates(updates: PyTree, mask: PyTree) -> PyTree:
    """Zero the updates of pruned weights, so they stay exactly zero through any optimizer."""
    return apply_mask(updates, mask)


def masked_optimizer(tx: optax.GradientTransformation,
                     mask: PyTree) -> optax.GradientTransformation:
    """`tx` followed by zeroing the updates where `mask` is 0 (a fixed mask, e.g. one LTH round).

    For a mask that changes during training (dynamic sparse training) keep the mask in the train
    state and call `mask_updates` in the step instead.
    """
    return optax.chain(tx, optax.stateless(lambda updates, params=None: mask_updates(updates,
                                                                                      mask)))


def _rate_of(rate: Rate, name: str) -> float:
    value = float(rate(name) if callable(rate) else rate)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"pruning rate for {name!r} must be in [0, 1], got {value}")
    return value


def _map_prunable(fn: Callable, mask: PyTree, params: PyTree | None,
                  prunable: Callable[[str, jax.Array], bool], *rest: PyTree) -> PyTree:
    """fn(name, mask_leaf, *rest_leaves) on the prunable leaves; the others pass unchanged.

    A leaf is prunable by `prunable(name, params_leaf)` (the mask leaf when params is None).
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(mask)
    ref = jax.tree_util.tree_leaves(params) if params is not None else [m for _, m in flat]
    if len(ref) != len(flat):
        raise ValueError("mask and params must have the same structure")
    rest_leaves = [treedef.flatten_up_to(r) for r in rest]
    out, any_prunable = [], False
    for i, ((path, m), r) in enumerate(zip(flat, ref)):
        name = path_name(path)
        if prunable(name, r):
            any_prunable = True
            out.append(fn(name, m, *(leaves[i] for leaves in rest_leaves)))
        else:
            out.append(m)
    if not any_prunable:
        raise ValueError("no prunable parameter (by default leaves named 'kernel' with ndim >= 2)")
    return jax.tree_util.tree_unflatten(treedef, out)


def _drop_lowest(scores: jax.Array, alive: jax.Array, count: jax.Array) -> jax.Array:
    """alive (bool) with its `count` lowest-scoring alive entries removed; ties by position."""
    flat = jnp.where(alive.ravel(), scores.ravel(), jnp.inf)
    order = jnp.argsort(flat, stable=True)
    rank = jnp.zeros(flat.shape, jnp.int32).at[order].set(jnp.arange(flat.size, dtype=jnp.int32))
    return (alive.ravel() & (rank >= count)).reshape(alive.shape)


def magnitude_prune(params: PyTree, mask: PyTree, rate: Rate, *, scope: str = "global",
                    prunable: Callable[[str, jax.Array], bool] = default_prunable,
                    scores: PyTree | None = None) -> PyTree:
    """One round of magnitude pruning: drop `rate` of the surviving prunable weights.

    LTH (Frankle & Carbin 2019), Sec. 2, step 3: "prune p% of the parameters in θ_j, creating a
    mask m". Jittable and vmappable (e.g. over seeds); counts are exact, `round(rate * alive)`.

    Args:
        params: the trained parameters θ_j.
        mask: the current mask (same structure); already-pruned weights stay pruned.
        rate: fraction p of the *surviving* weights to remove; with scope="layer" it may be a
            function of the leaf's path name (e.g. 0.1 for the output layer, 0.2 otherwise).
        scope: "global" (one threshold over all prunable leaves; `rate` must be a number) or
            "layer" (each prunable leaf pruned by its own rate).
        prunable: (path name, leaf) -> whether the leaf is pruned at all.
        scores: optional importance per weight (same structure); default |params|.

    Returns:
        The new mask (float32 0/1 leaves); non-prunable leaves keep their mask.
    """
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    if scope == "global" and callable(rate):
        raise ValueError("a per-layer rate function needs scope='layer'")
    scores = jax.tree_util.tree_map(jnp.abs, params) if scores is None else scores

    def check(name, m, w, s):
        if m.shape != w.shape or s.shape != w.shape:
            raise ValueError(f"mask/score leaf {name!r} has shape {m.shape}/{s.shape}, "
                             f"param {w.shape}")
        return m

    _map_prunable(check, mask, params, prunable, params, scores)
    if scope == "layer":
        def prune(name, m, s):
            alive = m > 0.5
            count = jnp.round(_rate_of(rate, name) * jnp.sum(alive, dtype=jnp.float32))
            return _drop_lowest(s, alive, count.astype(jnp.int32)).astype(jnp.float32)

        return _map_prunable(prune, mask, params, prunable, scores)
    # global: one ranking over the concatenation of all prunable leaves
    pieces: list[tuple[jax.Array, jax.Array]] = []
    _map_prunable(lambda name, m, s: pieces.append((m, s)) or m, mask, params, prunable, scores)
    alive = jnp.concatenate([m.ravel() > 0.5 for m, _ in pieces])
    count = jnp.round(_rate_of(rate, "global") * jnp.sum(alive, dtype=jnp.float32))
    kept = _drop_lowest(jnp.concatenate([s.ravel() for _, s in pieces]), alive,
                        count.astype(jnp.int32)).astype(jnp.float32)
    offset = 0

    def split(name, m):
        nonlocal offset
        out = kept[offset:offset + m.size].reshape(m.shape)
        offset += m.size
        return out

    return _map_prunable(split, mask, params, prunable)


def random_mask_like(key: jax.Array, mask: PyTree, params: PyTree | None = None,
                     prunable: Callable[[str, jax.Array], bool] = default_prunable) -> PyTree:
    """A uniformly random mask with as many survivors in each prunable leaf as `mask` has.

    LTH's random-pruning control ("randomly pruned networks with the same layer-wise
    sparsity", Sec. 2). Jittable. `params` (optional) only serves the `prunable` test.
    """
    sizes: list[int] = []
    _map_prunable(lambda name, m: sizes.append(m.size) or m, mask, params, prunable)
    u = jax.random.uniform(key, (sum(sizes),))   # one draw for all leaves
    offset = 0

    def draw(name, m):
        nonlocal offset
        scores = u[offset:offset + m.size].reshape(m.shape)
        offset += m.size
        pruned = m.size - jnp.sum(m > 0.5, dtype=jnp.int32)
        return _drop_lowest(scores, jnp.ones(m.shape, bool), pruned).astype(jnp.float32)

    return _map_prunable(draw, mask, params, prunable)


def layer_densities(mask: PyTree, params: PyTree | None = None,
                    prunable: Callable[[str, jax.Array], bool] = default_prunable
                    ) -> dict[str, float]:
    """{path name: fraction of ones} for every prunable leaf (host floats, for reports)."""
    flat = jax.tree_util.tree_flatten_with_path(mask)[0]
    ref = jax.tree_util.tree_leaves(params) if params is not None else [m for _, m in flat]
    return {path_name(path): float(np.asarray(m).mean()) for (path, m), r in zip(flat, ref)
            if prunable(path_name(path), r)}


def density(mask: PyTree, params: PyTree | None = None,
            prunable: Callable[[str, jax.Array], bool] = default_prunable) -> jax.Array:
    """Fraction of prunable weights that survive (a traceable scalar; `float()` it on host)."""
    kept: list[jax.Array] = []
    sizes: list[int] = []

    def count(name, m):
        kept.append(jnp.sum(m > 0.5, dtype=jnp.float32))
        sizes.append(m.size)
        return m

    _map_prunable(count, mask, params, prunable)
    return sum(kept) / sum(sizes)
