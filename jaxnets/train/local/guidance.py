"""Guidance: training a hard-to-train target network by aligning its layers with a frozen guide
("Training the Untrainable: Introducing Inductive Bias via Representational Alignment",
Subramaniam, Mayo, Conwell, Poggio, Katz, Cheung, Barbu; NeurIPS 2025, arXiv 2410.20035).

Target T (trained) and guide G (frozen; trained beforehand or left at its random init) see the same
minibatch. Every Linear layer's output is recorded (the reference's forward hooks), and the loss is

    L = CE(T(x), y) + alpha * sum_i [1 - CKA(A^T_{j(i)}, sg(A^G_i))]

with `j(i)` from `jaxnets.explain.layer_mapping` (guide layers spread over target layers) and `sg`
the stop-gradient: the guide's parameters live in `TrainState.model_state`, are never
differentiated and never updated. Guidance is not a local method, but it is a vector of losses
(CE and the alignment term) over one parameter group, so it runs through the same
`jaxnets.train.local.local_step` (`guided_losses`).

The networks of the digits mini-reproduction: `PlainMLP` (depth Linear+ReLU layers of one width,
no normalisation or skip connections, PyTorch's default init: W and b ~ U(-1/sqrt(fan_in),
1/sqrt(fan_in)), i.e. weight variance 1/(3 fan_in), far below ReLU's critical 2/fan_in) and
`ResidualMLP` (the same layers wrapped as `h + relu(W h + b)`), the guide that carries the residual
prior.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnets.explain.similarity import METRICS, neural_distance

PyTree = Any


def _torch_uniform(fan_in: int) -> Callable:
    bound = 1.0 / float(fan_in) ** 0.5

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class TorchDense(nn.Module):
    """`x W + b` with PyTorch's default `nn.Linear` init (W, b ~ U(+-1/sqrt(fan_in)))."""

    features: int

    @nn.compact
    def __call__(self, x_BxF: jax.Array) -> jax.Array:
        fan_in = x_BxF.shape[-1]
        w = self.param("kernel", _torch_uniform(fan_in), (fan_in, self.features))
        b = self.param("bias", _torch_uniform(fan_in), (self.features,))
        return x_BxF @ w + b[None, :]


class PlainMLP(nn.Module):
    """`depth` hidden Linear+ReLU layers of `width`, then a Linear classifier.

    Returns `(logits_BxC, linear_outputs)`: the outputs of all depth + 1 Linear layers (the
    activations guidance aligns), classifier logits last.
    """

    depth: int
    width: int
    num_classes: int

    @nn.compact
    def __call__(self, x_BxF: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
        outs, h = [], x_BxF
        for _ in range(self.depth):
            z = TorchDense(self.width)(h)
            outs.append(z)
            h = nn.relu(z)
        logits = TorchDense(self.num_classes)(h)
        outs.append(logits)
        return logits, outs


class ResidualMLP(nn.Module):
    """An input Linear to `width`, then `depth - 1` residual blocks `h + relu(W h + b)`, then a
    Linear classifier (depth + 1 Linear layers, like `PlainMLP`). Returns the same pair."""

    depth: int
    width: int
    num_classes: int

    @nn.compact
    def __call__(self, x_BxF: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
        z = TorchDense(self.width)(x_BxF)
        outs, h = [z], nn.relu(z)
        for _ in range(self.depth - 1):
            z = TorchDense(self.width)(h)
            outs.append(z)
            h = h + nn.relu(z)
        logits = TorchDense(self.num_classes)(h)
        outs.append(logits)
        return logits, outs


Apply = Callable[[PyTree, jax.Array], tuple[jax.Array, list[jax.Array]]]


def guided_losses(target_apply: Apply, guide_apply: Apply | None, *, alpha: float = 1.0,
                  metric: str = "cka") -> Callable:
    """`losses_fn(params, model_state, batch, key) -> [CE, alpha * distance]` for `local_step`.

    Args:
      target_apply: `(target_params, x_BxF) -> (logits_BxC, [layer activations])`.
      guide_apply: the same for the guide, or None for the unguided baseline (alignment term 0).
      alpha: weight of the alignment term (the reference's default 1.0).
      metric: "cka" (1 - linear CKA, the paper's default) or "rsa".

    `params` is the 1-tuple `(target_params,)`; `model_state` is `{"guide": guide_params}`
    (frozen: read under `stop_gradient`, never updated); `batch` has "x" and "labels".
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")

    def losses_fn(params: tuple, model_state: PyTree, batch: dict, key: jax.Array) -> jax.Array:
        del key
        if not isinstance(params, tuple) or len(params) != 1:
            raise ValueError("guided_losses expects params = (target_params,)")
        logits, target_acts = target_apply(params[0], batch["x"])
        ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"]))
        if guide_apply is None:
            return jnp.stack([ce, jnp.zeros_like(ce)])
        guide_params = jax.lax.stop_gradient(model_state["guide"])
        _, guide_acts = guide_apply(guide_params, batch["x"])
        guide_acts = [jax.lax.stop_gradient(a) for a in guide_acts]
        return jnp.stack([ce, alpha * neural_distance(target_acts, guide_acts, metric)])

    return losses_fn


def module_apply(module: nn.Module) -> Apply:
    """`(params, x) -> module.apply({"params": params}, x)`."""
    return lambda params, x: module.apply({"params": params}, x)
