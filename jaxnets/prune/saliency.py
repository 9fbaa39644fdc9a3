"""Per-weight saliency scores at initialisation, usable as `magnitude_prune(..., scores=...)`.

SNIP (Lee, Ajanthan & Torr, ICLR 2019), Eq. 6: the connection sensitivity of weight j is
`s_j = |g_j ⊙ w_j| / Σ_k |g_k ⊙ w_k|` with g = dL/dw on one batch; pruning keeps the weights of
largest s_j before any training. The normalisation does not change the ranking, so the scores
here are the unnormalised `|w ⊙ dL/dw|`. Summed over the network they are the zero-cost proxy
`jaxnets.supernet.snip` (scores of a whole architecture, for search rather than pruning).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["snip_scores"]

PyTree = Any


def snip_scores(loss_fn: Callable[[PyTree, jax.Array, jax.Array], jax.Array], params: PyTree,
                x: jax.Array, y: jax.Array) -> PyTree:
    """|w ⊙ dL/dw| for every parameter leaf (SNIP Eq. 6 before normalisation).

    Args:
        loss_fn: (params, x [B, ...], y [B, ...]) -> scalar loss.
        params: the (initial) parameters.
        x, y: one batch.
    Returns:
        A pytree of the structure of `params` with non-negative scores.
    """
    if jnp.ndim(x) < 1 or jnp.shape(x)[:1] != jnp.shape(y)[:1]:
        raise ValueError(f"x and y need the same leading batch size, got {jnp.shape(x)}, "
                         f"{jnp.shape(y)}")
    grads = jax.grad(loss_fn)(params, x, y)
    return jax.tree_util.tree_map(lambda w, g: jnp.abs(w * g), params, grads)
