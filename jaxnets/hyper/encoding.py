"""Input encodings of a hypernetwork's conditioning vector (Ortiz et al., ICLR 2024, sec. 4.1).

With positively homogeneous activations (ReLU, LeakyReLU) and zero biases, a hypernetwork is
itself positively homogeneous: `h(c * gamma) = c * h(gamma)` for c > 0, so the magnitude of the
predicted weights is proportional to the magnitude of the input (the paper's "magnitude
proportionality", sec. 3). MIP removes it by mapping each input gamma_k in [0, 1] to a point
on the unit circle,

    E_L2(gamma) = [cos(pi gamma / 2), sin(pi gamma / 2)]       (one pair per input dimension),

so that ||E_L2(gamma)||^2 = K for every gamma in [0, 1]^K: the hypernetwork sees inputs of a
constant norm whatever the value of the hyperparameter. The "z|1-z" encoding `[gamma, 1-gamma]`
(constant L1 norm) is the alternative of the paper's reference code; "identity" is the default
(standard) hypernetwork's raw input.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["ENCODINGS", "encode", "encoded_size", "check_unit_interval"]

ENCODINGS = ("identity", "cos|sin", "z|1-z")


def _check_mode(mode: str) -> None:
    if mode not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {mode!r}")


def encoded_size(num_inputs: int, mode: str) -> int:
    """Width of the encoded input for a K-dimensional conditioning vector."""
    _check_mode(mode)
    return num_inputs if mode == "identity" else 2 * num_inputs


def encode(gamma_K: jax.Array, mode: str = "cos|sin") -> jax.Array:
    """Encodes a conditioning vector gamma [..., K] into [..., K] or [..., 2K].

    Args:
      gamma_K: conditioning inputs; "cos|sin" and "z|1-z" assume each entry lies in [0, 1]
        (see `check_unit_interval`; values cannot be checked inside `jit`).
      mode: "identity" (standard hypernetwork), "cos|sin" (MIP's E_L2) or "z|1-z".

    Returns:
      The encoded inputs; for "cos|sin" the first K entries are cos(pi gamma / 2) and the last K
      are sin(pi gamma / 2), so the squared norm is exactly K.
    """
    _check_mode(mode)
    gamma_K = jnp.asarray(gamma_K)
    if not jnp.issubdtype(gamma_K.dtype, jnp.floating):
        raise TypeError(f"gamma must be a float array, got dtype {gamma_K.dtype}")
    if mode == "identity":
        return gamma_K
    if mode == "cos|sin":
        angle = 0.5 * jnp.pi * gamma_K
        return jnp.concatenate([jnp.cos(angle), jnp.sin(angle)], axis=-1)
    return jnp.concatenate([gamma_K, 1.0 - gamma_K], axis=-1)


def check_unit_interval(gamma: np.ndarray | jax.Array, name: str = "gamma") -> None:
    """Raises ValueError when a concrete conditioning array has entries outside [0, 1]."""
    values = np.asarray(gamma)
    if values.size and (values.min() < 0.0 or values.max() > 1.0):
        raise ValueError(f"{name} must lie in [0, 1] for the MIP encodings, got values in "
                         f"[{values.min():.4g}, {values.max():.4g}]; rescale it first")
