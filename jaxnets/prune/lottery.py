"""Iterative magnitude pruning for lottery tickets, with rewinding and the two random controls.

The Lottery Ticket Hypothesis (Frankle & Carbin, ICLR 2019), Sec. 2, "Identifying winning
tickets": (1) randomly initialise f(x; θ0); (2) train for j iterations to θj; (3) prune p % of
the parameters of θj, creating a mask m; (4) reset the survivors to θ0, giving the winning
ticket f(x; m ⊙ θ0). Iterative pruning repeats (2)-(4) over rounds, each pruning a fixed
fraction of the weights that survived the previous round, with the paper's layer-wise rates
for LeNet-300-100 (20 % per hidden layer, 10 % for the output layer, Sec. 2; `lth_rate`).
"Late resetting" / rewinding (Frankle, Dziugaite, Roy & Carbin 2019, "Stabilizing the LTH",
Sec. 3) resets survivors to θk, the dense network's weights after k iterations, and trains
the remaining T - k iterations; its masks form their own pruning lineage.

Controls of the paper (Sec. 2 and Figure 4): the same mask with a fresh random initialisation
("reinit"), and a random mask with the ticket's layer-wise sparsity trained from θ0
("random_mask"). Every round trains all four conditions of a seed under one `vmap`, and
`run_lottery` vmaps over seeds, so a round is one jitted call whose training is a `lax.scan`
over steps. Pruning, random masks and densities are jittable too (exact counts: ties broken by
position; `jaxnets.prune.masks`).

The early-stopping iteration is the paper's speed measure (Sec. 1, footnote 2): "the iteration
of minimum validation loss"; accuracies are reported at that iteration and at the end.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets.prune.masks import (Rate, apply_mask, default_prunable, density, magnitude_prune,
                                 mask_updates, path_name, random_mask_like)
from jaxnets.train import batch_indices

__all__ = [
    "CONDITIONS", "LotteryState", "RoundResult", "lth_rate", "make_round_trainer", "run_lottery",
]

PyTree = Any
Prunable = Callable[[str, jax.Array], bool]
# The conditions trained in every pruning round, in the order of the results' C axis.
CONDITIONS = ("ticket", "rewind", "reinit", "random_mask")


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def lth_rate(params: PyTree, hidden: float = 0.2, output: float = 0.1,
             prunable: Prunable = default_prunable, conv: float | None = None
             ) -> Callable[[str], float]:
    """The paper's layer-wise rates: `output` for the last prunable layer, `conv` for
    convolution kernels (ndim > 2) when given, `hidden` for the other layers.

    Frankle & Carbin 2019, Sec. 2: LeNet-300-100 prunes "20 % per iteration" of the hidden
    layers and "10 % for the output layer"; the Conv-2/4/6 networks prune convolutions at 10 %,
    fully connected layers at 20 % and the output at 10 % (Figure 2's table). The output layer
    is the last prunable leaf in natural name order (Linear_2 before Linear_10, Dense after
    Conv).
    """
    for value in (hidden, output) + (() if conv is None else (conv,)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"pruning rates must be in [0, 1), got {value}")
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    leaves = {path_name(p): leaf for p, leaf in flat if prunable(path_name(p), leaf)}
    if not leaves:
        raise ValueError("no prunable parameter (by default leaves named 'kernel', ndim >= 2)")
    last = max(leaves, key=_natural_key)
    convs = {name for name, leaf in leaves.items() if len(leaf.shape) > 2}

    def rate(name: str) -> float:
        if name == last:
            return output
        return conv if conv is not None and name in convs else hidden

    return rate


class RoundResult(NamedTuple):
    """One training run under a mask. `*_E` are evaluations every `eval_every` steps."""
    params: PyTree             # θ_T, masked
    rewind_params: PyTree      # θ after `rewind_step` updates (θ0 if rewind_step == 0)
    val_loss_E: jax.Array
    val_acc_E: jax.Array
    test_acc_E: jax.Array
    early_stop_step: jax.Array  # iterations trained until the minimum validation loss
    early_stop_test_acc: jax.Array
    early_stop_val_acc: jax.Array
    final_test_acc: jax.Array


def _tree_where(cond: jax.Array, a: PyTree, b: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda x, y: jnp.where(cond, x, y), a, b)


def make_round_trainer(apply_fn: Callable[[PyTree, jax.Array], jax.Array],
                       tx: optax.GradientTransformation,
                       train: tuple[jax.Array, jax.Array], val: tuple[jax.Array, jax.Array],
                       test: tuple[jax.Array, jax.Array], *, steps: int, batch_size: int,
                       eval_every: int, rewind_step: int = 0) -> Callable[..., RoundResult]:
    """A pure function training one masked network for `steps` steps (LTH Sec. 2, step 2).

    The forward uses θ ⊙ m and the optimizer's updates are masked, so pruned weights stay
    exactly zero. Step t reads the batch `batch_indices(data_key, t)`; steps t < `start_step`
    are skipped, so a network rewound to θk (start_step = k) trains the remaining T - k steps on
    the dense run's data order. Softmax cross-entropy; validation loss/accuracy and test
    accuracy every `eval_every` steps (one `lax.scan` of blocks, each a `lax.scan` of steps).

    Args:
      apply_fn: (params, x_BxF) -> logits_BxK.
      tx: the optimizer (the paper's LeNet: Adam 1.2e-3).
      train, val, test: (x_NxF, y_N int) arrays.
      steps: T, training iterations (static); a multiple of `eval_every`.
      batch_size: examples per step (static).
      eval_every: steps between evaluations (static).
      rewind_step: k, the step whose weights are returned as `rewind_params` (0 <= k <= T).

    Returns:
      train(params, mask, data_key, start_step=0) -> RoundResult; jit- and vmap-able.
    """
    if steps <= 0 or eval_every <= 0 or steps % eval_every:
        raise ValueError(f"steps ({steps}) must be a positive multiple of eval_every "
                         f"({eval_every})")
    if not 0 <= rewind_step <= steps:
        raise ValueError(f"rewind_step must be in [0, steps={steps}], got {rewind_step}")
    x_NxF, y_N = train
    num_train, num_evals = x_NxF.shape[0], steps // eval_every

    def loss_fn(params, mask, x_BxF, y_B):
        logits_BxK = apply_fn(apply_mask(params, mask), x_BxF)
        return optax.softmax_cross_entropy_with_integer_labels(logits_BxK, y_B).mean()

    def evaluate(params, mask, data):
        logits = apply_fn(apply_mask(params, mask), data[0])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, data[1]).mean()
        return loss, jnp.mean(jnp.argmax(logits, -1) == data[1])

    def run(params, mask, data_key, start_step=0):
        params = apply_mask(params, mask)
        start_step = jnp.asarray(start_step, jnp.int32)

        def step(carry, t):
            params, opt_state, snapshot = carry
            idx = batch_indices(data_key, t, num_train, batch_size)
            grads = jax.grad(loss_fn)(params, mask, x_NxF[idx], y_N[idx])
            updates, new_opt = tx.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, mask_updates(updates, mask))
            active = t >= start_step
            params = _tree_where(active, new_params, params)
            opt_state = _tree_where(active, new_opt, opt_state)
            snapshot = _tree_where(t + 1 == rewind_step, params, snapshot)
            return (params, opt_state, snapshot), None

        def block(carry, e):
            carry, _ = jax.lax.scan(step, carry, e * eval_every + jnp.arange(eval_every))
            val_loss, val_acc = evaluate(carry[0], mask, val)
            _, test_acc = evaluate(carry[0], mask, test)
            return carry, (val_loss, val_acc, test_acc)

        carry = (params, tx.init(params), params)
        (params, _, snapshot), (val_loss_E, val_acc_E, test_acc_E) = jax.lax.scan(
            block, carry, jnp.arange(num_evals))
        eval_step_E = (jnp.arange(num_evals) + 1) * eval_every
        best = jnp.argmin(jnp.where(eval_step_E > start_step, val_loss_E, jnp.inf))
        return RoundResult(params, snapshot, val_loss_E, val_acc_E, test_acc_E,
                           eval_step_E[best] - jnp.minimum(start_step, eval_step_E[best]),
                           test_acc_E[best], val_acc_E[best], test_acc_E[-1])

    return run


class LotteryState(NamedTuple):
    """What one seed carries from round to round."""
    theta0: PyTree         # the original initialisation θ0
    theta_rewind: PyTree   # the dense network's θk
    ticket_mask: PyTree    # the reset-to-θ0 lineage's mask
    rewind_mask: PyTree    # the rewind-to-θk lineage's mask
    key: jax.Array


def _metrics(result: RoundResult, mask: PyTree, prunable: Prunable) -> dict:
    out = {name: getattr(result, name) for name in (
        "val_loss_E", "val_acc_E", "test_acc_E", "early_stop_step", "early_stop_test_acc",
        "early_stop_val_acc", "final_test_acc")}
    out["density"] = density(mask, prunable=prunable)
    return out


def run_lottery(init_fn: Callable[[jax.Array], PyTree], trainer: Callable[..., RoundResult],
                rate: Rate, keys_S: jax.Array, *, num_rounds: int, rewind_step: int,
                prunable: Prunable = default_prunable,
                on_round: Callable[[int, dict], None] | None = None) -> dict:
    """Iterative magnitude pruning with reset, rewind and the two random controls, all seeds.

    Round r >= 1 trains, per seed and under one `vmap`: "ticket" (mask_r ⊙ θ0), "rewind" (its
    own lineage's mask ⊙ θk, trained from step k), "reinit" (mask_r ⊙ a fresh init) and
    "random_mask" (a random mask with mask_r's layer-wise counts, ⊙ θ0); then both lineages
    prune `rate` of their own trained survivors. Round 0 is the dense network: the same
    compiled round with full masks, whose ticket condition is the dense run from θ0 (it
    provides θk and both lineages' first masks; its other three conditions are discarded).
    One jitted, seed-vmapped call per round.

    Args:
      init_fn: key -> params.
      trainer: from `make_round_trainer` (with the same `rewind_step`).
      rate: per-round pruning rate, a number or a function of the leaf name (`lth_rate`).
      keys_S: [S] PRNG keys, one per seed.
      num_rounds: pruning rounds after the dense run.
      rewind_step: k for the rewind condition.
      on_round: optional host callback(round, metrics as numpy) after each round; round 0
        gets the dense metrics [S, ...], later rounds [C, S, ...].

    Returns:
      {"dense": {metric: [S, ...]}, "rounds": {metric: [R, C, S, ...]}} as numpy arrays, C over
      `CONDITIONS`.
    """
    if num_rounds < 1:
        raise ValueError(f"num_rounds must be >= 1, got {num_rounds}")
    ticket, rewind = CONDITIONS.index("ticket"), CONDITIONS.index("rewind")

    def start(key):
        # Placeholders: round 0 draws θ0 itself (one compiled function for every round).
        zeros = jax.tree_util.tree_map(lambda p: jnp.zeros(p.shape, p.dtype),
                                       jax.eval_shape(init_fn, key))
        ones = jax.tree_util.tree_map(lambda p: jnp.ones(p.shape, jnp.float32), zeros)
        return LotteryState(zeros, zeros, ones, ones, key)

    def round_fn(state, round_index):
        key, first = state.key, round_index == 0
        # Round 0 draws θ0 (its reinit condition is discarded); later rounds a fresh init.
        fresh = init_fn(jnp.where(first, jax.random.fold_in(key, 0),
                                  jax.random.fold_in(jax.random.fold_in(key, 2), round_index)))
        theta0 = _tree_where(first, fresh, state.theta0)
        state = state._replace(theta0=theta0,
                               theta_rewind=_tree_where(first, theta0, state.theta_rewind))
        random_mask = random_mask_like(
            jax.random.fold_in(jax.random.fold_in(key, 3), round_index), state.ticket_mask,
            state.theta0, prunable)
        inits = (state.theta0, state.theta_rewind, fresh, state.theta0)
        masks = (state.ticket_mask, state.rewind_mask, state.ticket_mask, random_mask)
        stack = lambda trees: jax.tree_util.tree_map(lambda *x: jnp.stack(x), *trees)
        starts = jnp.asarray([0, rewind_step, 0, 0], jnp.int32)
        results = jax.vmap(trainer, in_axes=(0, 0, None, 0))(
            stack(inits), stack(masks), jax.random.fold_in(key, 1), starts)
        metrics = jax.vmap(lambda r, m: _metrics(r, m, prunable))(results, stack(masks))
        pick = lambda tree, c: jax.tree_util.tree_map(lambda x: x[c], tree)
        # After the dense round both lineages start from the dense network's pruned weights.
        rewind_trained = _tree_where(first, pick(results.params, ticket),
                                     pick(results.params, rewind))
        new_state = state._replace(
            theta_rewind=_tree_where(first, pick(results.rewind_params, ticket),
                                     state.theta_rewind),
            ticket_mask=magnitude_prune(pick(results.params, ticket), state.ticket_mask, rate,
                                        scope="layer", prunable=prunable),
            rewind_mask=magnitude_prune(rewind_trained, state.rewind_mask, rate, scope="layer",
                                        prunable=prunable))
        return new_state, metrics

    state = jax.vmap(start)(keys_S)
    step = jax.jit(jax.vmap(round_fn, in_axes=(0, None)))
    rounds, dense = [], None
    for r in range(num_rounds + 1):
        state, metrics = step(state, jnp.asarray(r, jnp.int32))
        # [S, C, ...] -> [C, S, ...]
        metrics = jax.tree_util.tree_map(lambda x: np.swapaxes(np.asarray(x), 0, 1), metrics)
        if r == 0:
            dense = jax.tree_util.tree_map(lambda x: x[ticket], metrics)
            metrics = dense
        else:
            rounds.append(metrics)
        if on_round is not None:
            on_round(r, metrics)
    return {"dense": dense,
            "rounds": {k: np.stack([m[k] for m in rounds]) for k in rounds[0]}}
