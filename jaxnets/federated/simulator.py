"""Federated simulation on a client axis: one round = vmapped client updates, an optional attack,
an aggregation; several rounds = `run_rounds`.

The pure core every federated method in jaxnets plugs into (FedAvg, McMahan et al., "Communication-
Efficient Learning of Deep Networks from Decentralized Data", AISTATS 2017, Algorithm 1; FED-PUB,
Flag Aggregator, FedZip reuse it):

  client_update(global_params, client_state, client_data, key, hp)
      -> (update, client_state, metrics)
     `update` is a pytree shaped like the params: the client's new params minus the global ones
     (a delta). `client_data` is one client's slice of a stacked pytree whose leaves have a
     leading client axis [K, N, ...]; clients are padded to a common N and a boolean field
     `mask` [N] marks the real examples. `client_state` holds what persists on a client between
     rounds (personal masks, error-feedback residuals; `()` when nothing does).
  server_aggregate(global_params, stacked_updates, weights, server_state, hp)
      -> (new_global_params, server_state, metrics)
     `stacked_updates` has a leading client axis [K, ...]; `weights` [K] are e.g. example counts,
     0 for an excluded client.
  attack(stacked_updates, key) -> stacked_updates
     Byzantine clients rewrite their rows (see `jaxnets.federated.attacks`).

`make_round` composes them into one jitted round: clients run under `jax.vmap` (and under
`jax.shard_map` over all devices when there are several and they divide the client count), the
attack rewrites its rows, clients whose update holds a NaN or an infinity are excluded (weight 0,
update zeroed, state kept, counted in the metrics), and the server aggregates. `make_phases`
gives the same round as two jitted halves (clients; server) for wall-clock instrumentation, and
`run_rounds` drives R rounds with a progress bar and per-round metrics.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, PartitionSpec

from jaxnets.train.progress import progress_bar, to_jsonable

Params = Any
ClientUpdate = Callable[[Params, Any, Any, jax.Array, Any], tuple[Params, Any, dict]]
ServerAggregate = Callable[[Params, Params, jax.Array, Any, Any], tuple[Params, Any, dict]]
Attack = Callable[[Params, jax.Array], Params]
RoundFn = Callable[..., tuple[Params, Any, Any, dict]]
CLIENT_AXIS = "clients"


def check_same_structure(reference: Params, candidate: Params, what: str,
                         leading_axis: int | None = None) -> None:
    """Raises ValueError naming the first leaf where `candidate` differs from `reference`.

    Args:
      reference: the model's params (e.g. the server's global params).
      candidate: a pytree that must match it leaf by leaf (a client update, a new global model).
      what: how to call `candidate` in the message.
      leading_axis: when given, every candidate leaf must have this extra leading (client) axis.
    """
    ref_leaves = {jax.tree_util.keystr(p): x for p, x in
                  jax.tree_util.tree_flatten_with_path(reference)[0]}
    cand_leaves = {jax.tree_util.keystr(p): x for p, x in
                   jax.tree_util.tree_flatten_with_path(candidate)[0]}
    for path in ref_leaves:
        if path not in cand_leaves:
            raise ValueError(f"model structure mismatch: {what} lacks the leaf {path or '<root>'} "
                             f"that the global params have")
    for path in cand_leaves:
        if path not in ref_leaves:
            raise ValueError(f"model structure mismatch: {what} has a leaf {path or '<root>'} "
                             f"that the global params lack")
    for path, ref in ref_leaves.items():
        want = tuple(jnp.shape(ref))
        if leading_axis is not None:
            want = (leading_axis,) + want
        got = tuple(jnp.shape(cand_leaves[path]))
        if got != want:
            raise ValueError(f"model structure mismatch at leaf {path or '<root>'}: {what} has "
                             f"shape {got}, expected {want}")
    if jax.tree_util.tree_structure(reference) != jax.tree_util.tree_structure(candidate):
        raise ValueError(f"model structure mismatch: {what} has the same leaves as the global "
                         f"params but another container type "
                         f"({jax.tree_util.tree_structure(candidate)} vs "
                         f"{jax.tree_util.tree_structure(reference)})")


def _check_client_axis(tree: Any, num_clients: int, name: str) -> None:
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        shape = jnp.shape(leaf)
        if not shape or shape[0] != num_clients:
            raise ValueError(f"{name}{jax.tree_util.keystr(path)} must have a leading client axis "
                             f"of size {num_clients} (len(weights)), got shape {shape}")


def finite_rows(stacked: Params) -> jax.Array:
    """[K] bool: whether every entry of client k's rows is finite, over all leaves."""
    leaves = jax.tree_util.tree_leaves(stacked)
    num = leaves[0].shape[0]
    ok = jnp.ones((num,), bool)
    for leaf in leaves:
        ok = ok & jnp.all(jnp.isfinite(leaf.reshape(num, -1)), axis=1)
    return ok


def select_rows(keep_K: jax.Array, new: Any, old: Any) -> Any:
    """Per leaf, row k of `new` where keep_K[k], else row k of `old` (same structures)."""
    def pick(a, b):
        return jnp.where(keep_K.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
    return jax.tree_util.tree_map(pick, new, old)


def _client_runner(client_update: ClientUpdate, num_clients: int, shard: bool | None):
    """vmap of `client_update` over clients, wrapped in shard_map when sharding applies."""
    vmapped = jax.vmap(client_update, in_axes=(None, 0, 0, 0, None))
    devices = jax.devices()
    if shard is None:
        shard = len(devices) > 1 and num_clients % len(devices) == 0
    if not shard:
        return vmapped
    if num_clients % len(devices):
        raise ValueError(f"shard=True needs the client count ({num_clients}) to be a multiple of "
                         f"the device count ({len(devices)})")
    mesh = Mesh(np.array(devices), (CLIENT_AXIS,))
    clients = PartitionSpec(CLIENT_AXIS)
    return jax.shard_map(vmapped, mesh=mesh,
                         in_specs=(PartitionSpec(), clients, clients, clients, PartitionSpec()),
                         out_specs=clients, check_vma=False)


def _make_phases(client_update: ClientUpdate, server_aggregate: ServerAggregate,
                 attack: Attack | None, shard: bool | None):
    """The two halves of a round as plain (unjitted) functions; see `make_round`."""
    def clients_phase(global_params, stacked_client_state, stacked_client_data, weights, key, hp):
        weights = jnp.asarray(weights, jnp.float32)
        if weights.ndim != 1:
            raise ValueError(f"weights must have shape [K], got {weights.shape}")
        num_clients = weights.shape[0]
        _check_client_axis(stacked_client_data, num_clients, "stacked_client_data")
        _check_client_axis(stacked_client_state, num_clients, "stacked_client_state")
        client_key, attack_key = jax.random.split(key)
        client_keys = jax.random.split(client_key, num_clients)
        run_clients = _client_runner(client_update, num_clients, shard)
        updates, new_states, client_metrics = run_clients(
            global_params, stacked_client_state, stacked_client_data, client_keys, hp)
        check_same_structure(global_params, updates, "the client update",
                             leading_axis=num_clients)
        if attack is not None:
            updates = attack(updates, attack_key)
            check_same_structure(global_params, updates, "the attacked update",
                                 leading_axis=num_clients)
        finite = finite_rows(updates)
        updates = jax.tree_util.tree_map(
            lambda u: jnp.where(finite.reshape((-1,) + (1,) * (u.ndim - 1)), u, 0), updates)
        if (jax.tree_util.tree_structure(new_states)
                == jax.tree_util.tree_structure(stacked_client_state)):
            new_states = select_rows(finite, new_states, stacked_client_state)
        metrics = {"clients": client_metrics, "finite": finite,
                   "num_nonfinite": num_clients - jnp.sum(finite),
                   "weights": jnp.where(finite, weights, 0.0)}
        return updates, new_states, metrics

    def server_phase(global_params, server_state, updates, used_weights, hp):
        new_global, server_state, server_metrics = server_aggregate(
            global_params, updates, used_weights, server_state, hp)
        check_same_structure(global_params, new_global, "the aggregated global model")
        return new_global, server_state, server_metrics

    return clients_phase, server_phase


def make_round(client_update: ClientUpdate, server_aggregate: ServerAggregate,
               attack: Attack | None = None, *, shard: bool | None = None) -> RoundFn:
    """One synchronous federated round as a jitted function.

    Args:
      client_update: see the module docstring.
      server_aggregate: see the module docstring (e.g. `jaxnets.federated.aggregators.fedavg`).
      attack: optional `attack(stacked_updates, key) -> stacked_updates`, applied after the
        clients and before the server.
      shard: run clients under `jax.shard_map` over all devices; None = whenever there are
        several devices and they divide the client count K.

    Returns:
      `round_fn(global_params, server_state, stacked_client_state, stacked_client_data, weights,
      key, hp) -> (global_params, server_state, stacked_client_state, metrics)` with
      metrics = {"clients": per-client metrics [K], "server": the aggregator's metrics,
      "finite": [K] bool (False = update had NaN/inf and was excluded), "num_nonfinite": int,
      "weights": [K] the weights the server used}.

    Raises (at trace time):
      ValueError: a client update or the new global model whose structure or shapes differ from
        the global params (the message names the leaf), or client data/state without a leading
        axis of size K = len(weights).
    """
    clients_phase, server_phase = _make_phases(client_update, server_aggregate, attack, shard)

    def round_fn(global_params, server_state, stacked_client_state, stacked_client_data,
                 weights, key, hp):
        updates, new_states, metrics = clients_phase(
            global_params, stacked_client_state, stacked_client_data, weights, key, hp)
        new_global, server_state, metrics["server"] = server_phase(
            global_params, server_state, updates, metrics["weights"], hp)
        return new_global, server_state, new_states, metrics

    return jax.jit(round_fn)


def make_phases(client_update: ClientUpdate, server_aggregate: ServerAggregate,
                attack: Attack | None = None, *, shard: bool | None = None):
    """`make_round` cut in two jitted halves, for wall-clock instrumentation of each.

    Returns:
      (clients_fn, server_fn):
      `clients_fn(global_params, stacked_client_state, stacked_client_data, weights, key, hp)
      -> (stacked_updates, stacked_client_state, metrics)` (clients, attack, NaN exclusion;
      metrics as in `make_round` without "server"), and
      `server_fn(global_params, server_state, stacked_updates, metrics["weights"], hp)
      -> (global_params, server_state, server_metrics)`. Composed, they compute exactly
      `make_round`'s round.
    """
    clients_phase, server_phase = _make_phases(client_update, server_aggregate, attack, shard)
    return jax.jit(clients_phase), jax.jit(server_phase)


def _masked_mean(values_B: jax.Array, mask_B: jax.Array) -> jax.Array:
    mask = mask_B.astype(values_B.dtype)
    return jnp.sum(values_B * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def sample_batch(client_data: dict, key: jax.Array, batch_size: int | None) -> dict:
    """`batch_size` examples drawn uniformly without replacement from the client's real ones.

    With fewer real examples than `batch_size`, padding rows fill the batch (their `mask` stays
    False, so losses ignore them). `batch_size=None` returns all of the client's rows.
    """
    if batch_size is None:
        return client_data
    mask = client_data["mask"]
    if batch_size > mask.shape[0]:
        raise ValueError(f"batch_size {batch_size} exceeds the padded client size {mask.shape[0]}")
    scores = jnp.where(mask, jax.random.uniform(key, mask.shape), -1.0)
    _, index = jax.lax.top_k(scores, batch_size)
    return jax.tree_util.tree_map(lambda x: x[index], client_data)


def fedavg_client_update(loss_fn: Callable[[Params, dict], jax.Array],
                         optimizer: optax.GradientTransformation, local_steps: int,
                         batch_size: int | None = None) -> ClientUpdate:
    """FedAvg's ClientUpdate (McMahan et al. 2017, Algorithm 1): local SGD from the global model.

    Each call starts `optimizer` afresh from the global params, takes `local_steps` steps (a
    `lax.scan`), each on `batch_size` examples sampled without replacement from the client's
    real examples (all of them when None), and returns the delta params - global params.

    Args:
      loss_fn: `loss_fn(params, batch) -> [B]` per-example losses; `batch` is a slice of the
        client's data dict (which must hold a bool `mask` [N]); padding rows are masked out of
        the mean, and a client without examples gets a zero gradient.
      optimizer: an optax transformation (reset every round, as in FedAvg).
      local_steps: local steps per round (E epochs x N / B in the paper's terms).
      batch_size: examples per local step; None = full batch.

    Returns:
      `client_update` with metrics {"loss_first", "loss_last", "num_examples"} (losses of the
      first and last local step's batch, before that step's update).
    """
    if local_steps < 1:
        raise ValueError(f"local_steps must be >= 1, got {local_steps}")

    def masked_loss(params, batch):
        return _masked_mean(loss_fn(params, batch), batch["mask"])

    def client_update(global_params, client_state, client_data, key, hp):
        del hp
        if not isinstance(client_data, dict) or "mask" not in client_data:
            raise ValueError("client_data must be a dict with a bool 'mask' field [N] marking "
                             "real examples")

        def step(carry, step_key):
            params, opt_state = carry
            batch = sample_batch(client_data, step_key, batch_size)
            loss, grads = jax.value_and_grad(masked_loss)(params, batch)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        init = (global_params, optimizer.init(global_params))
        (params, _), losses = jax.lax.scan(step, init, jax.random.split(key, local_steps))
        delta = jax.tree_util.tree_map(jnp.subtract, params, global_params)
        metrics = {"loss_first": losses[0], "loss_last": losses[-1],
                   "num_examples": jnp.sum(client_data["mask"])}
        return delta, client_state, metrics

    return client_update


def run_rounds(round_fn: RoundFn, global_params: Params, server_state: Any,
               stacked_client_state: Any, stacked_client_data: Any, weights: Any,
               key: jax.Array, hp: Any, num_rounds: int, *,
               evaluate: Callable[[Params], dict] | None = None, eval_every: int = 1,
               on_round: Callable[[int, dict], None] | None = None,
               progress: bool = True, description: str | None = "rounds"
               ) -> tuple[Params, Any, Any, list[dict]]:
    """Runs `num_rounds` rounds of `round_fn` (from `make_round`) with a progress bar.

    Round r uses the key `fold_in(key, r)`, so a run is a function of (key, r) alone. Between
    rounds (host side) the metrics are summarised: per round a dict with "round", the mean client
    "loss_first"/"loss_last" when present, "num_nonfinite", the server's scalar metrics and, every
    `eval_every` rounds and at the last, `evaluate(global_params)`.

    Args:
      weights: [K] client weights, or a callable `weights(round) -> [K]` (client sampling).
      on_round: called as `on_round(r, record)` after each round (logging, timing).

    Returns:
      (global_params, server_state, stacked_client_state, history: list of per-round dicts).
    """
    history = []
    bar = progress_bar(num_rounds, 0, description, progress)
    try:
        for r in range(num_rounds):
            round_weights = weights(r) if callable(weights) else weights
            global_params, server_state, stacked_client_state, metrics = round_fn(
                global_params, server_state, stacked_client_state, stacked_client_data,
                round_weights, jax.random.fold_in(key, r), hp)
            record = {"round": r + 1, "num_nonfinite": int(metrics["num_nonfinite"])}
            for name in ("loss_first", "loss_last"):
                if name in metrics["clients"]:
                    values = np.asarray(metrics["clients"][name])
                    used = np.asarray(metrics["weights"]) > 0
                    record[name] = float(values[used].mean()) if used.any() else float("nan")
            for name, value in metrics["server"].items():
                if np.ndim(value) == 0:
                    record[f"server_{name}"] = to_jsonable(value)
            if evaluate is not None and ((r + 1) % eval_every == 0 or r + 1 == num_rounds):
                record.update(to_jsonable(evaluate(global_params)))
            history.append(record)
            if on_round is not None:
                on_round(r, record)
            bar.update(1)
            if "loss_last" in record:
                bar.set_postfix(loss=f"{record['loss_last']:.4f}")
    finally:
        bar.close()
    return global_params, server_state, stacked_client_state, history
