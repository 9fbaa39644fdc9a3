"""Pre-training a small causal LM in one jitted `lax.scan` (the base models of the adaptation
and compression experiments: FactorLLM's teacher, QLoRA's base)."""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnets.nn.char_lm import next_token_nll
from jaxnets.train.data import batch_indices

__all__ = ["pretrain_lm"]


def pretrain_lm(model: nn.Module, train_NxT: jax.Array, *, key: jax.Array, steps: int,
                batch_size: int, learning_rate: float) -> tuple[Any, jax.Array]:
    """Next-token training from scratch: AdamW (weight decay 1e-4), gradient clip 1.0, linear
    warm-up over the first 10 % of steps then cosine decay to 10 % of `learning_rate`.

    Batches are `batch_indices(fold_in(key, 1), step, N, batch_size)` (the step is the data
    cursor); the init uses `fold_in(key, 0)`. The whole run is one jitted `lax.scan`.

    Args:
        model: maps tokens [B, T] to logits [B, T, V] (e.g. `CharLM`).
        train_NxT: int token rows [N, T].
        key, steps, batch_size, learning_rate: as above.
    Returns:
        (params, losses [steps]).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    train_NxT = jnp.asarray(train_NxT)
    sched = optax.warmup_cosine_decay_schedule(0.0, learning_rate, max(1, steps // 10), steps,
                                               learning_rate * 0.1)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=1e-4))

    def step(carry, t):
        params, opt_state = carry
        x = train_NxT[batch_indices(jax.random.fold_in(key, 1), t, len(train_NxT), batch_size)]
        loss, grads = jax.value_and_grad(lambda p: next_token_nll(model.apply(p, x), x))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    @jax.jit
    def train():
        params = model.init(jax.random.fold_in(key, 0), train_NxT[:1])
        (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(steps))
        return params, losses

    return train()
