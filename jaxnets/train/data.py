"""Data order as a pure function of (seed, step): the step is the data cursor.

With the permutation of epoch `e` derived from `fold_in(data_key, e)`, the batch of any step can be
recomputed from the step alone. A run resumed from a checkpoint at step t therefore sees exactly the
batches an uninterrupted run would have seen, without saving any iterator state (STYLE.md rule 1).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def batch_indices(
    data_key: jax.Array, step: jax.Array, num_examples: int, batch_size: int
) -> jax.Array:
    """Indices of the examples in the batch of `step`; traceable inside a jitted step.

    Each epoch is a fresh permutation of `range(num_examples)` drawn from `fold_in(data_key, epoch)`;
    the last `num_examples % batch_size` examples of each epoch's permutation are dropped so that every
    batch has the same static shape.

    Args:
      data_key: raw PRNG key of the data stream (independent of the model's key).
      step: int32 scalar, the optimizer step.
      num_examples: N, the number of training examples (static).
      batch_size: B <= N (static).

    Returns:
      [B] int32 indices into the training examples.
    """
    if not 0 < batch_size <= num_examples:
        raise ValueError(
            f"batch_size must be in [1, num_examples={num_examples}], got {batch_size}"
        )
    steps_per_epoch = num_examples // batch_size
    epoch = step // steps_per_epoch
    position = step % steps_per_epoch
    permutation = jax.random.permutation(jax.random.fold_in(data_key, epoch), num_examples)
    return jax.lax.dynamic_slice_in_dim(permutation, position * batch_size, batch_size).astype(
        jnp.int32
    )


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Number of full batches in one epoch (the remainder is dropped)."""
    return num_examples // batch_size
