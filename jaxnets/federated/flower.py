"""Flower adapter: the simulator's pure `client_update` / `server_aggregate` across real machines.

The same two functions that `jaxnets.federated.simulator.make_round` composes under `vmap` are
wrapped here as a Flower (Beutel et al., "Flower: A Friendly Federated Learning Framework",
arXiv 2007.14390) client and strategy, so a run that was developed in the simulator can go
across processes or hosts without rewriting the method:

- `JaxnetsClient` (a `flwr.client.NumPyClient`) holds one client's data and state; its `fit`
  unflattens the global parameters, runs the jitted `client_update` with the key the simulator
  would have given this client in this round (`client_round_key`), and sends back the update
  (a delta) with the client's weight and index.
- `JaxnetsStrategy` (a `flwr.server.strategy.Strategy`) waits for all K clients, stacks their
  updates in client-index order, excludes non-finite ones (weight 0, as the simulator does),
  and calls the jitted `server_aggregate`. A client that fails or times out gets weight 0 and a
  zero update: the round still completes, and the failure is counted in the round's metrics.

With the same data, seeds, weights and functions, the global parameters after R rounds equal the
simulator's up to float rounding (the simulator runs clients under `vmap`, Flower one at a
time); `tests/federated/test_flower.py` checks this with a server and two clients as separate
processes on 127.0.0.1.

Flower is an optional dependency (`pip install -e ".[fl]"`; the `dev` extra includes it). This
module uses Flower's long-standing `start_server` / `start_client` entry points, which Flower
1.13+ marks deprecated in favour of its SuperLink/SuperNode deployment but still ships; the
client and strategy classes are the same in both deployments.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

try:
    import flwr
    from flwr.common import (
        FitIns,
        FitRes,
        Parameters,
        Scalar,
        ndarrays_to_parameters,
        parameters_to_ndarrays,
    )
    from flwr.server.client_manager import ClientManager
    from flwr.server.client_proxy import ClientProxy
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "jaxnets.federated.flower needs Flower: pip install -e '.[fl]' (or '.[dev]')"
    ) from error

from jaxnets.federated.simulator import (
    ClientUpdate,
    Params,
    ServerAggregate,
    check_same_structure,
    finite_rows,
)


def params_to_ndarrays(params: Params) -> list[np.ndarray]:
    """The leaves of a parameter pytree, in tree order, as NumPy arrays (Flower's wire format)."""
    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(params)]


def ndarrays_to_params(arrays: list[np.ndarray], like: Params) -> Params:
    """Inverse of `params_to_ndarrays` with the structure, shapes and dtypes of `like`.

    Raises:
      ValueError: a different number of arrays or a shape that does not match `like` (the
        message names the leaf), e.g. a client built with another model than the server.
    """
    leaves, treedef = jax.tree_util.tree_flatten(like)
    if len(arrays) != len(leaves):
        raise ValueError(f"model structure mismatch: received {len(arrays)} arrays, the model "
                         f"has {len(leaves)} parameter leaves")
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(like)[0]]
    out = []
    for path, array, leaf in zip(paths, arrays, leaves):
        if tuple(np.shape(array)) != tuple(np.shape(leaf)):
            raise ValueError(f"model structure mismatch at leaf {path}: received shape "
                             f"{np.shape(array)}, the model has {np.shape(leaf)}")
        out.append(jnp.asarray(array, dtype=jnp.asarray(leaf).dtype))
    return jax.tree_util.tree_unflatten(treedef, out)


def client_round_key(key: jax.Array, round_index: int, client_index: int,
                     num_clients: int) -> jax.Array:
    """The PRNG key the simulator hands client `client_index` in round `round_index` (0-based).

    `run_rounds` uses `fold_in(key, r)` for round r, and `make_round` splits that into a client
    key and an attack key and the client key into one key per client.
    """
    client_key, _ = jax.random.split(jax.random.fold_in(key, round_index))
    return jax.random.split(client_key, num_clients)[client_index]


class JaxnetsClient(flwr.client.NumPyClient):
    """One federated client running a jaxnets `client_update` inside Flower.

    Args:
      client_update: the pure client function (see `jaxnets.federated.simulator`).
      template_params: a pytree with the model's structure (e.g. the initial global params).
      client_data: this client's data (one row of the simulator's stacked client data).
      client_state: this client's persistent state (`()` when none).
      client_index: k in [0, K): the row this client occupies in the simulator.
      num_clients: K.
      key: the run key (the one given to `run_rounds`).
      weight: this client's aggregation weight (e.g. its example count).
      hp: hyperparameters passed to `client_update`.
    """

    def __init__(self, client_update: ClientUpdate, template_params: Params, client_data: Any,
                 client_state: Any, client_index: int, num_clients: int, key: jax.Array,
                 weight: float, hp: Any = None):
        if not 0 <= client_index < num_clients:
            raise ValueError(f"client_index must be in [0, {num_clients}), got {client_index}")
        self._update = jax.jit(client_update)
        self._template = template_params
        self._data = client_data
        self.state = client_state
        self._index = client_index
        self._num_clients = num_clients
        self._key = key
        self._weight = float(weight)
        self._hp = hp

    def get_parameters(self, config: dict[str, Scalar]) -> list[np.ndarray]:
        return params_to_ndarrays(self._template)

    def fit(self, parameters: list[np.ndarray], config: dict[str, Scalar]
            ) -> tuple[list[np.ndarray], int, dict[str, Scalar]]:
        global_params = ndarrays_to_params(parameters, self._template)
        round_index = int(config["round"]) - 1
        key = client_round_key(self._key, round_index, self._index, self._num_clients)
        update, self.state, metrics = self._update(global_params, self.state, self._data, key,
                                                   self._hp)
        check_same_structure(self._template, update, "the client update")
        report: dict[str, Scalar] = {"client_index": self._index, "weight": self._weight}
        for name, value in metrics.items():
            if np.ndim(value) == 0:
                report[name] = float(value)
        # Flower's num_examples must be an int; the exact weight travels in the metrics.
        return params_to_ndarrays(update), max(int(round(self._weight)), 0), report

    def evaluate(self, parameters: list[np.ndarray], config: dict[str, Scalar]):
        return 0.0, 0, {}


class JaxnetsStrategy(flwr.server.strategy.Strategy):
    """A Flower strategy that aggregates with a jaxnets `server_aggregate`.

    Every round asks all `num_clients` clients to fit (the simulator's synchronous round),
    stacks their updates by the `client_index` each reports, and aggregates with the weights the
    clients report. Missing, failed or non-finite clients get weight 0 and a zero update.

    Args:
      server_aggregate: the pure server function (e.g. `jaxnets.federated.aggregators.fedavg`).
      initial_params: the initial global parameters.
      num_clients: K, the clients a round waits for.
      server_state: the aggregator's state (`()` when none).
      hp: hyperparameters passed to `server_aggregate`.
      on_round: optional `on_round(round, global_params, metrics)` after each aggregation.
      wait_timeout: seconds to wait for all K clients to connect before a round.
    """

    def __init__(self, server_aggregate: ServerAggregate, initial_params: Params,
                 num_clients: int, server_state: Any = (), hp: Any = None,
                 on_round: Callable[[int, Params, dict], None] | None = None,
                 wait_timeout: float = 120.0):
        super().__init__()
        if num_clients < 1:
            raise ValueError(f"num_clients must be >= 1, got {num_clients}")
        self.global_params = initial_params
        self.server_state = server_state
        self.history: list[dict] = []
        self._aggregate = jax.jit(server_aggregate)
        self._num_clients = num_clients
        self._hp = hp
        self._on_round = on_round
        self._wait_timeout = wait_timeout

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return ndarrays_to_parameters(params_to_ndarrays(self.global_params))

    def configure_fit(self, server_round: int, parameters: Parameters,
                      client_manager: ClientManager) -> list[tuple[ClientProxy, FitIns]]:
        if not client_manager.wait_for(self._num_clients, timeout=self._wait_timeout):
            raise RuntimeError(f"only {client_manager.num_available()} of {self._num_clients} "
                               f"clients connected within {self._wait_timeout} s")
        clients = client_manager.sample(num_clients=self._num_clients,
                                        min_num_clients=self._num_clients)
        fit_ins = FitIns(parameters, {"round": server_round})
        return [(client, fit_ins) for client in clients]

    def stack_results(self, results: list[tuple[ClientProxy, FitRes]]
                      ) -> tuple[Params, jax.Array, int]:
        """Client updates [K, ...] in client-index order, weights [K], and the missing count."""
        zeros = jax.tree_util.tree_map(jnp.zeros_like, self.global_params)
        rows: list[Params] = [zeros] * self._num_clients
        weights = np.zeros(self._num_clients, np.float32)
        for _, fit_res in results:
            index = int(fit_res.metrics["client_index"])
            if not 0 <= index < self._num_clients:
                raise ValueError(f"a client reported client_index {index}, outside "
                                 f"[0, {self._num_clients})")
            rows[index] = ndarrays_to_params(parameters_to_ndarrays(fit_res.parameters),
                                             self.global_params)
            weights[index] = float(fit_res.metrics.get("weight", fit_res.num_examples))
        stacked = jax.tree_util.tree_map(lambda *r: jnp.stack(r), *rows)
        return stacked, jnp.asarray(weights), self._num_clients - len(results)

    def aggregate_fit(self, server_round: int, results: list[tuple[ClientProxy, FitRes]],
                      failures: list[Any]) -> tuple[Parameters | None, dict[str, Scalar]]:
        stacked, weights, missing = self.stack_results(results)
        finite = finite_rows(stacked)
        stacked = jax.tree_util.tree_map(
            lambda u: jnp.where(finite.reshape((-1,) + (1,) * (u.ndim - 1)), u, 0), stacked)
        weights = jnp.where(finite, weights, 0.0)
        self.global_params, self.server_state, server_metrics = self._aggregate(
            self.global_params, stacked, weights, self.server_state, self._hp)
        metrics: dict[str, Scalar] = {
            "round": server_round, "num_missing": missing, "num_failures": len(failures),
            "num_nonfinite": int(jnp.sum(~finite))}  # missing rows are zeros, so finite
        for name, value in server_metrics.items():
            if np.ndim(value) == 0:
                metrics[f"server_{name}"] = float(value)
        self.history.append(dict(metrics))
        if self._on_round is not None:
            self._on_round(server_round, self.global_params, metrics)
        return ndarrays_to_parameters(params_to_ndarrays(self.global_params)), metrics

    def configure_evaluate(self, server_round: int, parameters: Parameters,
                           client_manager: ClientManager) -> list:
        return []

    def aggregate_evaluate(self, server_round: int, results: list, failures: list
                           ) -> tuple[float | None, dict[str, Scalar]]:
        return None, {}

    def evaluate(self, server_round: int, parameters: Parameters
                 ) -> tuple[float, dict[str, Scalar]] | None:
        return None


def start_server(strategy: JaxnetsStrategy, address: str, num_rounds: int) -> Params:
    """Runs a Flower server for `num_rounds` rounds; returns the final global parameters."""
    flwr.server.start_server(server_address=address, strategy=strategy,
                             config=flwr.server.ServerConfig(num_rounds=num_rounds))
    return strategy.global_params


def start_client(client: JaxnetsClient, address: str) -> None:
    """Connects `client` to the Flower server at `address` and serves it until the run ends."""
    flwr.client.start_client(server_address=address, client=client.to_client(), insecure=True)
