"""Mono-Forward (Gong, Li & Abdulla, arXiv 2501.09238), as evaluated by Spyra & Dzwinel
("Beyond Backpropagation", arXiv 2509.19063).

Hidden layer l computes `a_l = relu(W_l sg(a_{l-1}) + b_l)` and owns a projection matrix
`M_l in R^{C x n_l}` that maps its activity to class "goodness" logits `G_l = a_l M_l^T`; its local
loss is `CE(G_l, y)`, which reaches (W_l, b_l, M_l) only. There is no output layer: inference is one
forward pass and `argmax_c G_L` of the last layer. Initialisation follows the reference code:
W_l Kaiming-uniform with the ReLU gain (bound sqrt(6 / fan_in)), zero biases, M_l with PyTorch's
default bound 1 / sqrt(n_l). The reference also trains an `M_0` on the raw input that is never
used at test time; it does not influence any other layer and is left out here.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnets.train.local.stack import LocalLayer, LocalStack, cross_entropy_loss

# Kaiming-uniform with the ReLU gain: bound sqrt(6 / fan_in).
relu_kaiming_uniform = nn.initializers.variance_scaling(2.0, "fan_in", "uniform")
# PyTorch's nn.Linear default (kaiming_uniform with a = sqrt(5)): bound 1 / sqrt(fan_in).
torch_linear_uniform = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def mono_forward_stack(hidden: Sequence[int], num_classes: int) -> LocalStack:
    """The MF network: one `LocalLayer` per hidden width, each with its projection M_l as head.

    Args:
      hidden: widths n_1..n_L of the hidden layers, e.g. (256, 256).
      num_classes: C.
    """
    hidden = tuple(int(h) for h in hidden)
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return LocalStack(tuple(
        LocalLayer(
            module=nn.Dense(width, kernel_init=relu_kaiming_uniform),
            head=nn.Dense(num_classes, use_bias=False, kernel_init=torch_linear_uniform),
            activation=nn.relu,
            loss=cross_entropy_loss,
        )
        for width in hidden
    ))


def mono_forward_logits(stack: LocalStack, params: tuple, model_state: tuple,
                        x_BxF: jax.Array) -> jax.Array:
    """Inference of the reference code: the last layer's goodness `a_L M_L^T` [B, C]."""
    _, outs = stack.apply(params, model_state, {"x": x_BxF})
    return outs[-1]


class BackpropMLP(nn.Module):
    """The BP baseline on the same weight stack: the MF hidden layers (same init) and a final
    linear classifier (PyTorch default init), trained end to end.

    Attributes:
      hidden: hidden widths.
      num_classes: C.
      activation: nonlinearity.
      use_bias: biases in every layer (False for the CCL network).
      kernel_init: initialiser of the hidden weights.
    """

    hidden: Sequence[int]
    num_classes: int
    activation: object = nn.relu
    use_bias: bool = True
    kernel_init: object = relu_kaiming_uniform

    @nn.compact
    def __call__(self, x_BxF: jax.Array) -> jax.Array:
        h = x_BxF
        for width in self.hidden:
            h = self.activation(nn.Dense(width, use_bias=self.use_bias,
                                         kernel_init=self.kernel_init)(h))
        return nn.Dense(self.num_classes, use_bias=self.use_bias,
                        kernel_init=torch_linear_uniform,
                        bias_init=_torch_bias_init(h.shape[-1]))(h)


def _torch_bias_init(fan_in: int):
    bound = 1.0 / jnp.sqrt(float(fan_in))

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init
