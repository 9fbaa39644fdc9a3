"""The training state every jaxnets trainer carries, and seed populations of it.

A `TrainState` holds everything that changes while a model trains: the step counter (which is also
the data cursor, see `jaxnets.train.data`), the parameters, the optimizer state, the run's PRNG key
and any non-trained model state (batch statistics, caches). The optax transform itself is static and
lives in the step function, not in the state, so a state is a plain pytree that Orbax can save and
`jax.vmap` can batch.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

PyTree = Any


@flax.struct.dataclass
class TrainState:
    """Params, optimizer state, step and RNG of one run (or, with a leading axis, of a population).

    Attributes:
      step: int32 scalar; the number of optimizer updates applied so far.
      params: the model parameters (a pytree).
      opt_state: the optax state for `params`.
      rng: the run's PRNG key (raw uint32[2] key data). Step `t` uses `fold_in(rng, t)`, so the key is
        never split in place and a resumed run draws the same numbers.
      model_state: any non-trained state (e.g. batch statistics); `None` when the model has none.
    """

    step: jax.Array
    params: PyTree
    opt_state: PyTree
    rng: jax.Array
    model_state: PyTree = None

    @classmethod
    def create(
        cls,
        params: PyTree,
        tx: optax.GradientTransformation,
        rng: jax.Array,
        model_state: PyTree = None,
    ) -> "TrainState":
        """Builds the state at step 0; `rng` is a raw key (`jax.random.PRNGKey(seed)`)."""
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=tx.init(params),
            rng=rng,
            model_state=model_state,
        )

    def step_key(self) -> jax.Array:
        """The PRNG key of the current step: `fold_in(rng, step)` (big_vision's convention)."""
        return jax.random.fold_in(self.rng, self.step)

    def apply_gradients(self, tx: optax.GradientTransformation, grads: PyTree) -> "TrainState":
        """One optimizer update; increments `step`."""
        updates, opt_state = tx.update(grads, self.opt_state, self.params)
        return self.replace(
            step=self.step + 1,
            params=optax.apply_updates(self.params, updates),
            opt_state=opt_state,
        )


def init_population(
    init_fn: Callable[[jax.Array], TrainState], seeds: jax.Array | list[int]
) -> TrainState:
    """Initialises one `TrainState` per seed, stacked on a leading population axis.

    Args:
      init_fn: maps a raw PRNG key to a `TrainState` (it must be traceable: no host round-trips).
      seeds: [S] integer seeds.

    Returns:
      A `TrainState` whose every leaf has a leading axis of size S.
    """
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, jnp.uint32))
    return jax.jit(jax.vmap(init_fn))(keys)


def population_size(state: TrainState) -> int | None:
    """S for a population state (step has shape [S]), None for a single run."""
    return None if jnp.ndim(state.step) == 0 else int(state.step.shape[0])
