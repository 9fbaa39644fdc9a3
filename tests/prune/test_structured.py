"""Structured neuron pruning: group-L2 importance, exact neuron counts, masked = smaller MLP,
and the DepGraph group-norm regulariser's gradient."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.nn import MLP
from jaxnets.prune.structured import (group_lasso, group_norm_penalty, neuron_importance,
                                      neuron_keep_masks, neuron_param_mask, prune_neurons)

SIZES = (6, 8, 5, 3)


def _variables(seed=0):
    v = MLP(SIZES[1:]).init(jax.random.PRNGKey(seed), jnp.ones((1, SIZES[0])))
    # non-zero biases so they count in the groups
    return jax.tree_util.tree_map_with_path(
        lambda p, a: a + 0.3 * jax.random.normal(jax.random.PRNGKey(7), a.shape)
        if "bias" in str(p) else a, v)


def _np_layers(v):
    p = v["params"]
    return [(np.asarray(p[f"Linear_{l}"]["kernel"], np.float64),
             np.asarray(p[f"Linear_{l}"]["bias"], np.float64)) for l in range(len(p))]


def test_importance_is_the_group_l2_norm_normalised_by_the_layer_max():
    v = _variables()
    layers = _np_layers(v)
    raw = [np.asarray(r) for r in neuron_importance(v, normalize="none")]
    for l in range(2):
        (k, b), (k_next, _) = layers[l], layers[l + 1]
        for j in range(k.shape[1]):
            group = np.concatenate([k[:, j], [b[j]], k_next[j, :]])
            assert float(raw[l][j]) == pytest.approx(np.linalg.norm(group), rel=1e-5)
    normed = neuron_importance(v)
    for l in range(2):
        np.testing.assert_allclose(normed[l], raw[l] / raw[l].max(), rtol=1e-6)
        assert float(normed[l].max()) == pytest.approx(1.0, abs=1e-6)


def test_keep_masks_prune_the_lowest_with_exact_counts():
    imp = (jnp.asarray([0.5, 0.1, 1.0, 0.3]), jnp.asarray([1.0, 0.2, 0.9, 0.05, 0.6, 0.4]))
    glob = neuron_keep_masks(imp, 0.5, "global")      # prune 5 of 10: 0.05 0.1 0.2 0.3 0.4
    np.testing.assert_array_equal(glob[0], [1, 0, 1, 0])
    np.testing.assert_array_equal(glob[1], [1, 0, 1, 0, 1, 0])
    layer = neuron_keep_masks(imp, 0.5, "layer")      # 2 of 4, 3 of 6
    np.testing.assert_array_equal(layer[0], [1, 0, 1, 0])
    np.testing.assert_array_equal(layer[1], [1, 0, 1, 0, 1, 0])
    # global pruning of 90 % still keeps every layer's most important neuron
    high = neuron_keep_masks((jnp.asarray([0.1, 0.2]), jnp.asarray([5.0, 6.0, 7.0])), 0.8)
    assert float(high[0].sum()) == 1 and float(high[0][1]) == 1
    with pytest.raises(ValueError, match="ratio"):
        neuron_keep_masks(imp, 1.0)
    with pytest.raises(ValueError, match="scope"):
        neuron_keep_masks(imp, 0.5, "row")


def test_pruned_masked_mlp_equals_the_physically_smaller_mlp():
    v = _variables(1)
    pruned, mask = prune_neurons(v, 0.6, scope="layer")
    keep = [np.asarray(mask["params"][f"Linear_{l}"]["bias"]) > 0 for l in range(2)]
    assert [int(k.sum()) for k in keep] == [8 - round(0.6 * 8), 5 - round(0.6 * 5)]
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (9, SIZES[0])), np.float64)
    (k0, b0), (k1, b1), (k2, b2) = _np_layers(v)
    h = np.maximum(x @ k0[:, keep[0]] + b0[keep[0]], 0)
    h = np.maximum(h @ k1[keep[0]][:, keep[1]] + b1[keep[1]], 0)
    expected = h @ k2[keep[1]] + b2
    np.testing.assert_allclose(MLP(SIZES[1:]).apply(pruned, jnp.asarray(x, jnp.float32)),
                               expected, rtol=1e-5, atol=1e-5)
    # the output layer's neurons are never pruned
    assert float(mask["params"]["Linear_2"]["bias"].min()) == 1.0
    with pytest.raises(ValueError, match="keep masks"):
        neuron_param_mask(v, (jnp.ones(8),))


def test_group_norm_penalty_gradient_is_reg_gamma_w_and_lasso_is_the_norm_sum():
    v = _variables(2)
    layers = _np_layers(v)
    alpha = 16.0
    grads = jax.grad(group_norm_penalty)(v, alpha)
    expected = [(np.zeros_like(k), np.zeros_like(b)) for k, b in layers]
    lasso = 0.0
    for l in range(2):
        (k, b), (k_next, _) = layers[l], layers[l + 1]
        norm = np.sqrt((k ** 2).sum(0) + b ** 2 + (k_next ** 2).sum(1))
        gamma = alpha ** ((norm.max() - norm) / (norm.max() - norm.min()))
        expected[l][0][:] += gamma[None, :] * k
        expected[l][1][:] += gamma * b
        expected[l + 1][0][:] += gamma[:, None] * k_next
        lasso += norm.sum()
    for l, (gk, gb) in enumerate(expected):
        np.testing.assert_allclose(grads["params"][f"Linear_{l}"]["kernel"], gk, rtol=1e-4,
                                   atol=1e-6)
        np.testing.assert_allclose(grads["params"][f"Linear_{l}"]["bias"], gb, rtol=1e-4,
                                   atol=1e-6)
    assert float(group_lasso(v)) == pytest.approx(lasso, rel=1e-5)


def test_bad_variables_raise_value_error():
    with pytest.raises(ValueError, match="Linear_0"):
        neuron_importance({"params": {"Dense_0": {"kernel": jnp.ones((2, 3)),
                                                  "bias": jnp.ones(3)}}})
    with pytest.raises(ValueError, match="hidden"):
        neuron_importance({"params": {"Linear_0": {"kernel": jnp.ones((2, 3)),
                                                   "bias": jnp.ones(3)}}})
    with pytest.raises(ValueError, match="inputs"):
        group_lasso({"params": {"Linear_0": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)},
                                "Linear_1": {"kernel": jnp.ones((4, 1)), "bias": jnp.ones(1)}}})
