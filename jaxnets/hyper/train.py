"""Training a hypernetwork over a range of conditioning inputs (amortised training).

The hypernetwork's parameters phi are the trained parameters; at each step the conditioning
vectors gamma are drawn at random (uniform on [low, high]^K by default, as in the paper's
hyperparameter-conditioned tasks), the target is applied with theta = h(gamma; phi), and the
target's loss — which may itself depend on gamma, e.g. a regularisation weight lambda(gamma) —
is averaged over the drawn gammas:

    L(phi) = E_gamma [ loss(f(x; h(gamma; phi)), gamma) ].

`hyper_training` builds the pure `init`/`step` functions that `jaxnets.train.fit` runs; a seed or
learning-rate population is a leading axis of the `TrainState` (`init_population`, or
`jax.vmap(init)` over keys).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxnets.hyper.hypernet import HyperNetwork
from jaxnets.train.state import TrainState

PyTree = Any
TargetLoss = Callable[[PyTree, jax.Array, Any, jax.Array], jax.Array]

__all__ = ["HyperTask", "hyper_training"]


@dataclasses.dataclass(frozen=True)
class HyperTask:
    """The pure functions `fit` needs to train a hypernetwork.

    Attributes:
      init: raw PRNG key -> TrainState whose params are the hypernetwork's (phi).
      step: TrainState -> (TrainState, {"loss": ...}); one optimizer step on freshly drawn gammas.
      loss_at: (phi, gamma_K, batch) -> the target loss at one conditioning vector (no dropout
        key: the loss function receives `key=None`, i.e. deterministic evaluation).
    """

    init: Callable[[jax.Array], TrainState]
    step: Callable[[TrainState], tuple[TrainState, dict]]
    loss_at: Callable[[PyTree, jax.Array, Any], jax.Array]


def hyper_training(
    hypernet: HyperNetwork,
    target_loss: TargetLoss,
    tx: optax.GradientTransformation,
    *,
    num_inputs: int,
    batch_fn: Callable[[TrainState], Any] = lambda state: None,
    gammas_per_step: int = 1,
    low: float = 0.0,
    high: float = 1.0,
) -> HyperTask:
    """Builds init/step for a hypernetwork trained on gamma ~ U[low, high]^K.

    Args:
      hypernet: the hypernetwork (`standard_hypernetwork` or `mip_hypernetwork`).
      target_loss: `(theta, gamma_K, batch, key) -> scalar`, the target's loss with the
        generated parameters theta; `key` is a PRNG key for dropout (None when evaluating).
      tx: the optax transform of phi (e.g. `optax.inject_hyperparams(optax.adam)(lr)` so that
        the learning rate can differ across a population).
      num_inputs: K, the width of the conditioning vector.
      batch_fn: `state -> batch` read from `state.step` (e.g. via `jaxnets.train.batch_indices`);
        one batch per step, shared by the gammas of that step.
      gammas_per_step: S, conditioning vectors drawn per step (losses averaged).
      low, high: the range of gamma; keep [0, 1] for the MIP encodings.
    """
    if num_inputs < 1:
        raise ValueError(f"num_inputs must be >= 1, got {num_inputs}")
    if gammas_per_step < 1:
        raise ValueError(f"gammas_per_step must be >= 1, got {gammas_per_step}")
    if not low < high:
        raise ValueError(f"need low < high for the gamma range, got low={low}, high={high}")

    def init(key: jax.Array) -> TrainState:
        init_key, run_key = jax.random.split(key)
        params = hypernet.init(init_key, jnp.zeros((num_inputs,), jnp.float32))["params"]
        return TrainState.create(params, tx, run_key)

    def loss_at(params: PyTree, gamma_K: jax.Array, batch: Any, key: jax.Array | None = None
                ) -> jax.Array:
        theta = hypernet.apply({"params": params}, gamma_K)
        return target_loss(theta, gamma_K, batch, key)

    def step(state: TrainState) -> tuple[TrainState, dict]:
        gamma_key, loss_key = jax.random.split(state.step_key())
        gamma_SxK = jax.random.uniform(gamma_key, (gammas_per_step, num_inputs), jnp.float32,
                                       low, high)
        keys_S = jax.random.split(loss_key, gammas_per_step)
        batch = batch_fn(state)

        def loss_fn(params: PyTree) -> jax.Array:
            losses_S = jax.vmap(lambda g, k: loss_at(params, g, batch, k))(gamma_SxK, keys_S)
            return jnp.mean(losses_S)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(tx, grads), {"loss": loss}

    return HyperTask(init=init, step=step,
                     loss_at=lambda params, gamma_K, batch: loss_at(params, gamma_K, batch))
