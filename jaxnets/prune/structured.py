"""Structured (neuron) pruning of MLPs: group-L2 importance, neuron masks, group regularisers.

A hidden neuron j of dense layer l is one *group* of coupled parameters (DepGraph, Fang et al.,
CVPR 2023, Sec. 3; Torch-Pruning's `GroupNormImportance`): its in-weights `W_l[:, j]`, its bias
`b_l[j]` and its out-weights `W_{l+1}[j, :]`. Removing the neuron removes the whole group, so a
pruned MLP is the masked MLP with those entries zeroed (a zero pre-activation gives ReLU(0) = 0,
so the masked net equals the physically smaller one).

* `neuron_importance`: the group L2 norm `||(W_l[:, j], b_l[j], W_{l+1}[j, :])||_2`, optionally
  divided by its layer's maximum (Torch-Pruning's "max" normaliser, used by Meta Pruning, Liu et
  al. 2025, `utils/pruner.py`), so one global threshold compares layers of different scale.
* `neuron_keep_masks` / `neuron_param_mask`: prune the lowest-ranked fraction of hidden neurons,
  globally or per layer, as 0/1 masks over neurons and over the parameter pytree (usable with
  `jaxnets.prune.masks.apply_mask` / `mask_updates`).
* `group_lasso`: `sum_g ||w_g||_2` (Yuan & Lin 2006; the mini-reproduction's sparsity term).
* `group_norm_penalty`: the regulariser of DepGraph's sparse training as Torch-Pruning's
  `GroupNormPruner.regularize` applies it and Meta Pruning uses it: each group's gradient gets
  `reg * gamma_g * w_g` with `gamma_g = alpha ** ((I_max - I_g) / (I_max - I_min))` over the
  groups of a layer (I = group L2), i.e. the gradient of `0.5 * sum_g sg(gamma_g) ||w_g||^2`.

Parameters are flax variables of `jaxnets.nn.MLP`: `{"params": {"Linear_0": {"kernel": [D0, D1],
"bias": [D1]}, ...}}`; the hidden neurons are the outputs of every layer but the last.
"""
from __future__ import annotations

import re
from typing import Any, Literal

import jax
import jax.numpy as jnp

__all__ = [
    "dense_layers", "group_lasso", "group_norm_penalty", "group_sq_norms", "neuron_importance",
    "neuron_keep_masks", "neuron_param_mask", "prune_neurons",
]

PyTree = Any
_NAME = re.compile(r"^Linear_(\d+)$")


def dense_layers(variables: PyTree) -> list[tuple[jax.Array, jax.Array]]:
    """The (kernel [D_l, D_{l+1}], bias [D_{l+1}]) pairs of an MLP's variables, in layer order.

    Raises:
      ValueError: if `variables` is not `{"params": {"Linear_0": {"kernel", "bias"}, ...}}` with
        consecutive layer indices, 2-D kernels, matching biases and chained widths.
    """
    if not isinstance(variables, dict) or set(variables) != {"params"}:
        raise ValueError("expected MLP variables {'params': {'Linear_0': ...}}, got keys "
                         f"{sorted(variables) if isinstance(variables, dict) else type(variables)}")
    params = variables["params"]
    index = {}
    for name in params:
        match = _NAME.match(name)
        if match is None:
            raise ValueError(f"unexpected layer {name!r}; expected Linear_0, Linear_1, ...")
        index[int(match.group(1))] = name
    if not index or sorted(index) != list(range(len(index))):
        raise ValueError(f"layers must be Linear_0..Linear_{{L-1}}, got {sorted(params)}")
    layers = []
    for i in range(len(index)):
        layer = params[index[i]]
        if set(layer) != {"kernel", "bias"}:
            raise ValueError(f"{index[i]} must hold 'kernel' and 'bias', got {sorted(layer)}")
        kernel, bias = layer["kernel"], layer["bias"]
        if jnp.ndim(kernel) != 2 or jnp.shape(bias) != (jnp.shape(kernel)[1],):
            raise ValueError(f"{index[i]}: kernel {jnp.shape(kernel)} and bias "
                             f"{jnp.shape(bias)} are not [D_in, D_out] and [D_out]")
        if layers and jnp.shape(layers[-1][0])[1] != jnp.shape(kernel)[0]:
            raise ValueError(f"{index[i]} takes {jnp.shape(kernel)[0]} inputs but the layer "
                             f"before has {jnp.shape(layers[-1][0])[1]} outputs")
        layers.append((kernel, bias))
    return layers


def _hidden_layers(variables: PyTree) -> list[tuple[jax.Array, jax.Array]]:
    layers = dense_layers(variables)
    if len(layers) < 2:
        raise ValueError("an MLP needs >= 2 layers to have hidden neurons to prune")
    return layers


def group_sq_norms(variables: PyTree) -> tuple[jax.Array, ...]:
    """Squared group norms `||W_l[:, j]||^2 + b_l[j]^2 + ||W_{l+1}[j, :]||^2`, one [H_l] per layer."""
    layers = _hidden_layers(variables)
    return tuple(jnp.sum(jnp.square(k), axis=0) + jnp.square(b)
                 + jnp.sum(jnp.square(layers[l + 1][0]), axis=1)
                 for l, (k, b) in enumerate(layers[:-1]))


def neuron_importance(variables: PyTree,
                      normalize: Literal["max", "none"] = "max") -> tuple[jax.Array, ...]:
    """Group-L2 importance of every hidden neuron (DepGraph eq. 4 with p = 2).

    Args:
      variables: MLP variables (see module docstring).
      normalize: "max" divides each layer's importances by their maximum (Torch-Pruning's
        default normaliser in Meta Pruning); "none" returns the raw norms.

    Returns:
      One [H_l] float array per hidden layer.
    """
    if normalize not in ("max", "none"):
        raise ValueError(f"normalize must be 'max' or 'none', got {normalize!r}")
    norms = tuple(jnp.sqrt(sq) for sq in group_sq_norms(variables))
    if normalize == "max":
        norms = tuple(n / jnp.maximum(jnp.max(n), 1e-12) for n in norms)
    return norms


def neuron_keep_masks(importance: tuple[jax.Array, ...], ratio: float | jax.Array,
                      scope: Literal["global", "layer"] = "global") -> tuple[jax.Array, ...]:
    """0/1 keep masks that prune the `ratio` fraction of hidden neurons with lowest importance.

    `global` ranks all hidden neurons together and prunes `round(ratio * total)` of them; `layer`
    prunes `round(ratio * H_l)` in each layer. Ties are broken by position (earlier = lower), and
    each layer's most important neuron is always kept so the network stays connected (this can
    keep up to one neuron per layer more than the count asks). `ratio` may be traced.

    Returns:
      One float32 [H_l] mask per hidden layer (1 = keep).
    """
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    if isinstance(ratio, (int, float)) and not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    if not importance:
        raise ValueError("importance must hold at least one hidden layer")

    def lowest(scores):  # True for the round(ratio * n) lowest entries, ties by position
        n = scores.shape[0]
        rank = jnp.argsort(jnp.argsort(scores, stable=True), stable=True)
        return rank < jnp.round(ratio * n).astype(jnp.int32)

    sizes = [s.shape[0] for s in importance]
    if scope == "global":
        pruned = lowest(jnp.concatenate(importance))
        splits = [sum(sizes[:i]) for i in range(1, len(sizes))]
        pruned = jnp.split(pruned, splits)
    else:
        pruned = [lowest(s) for s in importance]
    return tuple(jnp.where(jax.nn.one_hot(jnp.argmax(s), s.shape[0]) > 0, True, ~p)
                 .astype(jnp.float32) for s, p in zip(importance, pruned))


def neuron_param_mask(variables: PyTree, keep: tuple[jax.Array, ...]) -> PyTree:
    """The 0/1 parameter mask of neuron keep masks: a pruned neuron loses its in-weights, bias
    and out-weights (the whole group). Same pytree structure as `variables`."""
    layers = _hidden_layers(variables)
    if len(keep) != len(layers) - 1:
        raise ValueError(f"{len(layers) - 1} hidden layers but {len(keep)} keep masks")
    masks = {}
    for l, (kernel, bias) in enumerate(layers):
        out_keep = keep[l] if l < len(keep) else jnp.ones(bias.shape, jnp.float32)
        in_keep = keep[l - 1] if l > 0 else jnp.ones((kernel.shape[0],), jnp.float32)
        if out_keep.shape != bias.shape:
            raise ValueError(f"keep mask {l} has shape {out_keep.shape}, layer has {bias.shape}")
        masks[f"Linear_{l}"] = {"kernel": in_keep[:, None] * out_keep[None, :],
                                "bias": out_keep}
    return {"params": masks}


def prune_neurons(variables: PyTree, ratio: float | jax.Array,
                  scope: Literal["global", "layer"] = "global",
                  normalize: Literal["max", "none"] = "max") -> tuple[PyTree, PyTree]:
    """One-shot structured pruning by group-L2 importance; returns (masked variables, mask)."""
    keep = neuron_keep_masks(neuron_importance(variables, normalize), ratio, scope)
    mask = neuron_param_mask(variables, keep)
    return jax.tree.map(lambda p, m: p * m, variables, mask), mask


def group_lasso(variables: PyTree, eps: float = 1e-12) -> jax.Array:
    """`sum_g ||w_g||_2` over the hidden-neuron groups (group lasso, Yuan & Lin 2006, eq. 2.1).

    `eps` inside the square root keeps the gradient finite at a zero group (it is 0 there)."""
    return sum(jnp.sum(jnp.sqrt(sq + eps)) for sq in group_sq_norms(variables))


def group_norm_penalty(variables: PyTree, alpha: float = 16.0) -> jax.Array:
    """DepGraph / Torch-Pruning sparsity penalty with layer-wise growing strength.

    Its gradient w.r.t. each group's parameters is `gamma_g * w_g` with
    `gamma_g = alpha ** ((I_max - I_g) / (I_max - I_min))`, I = group L2 norm within the layer
    (`GroupNormPruner.regularize`, alpha = 2**4 in Meta Pruning's configs): weak groups are
    pushed to zero up to `alpha` times harder. `gamma` is a constant of the step (stop_gradient),
    as in the reference, which adds `reg * gamma * w` to the gradient.

    Returns:
      `0.5 * sum_g gamma_g ||w_g||^2` (scale it by `reg`).
    """
    if alpha < 1.0:
        raise ValueError(f"alpha must be >= 1, got {alpha}")
    total = jnp.zeros(())
    for sq in group_sq_norms(variables):
        norm = jax.lax.stop_gradient(jnp.sqrt(sq))
        span = jnp.max(norm) - jnp.min(norm)
        gamma = alpha ** ((jnp.max(norm) - norm) / jnp.maximum(span, 1e-12))
        total = total + 0.5 * jnp.sum(gamma * sq)
    return total
