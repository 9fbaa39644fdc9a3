"""Cascaded-Forward (CaFo; Zhao et al., arXiv 2303.09728) as evaluated by Spyra & Dzwinel
("Beyond Backpropagation", arXiv 2509.19063).

A CNN is a cascade of blocks `h_k = B_k(sg(h_{k-1}))` (conv 3x3 pad 1 -> ReLU -> max-pool 2); each
block has a linear predictor `P_k(flatten(sg(h_k)))` -> C logits trained on its own with
cross-entropy, and the prediction is `argmax sum_k P_k(h_k)`.
* CaFo-Rand: the blocks keep their random initialisation (PyTorch's default, bound
  1/sqrt(fan_in)); only the predictors train (`cafo_stack`, blocks frozen in the model state).
* CaFo-DFA: the blocks are first trained with Direct Feedback Alignment (Nokland 2016), then
  frozen while the predictors train. DFA: an auxiliary linear layer on the last block gives
  `e = softmax(aux(h_K)) - onehot(y)`; block k < K receives the pseudo-cotangent `e B_k` through its
  own VJP with input `sg(h_{k-1})`, with `B_k` a fixed Gaussian [C, |h_k|] matrix with unit-norm
  rows; the last block and the aux layer follow the ordinary CE gradient. We write block k's
  update as the gradient of the surrogate `sum(sg(e B_k) * h_k) / B`, which is that VJP exactly.
Deviation: the reference blocks end in BatchNorm; it is left out (no running statistics in a
frozen random block), which we state in the experiment.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnets.train.local.mono_forward import torch_linear_uniform
from jaxnets.train.local.stack import LocalLayer, LocalStack, cross_entropy_loss


def _torch_uniform_bias(fan_in: int):
    bound = 1.0 / float(fan_in) ** 0.5
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound,
                                                                     bound)


class ConvBlock(nn.Module):
    """conv 3x3 (padding 1) -> ReLU -> 2x2 max-pool, on NHWC inputs; PyTorch default init."""

    features: int

    @nn.compact
    def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
        if x_BxHxWxC.ndim != 4:
            raise ValueError(f"ConvBlock expects NHWC input, got shape {x_BxHxWxC.shape}")
        fan_in = 9 * x_BxHxWxC.shape[-1]
        y = nn.Conv(self.features, (3, 3), padding=1, kernel_init=torch_linear_uniform,
                    bias_init=_torch_uniform_bias(fan_in))(x_BxHxWxC)
        return nn.max_pool(nn.relu(y), (2, 2), strides=(2, 2))


class LinearPredictor(nn.Module):
    """`P_k`: flatten, then a linear map to C logits (PyTorch default init)."""

    num_classes: int

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        flat = h.reshape(h.shape[0], -1)
        return nn.Dense(self.num_classes, kernel_init=torch_linear_uniform,
                        bias_init=_torch_uniform_bias(flat.shape[-1]))(flat)


def cafo_stack(channels: Sequence[int], num_classes: int) -> LocalStack:
    """Blocks (frozen: their params live in the model state) with one CE-trained predictor each."""
    channels = tuple(int(c) for c in channels)
    if not channels or min(channels) < 1:
        raise ValueError(f"channels must be a non-empty sequence of positive ints, got {channels}")
    return LocalStack(tuple(
        LocalLayer(module=ConvBlock(c), head=LinearPredictor(num_classes),
                   loss=cross_entropy_loss, trainable=False)
        for c in channels
    ))


def cafo_logits(stack: LocalStack, params: tuple, model_state: tuple, x: jax.Array) -> jax.Array:
    """CaFo's prediction: the sum of all predictors' logits, [B, C]."""
    _, outs = stack.apply(params, model_state, {"x": x})
    return sum(outs)


# ----------------------------------------------------------------------------------------------
# DFA pretraining of the blocks.

def dfa_init(channels: Sequence[int], num_classes: int, key: jax.Array, x: jax.Array
             ) -> tuple[tuple, dict]:
    """Parameters and fixed feedback matrices of DFA pretraining.

    Returns:
      params: `(block_1, ..., block_{K-1}, {"block": block_K, "aux": aux})`: K groups, one per
        local loss (the last block and the aux layer share the CE loss).
      model_state: {"feedback": (B_1, ..., B_{K-1})}, B_k [C, |h_k|] Gaussian, unit-norm rows.
    """
    channels = tuple(int(c) for c in channels)
    h, blocks, feedback = x, [], []
    for k, c in enumerate(channels):
        block = ConvBlock(c)
        p = block.init(jax.random.fold_in(key, 2 * k), h)["params"]
        h = block.apply({"params": p}, h)
        blocks.append(p)
        if k < len(channels) - 1:
            b = jax.random.normal(jax.random.fold_in(key, 2 * k + 1),
                                  (num_classes, h[0].size))
            feedback.append(b / jnp.linalg.norm(b, axis=1, keepdims=True))
    aux = LinearPredictor(num_classes).init(jax.random.fold_in(key, 1000), h)["params"]
    params = tuple(blocks[:-1]) + ({"block": blocks[-1], "aux": aux},)
    return params, {"feedback": tuple(feedback)}


def dfa_losses(channels: Sequence[int], num_classes: int):
    """`losses_fn` of DFA pretraining: K surrogate losses whose gradients are DFA's updates.

    Loss k < K is `sum(sg(e B_k) * h_k) / B` with `h_k = block_k(sg(h_{k-1}))`; loss K is
    `CE(aux(h_K), y)` with `h_K = block_K(sg(h_{K-1}))`; `e = sg(softmax(aux(h_K)) - onehot(y))`.
    """
    channels = tuple(int(c) for c in channels)
    blocks = [ConvBlock(c) for c in channels]
    aux = LinearPredictor(num_classes)

    def losses_fn(params, model_state, batch, key):
        del key
        block_params = list(params[:-1]) + [params[-1]["block"]]
        h, hs = batch["x"], []
        for block, p in zip(blocks, block_params):
            h = block.apply({"params": p}, jax.lax.stop_gradient(h))
            hs.append(h)
        logits = aux.apply({"params": params[-1]["aux"]}, hs[-1])
        labels = batch["labels"]
        ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
        error = jax.lax.stop_gradient(jax.nn.softmax(logits) - jax.nn.one_hot(labels, num_classes))
        losses = []
        for h_k, b_k in zip(hs[:-1], model_state["feedback"]):
            delta = (error @ b_k).reshape(h_k.shape)
            losses.append(jnp.sum(jax.lax.stop_gradient(delta) * h_k) / h_k.shape[0])
        return jnp.stack(losses + [ce])

    return losses_fn


def frozen_blocks(dfa_params: tuple) -> tuple:
    """The DFA-trained blocks as a `cafo_stack` model state: `({"module": block_k}, ...)`."""
    blocks = list(dfa_params[:-1]) + [dfa_params[-1]["block"]]
    return tuple({"module": p} for p in blocks)
