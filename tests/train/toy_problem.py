"""A tiny regression problem with minibatches and dropout, for the trainer's tests.

It exercises every source of run-to-run variation a resume must reproduce: the data order
(`batch_indices`), the per-step PRNG key (dropout) and the optimizer state (Adam moments).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets.train import TrainState, batch_indices

NUM_EXAMPLES, NUM_FEATURES, BATCH = 96, 8, 16


class TinyNet(nn.Module):
    @nn.compact
    def __call__(self, x, *, deterministic: bool):
        h = nn.relu(nn.Dense(16)(x))
        h = nn.Dropout(0.25, deterministic=deterministic)(h)
        return nn.Dense(1)(h)[:, 0]


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(NUM_EXAMPLES, NUM_FEATURES)).astype(np.float32)
    y = (x @ rng.normal(size=NUM_FEATURES) + 0.1 * rng.normal(size=NUM_EXAMPLES)).astype(np.float32)
    return x, y


def make_problem(learning_rate: float = 1e-2, poison_step: int | None = None):
    """Returns (init_fn, step_fn, eval_fn); `poison_step` makes the loss NaN from that step on."""
    x, y = map(jnp.asarray, make_data())
    model = TinyNet()
    tx = optax.adam(learning_rate)

    def init_fn(key):
        params = model.init(key, x[:1], deterministic=True)["params"]
        return TrainState.create(params, tx, key)

    def step_fn(state):
        idx = batch_indices(jax.random.fold_in(state.rng, 7), state.step, NUM_EXAMPLES, BATCH)

        def loss_fn(params):
            pred = model.apply(
                {"params": params}, x[idx], deterministic=False, rngs={"dropout": state.step_key()}
            )
            loss = jnp.mean((pred - y[idx]) ** 2)
            if poison_step is not None:
                loss = jnp.where(state.step + 1 >= poison_step, jnp.nan, loss)
            return loss

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(tx, grads), {"loss": loss}

    def eval_fn(state):
        pred = model.apply({"params": state.params}, x, deterministic=True)
        return {"val/neg_mse": -jnp.mean((pred - y) ** 2)}

    return init_fn, step_fn, eval_fn
