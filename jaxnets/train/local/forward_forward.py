"""Forward-Forward (Hinton, arXiv 2212.13345), supervised variant, as implemented in the code of
Spyra & Dzwinel ("Beyond Backpropagation", arXiv 2509.19063).

* Label embedding: the label is written into the input as a one-hot vector. Positive data carry the
  true label; negative data are the same inputs with a label drawn uniformly from the C - 1 wrong
  ones, `(y + U{1..C-1}) mod C`. The reference overwrites the first C pixels of 784-pixel MNIST;
  on 64-pixel digits that destroys signal, so `mode="append"` concatenates the one-hot instead.
* Layer l: `h = a_{l-1} / (rms(a_{l-1}) + 1e-8)` (length normalisation, also on the input),
  `a_l = relu(W_l sg(h) + b_l)`, W_l ~ N(0, 1/n_l), b_l = 0; the ReLU's backward pass is the
  identity (straight-through), as in the reference.
* Goodness `g_l = sum_j a_{l,j}^2`; local loss `BCEWithLogits(g_l - theta_l, 1[positive])` over the
  stacked positive and negative batch, i.e. `softplus(theta - g_pos) + softplus(g_neg - theta)`,
  with `theta_l = n_l`.
* Inference: for each candidate label c, embed c, run the network and add the goodness of layers
  2..L (the first layer is excluded); predict the label with the largest total (C forward passes).
Not implemented: the reference's optional peer normalisation and its downstream linear head
(which the reported accuracy does not use).
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnets.train.local.batches import data_key
from jaxnets.train.data import batch_indices
from jaxnets.train.local.stack import LocalLayer, LocalStack
from jaxnets.train.state import TrainState

EMBEDDINGS = ("append", "overwrite")


@jax.custom_vjp
def straight_through_relu(x: jax.Array) -> jax.Array:
    """`relu(x)` forward; the cotangent passes unchanged backward (straight-through estimator)."""
    return jax.nn.relu(x)


def _st_fwd(x):
    return jax.nn.relu(x), None


def _st_bwd(_, g):
    return (g,)


straight_through_relu.defvjp(_st_fwd, _st_bwd)


def length_normalize(h_BxF: jax.Array, eps: float = 1e-8) -> jax.Array:
    """`h / (rms(h) + eps)` row-wise (no mean subtraction), FF's normalisation between layers."""
    rms = jnp.sqrt(jnp.mean(jnp.square(h_BxF), axis=-1, keepdims=True))
    return h_BxF / (rms + eps)


def goodness(a_BxN: jax.Array) -> jax.Array:
    """`g = sum_j a_j^2` per row, [B]."""
    return jnp.sum(jnp.square(a_BxN), axis=-1)


def embed_labels(x_BxF: jax.Array, labels_B: jax.Array, num_classes: int,
                 mode: str = "append") -> jax.Array:
    """Writes one-hot labels into the inputs: appended ([B, F + C]) or over the first C features."""
    if mode not in EMBEDDINGS:
        raise ValueError(f"mode must be one of {EMBEDDINGS}, got {mode!r}")
    if x_BxF.ndim != 2:
        raise ValueError(f"x_BxF must be [B, F], got shape {x_BxF.shape}")
    one_hot = jax.nn.one_hot(labels_B, num_classes, dtype=x_BxF.dtype)
    if mode == "append":
        return jnp.concatenate([x_BxF, one_hot], axis=-1)
    if x_BxF.shape[1] < num_classes:
        raise ValueError(f"mode='overwrite' needs at least num_classes={num_classes} features, "
                         f"got {x_BxF.shape[1]}")
    return x_BxF.at[:, :num_classes].set(one_hot)


def wrong_labels(key: jax.Array, labels_B: jax.Array, num_classes: int) -> jax.Array:
    """A label drawn uniformly from the C - 1 labels other than each true one."""
    shift = jax.random.randint(key, labels_B.shape, 1, num_classes)
    return (labels_B + shift) % num_classes


def ff_batches(x_NxF: jax.Array, labels_N: jax.Array, batch_size: int, num_classes: int,
               mode: str = "append") -> Callable[[TrainState], dict[str, jax.Array]]:
    """`state -> batch` of B positive then B negative examples for FF.

    Returns batches with "x" [2B, F'] (label-embedded inputs), "positive" [2B] bool, "labels" [B]
    (true labels) and "negative_labels" [B] (the labels embedded in the negatives).
    """
    x_NxF = jnp.asarray(x_NxF)
    labels_N = jnp.asarray(labels_N, jnp.int32)
    n = x_NxF.shape[0]
    if labels_N.shape != (n,):
        raise ValueError(f"labels_N must have shape ({n},), got {labels_N.shape}")

    def batch_fn(state: TrainState) -> dict[str, jax.Array]:
        idx = batch_indices(data_key(state), state.step, n, batch_size)
        x, y = x_NxF[idx], labels_N[idx]
        y_neg = wrong_labels(jax.random.fold_in(state.step_key(), 2), y, num_classes)
        inputs = jnp.concatenate([embed_labels(x, y, num_classes, mode),
                                  embed_labels(x, y_neg, num_classes, mode)], axis=0)
        positive = jnp.concatenate([jnp.ones_like(y, bool), jnp.zeros_like(y, bool)])
        return {"x": inputs, "positive": positive, "labels": y, "negative_labels": y_neg}

    return batch_fn


def ff_loss(theta: float) -> Callable[[jax.Array, dict], jax.Array]:
    """The local loss `mean BCEWithLogits(goodness - theta, positive)` of one FF layer."""

    def loss(a_BxN: jax.Array, batch: dict) -> jax.Array:
        logits = goodness(a_BxN) - theta
        sign = jnp.where(batch["positive"], -1.0, 1.0)   # softplus(-z) for positives, (z) else
        return jnp.mean(jax.nn.softplus(sign * logits))

    return loss


class FFLayer(nn.Module):
    """`W length_normalize(h) + b` with W ~ N(0, 1/features), b = 0 (the reference's init)."""

    features: int

    @nn.compact
    def __call__(self, h_BxF: jax.Array) -> jax.Array:
        init = nn.initializers.normal(stddev=1.0 / float(self.features) ** 0.5)
        return nn.Dense(self.features, kernel_init=init)(length_normalize(h_BxF))


def forward_forward_stack(hidden: Sequence[int]) -> LocalStack:
    """The FF network: one `FFLayer` + straight-through ReLU per width, theta_l = n_l."""
    hidden = tuple(int(h) for h in hidden)
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden}")
    return LocalStack(tuple(
        LocalLayer(module=FFLayer(width), activation=straight_through_relu,
                   loss=ff_loss(float(width)))
        for width in hidden
    ))


def ff_scores(stack: LocalStack, params: tuple, model_state: tuple, x_BxF: jax.Array,
              num_classes: int, mode: str = "append") -> jax.Array:
    """Multi-pass inference: [B, C] accumulated goodness of layers 2..L (all layers when L = 1)
    with each label c embedded; `argmax` over C is the prediction."""

    def score(c):
        embedded = embed_labels(x_BxF, jnp.full(x_BxF.shape[:1], c, jnp.int32), num_classes, mode)
        ys, _ = stack.apply(params, model_state, {"x": embedded})
        counted = ys[1:] if len(ys) > 1 else ys
        return sum(goodness(y) for y in counted)

    return jax.vmap(score, out_axes=1)(jnp.arange(num_classes))
