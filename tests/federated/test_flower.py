"""The Flower adapter: a server and two clients as separate processes equal the simulator."""
import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

flwr = pytest.importorskip("flwr")

from jaxnets.federated import flower  # noqa: E402
from jaxnets.federated.flower_app import digits_task, simulate  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_flower_server_and_two_client_processes_match_the_simulator(tmp_path):
    rounds, address = 2, f"127.0.0.1:{_free_port()}"
    command = [sys.executable, "-m", "jaxnets.federated.flower_app"]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = ""   # one CPU device per process, as on a real client machine
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("server", "c0", "c1")}
    server = subprocess.Popen(command + ["server", "--address", address, "--rounds", str(rounds),
                                         "--out", str(tmp_path / "flower.npz")],
                              stdout=logs["server"], stderr=subprocess.STDOUT, env=env)
    clients = [subprocess.Popen(command + ["client", "--address", address, "--index", str(i)],
                                stdout=logs[f"c{i}"], stderr=subprocess.STDOUT, env=env)
               for i in range(2)]
    try:
        assert server.wait(timeout=300) == 0, (tmp_path / "server.log").read_text()[-3000:]
        for i, client in enumerate(clients):
            assert client.wait(timeout=60) == 0, (tmp_path / f"c{i}.log").read_text()[-3000:]
    finally:
        for process in [server, *clients]:
            if process.poll() is None:
                process.kill()
        for log in logs.values():
            log.close()

    expected, history = simulate(digits_task(2, 0), rounds)
    got = np.load(tmp_path / "flower.npz")
    for name in ("w", "b"):
        np.testing.assert_allclose(got[name], np.asarray(expected[name]), rtol=1e-5, atol=1e-6)
    assert history[-1]["loss_last"] < history[0]["loss_first"]   # the rounds did train
    assert not np.allclose(got["w"], np.asarray(digits_task(2, 0).init_params["w"]))


def test_client_round_key_is_the_simulators_per_client_key():
    key = jax.random.PRNGKey(3)
    round_key = jax.random.fold_in(key, 4)
    client_key, _ = jax.random.split(round_key)
    expected = jax.random.split(client_key, 5)[2]
    assert jnp.array_equal(flower.client_round_key(key, 4, 2, 5), expected)


def test_ndarrays_round_trip_and_mismatch_is_a_clear_error():
    params = {"b": jnp.arange(3.0), "w": jnp.ones((2, 3))}
    arrays = flower.params_to_ndarrays(params)
    back = flower.ndarrays_to_params(arrays, params)
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(jnp.array_equal, back, params))
    with pytest.raises(ValueError, match=r"mismatch at leaf \['w'\]"):
        flower.ndarrays_to_params([arrays[0], np.ones((3, 3))], params)
    with pytest.raises(ValueError, match="received 1 arrays"):
        flower.ndarrays_to_params(arrays[:1], params)


def test_strategy_stacks_by_client_index_and_excludes_missing_and_nonfinite():
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters

    from jaxnets.federated.aggregators import fedavg

    params = {"w": jnp.zeros((2,))}
    strategy = flower.JaxnetsStrategy(fedavg, params, num_clients=3)

    def result(index, update, weight):
        return (None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters([np.asarray(update)]),
                             int(weight), {"client_index": index, "weight": float(weight)}))

    # client 1 is missing, client 2 sent NaN: only client 0 counts
    results = [result(2, [np.nan, 1.0], 5), result(0, [1.0, 2.0], 1)]
    _, metrics = strategy.aggregate_fit(1, results, failures=[])
    np.testing.assert_allclose(strategy.global_params["w"], [1.0, 2.0])
    assert metrics["num_missing"] == 1 and metrics["num_nonfinite"] == 1
    # all present: weighted mean of the deltas
    results = [result(1, [3.0, 0.0], 3), result(0, [-1.0, 0.0], 1), result(2, [0.0, 4.0], 0)]
    strategy.aggregate_fit(2, results, failures=[])
    np.testing.assert_allclose(strategy.global_params["w"], [1.0 + 2.0, 2.0])
