"""Vector-space arithmetic on pytrees of arrays (private helpers of the solvers).

The solvers treat a pytree of arrays as one flat vector: sums, scalings and inner products act
leaf by leaf and inner products add up over all leaves. Only real floating dtypes are supported.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

PyTree = Any


def tree_add(x: PyTree, y: PyTree) -> PyTree:
    """Leafwise x + y."""
    return jax.tree.map(jnp.add, x, y)


def tree_sub(x: PyTree, y: PyTree) -> PyTree:
    """Leafwise x - y."""
    return jax.tree.map(jnp.subtract, x, y)


def tree_scale(alpha: jax.Array, x: PyTree) -> PyTree:
    """alpha * x for a scalar alpha (cast to each leaf's dtype)."""
    return jax.tree.map(lambda leaf: jnp.asarray(alpha, leaf.dtype) * leaf, x)


def tree_axpy(alpha: jax.Array, x: PyTree, y: PyTree) -> PyTree:
    """alpha * x + y for a scalar alpha."""
    return jax.tree.map(lambda a, b: jnp.asarray(alpha, a.dtype) * a + b, x, y)


def tree_vdot(x: PyTree, y: PyTree) -> jax.Array:
    """Real inner product <x, y>, summed over all leaves (a scalar)."""
    parts = [jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y))]
    if not parts:
        return jnp.zeros((), jnp.float32)
    return sum(parts[1:], parts[0])


def tree_norm(x: PyTree) -> jax.Array:
    """Euclidean (L2) norm of all leaves taken together, ||x||_2 (a scalar)."""
    return jnp.sqrt(tree_vdot(x, x))


def tree_zeros_like(x: PyTree) -> PyTree:
    """Zeros with the structure, shapes and dtypes of x."""
    return jax.tree.map(jnp.zeros_like, x)


def is_traced(*trees: PyTree) -> bool:
    """True when any leaf is an abstract tracer (inside jit, vmap, grad, scan, ...)."""
    return any(isinstance(leaf, jax.core.Tracer) for tree in trees for leaf in jax.tree.leaves(tree))


def check_same_structure(name: str, expected: PyTree, got: PyTree, what: str) -> None:
    """Raise ValueError naming `name` unless `got` has `expected`'s structure, shapes and dtypes.

    Both arguments may be arrays or `jax.ShapeDtypeStruct` trees (e.g. from `jax.eval_shape`).
    """
    exp_def, got_def = jax.tree.structure(expected), jax.tree.structure(got)
    if exp_def != got_def:
        raise ValueError(f"{name} must return {what} with the pytree structure {exp_def}, got {got_def}")
    for i, (e, g) in enumerate(zip(jax.tree.leaves(expected), jax.tree.leaves(got))):
        if tuple(e.shape) != tuple(g.shape) or jnp.dtype(e.dtype) != jnp.dtype(g.dtype):
            raise ValueError(
                f"{name} must return {what} with matching shapes and dtypes; leaf {i}: expected "
                f"{jnp.dtype(e.dtype).name}{tuple(e.shape)}, "
                f"got {jnp.dtype(g.dtype).name}{tuple(g.shape)}"
            )


def check_floating(name: str, x: PyTree) -> None:
    """Raise ValueError unless every leaf of x has a real floating dtype (and x has leaves)."""
    leaves = jax.tree.leaves(x)
    if not leaves:
        raise ValueError(f"{name} must contain at least one array, got an empty pytree")
    for i, leaf in enumerate(leaves):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"{name} must have real floating dtypes; leaf {i} has dtype {dtype}")
