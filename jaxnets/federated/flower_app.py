"""A federated task run either in the simulator or as Flower processes, from one definition.

The task (`digits_task`): softmax regression on scikit-learn's digits (offline), examples split
over K clients by Dirichlet label skew, FedAvg's local SGD on each client, FedAvg on the server.
It is small on purpose: it shows how any `client_update` / `server_aggregate` pair goes across
machines, and it is what the Flower-versus-simulator equality test runs.

Across processes or hosts (one server, K clients; each client builds the same task from the
same seed and keeps only its own row of the data):

    python -m jaxnets.federated.flower_app server --address 0.0.0.0:8080 --clients 2 --rounds 5
    python -m jaxnets.federated.flower_app client --address SERVER:8080 --clients 2 --index 0
    python -m jaxnets.federated.flower_app client --address SERVER:8080 --clients 2 --index 1

In one process, the same rounds in the simulator:

    python -m jaxnets.federated.flower_app simulate --clients 2 --rounds 5
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets.data.small import load_digits
from jaxnets.federated.aggregators import fedavg
from jaxnets.federated.partition import dirichlet_label_partition, stack_clients
from jaxnets.federated.simulator import (
    ClientUpdate,
    Params,
    fedavg_client_update,
    make_round,
    run_rounds,
)


@dataclasses.dataclass(frozen=True)
class FederatedTask:
    """Everything a run needs, identical in the simulator and in every Flower process.

    Attributes:
      init_params: the initial global parameters.
      client_update: the clients' pure update function.
      client_data: stacked client data {"x" [K, N, 64], "y" [K, N], "mask" [K, N]}.
      weights: [K] aggregation weights (example counts).
      key: the run key (round r uses fold_in(key, r)).
    """

    init_params: Params
    client_update: ClientUpdate
    client_data: dict[str, np.ndarray]
    weights: np.ndarray
    key: jax.Array

    @property
    def num_clients(self) -> int:
        return len(self.weights)

    def client_row(self, index: int) -> dict[str, jax.Array]:
        """Client `index`'s data (its row of the stacked arrays)."""
        return {name: jnp.asarray(value[index]) for name, value in self.client_data.items()}


def softmax_regression_loss(params: Params, batch: dict[str, jax.Array]) -> jax.Array:
    """Per-example cross-entropy [B] of logits x W + b."""
    logits = batch["x"] @ params["w"] + params["b"][None, :]
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])


def digits_task(num_clients: int = 2, seed: int = 0, alpha: float = 1.0,
                local_steps: int = 5, batch_size: int = 32,
                learning_rate: float = 0.5) -> FederatedTask:
    """Softmax regression on digits over `num_clients` label-skewed clients (Dirichlet alpha)."""
    x, y = load_digits()
    clients = dirichlet_label_partition(y, num_clients, alpha, seed, min_size=batch_size)
    data = stack_clients({"x": x, "y": y}, clients)
    key_init, key_run = jax.random.split(jax.random.PRNGKey(seed))
    init = {"w": 0.01 * jax.random.normal(key_init, (x.shape[1], 10)), "b": jnp.zeros(10)}
    update = fedavg_client_update(softmax_regression_loss, optax.sgd(learning_rate),
                                  local_steps, batch_size)
    weights = data["mask"].sum(axis=1).astype(np.float32)
    return FederatedTask(init, update, data, weights, key_run)


def simulate(task: FederatedTask, num_rounds: int) -> tuple[Params, list[dict]]:
    """The task's rounds in the simulator (clients under `vmap`); returns (params, history)."""
    round_fn = make_round(task.client_update, fedavg, shard=False)
    data = jax.tree_util.tree_map(jnp.asarray, task.client_data)
    params, _, _, history = run_rounds(
        round_fn, task.init_params, (), (), data,
        jnp.asarray(task.weights), task.key, None, num_rounds, progress=False)
    return params, history


def _save_params(params: Params, path: pathlib.Path) -> None:
    np.savez(path, **{name: np.asarray(value) for name, value in params.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=("server", "client", "simulate"))
    parser.add_argument("--address", default="127.0.0.1:8080")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--index", type=int, default=0, help="client index (role client)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="write the final global params here (.npz; server/simulate)")
    args = parser.parse_args(argv)
    task = digits_task(args.clients, args.seed)

    if args.role == "simulate":
        params, history = simulate(task, args.rounds)
        print(json.dumps(history[-1]))
    else:
        from jaxnets.federated import flower  # needs the optional `fl` extra

        if args.role == "server":
            strategy = flower.JaxnetsStrategy(fedavg, task.init_params, task.num_clients)
            params = flower.start_server(strategy, args.address, args.rounds)
            print(json.dumps(strategy.history[-1]))
        else:
            client = flower.JaxnetsClient(
                task.client_update, task.init_params, task.client_row(args.index),
                (), args.index, task.num_clients, task.key,
                float(task.weights[args.index]))
            flower.start_client(client, args.address)
            return 0
    if args.out is not None:
        _save_params(params, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
