"""Counter-Current Learning (Kao & Hariharan, NeurIPS 2024, arXiv 2409.19841), MLP classifier.

Two anti-parallel networks with mirrored shapes, no biases, ELU activations (reference code
`IandRover/CCL-NeurIPS24`, `models/layers.py` and `utils/loss.py`):
* feedforward F: `a_0 = x`, `a_l = elu(sg(a_{l-1}) W^F_l)` for l < L, logits `o = sg(a_{L-1}) W^F_L`;
* feedback B, fed the C class one-hots (the identity I_C, one prototype per class, not the
  batch's labels): `c_L = I_C`, `c_{l-1} = elu(sg(c_l) W^B_l)` for l = L..2, `c_0 = sg(c_1) W^B_1`
  (no activation: it lives in input space). W^B_l maps level l back to level l - 1.
* Paired local losses, layer l of F against layer l of B (l = 0..L-1):
  `S_l = a_l c_l^T` [B, C], `loss_l = mean((S_l - onehot(y))^2) / n_l * loss_scale * 256`
  (the reference's scaling, loss_scale_C = 0.5), plus `CE(o, y)` for the output layer.
  With the stop-gradients, loss_l reaches exactly `W^F_l` (through a_l; none for l = 0) and
  `W^B_{l+1}` (through c_l); CE reaches only `W^F_L`.
* Optimisation: two SGD optimizers (F and B), each with its own global-norm clipping at 1.0
  (`ccl_optimizer`), all losses summed and updated simultaneously.
* Inference: the forward network, `argmax o`. `prototype_scores` also reads out a hidden layer
  by its similarity to the feedback network's class prototypes, `a_l c_l^T`.
Parameters are the 2-tuple of groups `({"forward": (W^F_1..W^F_L)}, {"feedback": (W^B_1..W^B_L)})`
for `jaxnets.train.local.local_step`.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import optax

from jaxnets.train.local.trainer import grouped


def ccl_init(key: jax.Array, sizes: Sequence[int]) -> tuple[dict, dict]:
    """Weights of F and B for layer sizes (n_0 = input, n_1..n_{L-1} hidden, n_L = C).

    PyTorch's nn.Linear default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)): W^F_l [n_{l-1}, n_l]
    has fan-in n_{l-1}; W^B_l [n_l, n_{l-1}] has fan-in n_l.
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes needs >= 2 positive layer sizes (input, ..., classes), got {sizes}")
    forward, feedback = [], []
    for l in range(1, len(sizes)):
        fan_f, fan_b = sizes[l - 1], sizes[l]
        kf, kb = jax.random.split(jax.random.fold_in(key, l))
        forward.append(jax.random.uniform(kf, (fan_f, fan_b), jnp.float32, -1, 1) / fan_f ** 0.5)
        feedback.append(jax.random.uniform(kb, (fan_b, fan_f), jnp.float32, -1, 1) / fan_b ** 0.5)
    return {"forward": tuple(forward)}, {"feedback": tuple(feedback)}


def ccl_forward(params: tuple, x_BxF: jax.Array) -> list[jax.Array]:
    """`[a_0 = x, a_1, ..., a_{L-1}, o]` of the feedforward network (inputs stop-gradient'ed)."""
    weights = params[0]["forward"]
    acts = [x_BxF]
    for l, w in enumerate(weights):
        z = jax.lax.stop_gradient(acts[-1]) @ w
        acts.append(z if l == len(weights) - 1 else jax.nn.elu(z))
    return acts


def ccl_feedback(params: tuple, num_classes: int) -> list[jax.Array]:
    """`[c_0, c_1, ..., c_{L-1}, c_L = I_C]` of the feedback network, each [C, n_l]."""
    weights = params[1]["feedback"]
    if weights[-1].shape[0] != num_classes:
        raise ValueError(f"the feedback network's input width is {weights[-1].shape[0]}, not "
                         f"num_classes={num_classes}")
    signals = [jnp.eye(num_classes, dtype=weights[-1].dtype)]
    for l in range(len(weights) - 1, -1, -1):        # W^B_L .. W^B_1
        z = jax.lax.stop_gradient(signals[0]) @ weights[l]
        signals.insert(0, z if l == 0 else jax.nn.elu(z))
    return signals


def ccl_losses(num_classes: int, loss_scale: float = 0.5):
    """`losses_fn` for `local_step`: the L paired losses (l = 0..L-1) followed by the output CE."""

    def losses_fn(params, model_state, batch, key):
        del model_state, key
        acts = ccl_forward(params, batch["x"])
        signals = ccl_feedback(params, num_classes)
        target = jax.nn.one_hot(batch["labels"], num_classes)
        losses = []
        for a, c in zip(acts[:-1], signals[:-1]):
            similarity = a @ c.T                                            # [B, C]
            losses.append(jnp.mean(jnp.square(similarity - target)) / a.shape[-1]
                          * loss_scale * 256.0)
        losses.append(jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
            acts[-1], batch["labels"])))
        return jnp.stack(losses)

    return losses_fn


def ccl_logits(params: tuple, x_BxF: jax.Array) -> jax.Array:
    """The forward network's logits `o` [B, C]."""
    return ccl_forward(params, x_BxF)[-1]


def prototype_scores(params: tuple, x_BxF: jax.Array, layer: int, num_classes: int) -> jax.Array:
    """`a_l c_l^T` [B, C]: similarity of layer l's activity to the feedback class prototypes."""
    acts = ccl_forward(params, x_BxF)
    if not 0 <= layer < len(acts) - 1:
        raise ValueError(f"layer must be in [0, {len(acts) - 2}], got {layer}")
    return acts[layer] @ ccl_feedback(params, num_classes)[layer].T


def ccl_optimizer(lr_forward: float, lr_feedback: float, clip: float = 1.0,
                  momentum: float = 0.0) -> optax.GradientTransformation:
    """The reference's two SGD optimizers, each clipping its own network's global norm."""
    def branch(lr):
        sgd = optax.sgd(lr, momentum=momentum or None)
        return optax.chain(optax.clip_by_global_norm(clip), sgd) if clip > 0 else sgd

    return grouped((branch(lr_forward), branch(lr_feedback)))
