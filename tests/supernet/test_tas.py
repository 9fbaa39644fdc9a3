"""TAS search pieces against independent numpy references, the KD loss, and the experiment."""
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import tas as tas_experiment
from jaxnets import experiment as experiment_lib
from jaxnets.supernet import tas
from jaxnets.train.distill import kd_loss

SPACE = tas.TASSpace()


def _adaptive_avg_pool(x, c_out):
    """PyTorch's adaptive_avg_pool1d over a vector, from its documented bin formula."""
    c_in = len(x)
    return np.array([x[math.floor(o * c_in / c_out):math.ceil((o + 1) * c_in / c_out)].mean()
                     for o in range(c_out)])


def test_choice_sets_follow_the_official_rule():
    assert SPACE.choices == (19, 25, 32, 38, 44, 51, 57, 64)
    assert SPACE.depths == (1, 3, 4)
    assert tas.width_choices(16) == (4, 6, 8, 9, 11, 12, 14, 16)  # the notes' CIFAR example
    assert tas.depth_choices(9) == (1, 3, 5, 7, 9)


@pytest.mark.parametrize("c_in,c_out", [(19, 64), (25, 32), (44, 51), (32, 19), (7, 7), (3, 2)])
def test_interpolation_matrix_is_adaptive_average_pooling(c_in, c_out, rng):
    x = rng.normal(size=64)
    x[c_in:] = 5.0  # channels past the prefix must not leak
    y = (np.where(np.arange(64) < c_in, x, 0.0)) @ tas.interpolation_matrix(c_in, c_out, 64)
    np.testing.assert_allclose(y[:c_out], _adaptive_avg_pool(x[:c_in], c_out), rtol=1e-6)
    np.testing.assert_array_equal(y[c_out:], 0.0)


def test_interpolation_by_hand_and_table_layout():
    np.testing.assert_allclose([1.0, 2.0] @ tas.interpolation_matrix(2, 4, 4)[:2],
                               [1.0, 1.0, 2.0, 2.0])
    np.testing.assert_allclose([1.0, 2.0, 4.0] @ tas.interpolation_matrix(3, 2, 3)[:, :2],
                               [1.5, 3.0])
    table = np.asarray(tas.interpolation_table((2, 3, 4), 4))
    assert table.shape == (3, 3, 4, 4)
    np.testing.assert_array_equal(table[1, 2], tas.interpolation_matrix(3, 4, 4))
    np.testing.assert_array_equal(table[2, 2][:4, :4], np.eye(4))


def _expected_flops_reference(logits, depth_logits, space):
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    e = p @ np.asarray(space.choices, float)
    q = np.exp(depth_logits) / np.exp(depth_logits).sum()
    reverse_cumsum = np.cumsum(q[::-1])[::-1]  # P(depth >= choice c)
    total, c_in = space.in_features * e[0], e[0]
    for k in range(space.num_blocks):
        group = next(i for i, d in enumerate(space.depths) if d >= k + 1)
        total += reverse_cumsum[group] * (c_in * e[1 + 2 * k] + e[1 + 2 * k] * e[2 + 2 * k])
        c_in = e[2 + 2 * k]
    head = sum(q[i] * e[2 * d] for i, d in enumerate(space.depths))
    return total + head * space.num_classes


def _flops_reference(widths, depth, space):
    sizes = [space.in_features, widths[0]]
    for k in range(depth):
        sizes += [widths[1 + 2 * k], widths[2 + 2 * k]]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) + sizes[-1] * space.num_classes


def test_expected_flops_match_numpy(rng):
    for _ in range(3):
        logits = rng.normal(size=(SPACE.num_layers, 8))
        depth_logits = rng.normal(size=3)
        got = tas.expected_flops(SPACE, jnp.asarray(logits), jnp.asarray(depth_logits))
        np.testing.assert_allclose(got, _expected_flops_reference(logits, depth_logits, SPACE),
                                   rtol=1e-5)


def test_peaked_distributions_give_the_genotype_flops(rng):
    widths = rng.choice(SPACE.choices, SPACE.num_layers)
    for depth in SPACE.depths:
        logits = 50.0 * (np.asarray(SPACE.choices)[None, :] == widths[:, None])
        depth_logits = 50.0 * (np.asarray(SPACE.depths) == depth)
        w, d = tas.genotype(SPACE, jnp.asarray(logits), jnp.asarray(depth_logits))
        np.testing.assert_array_equal(w, widths)
        assert int(d) == depth
        exact = _flops_reference(widths.tolist(), depth, SPACE)
        np.testing.assert_allclose(tas.arch_flops(SPACE, w, d), exact, rtol=1e-6)
        np.testing.assert_allclose(tas.expected_flops(SPACE, jnp.asarray(logits),
                                                      jnp.asarray(depth_logits)), exact, rtol=1e-4)
    assert SPACE.dense_flops() == _flops_reference([64] * 9, 4, SPACE) == 37504


def test_flop_loss_switches_sign_with_the_argmax_cost():
    grad = jax.grad(tas.flop_loss)
    e = jnp.asarray(0.5)
    assert float(tas.flop_loss(e, 0.70, 0.5, 0.05)) == pytest.approx(math.log(0.5))
    assert float(tas.flop_loss(e, 0.30, 0.5, 0.05)) == pytest.approx(-math.log(0.5))
    assert float(tas.flop_loss(e, 0.47, 0.5, 0.05)) == 0.0  # inside [target - tol, target]
    assert float(grad(e, 0.70, 0.5, 0.05)) == pytest.approx(2.0)  # too big: shrink E[F]
    assert float(grad(e, 0.30, 0.5, 0.05)) == pytest.approx(-2.0)  # too small: grow E[F]
    assert float(grad(e, 0.47, 0.5, 0.05)) == 0.0


def test_top2_draws_two_distinct_candidates_and_mixes_by_restricted_softmax():
    logits = jnp.asarray(np.linspace(-1.0, 1.0, 8), jnp.float32)
    draws = jax.vmap(tas.gumbel_top2, (0, None, None))(
        jax.random.split(jax.random.PRNGKey(0), 2000), logits, 1.0)
    index, weights = np.asarray(draws[0]), np.asarray(draws[1])
    assert np.all(index[:, 0] != index[:, 1])
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-6)
    # Higher logits are drawn more often; every candidate appears.
    counts = np.bincount(index.ravel(), minlength=8)
    assert counts.min() > 0 and counts[7] > counts[0] * 2
    # The weights are softmax((log_softmax(alpha) + g) / tau) restricted to the pair.
    key = jax.random.PRNGKey(3)
    idx, w = tas.gumbel_top2(key, logits, 0.5)
    g = jax.random.gumbel(jax.random.split(key)[0], (8,))
    z = (np.asarray(jax.nn.log_softmax(logits)) + np.asarray(g)) / 0.5
    pair = z[np.asarray(idx)]
    np.testing.assert_allclose(w, np.exp(pair - pair.max()) / np.exp(pair - pair.max()).sum(),
                               rtol=1e-5)


def test_gradients_reach_width_and_depth_logits():
    weights = tas.init_weights(SPACE, jax.random.PRNGKey(0), len(SPACE.choices))
    alpha = tas.init_alpha(SPACE, jax.random.PRNGKey(1))
    table = tas.interpolation_table(SPACE.choices, SPACE.width)
    x = jax.random.normal(jax.random.PRNGKey(2), (16, 64))
    y = jnp.arange(16) % 10

    def loss(a):
        logits = tas.search_forward(SPACE, weights, a, x, jax.random.PRNGKey(4), 1.0, table)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(16), y])

    g = jax.jit(jax.grad(loss))(alpha)
    assert np.abs(np.asarray(g["width"])).sum(1).min() > 0  # every layer's logits
    assert np.abs(np.asarray(g["depth"])).sum() > 0


def test_fixed_forward_equals_the_sliced_network(rng):
    w = tas.init_weights(SPACE, jax.random.PRNGKey(5))
    w["norm"]["scale"] = jnp.asarray(rng.normal(size=(9, 1, 64)), jnp.float32)
    w["norm"]["bias"] = jnp.asarray(rng.normal(size=(9, 1, 64)), jnp.float32)
    widths, depth = np.asarray([44, 19, 57, 32, 25, 64, 64, 38, 51]), 3
    x = rng.normal(size=(6, 64)).astype(np.float32)
    p = jax.tree.map(np.asarray, w)

    def lin_norm(h, kernel, bias, layer, width):
        z = h @ kernel[:h.shape[1], :width] + bias[:width]
        z = (z - z.mean(1, keepdims=True)) / np.sqrt(z.var(1, keepdims=True) + 1e-5)
        return z * p["norm"]["scale"][layer, 0, :width] + p["norm"]["bias"][layer, 0, :width]

    h = np.maximum(lin_norm(x, p["stem"]["kernel"], p["stem"]["bias"], 0, widths[0]), 0)
    for k in range(depth):
        kb, bb = p["blocks"]["kernel"][k], p["blocks"]["bias"][k]
        a = np.maximum(lin_norm(h, kb[0], bb[0], 1 + 2 * k, widths[1 + 2 * k]), 0)
        b = lin_norm(a, kb[1], bb[1], 2 + 2 * k, widths[2 + 2 * k])
        shortcut = np.zeros_like(b)
        c = min(h.shape[1], b.shape[1])
        shortcut[:, :c] = h[:, :c]  # zero-pad or truncate the identity to the block's width
        h = np.maximum(b + shortcut, 0)
    want = h @ p["head"]["kernel"][:h.shape[1]] + p["head"]["bias"]
    got = tas.fixed_forward(SPACE, w, jnp.asarray(widths), jnp.asarray(depth), jnp.asarray(x))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_kd_loss_matches_numpy(rng):
    s, t = rng.normal(size=(5, 10)), 3 * rng.normal(size=(5, 10))
    y = rng.integers(0, 10, 5)

    def log_softmax(v):
        v = v - v.max(1, keepdims=True)
        return v - np.log(np.exp(v).sum(1, keepdims=True))

    ce = -log_softmax(s)[np.arange(5), y].mean()
    kl = (np.exp(log_softmax(t / 4)) * (log_softmax(t / 4) - log_softmax(s / 4))).sum(1).mean()
    args = (jnp.asarray(s, jnp.float32), jnp.asarray(t, jnp.float32), jnp.asarray(y))
    np.testing.assert_allclose(kd_loss(*args, 0.9, 4.0), 0.1 * ce + 0.9 * 16 * kl, rtol=1e-5)
    np.testing.assert_allclose(kd_loss(*args, 0.0, 4.0), ce, rtol=1e-5)
    assert np.abs(np.asarray(jax.grad(kd_loss, argnums=1)(*args))).max() == 0.0
    with pytest.raises(ValueError, match="labels_B"):
        kd_loss(args[0], args[1], jnp.zeros(4, jnp.int32))


def test_quick_tas_runs_end_to_end(tmp_path):
    start = time.perf_counter()
    config = experiment_lib.build_config(tas_experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(tas_experiment, config, tmp_path / "run")
    n = len(config.seeds)
    for v in tas_experiment.VARIANTS:
        assert len(results[f"accuracy_{v}"]) == n
        assert all(0.0 <= a <= 1.0 for a in results[f"accuracy_{v}"])
    # Controls sit at (about) the genotype's FLOPs.
    np.testing.assert_allclose(results["flop_ratio_uniform_kd"], results["genotype_flop_ratio"],
                               atol=0.05)
    np.testing.assert_allclose(results["flop_ratio_random_kd"], results["genotype_flop_ratio"],
                               atol=0.05)
    assert all(set(w) <= set(SPACE.choices)
               for w in results["genotype_widths"])
    assert "93.69" in claim.paper and "memory" in claim.paper
    for name in ("tas.png", "metrics.jsonl", "results.json"):
        assert (tmp_path / "run" / name).exists()
    print(f"quick TAS run: {time.perf_counter() - start:.1f}s")


@pytest.mark.slow
def test_tas_claim(tmp_path):
    config = experiment_lib.build_config(tas_experiment, [])
    results, claim = experiment_lib.run_experiment(tas_experiment, config, tmp_path / "run")
    assert claim.passed, claim.text
