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

__all__ = [
    "Rate", "apply_mask", "density", "layer_densities", "magnitude_prune", "mask_updates",
    "masked_optimizer", "ones_mask", "path_name", "random_mask_like", "default_prunable",
]

PyTree = Any
Path = tuple
# A pruning rate: one number for every prunable leaf, or a function of the leaf's path name.
Rate = float | Callable[[str], float]


def path_name(path: Path) -> str:
    """'Dense_0/kernel' for a `tree_flatten_with_path` path (dict keys, attributes, indices)."""
    parts = []
    for entry in path:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts)


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


def _prunable_leaves(params: PyTree, prunable: Callable[[str, jax.Array], bool]):
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    names = [path_name(path) for path, _ in flat]
    selected = [prunable(name, leaf) for name, (_, leaf) in zip(names, flat)]
    if not any(selected):
        raise ValueError("no prunable parameter (by default leaves named 'kernel' with ndim >= 2)")
    return flat, treedef, names, selected


def _prune_lowest(scores: np.ndarray, alive: np.ndarray, count: int) -> np.ndarray:
    """alive with the `count` lowest-scoring alive entries set to 0 (ties by position)."""
    new = alive.copy()
    if count <= 0:
        return new
    idx = np.flatnonzero(alive)
    order = np.argsort(scores[idx], kind="stable")
    new[idx[order[:count]]] = False
    return new


def _rate_of(rate: Rate, name: str) -> float:
    value = float(rate(name) if callable(rate) else rate)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"pruning rate for {name!r} must be in [0, 1], got {value}")
    return value


def magnitude_prune(params: PyTree, mask: PyTree, rate: Rate, *, scope: str = "global",
                    prunable: Callable[[str, jax.Array], bool] = default_prunable,
                    scores: PyTree | None = None) -> PyTree:
    """One round of magnitude pruning: drop `rate` of the surviving prunable weights.

    LTH (Frankle & Carbin 2019), Sec. 2, step 3: "prune p% of the parameters in θ_j, creating a
    mask m". Runs on the host (between training rounds), not inside `jit`.

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
    flat, treedef, names, selected = _prunable_leaves(params, prunable)
    score_leaves = (jax.tree_util.tree_leaves(scores) if scores is not None
                    else [jnp.abs(leaf) for _, leaf in flat])
    mask_leaves = jax.tree_util.tree_leaves(mask)
    if len(mask_leaves) != len(flat) or len(score_leaves) != len(flat):
        raise ValueError("mask/scores must have the structure of params")
    alive = [np.asarray(m) > 0.5 for m in mask_leaves]
    score_np = [np.asarray(s, np.float64) for s in score_leaves]
    for name, (_, leaf), m in zip(names, flat, alive):
        if m.shape != np.shape(leaf):
            raise ValueError(f"mask leaf {name!r} has shape {m.shape}, param {np.shape(leaf)}")
    new_alive = list(alive)
    if scope == "global":
        idx = [i for i, s in enumerate(selected) if s]
        cat_scores = np.concatenate([score_np[i].ravel() for i in idx])
        cat_alive = np.concatenate([alive[i].ravel() for i in idx])
        count = int(round(_rate_of(rate, "global") * cat_alive.sum()))
        cat_new = _prune_lowest(cat_scores, cat_alive, count)
        offset = 0
        for i in idx:
            size = alive[i].size
            new_alive[i] = cat_new[offset:offset + size].reshape(alive[i].shape)
            offset += size
    else:
        for i, (name, sel) in enumerate(zip(names, selected)):
            if sel:
                count = int(round(_rate_of(rate, name) * alive[i].sum()))
                new_alive[i] = _prune_lowest(score_np[i].ravel(), alive[i].ravel(),
                                             count).reshape(alive[i].shape)
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a, jnp.float32) for a in new_alive])


def random_mask_like(key: jax.Array, mask: PyTree,
                     prunable: Callable[[str, jax.Array], bool] = default_prunable,
                     params: PyTree | None = None) -> PyTree:
    """A random mask with the same number of surviving weights in each prunable leaf.

    LTH's random-pruning control ("randomly pruned networks with the same layer-wise sparsity").
    `params` (optional) only serves the `prunable` test; by default the mask leaves are tested.
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(mask)
    ref = jax.tree_util.tree_leaves(params) if params is not None else [m for _, m in flat]
    keys = jax.random.split(key, len(flat))
    out = []
    for (path, m), r, k in zip(flat, ref, keys):
        if not prunable(path_name(path), r):
            out.append(m)
            continue
        keep = int(np.asarray(m).sum())
        order = jax.random.permutation(k, m.size)
        new = jnp.zeros(m.size, jnp.float32).at[order[:keep]].set(1.0)
        out.append(new.reshape(m.shape))
    return jax.tree_util.tree_unflatten(treedef, out)


def layer_densities(mask: PyTree, params: PyTree | None = None,
                    prunable: Callable[[str, jax.Array], bool] = default_prunable
                    ) -> dict[str, float]:
    """{path name: fraction of ones} for every prunable leaf (host floats, for reports)."""
    flat = jax.tree_util.tree_flatten_with_path(mask)[0]
    ref = jax.tree_util.tree_leaves(params) if params is not None else [m for _, m in flat]
    return {path_name(path): float(np.asarray(m).mean()) for (path, m), r in zip(flat, ref)
            if prunable(path_name(path), r)}


def density(mask: PyTree, params: PyTree | None = None,
            prunable: Callable[[str, jax.Array], bool] = default_prunable) -> float:
    """Fraction of prunable weights that survive (host float)."""
    flat = jax.tree_util.tree_flatten_with_path(mask)[0]
    ref = jax.tree_util.tree_leaves(params) if params is not None else [m for _, m in flat]
    kept = total = 0
    for (path, m), r in zip(flat, ref):
        if prunable(path_name(path), r):
            kept += float(np.asarray(m).sum())
            total += m.size
    if total == 0:
        raise ValueError("no prunable leaf in the mask")
    return kept / total
