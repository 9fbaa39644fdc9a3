"""Activation, attribution and relevance patching (RelP, Rezaei Jafari, Eberle, Khakzar & Nanda
2025, arXiv 2508.21258, Sec. 2-3).

A node n is one activation site at one (layer, position) of a network run on a corrupted
input x_r, patched for every prompt of the batch at once; m is a scalar metric (for IOI the
mean logit difference logit(IO) - logit(S) at the last position). With a_n(x) the node's
activation [B, D]:

  activation patching (AP, the ground truth, Eq. 1):
      AP(n)   = m(x_r with a_n := a_n(x_c)) - m(x_r)          one forward per node (vmapped)
  attribution patching (AtP, Eq. 2; Nanda 2023, Syed et al. 2023):
      AtP(n)  = sum_{b, d} (a_n(x_c) - a_n(x_r)) * dm/da_n |_{x_r}
  relevance patching (RelP, Eq. 4):
      RelP(n) = sum_{b, d} (a_n(x_c) - a_n(x_r)) * g~_n |_{x_r}

where g~_n is the propagation coefficient of Layer-wise Relevance Propagation: the backward pass
of the same network with LRP rules (LN-, Identity-, AH-, Half-rule) written as modified
gradients. AtP and RelP cost two forward passes and one backward pass each.

Interface: a metric function `metric_fn(deltas) -> scalar` runs the network on x_r with
`deltas[site]` [L, B, T, D] added to the sites' activations (zeros = the plain corrupted run),
so dm/da_n = dm/d delta_n at zero. Node activations are dicts {site: [L, B, T, D]}; every
site must share L and T (the node grid), results are {site: [L, T]}. `patch_char_lm` wires this
to `jaxnets.nn.CharLM` (its `node_deltas` keyword and `lrp_rules` field).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnets.nn.char_lm import LRP_RULES, node_activations

__all__ = ["PatchingResult", "activation_patching", "attribution_patching", "char_lm_metric",
           "char_lm_nodes", "logit_difference", "patch_char_lm", "pearson",
           "relevance_patching"]

Nodes = dict[str, jax.Array]
MetricFn = Callable[[Nodes], jax.Array]


def _check_nodes(clean: Nodes, corrupt: Nodes) -> tuple[int, int]:
    """The node grid (L, T) shared by all sites; errors name the offending site."""
    if set(clean) != set(corrupt):
        raise ValueError(f"clean and corrupt nodes name different sites: {sorted(clean)} vs "
                         f"{sorted(corrupt)}")
    grid = None
    for site in clean:
        shape = jnp.shape(clean[site])
        if len(shape) != 4 or jnp.shape(corrupt[site]) != shape:
            raise ValueError(f"site {site!r}: clean and corrupt activations must both be "
                             f"[L, B, T, D], got {shape} and {jnp.shape(corrupt[site])}")
        if grid is None:
            grid = (shape[0], shape[2])
        elif (shape[0], shape[2]) != grid:
            raise ValueError(f"site {site!r} has node grid (L, T) = {(shape[0], shape[2])}, "
                             f"other sites {grid}")
    if grid is None:
        raise ValueError("no sites given")
    return grid


def activation_patching(metric_fn: MetricFn, clean: Nodes, corrupt: Nodes, *,
                        chunk: int | None = None) -> Nodes:
    """AP(n) = m(x_r with node n set to its clean value) - m(x_r) for every node (Eq. 1).

    All S * L * T nodes run as one `lax.map` over node indices, `chunk` of them vmapped at a time
    (None: all at once). Patching node (s, l, t) adds delta = clean - corrupt there, for every
    batch row and feature, and zero elsewhere.

    Returns:
        {site: [L, T]} metric changes.
    """
    num_layers, num_pos = _check_nodes(clean, corrupt)
    sites = list(clean)
    diff = {s: clean[s] - corrupt[s] for s in sites}
    base = metric_fn({s: jnp.zeros_like(d) for s, d in diff.items()})

    def patched(node):
        site_idx = node // (num_layers * num_pos)
        layer, pos = (node // num_pos) % num_layers, node % num_pos
        deltas = {}
        for i, s in enumerate(sites):
            on_L = (jnp.arange(num_layers) == layer) & (site_idx == i)
            on_T = jnp.arange(num_pos) == pos
            mask_LxT = (on_L[:, None] & on_T[None, :]).astype(diff[s].dtype)
            deltas[s] = diff[s] * mask_LxT[:, None, :, None]
        return metric_fn(deltas) - base

    nodes = jnp.arange(len(sites) * num_layers * num_pos)
    effects = jax.lax.map(patched, nodes, batch_size=chunk)
    effects = effects.reshape(len(sites), num_layers, num_pos)
    return {s: effects[i] for i, s in enumerate(sites)}


def _first_order(metric_fn: MetricFn, clean: Nodes, corrupt: Nodes) -> Nodes:
    _check_nodes(clean, corrupt)
    coefficients = jax.grad(metric_fn)({s: jnp.zeros_like(a) for s, a in corrupt.items()})
    return {s: jnp.einsum("lbtd,lbtd->lt", clean[s] - corrupt[s], coefficients[s])
            for s in clean}


def attribution_patching(metric_fn: MetricFn, clean: Nodes, corrupt: Nodes) -> Nodes:
    """AtP(n) = sum_{b,d} (a_n(x_c) - a_n(x_r)) * dm/da_n at x_r (Eq. 2), one backward pass.

    `metric_fn` must be the plain network (ordinary gradients). Returns {site: [L, T]}."""
    return _first_order(metric_fn, clean, corrupt)


def relevance_patching(lrp_metric_fn: MetricFn, clean: Nodes, corrupt: Nodes) -> Nodes:
    """RelP(n) = sum_{b,d} (a_n(x_c) - a_n(x_r)) * g~_n at x_r (Eq. 4), one backward pass.

    `lrp_metric_fn` must be the same network with LRP rules in its backward pass (e.g. a
    `CharLM` with `lrp_rules`), so that its gradient is LRP's propagation coefficient g~_n.
    With no rules this is exactly attribution patching. Returns {site: [L, T]}."""
    return _first_order(lrp_metric_fn, clean, corrupt)


def pearson(x: jax.Array, y: jax.Array) -> jax.Array:
    """Pearson correlation of two arrays of the same shape, flattened (0 if one is constant)."""
    if jnp.shape(x) != jnp.shape(y):
        raise ValueError(f"pearson needs equal shapes, got {jnp.shape(x)} and {jnp.shape(y)}")
    x, y = jnp.ravel(x) - jnp.mean(x), jnp.ravel(y) - jnp.mean(y)
    denom = jnp.sqrt(jnp.sum(x * x) * jnp.sum(y * y))
    r = jnp.sum(x * y) / jnp.where(denom > 0, denom, 1.0)
    return jnp.where(denom > 0, jnp.clip(r, -1.0, 1.0), 0.0)   # clip float round-off


# CharLM wiring -------------------------------------------------------------------------------


def logit_difference(logits_BxTxV: jax.Array, answers_Bx2: jax.Array) -> jax.Array:
    """Mean over the batch of logit(answers[:, 0]) - logit(answers[:, 1]) at the last position."""
    if answers_Bx2.ndim != 2 or answers_Bx2.shape != (logits_BxTxV.shape[0], 2):
        raise ValueError(f"answers must be [B, 2] = {(logits_BxTxV.shape[0], 2)}, got "
                         f"{answers_Bx2.shape}")
    last_BxV = logits_BxTxV[:, -1]
    picked_Bx2 = jnp.take_along_axis(last_BxV, answers_Bx2, axis=1)
    return jnp.mean(picked_Bx2[:, 0] - picked_Bx2[:, 1])


def char_lm_nodes(model: nn.Module, params, tokens_BxT: jax.Array) -> tuple[jax.Array, Nodes]:
    """(logits [B, T, V], node activations {site: [L, B, T, D]}) of one forward pass."""
    logits, state = model.apply(params, tokens_BxT, mutable=["intermediates"])
    return logits, node_activations(state["intermediates"], model.num_layers)


def char_lm_metric(model: nn.Module, params, tokens_BxT: jax.Array, answers_Bx2: jax.Array
                   ) -> MetricFn:
    """deltas -> logit difference of `model` on `tokens` with the node deltas added."""
    def metric(deltas: Nodes) -> jax.Array:
        return logit_difference(model.apply(params, tokens_BxT, node_deltas=deltas),
                                answers_Bx2)
    return metric


class PatchingResult(NamedTuple):
    """AP, AtP and RelP node effects ({site: [L, T]}) and the clean / corrupted metrics."""
    activation: Nodes
    attribution: Nodes
    relevance: Nodes
    clean_metric: jax.Array
    corrupt_metric: jax.Array


def patch_char_lm(model: nn.Module, params, clean_BxT: jax.Array, corrupt_BxT: jax.Array,
                  answers_Bx2: jax.Array, *, lrp_rules: tuple[str, ...] = LRP_RULES,
                  chunk: int | None = None) -> PatchingResult:
    """AP, AtP and RelP for every node of a `CharLM` (sites resid_pre, attn_out, mlp_out).

    Args:
        model: a CharLM without LRP rules (its gradients are AtP's).
        params: its params.
        clean_BxT, corrupt_BxT: prompt pairs of equal length.
        answers_Bx2: (correct, wrong) answer ids for the clean prompts; the metric is their mean
            logit difference at the last position.
        lrp_rules: the rules of RelP's backward pass (a subset of `LRP_RULES`).
        chunk: nodes vmapped at once in activation patching (None: all).
    """
    if model.lrp_rules:
        raise ValueError(f"pass the plain model (lrp_rules=()), got lrp_rules={model.lrp_rules}")
    if clean_BxT.shape != corrupt_BxT.shape:
        raise ValueError(f"clean and corrupt tokens differ in shape: {clean_BxT.shape} vs "
                         f"{corrupt_BxT.shape}")
    clean_logits, clean = char_lm_nodes(model, params, clean_BxT)
    corrupt_logits, corrupt = char_lm_nodes(model, params, corrupt_BxT)
    metric = char_lm_metric(model, params, corrupt_BxT, answers_Bx2)
    lrp_metric = char_lm_metric(model.clone(lrp_rules=tuple(lrp_rules)), params, corrupt_BxT,
                                answers_Bx2)
    return PatchingResult(
        activation=activation_patching(metric, clean, corrupt, chunk=chunk),
        attribution=attribution_patching(metric, clean, corrupt),
        relevance=relevance_patching(lrp_metric, clean, corrupt),
        clean_metric=logit_difference(clean_logits, answers_Bx2),
        corrupt_metric=logit_difference(corrupt_logits, answers_Bx2))
