"""Zero-cost proxies: scores of an untrained network that predict its trained accuracy.

  * `gradsign` — Zhang & Jia, "GradSign: Model Performance Inference with Theoretical Insights"
    (ICLR 2022), Algorithm 1: at a random initialisation theta_0, take each sample's own loss
    gradient g_i = grad l(f(x_i), y_i) and score `sum_k | sum_i sign(g_{i,k}) |` over the weights
    k of the linear/conv layers (biases and norms excluded, as in the authors'
    `grad_conflict.py`). It is large when the samples agree on the descent direction of each
    weight. Each sample is forwarded alone (per-sample gradients under `vmap`).
  * `grad_norm` and `snip` — the baselines GradSign is compared with, in the form of the
    zero-cost-proxy study (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR
    2021): with the loss of one mini-batch, `grad_norm = sum_layers ||dL/dW_l||_2` and
    `snip = sum_k |W_k dL/dW_k|` (Lee et al., "SNIP", ICLR 2019, eq. 6 summed).
The proxies take `loss_fn(params, x_BxF, y_B) -> scalar mean loss`, so a masked subnet of a
supernet is scored by closing over its arch: the masked weights get exactly zero gradient and add
nothing, which equals scoring the physically sliced network.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

__all__ = ["grad_norm", "gradsign", "is_kernel", "per_sample_gradients", "snip"]

PyTree = Any
LossFn = Callable[[PyTree, jax.Array, jax.Array], jax.Array]


def is_kernel(path: tuple) -> bool:
    """Selects the weight matrices of linear layers (leaves named "kernel"), not biases/norms."""
    last = path[-1] if path else None
    return getattr(last, "key", getattr(last, "name", None)) == "kernel"


def _selected(tree: PyTree, select: Callable[[tuple], bool]) -> list[jax.Array]:
    leaves = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
              if select(path)]
    if not leaves:
        raise ValueError("no parameter matched `select` (by default leaves named 'kernel')")
    return leaves


def _check_batch(x: jax.Array, y: jax.Array) -> None:
    if jnp.ndim(x) < 1 or jnp.ndim(y) < 1 or jnp.shape(x)[0] != jnp.shape(y)[0]:
        raise ValueError(f"x and y must share a leading batch axis, got shapes {jnp.shape(x)} "
                         f"and {jnp.shape(y)}")


def per_sample_gradients(loss_fn: LossFn, params: PyTree, x: jax.Array, y: jax.Array) -> PyTree:
    """`grad l(f(x_i), y_i)` for every sample i, each forwarded alone; leaves get a leading [B]."""
    _check_batch(x, y)

    def one(p, xi, yi):
        return loss_fn(p, xi[None], yi[None])

    return jax.vmap(jax.grad(one), in_axes=(None, 0, 0))(params, x, y)


def gradsign(loss_fn: LossFn, params: PyTree, x: jax.Array, y: jax.Array, *,
             select: Callable[[tuple], bool] = is_kernel, reduce: str = "sum",
             param_mask: PyTree | None = None) -> jax.Array:
    """GradSign score, Zhang & Jia (2022), Algorithm 1: `sum_k | sum_i sign(g_{i,k}) |`.

    Args:
        loss_fn: `(params, x_BxF, y_B) -> mean loss`.
        params: the network at initialisation.
        x, y: the B samples (the paper uses one batch of 128).
        select: which leaves count (`path -> bool`; default: kernels).
        reduce: "sum" over weights (the paper's NAS-Bench-201 numbers) or "mean" (the authors'
            NASWOT variant, `nanmean` over weights).
        param_mask: for "mean": a pytree like `params` with 1 on the weights that exist (e.g. a
            subnet's) so the mean runs over those only; None counts every selected weight.

    Returns:
        float32 scalar.
    """
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    grads = _selected(per_sample_gradients(loss_fn, params, x, y), select)
    agreement = [jnp.abs(jnp.sum(jnp.sign(g), axis=0)) for g in grads]
    total = sum(jnp.sum(a) for a in agreement)
    if reduce == "sum":
        return total
    if param_mask is None:
        count = sum(a.size for a in agreement)
    else:
        count = sum(jnp.sum(m) for m in _selected(param_mask, select))
    return total / count


def grad_norm(loss_fn: LossFn, params: PyTree, x: jax.Array, y: jax.Array, *,
              select: Callable[[tuple], bool] = is_kernel) -> jax.Array:
    """`sum_l ||dL/dW_l||_2` over the selected weight tensors, L the batch's mean loss."""
    _check_batch(x, y)
    grads = _selected(jax.grad(loss_fn)(params, x, y), select)
    return sum(jnp.sqrt(jnp.sum(g * g)) for g in grads)


def snip(loss_fn: LossFn, params: PyTree, x: jax.Array, y: jax.Array, *,
         select: Callable[[tuple], bool] = is_kernel) -> jax.Array:
    """`sum_k |W_k dL/dW_k|` over the selected weights (SNIP's connection sensitivity)."""
    _check_batch(x, y)
    grads = _selected(jax.grad(loss_fn)(params, x, y), select)
    weights = _selected(params, select)
    return sum(jnp.sum(jnp.abs(w * g)) for w, g in zip(weights, grads))
