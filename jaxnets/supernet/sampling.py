"""Subnet samplers: each returns a batch of K architectures (a leading axis) for one `jax.vmap`.

All samplers are pure and traceable, so they run inside the jitted training step from the step's
key (`state.step_key()`), and K is static.
  * `sample_uniform`: K independent uniform draws (LightHuBERT stage 2, which draws one uniform
    subnet per forward pass);
  * `sample_sandwich`: the sandwich rule of slimmable networks (Yu & Huang, "Universally Slimmable
    Networks", ICCV 2019, Alg. 1; used by BigNAS/OFA): the largest, the smallest and K-2 uniform
    subnets in every step;
  * `sample_progressive` with a `PiecewiseSchedule`: VARiant's progressive training, where the
    share of subnet steps versus full-network steps changes in stages over training.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["PiecewiseSchedule", "Space", "concat_archs", "index_arch", "sample_progressive",
           "sample_sandwich", "sample_uniform", "stack_archs"]

Arch = Any


class Space(Protocol):
    """What a sampler needs from a search space (see `jaxnets.supernet.space`)."""

    def largest(self) -> Arch: ...

    def smallest(self) -> Arch: ...

    def sample(self, key: jax.Array) -> Arch: ...


def stack_archs(archs: Sequence[Arch]) -> Arch:
    """Stacks single architectures on a new leading axis."""
    if not archs:
        raise ValueError("stack_archs needs at least one architecture")
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *archs)


def concat_archs(batches: Sequence[Arch]) -> Arch:
    """Concatenates batches of architectures along their leading axis."""
    return jax.tree.map(lambda *leaves: jnp.concatenate(leaves), *batches)


def index_arch(batch: Arch, i: int | jax.Array) -> Arch:
    """The i-th architecture of a batch."""
    return jax.tree.map(lambda leaf: leaf[i], batch)


def _check_count(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a Python int >= {minimum}, got {value!r}")


def sample_uniform(space: Space, key: jax.Array, num: int) -> Arch:
    """`num` independent uniform subnets, batched on a leading axis."""
    _check_count("num", num, 1)
    return jax.vmap(space.sample)(jax.random.split(key, num))


def sample_sandwich(space: Space, key: jax.Array, num_random: int) -> Arch:
    """The sandwich rule: [largest, smallest, `num_random` uniform subnets] (K = num_random + 2).

    The largest is at index 0 and the smallest at index 1, which inplace distillation relies on
    (`jaxnets.supernet.train.build_supernet_step(distill=...)`).
    """
    _check_count("num_random", num_random, 0)
    ends = stack_archs([space.largest(), space.smallest()])
    if num_random == 0:
        return ends
    return concat_archs([ends, sample_uniform(space, key, num_random)])


def sample_progressive(space: Space, key: jax.Array, num: int, p_subnet: jax.Array) -> Arch:
    """`num` draws, each a uniform subnet with probability `p_subnet`, else the full network.

    VARiant trains the full network and its subnets with a ratio that changes over training
    (from joint optimisation towards subnet optimisation); `p_subnet` is that ratio at the current
    step, typically `PiecewiseSchedule(...)(state.step)`.

    Args:
        space: the search space.
        key: PRNG key.
        num: K, the number of architectures (static).
        p_subnet: float scalar in [0, 1] (may be traced).
    """
    _check_count("num", num, 1)
    k_pick, k_sub = jax.random.split(key)
    subnets = sample_uniform(space, k_sub, num)
    full = stack_archs([space.largest()] * num)
    use_sub = jax.random.uniform(k_pick, (num,)) < p_subnet

    def select(sub, big):
        mask = use_sub.reshape((num,) + (1,) * (sub.ndim - 1))
        return jnp.where(mask, sub, big)

    return jax.tree.map(select, subnets, full)


@dataclasses.dataclass(frozen=True)
class PiecewiseSchedule:
    """A piecewise-constant value of the step: `values[i]` for `boundaries[i-1] <= step <
    boundaries[i]` (VARiant's three-stage ratio schedule is `boundaries=(t1, t2)`,
    `values=(p1, p2, p3)`).

    Attributes:
        boundaries: increasing step counts, len(values) - 1 of them.
        values: the value in each stage.
    """
    boundaries: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self):
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"PiecewiseSchedule needs len(values) == len(boundaries) + 1, got "
                             f"{len(self.values)} values and {len(self.boundaries)} boundaries")
        if list(self.boundaries) != sorted(self.boundaries):
            raise ValueError(f"PiecewiseSchedule.boundaries must increase, got "
                             f"{self.boundaries}")

    def __call__(self, step: jax.Array) -> jax.Array:
        stage = jnp.searchsorted(jnp.asarray(self.boundaries, jnp.int32), step, side="right")
        return jnp.asarray(self.values, jnp.float32)[stage]
