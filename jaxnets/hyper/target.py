"""The target ("primary") network of a hypernetwork: its parameter pytree as a flat vector.

A hypernetwork predicts every parameter of a target network (Ha et al. 2017; Ortiz et al., ICLR
2024, eq. 1: `theta = h(gamma; phi)`). `TargetSpec` knows the target's parameter pytree from
`jax.eval_shape` of the target's own `init` (no parameters are materialised to learn the shapes),
lays the leaves out as consecutive blocks of one flat vector, and converts between the two:
`unravel(flat_P)` turns the hypernetwork's P outputs into a pytree the target's `apply` accepts,
`ravel(params)` does the reverse. Any Flax linen module is a valid target.

Leaves are ordered as `jax.tree_util` flattens the pytree (sorted keys for Flax dicts), which is
also the order of the output blocks of the hypernetwork (`blocks`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnets._paths import path_name

PyTree = Any

__all__ = ["TargetSpec", "TargetStructureError", "leaf_path"]


class TargetStructureError(ValueError):
    """A parameter pytree does not have the target's structure, shapes or dtypes."""


def leaf_path(path: tuple) -> str:
    """'/'-joined name of a pytree path, e.g. 'Dense_0/kernel'."""
    return path_name(path)


def _leaves_with_paths(tree: PyTree) -> dict[str, Any]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {leaf_path(path): leaf for path, leaf in flat}


@dataclasses.dataclass(frozen=True)
class TargetSpec:
    """Structure, shapes and dtypes of a target network's parameters, and their flat layout.

    Build it with `TargetSpec.from_module(module, *example_args)` (the usual way) or
    `TargetSpec.from_params(params)`. It is hashable, so it can be a field of a Flax module.

    Attributes:
      treedef: the pytree structure of the target's parameters.
      paths: '/'-joined name of each leaf, in flattening order.
      shapes: shape of each leaf.
      dtypes: dtype of each leaf.
      collection: the target's variable collection these parameters belong to.
      module: the target module (None when built from a pytree); not compared.
      init_fn: raw PRNG key -> a fresh parameter pytree from the target's own initialisers
        (None when built from a pytree); not compared.
    """

    treedef: Any
    paths: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[Any, ...]
    collection: str = "params"
    module: nn.Module | None = dataclasses.field(default=None, compare=False, repr=False)
    init_fn: Callable[[jax.Array], PyTree] | None = dataclasses.field(
        default=None, compare=False, repr=False)

    @classmethod
    def from_module(cls, module: nn.Module, *example_args: Any, collection: str = "params",
                    **example_kwargs: Any) -> "TargetSpec":
        """The spec of `module`'s `collection`, from `jax.eval_shape` of `module.init`.

        Args:
          module: any Flax linen module.
          *example_args, **example_kwargs: inputs for `module.init(key, *args, **kwargs)`; only
            their shapes matter.
          collection: the variable collection the hypernetwork generates ("params").

        Raises:
          TargetStructureError: when the module has no `collection` or it holds no arrays.
        """
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a flax.linen.Module, got {type(module).__name__}")

        def init(key: jax.Array) -> PyTree:
            variables = module.init(key, *example_args, **example_kwargs)
            if collection not in variables:
                raise TargetStructureError(
                    f"the target {type(module).__name__} has no {collection!r} collection "
                    f"(it has {sorted(variables)})")
            return variables[collection]

        abstract = jax.eval_shape(init, jax.random.PRNGKey(0))
        spec = cls.from_params(abstract)
        return dataclasses.replace(spec, collection=collection, module=module, init_fn=init)

    @classmethod
    def from_params(cls, params: PyTree) -> "TargetSpec":
        """The spec of a parameter pytree (arrays or `jax.ShapeDtypeStruct`s)."""
        flat, treedef = jax.tree_util.tree_flatten_with_path(params)
        if not flat:
            raise TargetStructureError("the target has no parameters to generate")
        return cls(
            treedef=treedef,
            paths=tuple(leaf_path(path) for path, _ in flat),
            shapes=tuple(tuple(int(d) for d in leaf.shape) for _, leaf in flat),
            dtypes=tuple(np.dtype(leaf.dtype) for _, leaf in flat),
        )

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of entries of each leaf."""
        return tuple(int(np.prod(shape, dtype=np.int64)) for shape in self.shapes)

    @property
    def num_params(self) -> int:
        """P, the length of the flat parameter vector."""
        return int(sum(self.sizes))

    @property
    def blocks(self) -> tuple[tuple[str, int, int], ...]:
        """(path, offset, size) of each leaf's block in the flat vector."""
        offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(int)
        return tuple((p, int(o), s) for p, o, s in zip(self.paths, offsets, self.sizes))

    def check(self, params: PyTree, name: str = "params") -> None:
        """Raises `TargetStructureError` naming the first leaf of `params` that differs from the
        target: a missing or unexpected leaf, a wrong shape or a wrong dtype."""
        given = _leaves_with_paths(params)
        missing = [p for p in self.paths if p not in given]
        unexpected = [p for p in given if p not in self.paths]
        if missing or unexpected:
            raise TargetStructureError(
                f"{name} does not have the target's structure: missing leaves {missing}, "
                f"unexpected leaves {unexpected}")
        for path, shape, dtype in zip(self.paths, self.shapes, self.dtypes):
            leaf = given[path]
            if tuple(jnp.shape(leaf)) != shape:
                raise TargetStructureError(
                    f"{name} leaf {path!r} has shape {tuple(jnp.shape(leaf))}; the target "
                    f"expects {shape}")
            if np.dtype(leaf.dtype) != dtype:
                raise TargetStructureError(
                    f"{name} leaf {path!r} has dtype {np.dtype(leaf.dtype)}; the target "
                    f"expects {dtype}")
        if jax.tree_util.tree_structure(params) != self.treedef:
            raise TargetStructureError(
                f"{name} has the target's leaves but another container structure: "
                f"{jax.tree_util.tree_structure(params)} vs {self.treedef}")

    def ravel(self, params: PyTree) -> jax.Array:
        """The [P] float32 vector of `params`' leaves, in block order (after `check`)."""
        self.check(params)
        leaves = jax.tree_util.tree_leaves(params)
        return jnp.concatenate([jnp.ravel(leaf).astype(jnp.float32) for leaf in leaves])

    def unravel(self, flat_P: jax.Array) -> PyTree:
        """The parameter pytree whose leaves are the consecutive blocks of `flat_P` [P].

        A batch of vectors is unravelled with `jax.vmap(spec.unravel)`.
        """
        if jnp.ndim(flat_P) != 1 or jnp.shape(flat_P)[0] != self.num_params:
            raise TargetStructureError(
                f"flat_P must have shape ({self.num_params},) for this target, got "
                f"{tuple(jnp.shape(flat_P))} (use jax.vmap for a batch)")
        leaves = [
            jax.lax.dynamic_slice_in_dim(flat_P, offset, size).reshape(shape).astype(dtype)
            for (_, offset, size), shape, dtype in zip(self.blocks, self.shapes, self.dtypes)
        ]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def init(self, key: jax.Array) -> PyTree:
        """A fresh parameter pytree from the target's own initialisers."""
        if self.init_fn is None:
            raise ValueError("this TargetSpec was built from a pytree; build it with "
                             "TargetSpec.from_module to initialise target parameters")
        return self.init_fn(key)

    def apply(self, params: PyTree, *args: Any, variables: dict | None = None,
              **kwargs: Any) -> Any:
        """`module.apply({collection: params, **variables}, *args, **kwargs)` after `check`.

        Args:
          params: a generated (or any) parameter pytree of the target.
          *args, **kwargs: passed to the target's `apply` (e.g. `rngs=`, `deterministic=`).
          variables: other collections of the target (batch statistics...), not generated.
        """
        if self.module is None:
            raise ValueError("this TargetSpec was built from a pytree and has no module to "
                             "apply; build it with TargetSpec.from_module")
        self.check(params)
        return self.module.apply({self.collection: params, **(variables or {})}, *args, **kwargs)
