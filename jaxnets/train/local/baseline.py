"""The backpropagation baseline local-learning papers compare against: the same network,
one global cross-entropy, gradients through every layer.

It is deliberately the plain end-to-end step, so the only difference from a local method trained
by `jaxnets.train.local.local_step` on the same weights is where the gradient flows.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxnets.train.state import TrainState

PyTree = Any


def backprop_step(
    apply_fn: Callable[[PyTree, jax.Array], jax.Array],
    tx: optax.GradientTransformation,
    *,
    batch_fn: Callable[[TrainState], dict],
) -> Callable[[TrainState], tuple[TrainState, dict[str, jax.Array]]]:
    """Step of end-to-end training with softmax cross-entropy.

    Args:
      apply_fn: `(params, x_BxF) -> logits_BxC`.
      tx: the optax transform that built `state.opt_state`.
      batch_fn: `state -> {"x": ..., "labels": ...}` (e.g. `array_batches`).

    Returns:
      `step_fn(state) -> (state, {"loss": ...})` for `jaxnets.train.fit`.
    """

    def step(state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        batch = batch_fn(state)

        def loss_fn(params):
            logits = apply_fn(params, batch["x"])
            return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
                logits, batch["labels"]))

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(tx, grads), {"loss": loss}

    return step


def accuracy(logits_BxC: jax.Array, labels_B: jax.Array) -> jax.Array:
    """Fraction of rows whose arg-max is the label."""
    return jnp.mean(jnp.argmax(logits_BxC, axis=-1) == labels_B)
