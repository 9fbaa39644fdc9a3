"""Byzantine attacks on stacked client updates: each rewrites exactly the attacked rows.

An attack here is `attack(stacked_updates, key) -> stacked_updates` (the form
`jaxnets.federated.simulator.make_round` takes), built by `make_attack(name, attacked, K)` from a
set of attacked client indices or a [K] bool mask. The rules follow the Byzantine-FL literature
(e.g. the attacks of the Flag Aggregator paper, Almasi et al., ICLR 2024):
  * random  (Gaussian): the update is replaced by N(0, scale^2) noise;
  * reverse (sign flip): the update is multiplied by -scale (the Flag Aggregator code uses 10);
  * drop: the update is zeroed (the client's contribution is lost).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

Params = Any
Attack = Callable[[Params, jax.Array], Params]


def attack_mask(attacked: Iterable[int] | np.ndarray | jax.Array, num_clients: int) -> jax.Array:
    """[K] bool mask from client indices or from a [K] bool mask (checked against K)."""
    array = np.asarray(attacked)
    if array.dtype == bool:
        if array.shape != (num_clients,):
            raise ValueError(f"an attacked mask must have shape [{num_clients}], got {array.shape}")
        return jnp.asarray(array)
    index = array.astype(np.int64).reshape(-1)
    if index.size and (index.min() < 0 or index.max() >= num_clients):
        raise ValueError(f"attacked client indices must lie in [0, {num_clients}), got "
                         f"{index.tolist()}")
    mask = np.zeros(num_clients, bool)
    mask[index] = True
    return jnp.asarray(mask)


def _rows(mask_K: jax.Array, leaf: jax.Array) -> jax.Array:
    if leaf.shape[:1] != mask_K.shape:
        raise ValueError(f"stacked update leaf of shape {leaf.shape} does not have the attack's "
                         f"client axis of size {mask_K.shape[0]}")
    return mask_K.reshape((-1,) + (1,) * (leaf.ndim - 1))


def gaussian_attack(stacked: Params, key: jax.Array, mask_K: jax.Array,
                    scale: float = 1.0) -> Params:
    """Attacked rows replaced by i.i.d. N(0, scale^2) noise; other rows untouched."""
    leaves, treedef = jax.tree_util.tree_flatten(stacked)
    keys = jax.random.split(key, len(leaves))
    noisy = [jnp.where(_rows(mask_K, leaf),
                       scale * jax.random.normal(k, leaf.shape, leaf.dtype), leaf)
             for k, leaf in zip(keys, leaves)]
    return jax.tree_util.tree_unflatten(treedef, noisy)


def sign_flip_attack(stacked: Params, key: jax.Array, mask_K: jax.Array,
                     scale: float = 1.0) -> Params:
    """Attacked rows multiplied by -scale ("reverse"); other rows untouched."""
    del key
    return jax.tree_util.tree_map(
        lambda leaf: jnp.where(_rows(mask_K, leaf), -scale * leaf, leaf), stacked)


def drop_attack(stacked: Params, key: jax.Array, mask_K: jax.Array, scale: float = 0.0) -> Params:
    """Attacked rows set to zero; other rows untouched."""
    del key, scale
    return jax.tree_util.tree_map(
        lambda leaf: jnp.where(_rows(mask_K, leaf), jnp.zeros_like(leaf), leaf), stacked)


ATTACKS = {"random": gaussian_attack, "gaussian": gaussian_attack,
           "reverse": sign_flip_attack, "sign_flip": sign_flip_attack, "drop": drop_attack}


def make_attack(name: str, attacked: Iterable[int] | np.ndarray | jax.Array, num_clients: int,
                scale: float | None = None) -> Attack:
    """`attack(stacked_updates, key)` applying the named rule to the attacked clients.

    Args:
      name: "random" (= "gaussian"), "reverse" (= "sign_flip") or "drop".
      attacked: client indices or a [K] bool mask.
      num_clients: K.
      scale: noise std (random) or flip factor (reverse); defaults 1.0.
    """
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose one of {sorted(ATTACKS)}")
    rule = ATTACKS[name]
    mask = attack_mask(attacked, num_clients)
    factor = 1.0 if scale is None else float(scale)

    def attack(stacked: Params, key: jax.Array) -> Params:
        return rule(stacked, key, mask, factor)

    return attack
