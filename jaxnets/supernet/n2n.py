"""N2N students: a teacher MLP compressed by layer removal and shrinkage, as masks.

Ashok, Rhinehart, Beainy & Kitani, "N2N Learning: Network to Network Compression via Policy
Gradient Reinforcement Learning" (ICLR 2018). A student is derived from the teacher by two kinds
of actions (Sec. 3): *removal* drops hidden layers (stage 1), *shrinkage* scales the width of each
remaining layer (stage 2). The student is re-initialised and trained by knowledge distillation
on the teacher's logits only (Sec. 3.4; the released code's `utils.py`: MSE between logits), and
scored by the reward of Sec. 3.3, `R = R_c * R_a` (eq. 3) with `R_a = acc_s / acc_t` and
`R_c = C (2 - C)`, `C = 1 - #params_s / #params_t`; an invalid student gets -1.

Here every student is one arch of a padded supernet (`N2NStudent`): all hidden layers have the
teacher's max width, a removed layer is skipped (the next kept layer reads the previous kept
layer's output, i.e. its input is resized as in the paper), and a shrunk layer is a prefix width
mask. So the N rollouts of a policy epoch (and the seeds) train as one population under `vmap` in
one jitted `lax.scan` (`make_student_trainer`). The policies live in `jaxnets.supernet.n2n_policy`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxnets.nn.elastic import ElasticDense, prefix_mask, torch_linear_init
from jaxnets.train.data import batch_indices

__all__ = ["N2NArch", "N2NStudent", "compression_reward", "count_params", "full_n2n_arch",
           "make_student_trainer", "shrink_widths"]


@flax.struct.dataclass
class N2NArch:
    """A student of an `N2NStudent` supernet (a leading axis batches students).

    Attributes:
        keep: bool [L], whether hidden layer l is kept (stage-1 removal action).
        widths: int32 [L], the active width of hidden layer l (stage-2 shrinkage); ignored for a
            removed layer.
    """
    keep: jax.Array
    widths: jax.Array


def full_n2n_arch(hidden: Sequence[int]) -> N2NArch:
    """The teacher itself: every layer kept at its full width."""
    return N2NArch(jnp.ones(len(hidden), bool), jnp.asarray(hidden, jnp.int32))


def shrink_widths(hidden: Sequence[int], scales_L: jax.Array, minimum: int = 1) -> jax.Array:
    """Stage-2 widths `max(round(scale_l * hidden_l), minimum)` as int32 [L] (the released code
    floors conv out-channels at 10; `minimum` plays that role)."""
    scaled = jnp.round(scales_L * jnp.asarray(hidden, jnp.float32)).astype(jnp.int32)
    return jnp.maximum(scaled, minimum)


def _check_arch(arch: N2NArch, num_layers: int) -> None:
    if not isinstance(arch, N2NArch):
        raise TypeError(f"N2NStudent expects an N2NArch, got {type(arch).__name__}")
    if jnp.shape(arch.keep) != (num_layers,) or jnp.shape(arch.widths) != (num_layers,):
        raise ValueError(f"N2NStudent: arch.keep and arch.widths must have shape ({num_layers},), "
                         f"got {jnp.shape(arch.keep)} and {jnp.shape(arch.widths)} (a batch of "
                         "archs goes through jax.vmap)")


class N2NStudent(nn.Module):
    """A teacher MLP `in -> hidden[0] -> ... -> hidden[L-1] -> out` (ReLU) and all its N2N
    students, padded to `W = max(hidden)`.

    Hidden layer l: `h' = relu(dense_l(h * m_in)) * m_l` with `m_l = prefix(widths[l])`; if
    `keep[l]` is false the layer is skipped (`h, m_in` pass through unchanged), so the next kept
    layer reads the last kept layer's output. The head reads the last kept layer. This equals the
    plain MLP with the kept layers at their widths, whose weights are the top-left blocks of the
    padded ones. Weights are drawn as PyTorch initialises the student's own layers (fan-in = the
    active input width), so `init` takes the arch.

    Attributes:
        hidden: the teacher's hidden widths [L].
        out_features: C, the number of classes.
    """
    hidden: Sequence[int]
    out_features: int

    @nn.compact
    def __call__(self, x_BxF: jax.Array, arch: N2NArch | None = None) -> jax.Array:
        """Maps x [B, F] to logits [B, C]; `arch=None` is the teacher."""
        if not self.hidden:
            raise ValueError("N2NStudent.hidden must list at least one hidden width")
        arch = full_n2n_arch(self.hidden) if arch is None else arch
        _check_arch(arch, len(self.hidden))
        width = max(self.hidden)
        h, in_mask = x_BxF, None
        fan_in = jnp.asarray(x_BxF.shape[-1], jnp.int32)
        for l in range(len(self.hidden)):
            out_mask = prefix_mask(jnp.minimum(arch.widths[l], self.hidden[l]), width)
            init = torch_linear_init(fan_in)
            # relu(0) = 0: the width mask applied after the ReLU only gives the same values and
            # gradients, and a faster XLA backward (see `jaxnets.nn.elastic`'s `_run`).
            y = ElasticDense(width, kernel_init=init, bias_init=init, name=f"dense_{l}")(
                h, in_mask, None)
            y = nn.relu(y) * out_mask[None]
            keep = arch.keep[l]
            if l == 0:  # the input has F features, not W: layer 0 is always kept
                h, in_mask = y, out_mask
            else:
                h = jnp.where(keep, y, h)
                in_mask = jnp.where(keep, out_mask, in_mask)
            fan_in = jnp.where(keep | (l == 0), jnp.minimum(arch.widths[l], self.hidden[l]),
                               fan_in)
        init = torch_linear_init(fan_in)
        return ElasticDense(self.out_features, kernel_init=init, bias_init=init, name="head")(
            h, in_mask, None)


def count_params(arch: N2NArch, in_features: int, hidden: Sequence[int], out_features: int
                 ) -> jax.Array:
    """Weights plus biases of the physical student (traceable, vmappable): sum over kept layers
    of `(fan_in + 1) * width`, with layer 0 always kept, plus the head `(fan_in + 1) * C`."""
    widths = jnp.minimum(arch.widths, jnp.asarray(hidden, jnp.int32))
    total = jnp.asarray(0, jnp.int32)
    fan_in = jnp.asarray(in_features, jnp.int32)
    for l in range(len(hidden)):
        keep = arch.keep[l] | (l == 0)
        total = total + jnp.where(keep, (fan_in + 1) * widths[l], 0)
        fan_in = jnp.where(keep, widths[l], fan_in)
    return total + (fan_in + 1) * out_features


def compression_reward(acc_s: jax.Array, acc_t: jax.Array, params_s: jax.Array,
                       params_t: jax.Array) -> jax.Array:
    """The N2N reward (Sec. 3.3, eq. 3): `R = R_c * R_a`, `R_a = acc_s / acc_t`,
    `R_c = C (2 - C)` with `C = 1 - params_s / params_t`; -1 for an invalid student (more
    parameters than the teacher, none, or a non-finite accuracy), as in the released `rl.py`;
    a student as large as the teacher gets `C = 0`, so R = 0.

    Args:
        acc_s, acc_t: student and teacher accuracies (any broadcastable shapes).
        params_s, params_t: their parameter counts.

    Returns:
        float32 rewards of the broadcast shape.
    """
    acc_s = jnp.asarray(acc_s, jnp.float32)
    ratio = jnp.asarray(params_s, jnp.float32) / jnp.asarray(params_t, jnp.float32)
    c = 1.0 - ratio
    reward = (acc_s / jnp.asarray(acc_t, jnp.float32)) * c * (2.0 - c)
    valid = (ratio <= 1.0) & (ratio > 0.0) & jnp.isfinite(acc_s)
    return jnp.where(valid, reward, -1.0)


def make_student_trainer(model: N2NStudent, tx: optax.GradientTransformation, x_train: jax.Array,
                         eval_sets: dict[str, tuple[jax.Array, jax.Array]], num_steps: int,
                         batch_size: int
                         ) -> Callable[[jax.Array, N2NArch, jax.Array], dict[str, jax.Array]]:
    """Builds `train(keys_N, archs_N, teacher_logits_MxC) -> {"<set>/accuracy": [N],
    "logit_mse": [N]}` (the teacher's logits on `x_train` are shared by the N students).

    Each student is re-initialised from its key (N2N Sec. 3.4: students are trained from scratch)
    and trained for `num_steps` optimizer steps on `mean((f_s(x) - f_t(x))^2)`, the MSE between
    its logits and the teacher's (the released code's KD loss; no hard-label term). Step t's batch
    is `batch_indices(fold_in(key, 1), t, ...)`. The N students train as one population: `vmap`
    over students of a `lax.scan` over steps. Not jitted here so that callers can `vmap` it
    further (e.g. over seeds) before `jit`.

    Args:
        model: the padded student supernet.
        tx: the students' optimizer (the paper's code: Adam lr 5e-4, weight decay 5e-4).
        x_train: [M, F] training inputs.
        eval_sets: name -> (x [E, F], y [E]) sets on which accuracies are reported.
        num_steps, batch_size: KD steps per student and batch size.
    """
    num_train = x_train.shape[0]
    if not 0 < batch_size <= num_train:
        raise ValueError(f"batch_size must be in [1, {num_train}], got {batch_size}")

    def one(key: jax.Array, arch: N2NArch, teacher_logits: jax.Array) -> dict[str, jax.Array]:
        if teacher_logits.shape[0] != num_train:
            raise ValueError(f"teacher_logits has {teacher_logits.shape[0]} rows, x_train "
                             f"{num_train}")
        params = model.init(key, x_train[:1], arch)
        opt_state = tx.init(params)

        def loss_fn(p, idx):
            diff = model.apply(p, x_train[idx], arch) - teacher_logits[idx]
            return jnp.mean(diff * diff)

        def step(carry, t):
            p, o = carry
            idx = batch_indices(jax.random.fold_in(key, 1), t, num_train, batch_size)
            loss, grads = jax.value_and_grad(loss_fn)(p, idx)
            updates, o = tx.update(grads, o, p)
            return (optax.apply_updates(p, updates), o), loss

        (params, _), losses = jax.lax.scan(step, (params, opt_state), jnp.arange(num_steps))
        out = {"logit_mse": losses[-1]}
        for name, (x, y) in eval_sets.items():
            logits = model.apply(params, x, arch)
            out[f"{name}/accuracy"] = jnp.mean(jnp.argmax(logits, -1) == y)
        return out

    return jax.vmap(one, in_axes=(0, 0, None))
