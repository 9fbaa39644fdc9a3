"""Representational similarity between two sets of activations on the same B inputs.

Used by guidance ("Training the Untrainable", Subramaniam et al., NeurIPS 2025, arXiv 2410.20035)
as the differentiable neural distance `1 - CKA` between target and guide layers, and usable as an
analysis tool elsewhere.

* Linear CKA (Kornblith et al., ICML 2019, eq. 4 with a linear kernel): with column-centred
  X [B, F] and Y [B, G], `CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`, the feature form of
  `HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))` with `K = X X^T`, `L = Y Y^T`. Invariant to
  orthogonal transforms and isotropic scaling of either argument; CKA(X, X) = 1.
* RSA: Pearson correlation between the off-diagonal entries of the two [B, B] cosine-similarity
  matrices (the guidance code's differentiable RSA alternative).
* `layer_mapping`: guide layer i is compared with target layer
  `j(i) = min(round(i (n_T - 1) / (n_G - 1)), n_T - 1)` (guide layers spread evenly over the
  target).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

METRICS = ("cka", "rsa")


def _flatten(name: str, a: jax.Array) -> jax.Array:
    a = jnp.asarray(a)
    if a.ndim < 2:
        raise ValueError(f"{name} must be [B, ...] activations with at least 2 dims, got shape "
                         f"{a.shape}")
    return a.reshape(a.shape[0], -1).astype(jnp.float32)


def _check_pair(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, y = _flatten("x", x), _flatten("y", y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same B inputs, got {x.shape[0]} and "
                         f"{y.shape[0]} rows")
    if x.shape[0] < 2:
        raise ValueError("similarity needs at least 2 inputs (rows)")
    return x, y


def linear_cka(x_BxF: jax.Array, y_BxG: jax.Array, eps: float = 1e-12) -> jax.Array:
    """Linear centred kernel alignment in [0, 1] (feature form; see the module docstring).

    Args:
      x_BxF: activations [B, ...] (flattened to [B, F]).
      y_BxG: activations of the same B inputs [B, ...].
      eps: added to the denominator (a constant representation has CKA 0, not NaN).
    """
    x, y = _check_pair(x_BxF, y_BxG)
    x = x - jnp.mean(x, axis=0, keepdims=True)
    y = y - jnp.mean(y, axis=0, keepdims=True)
    cross = jnp.sum(jnp.square(y.T @ x))
    norm_x = jnp.sqrt(jnp.sum(jnp.square(x.T @ x)))
    norm_y = jnp.sqrt(jnp.sum(jnp.square(y.T @ y)))
    return cross / (norm_x * norm_y + eps)


def rsa(x_BxF: jax.Array, y_BxG: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Pearson correlation of the off-diagonal entries of the two cosine-similarity matrices."""
    x, y = _check_pair(x_BxF, y_BxG)

    def cosine(a):
        a = a / (jnp.linalg.norm(a, axis=1, keepdims=True) + eps)
        return a @ a.T

    b = x.shape[0]
    rows, cols = np.triu_indices(b, k=1)
    sx, sy = cosine(x)[rows, cols], cosine(y)[rows, cols]
    sx, sy = sx - jnp.mean(sx), sy - jnp.mean(sy)
    return jnp.sum(sx * sy) / (jnp.sqrt(jnp.sum(sx * sx) * jnp.sum(sy * sy)) + eps)


def layer_mapping(num_target: int, num_guide: int) -> tuple[int, ...]:
    """Target layer index j(i) for each guide layer i (guide layers spread over the target)."""
    if num_target < 1 or num_guide < 1:
        raise ValueError(f"num_target and num_guide must be >= 1, got {num_target}, {num_guide}")
    if num_guide == 1:
        return (num_target - 1,)
    return tuple(min(int(round(i * (num_target - 1) / (num_guide - 1))), num_target - 1)
                 for i in range(num_guide))


def neural_distance(target: Sequence[jax.Array], guide: Sequence[jax.Array],
                    metric: str = "cka") -> jax.Array:
    """`sum_i [1 - sim(target[j(i)], guide[i])]` over the guide's layers (`layer_mapping`).

    The guide's activations are used as given; a caller that trains only the target passes them
    through `jax.lax.stop_gradient` (as `jaxnets.train.local.guidance` does).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not target or not guide:
        raise ValueError("target and guide must be non-empty sequences of layer activations")
    sim = linear_cka if metric == "cka" else rsa
    mapping = layer_mapping(len(target), len(guide))
    return sum(1.0 - sim(target[j], g) for j, g in zip(mapping, guide))
