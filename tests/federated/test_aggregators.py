"""Aggregators (jaxnets.federated.aggregators) on hand-computed cases and numpy references, and
attacks (jaxnets.federated.attacks) rewriting exactly the attacked rows."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.federated import aggregators as agg
from jaxnets.federated import attacks

U = np.array([[1.0, 10.0, -3.0],
              [2.0, 20.0, 5.0],
              [3.0, -40.0, 4.0],
              [100.0, 30.0, 0.0],
              [5.0, 0.0, 1.0]], np.float32)


def test_weighted_mean_hand_case():
    got = agg.weighted_mean(jnp.asarray(U[:2]), jnp.array([1.0, 3.0]))
    np.testing.assert_allclose(got, [1.75, 17.5, 3.0], rtol=1e-6)
    zeros = agg.weighted_mean(jnp.asarray(U[:2]), jnp.zeros(2))
    np.testing.assert_array_equal(zeros, np.zeros(3))


def test_coordinate_median_hand_case_and_mask():
    np.testing.assert_allclose(agg.coordinate_median(jnp.asarray(U)), [3.0, 10.0, 1.0])
    include = jnp.array([True, True, False, True, False])          # rows 0, 1, 3
    np.testing.assert_allclose(agg.coordinate_median(jnp.asarray(U), include), [2.0, 20.0, 0.0])
    even = jnp.array([True, True, True, True, False])              # 4 rows: mean of middle two
    np.testing.assert_allclose(agg.coordinate_median(jnp.asarray(U), even),
                               np.median(U[:4], axis=0))
    none = agg.coordinate_median(jnp.asarray(U), jnp.zeros(5, bool))
    np.testing.assert_array_equal(none, np.zeros(3))


def test_trimmed_mean_hand_case_and_numpy():
    # trim 1 of 5: column 0 keeps {2, 3, 5}; column 1 keeps {0, 10, 20}; column 2 keeps {0, 1, 4}
    np.testing.assert_allclose(agg.trimmed_mean(jnp.asarray(U), 1),
                               [10 / 3, 10.0, 5 / 3], rtol=1e-6)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 6)).astype(np.float32)
    include = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1], bool)
    kept = np.sort(x[include], axis=0)[2:-2]
    np.testing.assert_allclose(agg.trimmed_mean(jnp.asarray(x), 2, jnp.asarray(include)),
                               kept.mean(0), rtol=1e-5)
    # n <= 2 trim falls back to the median of the included rows
    np.testing.assert_allclose(agg.trimmed_mean(jnp.asarray(U), 3), np.median(U, axis=0))


def test_krum_hand_case():
    points = jnp.array([[0.0], [1.0], [2.0], [10.0], [100.0]])
    # f = 1: each point scores its n - f - 2 = 2 nearest: [1+4, 1+1, 1+4, 64+81, 90^2+98^2]
    scores = agg.krum_scores(points, 1)
    np.testing.assert_allclose(scores, [5.0, 2.0, 5.0, 145.0, 8100.0 + 9604.0])
    np.testing.assert_allclose(agg.krum(points, 1), [1.0])
    mean, chosen = agg.multi_krum(points, 1, num_selected=3)
    np.testing.assert_allclose(mean, [1.0])
    np.testing.assert_array_equal(chosen, [True, True, True, False, False])
    # excluding point 1 leaves n = 4, so each point scores its n - f - 2 = 1 nearest neighbour
    excluded = np.asarray(agg.krum_scores(points, 1, jnp.array([True, False, True, True, True])))
    assert np.isinf(excluded[1])
    np.testing.assert_allclose(excluded[[0, 2, 3, 4]], [4.0, 4.0, 64.0, 90.0 ** 2])


def test_krum_matches_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    f = 2
    want = []
    for i in range(8):
        d = sorted(float(np.sum((x[i] - x[j]) ** 2)) for j in range(8) if j != i)
        want.append(sum(d[:8 - f - 2]))
    np.testing.assert_allclose(agg.krum_scores(jnp.asarray(x), f), want, rtol=1e-4)


def test_server_aggregates_on_pytrees():
    rng = np.random.default_rng(2)
    global_params = {"w": jnp.ones((2, 3)), "b": jnp.zeros((3,))}
    stacked = {"w": jnp.asarray(rng.normal(size=(4, 2, 3)), jnp.float32),
               "b": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)}
    weights = jnp.array([1.0, 2.0, 0.0, 1.0])
    new, state, metrics = agg.fedavg(global_params, stacked, weights, None, {"server_lr": 0.5})
    scale = np.array([1, 2, 0, 1]) / 4
    np.testing.assert_allclose(new["w"], 1 + 0.5 * np.tensordot(scale, stacked["w"], 1),
                               rtol=1e-5)
    assert state is None and float(metrics["total_weight"]) == 4.0
    new_median, _, _ = agg.median_aggregate()(global_params, stacked, weights, (), None)
    np.testing.assert_allclose(new_median["b"],
                               np.median(np.asarray(stacked["b"])[[0, 1, 3]], axis=0), rtol=1e-6)
    new_krum, _, m = agg.krum_aggregate(0, 2)(global_params, stacked, weights, (), None)
    assert int(m["selected"].sum()) == 2 and not bool(m["selected"][2])
    unchanged, _, _ = agg.fedavg(global_params, stacked, jnp.zeros(4), None, None)
    np.testing.assert_array_equal(unchanged["w"], global_params["w"])
    with pytest.raises(ValueError, match="unknown aggregator"):
        agg.get_aggregator("mean_of_means")


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\[K, D\]"):
        agg.coordinate_median(jnp.ones(3))
    with pytest.raises(ValueError, match="include_K"):
        agg.trimmed_mean(jnp.ones((3, 2)), 1, jnp.ones(2, bool))
    with pytest.raises(ValueError, match="num_selected"):
        agg.multi_krum(jnp.ones((3, 2)), 0, num_selected=4)


@pytest.mark.parametrize("name", ["random", "reverse", "drop"])
@pytest.mark.parametrize("attacked", [[1, 3], np.array([0, 1, 0, 1, 0], bool)])
def test_attacks_change_exactly_the_attacked_rows(name, attacked):
    rng = np.random.default_rng(3)
    stacked = {"a": jnp.asarray(rng.normal(size=(5, 4)) + 0.5, jnp.float32),
               "b": jnp.asarray(rng.normal(size=(5, 2, 2)) + 0.5, jnp.float32)}
    attack = attacks.make_attack(name, attacked, 5, scale=10.0 if name == "reverse" else None)
    out = attack(stacked, jax.random.PRNGKey(0))
    rows = np.array([0, 1, 0, 1, 0], bool)
    for key in stacked:
        before, after = np.asarray(stacked[key]), np.asarray(out[key])
        np.testing.assert_array_equal(after[~rows], before[~rows])
        changed = np.any((after != before).reshape(5, -1), axis=1)
        np.testing.assert_array_equal(changed, rows)
        if name == "reverse":
            np.testing.assert_allclose(after[rows], -10 * before[rows])
        if name == "drop":
            assert np.all(after[rows] == 0)


def test_attack_bad_input():
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        attacks.make_attack("drop", [4], 4)
    with pytest.raises(ValueError, match="shape"):
        attacks.make_attack("drop", np.ones(3, bool), 4)
    with pytest.raises(ValueError, match="unknown attack"):
        attacks.make_attack("little_is_enough", [0], 4)
