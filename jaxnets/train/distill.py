"""Knowledge distillation (Hinton, Vinyals & Dean 2015) as one small, reusable loss.

TAS (Dong & Yang, NeurIPS 2019, Sec. 3.3) trains the searched network from the unpruned one
with this loss; the official `loss_KD_fn` (AutoDL-Projects, `procedures/simple_KD_main.py`) is

    L = (1 - a) * CE(s, y) + a * T^2 * KL( softmax(t / T) || softmax(s / T) ),

averaged over the batch (`reduction='batchmean'`), with a = 0.9, T = 4 in the paper's runs.
The T^2 keeps the soft-target gradients on the scale of the hard-target ones.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

__all__ = ["kd_loss", "kl_to_teacher"]


def kl_to_teacher(student_logits_BxC: jax.Array, teacher_logits_BxC: jax.Array,
                  temperature: float | jax.Array = 1.0) -> jax.Array:
    """Mean over the batch of KL(softmax(t/T) || softmax(s/T)); no gradient reaches the teacher.

    Args:
      student_logits_BxC: [B, C] student logits s.
      teacher_logits_BxC: [B, C] teacher logits t.
      temperature: T > 0.

    Returns:
      A scalar, >= 0.
    """
    if student_logits_BxC.shape != teacher_logits_BxC.shape:
        raise ValueError(f"student logits {student_logits_BxC.shape} and teacher logits "
                         f"{teacher_logits_BxC.shape} must have the same shape [B, C]")
    teacher = jax.lax.stop_gradient(teacher_logits_BxC)
    log_t = jax.nn.log_softmax(teacher / temperature, axis=-1)
    log_s = jax.nn.log_softmax(student_logits_BxC / temperature, axis=-1)
    return jnp.mean(jnp.sum(jnp.exp(log_t) * (log_t - log_s), axis=-1))


def kd_loss(student_logits_BxC: jax.Array, teacher_logits_BxC: jax.Array, labels_B: jax.Array,
            alpha: float | jax.Array = 0.9, temperature: float | jax.Array = 4.0) -> jax.Array:
    """`(1 - alpha) CE(s, y) + alpha T^2 KL(softmax(t/T) || softmax(s/T))` (TAS's `loss_KD_fn`).

    `alpha` may be traced (e.g. a per-member leaf of a vmapped population): `alpha = 0` is plain
    cross-entropy, which lets KD and CE-only runs share one compiled step.

    Args:
      student_logits_BxC: [B, C] student logits.
      teacher_logits_BxC: [B, C] teacher logits (treated as constants).
      labels_B: [B] integer labels in [0, C).
      alpha: weight of the distillation term, in [0, 1].
      temperature: T > 0 of the softened distributions.

    Returns:
      The scalar loss.
    """
    if labels_B.shape != student_logits_BxC.shape[:1]:
        raise ValueError(f"labels_B must have shape {student_logits_BxC.shape[:1]}, "
                         f"got {labels_B.shape}")
    ce = optax.softmax_cross_entropy_with_integer_labels(student_logits_BxC, labels_B).mean()
    kl = kl_to_teacher(student_logits_BxC, teacher_logits_BxC, temperature)
    return (1.0 - alpha) * ce + alpha * temperature * temperature * kl
