"""The local-loss trainer: one loss per layer, one optax state per parameter group, one jitted step.

Local-learning methods (Forward-Forward, Cascaded-Forward, Mono-Forward, Counter-Current Learning,
forward learning of GNNs, ...) train a network whose parameters fall into *groups* (usually one
per layer) and whose objective is a *vector* of local losses, one per layer. Every layer input
is `stop_gradient`-ed, so the gradient of loss k reaches only the parameters that loss k is local
to. This module turns such a problem into a `step_fn(state) -> (state, metrics)` for the one
training loop `jaxnets.train.fit`.

The contract a method fulfils (`LossesFn`):

    losses_fn(params, model_state, batch, key) -> losses_K

  * `params`: a tuple of G parameter groups (pytrees). Each group has its own optax transform and
    its own optimizer state (`grouped`), so "each layer has its own optimizer" holds literally;
  * `model_state`: anything not trained by gradients (frozen random blocks, fixed DFA feedback
    matrices); it is `TrainState.model_state` and is never differentiated;
  * `batch`: whatever `batch_fn(state)` returned for this step;
  * `key`: the step's PRNG key for dropout and other noise (distinct from the data key);
  * `losses_K`: a [K] vector (or a sequence of K scalars) of local losses.

Schedules:
  * "simultaneous" (the default, and the papers' single-forward-pass variant): the gradient of
    `sum_k losses[k]` updates all groups in the same step. With stop-gradients at the layer
    boundaries this equals K independent per-layer updates (the notes' §9 argument), computed in
    one forward and one backward pass.
  * "sequential" (greedy layer-wise training, as Spyra's Mono-Forward code does): group g is
    trained alone on `losses[g]` for `steps_per_layer` steps, then group g + 1, ...; the last
    group keeps training after its turn ends. Needs K == G. Groups not active in a step keep
    their parameters *and* optimizer state bit-for-bit (Adam's moments do not decay while a layer
    waits its turn).

`jaxnets.train.local.stack.LocalStack` builds `losses_fn` for the common case of a sequence of
Flax layers (MLP, CNN or GNN layers alike), each with an optional head and a loss; methods whose
losses pair layers differently (CCL, DFA) write `losses_fn` directly.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from jaxnets.train.state import TrainState

PyTree = Any
Batch = Any
LossesFn = Callable[[tuple, PyTree, Batch, jax.Array], Any]
BatchFn = Callable[[TrainState], Batch]

SCHEDULES = ("simultaneous", "sequential")


def grouped(txs: Sequence[optax.GradientTransformation]) -> optax.GradientTransformation:
    """One optax transform per parameter group, each with its own state.

    The params (and gradients) must be a tuple of `len(txs)` groups; the state is the tuple of
    the groups' states, so group g's state is `opt_state[g]`. Per-parameter optimizers (SGD, Adam)
    give the same updates as one transform over everything; transforms that look across
    parameters (`clip_by_global_norm`, CCL's per-network clipping) act within a group only.

    Args:
      txs: G optax transforms.

    Returns:
      A `GradientTransformation` over G-tuples of pytrees.
    """
    txs = tuple(txs)
    if not txs or not all(isinstance(tx, optax.GradientTransformation) for tx in txs):
        raise TypeError("grouped(txs) needs a non-empty sequence of optax.GradientTransformation")

    def check(tree: Any, name: str) -> None:
        if not isinstance(tree, tuple) or len(tree) != len(txs):
            raise ValueError(
                f"grouped optimizer with {len(txs)} transforms expects {name} to be a tuple of "
                f"{len(txs)} parameter groups, got {type(tree).__name__}"
                f"{f' of length {len(tree)}' if isinstance(tree, (tuple, list)) else ''}"
            )

    def init(params):
        check(params, "params")
        return tuple(tx.init(p) for tx, p in zip(txs, params))

    def update(updates, state, params=None):
        check(updates, "updates")
        params = (None,) * len(txs) if params is None else params
        out = [tx.update(u, s, p) for tx, u, s, p in zip(txs, updates, state, params)]
        return tuple(u for u, _ in out), tuple(s for _, s in out)

    return optax.GradientTransformation(init, update)


def per_layer(
    tx: optax.GradientTransformation | Sequence[optax.GradientTransformation], num_groups: int
) -> optax.GradientTransformation:
    """`grouped` with the same transform (and a separate state) for each of `num_groups` groups,
    or with one transform per group when a sequence is given."""
    if isinstance(tx, optax.GradientTransformation):
        return grouped((tx,) * num_groups)
    txs = tuple(tx)
    if len(txs) != num_groups:
        raise ValueError(f"per_layer got {len(txs)} transforms for {num_groups} groups")
    return grouped(txs)


def active_group(step: jax.Array, steps_per_layer: int, num_groups: int) -> jax.Array:
    """Index of the group the sequential schedule trains at `step`: `min(step // s, G - 1)`."""
    return jnp.minimum(step // steps_per_layer, num_groups - 1)


def _as_vector(losses: Any) -> jax.Array:
    losses = jnp.stack([jnp.asarray(l) for l in losses]) if isinstance(
        losses, (tuple, list)) else jnp.asarray(losses)
    if losses.ndim != 1:
        raise ValueError(f"losses_fn must return a [K] vector of local losses, got shape "
                         f"{losses.shape}")
    return losses


def _loss_metrics(losses: jax.Array) -> dict[str, jax.Array]:
    metrics = {"loss": jnp.sum(losses)}
    metrics.update({f"loss/{k}": losses[k] for k in range(losses.shape[0])})
    return metrics


def _sequential_step(losses_fn: LossesFn, tx: optax.GradientTransformation,
                     steps_per_layer: int, state: TrainState, batch: Batch,
                     key: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
    """One greedy layer-wise step: a `lax.switch` over the active group g, whose branch
    differentiates `losses[g]` with respect to group g alone (one backward pass through one
    layer, not G) and keeps every other group's parameters and optimizer state as they were.

    All K losses are still evaluated (forward only) for the metrics. The branch runs alone when
    `state.step` is not batched; `fit` keeps it unbatched for a population (its members advance in
    lockstep), so a population trains one layer per step too. Under a user's own `vmap` over
    states the switch turns into a select over every branch (correct, G times the work).
    """
    num_groups = len(state.params)
    if not isinstance(state.opt_state, tuple) or len(state.opt_state) != num_groups:
        raise ValueError("schedule='sequential' needs a per-group optimizer state (build "
                         "the optimizer with per_layer or grouped)")
    active = active_group(state.step, steps_per_layer, num_groups)

    def train_group(g: int):
        def branch(params, opt_state):
            def objective(group_params):
                full = params[:g] + (group_params,) + params[g + 1:]
                losses = _as_vector(losses_fn(full, state.model_state, batch, key))
                if losses.shape[0] != num_groups:
                    raise ValueError(
                        f"schedule='sequential' needs one local loss per parameter group; got "
                        f"{losses.shape[0]} losses for {num_groups} groups")
                return losses[g], losses

            (_, losses), grad_g = jax.value_and_grad(objective, has_aux=True)(params[g])
            grads = tuple(grad_g if h == g else jax.tree.map(jnp.zeros_like, p)
                          for h, p in enumerate(params))
            updates, new_opt = tx.update(grads, opt_state, params)
            new_g = optax.apply_updates(params[g], updates[g])
            return (params[:g] + (new_g,) + params[g + 1:],
                    opt_state[:g] + (new_opt[g],) + opt_state[g + 1:], losses)
        return branch

    params, opt_state, losses = jax.lax.switch(
        active, [train_group(g) for g in range(num_groups)], state.params, state.opt_state)
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    metrics = _loss_metrics(losses)
    metrics["active_layer"] = active
    return new_state, metrics


def local_step(
    losses_fn: LossesFn,
    tx: optax.GradientTransformation,
    *,
    batch_fn: BatchFn,
    schedule: str = "simultaneous",
    steps_per_layer: int | None = None,
) -> Callable[[TrainState], tuple[TrainState, dict[str, jax.Array]]]:
    """Builds the pure training step of a local-loss method for `jaxnets.train.fit`.

    Args:
      losses_fn: `(params, model_state, batch, key) -> losses_K` (see the module docstring). Every
        loss must be local: its gradient may reach only its own group (check with
        `locality_matrix`).
      tx: the optimizer over the tuple of groups, normally `per_layer(optax.adam(lr), G)` or
        `grouped([...])`; the same object must have built `state.opt_state`.
      batch_fn: `state -> batch`, traceable; reads the data cursor from `state.step` (e.g.
        `jaxnets.train.local.array_batches`).
      schedule: "simultaneous" or "sequential".
      steps_per_layer: steps each group trains alone under the sequential schedule.

    Returns:
      `step_fn(state) -> (state, metrics)` with metrics "loss" (the sum of the local losses, the
      NaN guard watches it) and "loss/<k>" for each local loss. Under the sequential schedule also
      "active_layer".
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "sequential" and (steps_per_layer is None or steps_per_layer < 1):
        raise ValueError(f"schedule='sequential' needs steps_per_layer >= 1, got {steps_per_layer}")

    def step(state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        if not isinstance(state.params, tuple):
            raise TypeError("local_step expects state.params to be a tuple of parameter groups, "
                            f"got {type(state.params).__name__}")
        batch = batch_fn(state)
        key = jax.random.fold_in(state.step_key(), 1)
        if schedule == "sequential":
            return _sequential_step(losses_fn, tx, steps_per_layer, state, batch, key)

        def objective(params):
            losses = _as_vector(losses_fn(params, state.model_state, batch, key))
            return jnp.sum(losses), losses

        (_, losses), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        return state.apply_gradients(tx, grads), _loss_metrics(losses)

    return step


def locality_matrix(
    losses_fn: LossesFn, params: tuple, model_state: PyTree, batch: Batch, key: jax.Array
) -> jax.Array:
    """[K, G] matrix of max |d losses[k] / d params[g]|: which group each local loss reaches.

    A correct local method has non-zero entries only where loss k is meant to train group g (the
    diagonal for a plain layer stack). Each row is one `jax.grad` of one loss (reverse mode over
    the [K] loss vector), so a leak through a missing `stop_gradient` shows up as a non-zero
    off-diagonal entry. A debugging and testing aid; not used in training.
    """
    def vector(p):
        return _as_vector(losses_fn(p, model_state, batch, key))

    jac = jax.jacrev(vector)(params)  # a tuple of groups, every leaf [K, *leaf.shape]
    columns = []
    for group in jac:
        leaves = jax.tree.leaves(group)
        if not leaves:
            columns.append(jnp.zeros((vector(params).shape[0],)))
            continue
        columns.append(jnp.max(jnp.stack(
            [jnp.max(jnp.abs(l.reshape(l.shape[0], -1)), axis=1) for l in leaves]), axis=0))
    return jnp.stack(columns, axis=1)
