"""Weight-sharing supernet training: one optimizer step over K sampled subnets under `vmap`.

`build_supernet_step` returns the pure `step_fn(state) -> (state, metrics)` that
`jaxnets.train.fit` runs: it draws K architectures from the step's key, runs the K forward passes
as one `jax.vmap` over the architecture axis (params broadcast), and applies one update with the
gradient of the summed losses — the gradient accumulation over sampled widths of Algorithm 1 of
Yu & Huang, "Universally Slimmable Networks and Improved Training Techniques" (ICCV 2019).
With `distill`, that paper's *inplace distillation* is used: the first architecture (the largest,
under `sample_sandwich`) learns from the labels and every other one from the largest's
predictions, held constant (`stop_gradient`).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxnets.train.state import TrainState

__all__ = ["build_supernet_step", "soft_cross_entropy"]

Arch = Any
PyTree = Any


def soft_cross_entropy(student_logits: jax.Array, teacher_logits: jax.Array,
                       weights: jax.Array | None = None) -> jax.Array:
    """Mean over examples of `-sum_c softmax(teacher)_c log softmax(student)_c` (inplace
    distillation's loss; the teacher's gradient is stopped here).

    Args:
        student_logits, teacher_logits: [..., C].
        weights: optional [...] example weights (e.g. a node mask); the mean is weighted.
    """
    target = jax.nn.softmax(jax.lax.stop_gradient(teacher_logits))
    losses = -jnp.sum(target * jax.nn.log_softmax(student_logits), axis=-1)
    if weights is None:
        return jnp.mean(losses)
    weights = weights.astype(losses.dtype)
    return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def build_supernet_step(
    forward: Callable[[PyTree, Arch, jax.Array, jax.Array], jax.Array],
    loss: Callable[[jax.Array, jax.Array], jax.Array],
    tx: optax.GradientTransformation,
    sample_archs: Callable[[jax.Array, jax.Array], Arch],
    *,
    distill: Callable[[jax.Array, jax.Array, jax.Array], jax.Array] | None = None,
    reduce: str = "sum",
) -> Callable[[TrainState], tuple[TrainState, dict]]:
    """A `fit` step that trains K sampled subnets of a supernet at once.

    Args:
        forward: `(params, arch, step, key) -> outputs` of one subnet on the batch of `step`
            (the batch is read from the step, as every `fit` step does).
        loss: `(outputs, step) -> scalar` supervised loss of one subnet.
        tx: the optax transform.
        sample_archs: `(key, step) -> archs` with a static leading axis K, e.g.
            `lambda key, step: sample_sandwich(space, key, 2)`.
        distill: optional `(student_outputs, teacher_outputs, step) -> scalar`; when given,
            archs[0] is trained with `loss` and archs[1:] with `distill` against archs[0]'s
            outputs under `stop_gradient` (inplace distillation).
        reduce: "sum" (gradient accumulation over subnets, Yu & Huang 2019 Alg. 1) or "mean".

    Returns:
        `step_fn(state) -> (state, metrics)`; metrics: "loss" (the reduced objective) and
        "subnet_loss" [K] (each subnet's own loss term).
    """
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")

    def step_fn(state: TrainState) -> tuple[TrainState, dict]:
        arch_key, forward_key = jax.random.split(state.step_key())
        archs = sample_archs(arch_key, state.step)

        def objective(params):
            outputs = jax.vmap(forward, in_axes=(None, 0, None, None))(
                params, archs, state.step, forward_key)
            if distill is None:
                terms = jax.vmap(loss, in_axes=(0, None))(outputs, state.step)
            else:
                teacher = jax.lax.stop_gradient(outputs[0])
                students = jax.vmap(distill, in_axes=(0, None, None))(
                    outputs[1:], teacher, state.step)
                terms = jnp.concatenate([loss(outputs[0], state.step)[None], students])
            total = jnp.sum(terms) if reduce == "sum" else jnp.mean(terms)
            return total, terms

        (total, terms), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        return state.apply_gradients(tx, grads), {"loss": total, "subnet_loss": terms}

    return step_fn
