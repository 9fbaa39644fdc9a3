"""Network instrumentation (jaxnets.federated.network): byte counts, the link-time model, the
round accounting, and a smoke run of experiments/fl_network_time.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.federated import network


def test_byte_counts_equal_pytree_sizes():
    tree = {"w": jnp.zeros((3, 5), jnp.float32), "b": jnp.zeros((5,), jnp.bfloat16),
            "q": [jnp.zeros((7,), jnp.int8)]}
    assert network.pytree_bytes(tree) == 3 * 5 * 4 + 5 * 2 + 7
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a] * 4), tree)
    assert network.client_row_bytes(stacked) == network.pytree_bytes(tree)
    down, up = network.client_bytes(tree, 4)
    np.testing.assert_array_equal(down, [77] * 4)
    np.testing.assert_array_equal(up, [77] * 4)
    _, coded = network.client_bytes(tree, 3, encoded_bits_K=np.array([8, 9, 0]))
    np.testing.assert_array_equal(coded, [1, 2, 0])
    with pytest.raises(ValueError, match=r"\[4\]"):
        network.client_bytes(tree, 4, encoded_bits_K=np.ones(3))


def test_link_time_deterministic_case_and_expectation():
    plain = network.LinkProfile(bandwidth_mbps=8.0, latency_ms=5.0)
    times = network.sample_link_time(jax.random.PRNGKey(0), plain, jnp.array([1e6, 2e6]))
    np.testing.assert_allclose(times, [0.005 + 1.0, 0.005 + 2.0], rtol=1e-6)
    noisy = network.LinkProfile(bandwidth_mbps=8.0, latency_ms=5.0, latency_jitter_ms=20.0,
                                throughput_sigma=0.3, loss_rate=0.2, packet_bytes=1000.0)
    draws = network.sample_link_time(jax.random.PRNGKey(1), noisy, jnp.full((20000,), 1e5))
    want = network.expected_link_time(noisy, 1e5)
    np.testing.assert_allclose(want, 0.025 + 0.1 / 0.8)
    np.testing.assert_allclose(float(jnp.mean(draws)), want, rtol=0.02)
    assert float(jnp.std(draws)) > 0.01
    calibrated = network.calibrate_bandwidth(noisy, 1e5, 0.5)
    np.testing.assert_allclose(network.expected_link_time(calibrated, 1e5), 0.5)
    with pytest.raises(ValueError, match="exceed"):
        network.calibrate_bandwidth(noisy, 1e5, 0.01)
    with pytest.raises(ValueError, match="loss_rate"):
        network.check_profile(noisy._replace(loss_rate=1.0))


def test_round_time_is_the_straggler_plus_aggregation():
    out = network.round_times(jnp.array([1.0, 2.0, 1.0]), jnp.array([3.0, 3.0, 9.0]),
                              jnp.array([1.0, 4.0, 0.5]), jnp.asarray(0.25),
                              participating_K=jnp.array([True, True, False]))
    np.testing.assert_allclose(out["client_s"], [5.0, 9.0, 10.5])
    np.testing.assert_allclose(out["round_s"], 9.25)
    assert int(out["straggler"]) == 1
    np.testing.assert_allclose(out["straggler_excess_s"], 2.0)
    sim = network.simulate_round_times(jax.random.PRNGKey(0), network.FIVE_G,
                                       jnp.full((4,), 1e6), jnp.full((4,), 1e6),
                                       jnp.ones(4), jnp.asarray(0.1))
    np.testing.assert_allclose(sim["round_s"], jnp.max(sim["down_s"] + 1.0 + sim["up_s"]) + 0.1,
                               rtol=1e-6)


def test_experiment_smoke(tmp_path):
    from experiments import fl_network_time as exp
    from jaxnets import experiment
    config = experiment.build_config(exp, [], quick=True)
    results, claim = experiment.run_experiment(exp, config, tmp_path)
    assert len(results["seeds"]) == config.n_seeds
    for name in ("5g", "wifi", "ethernet"):
        assert results["summary"][name]["uplink_s"] > 0
    assert results["bytes_per_client_up"] == results["model_bytes"]
    assert isinstance(claim.passed, bool) and "33.3" in claim.paper
    assert (tmp_path / results["plot"]).exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import fl_network_time as exp
    from jaxnets import experiment
    config = experiment.build_config(exp, [], quick=False)
    _, claim = experiment.run_experiment(exp, config, tmp_path)
    assert claim.passed, claim.text
