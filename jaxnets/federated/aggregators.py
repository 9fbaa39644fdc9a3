"""Server aggregation rules: FedAvg's weighted mean and the classic Byzantine-robust rules.

Two forms of each rule:
  * a plain function on flat stacked updates `updates_KxD` [K, D] (one row per client) and an
    inclusion mask `include_K` (weight > 0), returning the aggregate [D];
  * a `server_aggregate(global_params, stacked_updates, weights, server_state, hp)` for
    `jaxnets.federated.simulator.make_round`, which applies the aggregate to the global params
    with a server learning rate `hp["server_lr"]` (1.0 when `hp` has none: plain FedAvg).

Robust rules treat `weights` only as an inclusion mask (weight 0 = excluded: a NaN client, a
client with no data, one not sampled); their statistics are unweighted, as in their papers.
`from_flat` turns any flat rule into a server_aggregate (Flag Aggregator uses it).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

Params = Any
FlatRule = Callable[[jax.Array, jax.Array], tuple[jax.Array, dict]]


def _check_flat(updates_KxD: jax.Array, include_K: jax.Array | None) -> jax.Array:
    if updates_KxD.ndim != 2:
        raise ValueError(f"updates_KxD must have shape [K, D], got {updates_KxD.shape}")
    num = updates_KxD.shape[0]
    if include_K is None:
        return jnp.ones((num,), bool)
    if include_K.shape != (num,):
        raise ValueError(f"include_K must have shape [{num}], got {include_K.shape}")
    return include_K.astype(bool)


def weighted_mean(updates_KxD: jax.Array, weights_K: jax.Array) -> jax.Array:
    """FedAvg (McMahan et al. 2017, Alg. 1): sum_k w_k u_k / sum_k w_k; zeros if all w_k = 0."""
    _check_flat(updates_KxD, None)
    if weights_K.shape != updates_KxD.shape[:1]:
        raise ValueError(f"weights_K must have shape [{updates_KxD.shape[0]}], got "
                         f"{weights_K.shape}")
    total = jnp.sum(weights_K)
    return (weights_K @ updates_KxD) / jnp.where(total > 0, total, 1.0)


def coordinate_median(updates_KxD: jax.Array, include_K: jax.Array | None = None) -> jax.Array:
    """Coordinate-wise median of the included rows (Yin et al., ICML 2018, Option I).

    With an even number of rows, the mean of the two middle values; zeros if none is included.
    """
    include = _check_flat(updates_KxD, include_K)
    masked = jnp.where(include[:, None], updates_KxD, jnp.nan)
    median = jnp.nanmedian(masked, axis=0)
    return jnp.where(jnp.any(include), median, 0.0)


def trimmed_mean(updates_KxD: jax.Array, trim: int,
                 include_K: jax.Array | None = None) -> jax.Array:
    """Coordinate-wise trimmed mean (Yin et al., ICML 2018, Option II).

    Per coordinate, drops the `trim` largest and `trim` smallest values among the n included rows
    and averages the other n - 2 trim; falls back to the median when n <= 2 trim.
    """
    include = _check_flat(updates_KxD, include_K)
    if trim < 0:
        raise ValueError(f"trim must be >= 0, got {trim}")
    n = jnp.sum(include)
    ordered = jnp.sort(jnp.where(include[:, None], updates_KxD, jnp.inf), axis=0)
    rank = jnp.arange(updates_KxD.shape[0])[:, None]
    keep = (rank >= trim) & (rank < n - trim)
    kept = jnp.sum(keep, axis=0)
    mean = jnp.sum(jnp.where(keep, ordered, 0.0), axis=0) / jnp.maximum(kept, 1)
    return jnp.where(kept > 0, mean, coordinate_median(updates_KxD, include))


def pairwise_sq_distances(updates_KxD: jax.Array) -> jax.Array:
    """[K, K] squared Euclidean distances via the Gram matrix (clipped at 0 against rounding)."""
    sq = jnp.sum(updates_KxD * updates_KxD, axis=1)
    gram = updates_KxD @ updates_KxD.T
    return jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0)


def krum_scores(updates_KxD: jax.Array, num_byzantine: int,
                include_K: jax.Array | None = None) -> jax.Array:
    """Krum scores (Blanchard et al., NeurIPS 2017, Sec. 4): for each included row i, the sum of
    squared distances to its n - f - 2 nearest other included rows; inf for excluded rows.

    n is the number of included rows, f = `num_byzantine`; the neighbour count is clipped to
    [1, n - 1] when n <= f + 2 (Krum's guarantee needs n > 2f + 2).
    """
    include = _check_flat(updates_KxD, include_K)
    num = updates_KxD.shape[0]
    if num < 2:
        raise ValueError(f"Krum needs at least 2 clients, got {num}")
    if num_byzantine < 0:
        raise ValueError(f"num_byzantine must be >= 0, got {num_byzantine}")
    valid_pair = include[:, None] & include[None, :] & ~jnp.eye(num, dtype=bool)
    dist = jnp.where(valid_pair, pairwise_sq_distances(updates_KxD), jnp.inf)
    ordered = jnp.sort(dist, axis=1)
    n = jnp.sum(include)
    neighbours = jnp.clip(n - num_byzantine - 2, 1, jnp.maximum(n - 1, 1))
    partial = jnp.cumsum(jnp.where(jnp.isfinite(ordered), ordered, 0.0), axis=1)
    score = jnp.take(partial, neighbours - 1, axis=1)
    return jnp.where(include, score, jnp.inf)


def multi_krum(updates_KxD: jax.Array, num_byzantine: int, num_selected: int = 1,
               include_K: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Multi-Krum (Blanchard et al. 2017): the mean of the `num_selected` rows with the lowest
    Krum scores; `num_selected=1` is Krum itself.

    Returns:
      (aggregate [D], selected [K] bool).
    """
    include = _check_flat(updates_KxD, include_K)
    num = updates_KxD.shape[0]
    if not 1 <= num_selected <= num:
        raise ValueError(f"num_selected must be in [1, {num}], got {num_selected}")
    scores = krum_scores(updates_KxD, num_byzantine, include)
    _, index = jax.lax.top_k(-scores, num_selected)
    chosen = jnp.zeros((num,), bool).at[index].set(True) & jnp.isfinite(scores)
    return weighted_mean(updates_KxD, chosen.astype(updates_KxD.dtype)), chosen


def krum(updates_KxD: jax.Array, num_byzantine: int,
         include_K: jax.Array | None = None) -> jax.Array:
    """Krum (Blanchard et al. 2017): the included row with the lowest Krum score."""
    return multi_krum(updates_KxD, num_byzantine, 1, include_K)[0]


def server_lr(hp: Any) -> Any:
    """The server learning rate in `hp` (a dict with "server_lr"), else 1.0."""
    if isinstance(hp, dict) and "server_lr" in hp:
        return hp["server_lr"]
    return 1.0


def flatten_clients(stacked_updates: Params) -> tuple[jax.Array, Callable[[jax.Array], Params]]:
    """Stacked update pytree [K, ...] -> (updates_KxD, unravel: [D] -> one client's pytree)."""
    one = jax.tree_util.tree_map(lambda u: u[0], stacked_updates)
    _, unravel = ravel_pytree(one)
    flat = jax.vmap(lambda tree: ravel_pytree(tree)[0])(stacked_updates)
    return flat, unravel


def apply_update(global_params: Params, update: Params, hp: Any) -> Params:
    """global + server_lr * update, leaf by leaf (dtypes of the global params kept)."""
    lr = server_lr(hp)
    return jax.tree_util.tree_map(lambda g, u: (g + lr * u).astype(g.dtype), global_params, update)


def fedavg(global_params: Params, stacked_updates: Params, weights: jax.Array,
           server_state: Any, hp: Any) -> tuple[Params, Any, dict]:
    """FedAvg's server step: global + server_lr * weighted mean of the client deltas."""
    total = jnp.sum(weights)
    scale = weights / jnp.where(total > 0, total, 1.0)
    mean = jax.tree_util.tree_map(lambda u: jnp.tensordot(scale, u, axes=1), stacked_updates)
    return apply_update(global_params, mean, hp), server_state, {"total_weight": total}


def from_flat(rule: FlatRule) -> Callable[..., tuple[Params, Any, dict]]:
    """A server_aggregate from `rule(updates_KxD, weights_K) -> (aggregate [D], metrics)`."""
    def server_aggregate(global_params, stacked_updates, weights, server_state, hp):
        flat, unravel = flatten_clients(stacked_updates)
        aggregate, metrics = rule(flat, weights)
        return apply_update(global_params, unravel(aggregate), hp), server_state, metrics
    return server_aggregate


def _included(weights: jax.Array) -> jax.Array:
    return weights > 0


def median_aggregate() -> Callable[..., tuple[Params, Any, dict]]:
    """server_aggregate applying the coordinate-wise median of the included clients."""
    return from_flat(lambda flat, w: (coordinate_median(flat, _included(w)),
                                      {"num_included": jnp.sum(_included(w))}))


def trimmed_mean_aggregate(trim: int) -> Callable[..., tuple[Params, Any, dict]]:
    """server_aggregate applying the coordinate-wise `trim`-trimmed mean."""
    return from_flat(lambda flat, w: (trimmed_mean(flat, trim, _included(w)),
                                      {"num_included": jnp.sum(_included(w))}))


def krum_aggregate(num_byzantine: int, num_selected: int = 1
                   ) -> Callable[..., tuple[Params, Any, dict]]:
    """server_aggregate applying (Multi-)Krum; metrics["selected"] is the [K] selection."""
    def rule(flat, w):
        aggregate, chosen = multi_krum(flat, num_byzantine, num_selected, _included(w))
        return aggregate, {"selected": chosen}
    return from_flat(rule)


AGGREGATORS = {
    "fedavg": lambda **_: fedavg,
    "median": lambda **_: median_aggregate(),
    "trimmed_mean": lambda trim=1, **_: trimmed_mean_aggregate(trim),
    "krum": lambda num_byzantine=0, **_: krum_aggregate(num_byzantine, 1),
    "multi_krum": lambda num_byzantine=0, num_selected=1, **_: krum_aggregate(
        num_byzantine, num_selected),
}


def get_aggregator(name: str, **kwargs) -> Callable[..., tuple[Params, Any, dict]]:
    """A server_aggregate by name: fedavg, median, trimmed_mean (trim), krum (num_byzantine),
    multi_krum (num_byzantine, num_selected)."""
    if name not in AGGREGATORS:
        raise ValueError(f"unknown aggregator {name!r}; choose one of {sorted(AGGREGATORS)}")
    return AGGREGATORS[name](**kwargs)
