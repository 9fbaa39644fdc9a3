"""Batch functions for the local-loss trainer: what `batch_fn(state)` returns each step.

A batch is a dict. The keys the stack reads are "x" (the input of the first layer) and, for
graph layers, "context" (a tuple of extra leading arguments given to every layer, e.g.
`(graph,)`); the losses read whatever else they need ("labels", "mask", "positive", ...).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxnets.train.data import batch_indices
from jaxnets.train.state import TrainState


def data_key(state: TrainState) -> jax.Array:
    """The key of the run's data stream, derived from the run key by a split (not by `fold_in`,
    which gives the per-step keys), so data order and step noise are independent."""
    return jax.random.split(state.rng)[1]


def array_batches(
    x_NxF: jax.Array, labels_N: jax.Array, batch_size: int
) -> Callable[[TrainState], dict[str, jax.Array]]:
    """Minibatches of an in-memory dataset: `state -> {"x": x_BxF, "labels": labels_B}`.

    The batch of step t is `batch_indices(data_key(state), t, N, B)`: a fresh permutation per
    epoch, drawn per run (each member of a seed population sees its own order), recomputable from
    the step alone (exact resume).

    Args:
      x_NxF: [N, ...] inputs.
      labels_N: [N] integer labels.
      batch_size: B, 1 <= B <= N.
    """
    x_NxF = jnp.asarray(x_NxF)
    labels_N = jnp.asarray(labels_N, jnp.int32)
    if labels_N.ndim != 1 or labels_N.shape[0] != x_NxF.shape[0]:
        raise ValueError(f"labels_N must be [N] with N = x_NxF.shape[0] = {x_NxF.shape[0]}, got "
                         f"shape {labels_N.shape}")
    n = x_NxF.shape[0]
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}], got {batch_size}")

    def batch_fn(state: TrainState) -> dict[str, jax.Array]:
        idx = batch_indices(data_key(state), state.step, n, batch_size)
        return {"x": x_NxF[idx], "labels": labels_N[idx]}

    return batch_fn


def full_batch(batch: dict[str, Any]) -> Callable[[TrainState], dict[str, Any]]:
    """The same batch every step (full-batch training, e.g. node classification on one graph)."""
    if "x" not in batch:
        raise ValueError(f"a batch needs an 'x' entry (the first layer's input); got keys "
                         f"{sorted(batch)}")
    return lambda state: batch
