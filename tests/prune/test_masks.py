"""Masks over parameter pytrees: exact pruned fractions, pruned weights stay zero."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnets.prune import (apply_mask, density, layer_densities, magnitude_prune,
                           masked_optimizer, ones_mask, random_mask_like, snip_scores)


def _params(key=0):
    k1, k2, k3 = jax.random.split(jax.random.key(key), 3)
    return {"hidden": {"kernel": jax.random.normal(k1, (20, 30)), "bias": jnp.ones(30)},
            "out": {"kernel": jax.random.normal(k2, (30, 7)), "bias": jnp.ones(7)},
            "scale": jax.random.normal(k3, (7,))}


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_rounds_keep_exactly_the_requested_fraction(scope):
    params = _params()
    mask = ones_mask(params)
    alive = 20 * 30 + 30 * 7
    for _ in range(5):
        mask = magnitude_prune(params, mask, 0.2, scope=scope)
        if scope == "global":
            alive = alive - round(0.2 * alive)
            assert sum(float(m.sum()) for m in (mask["hidden"]["kernel"],
                                               mask["out"]["kernel"])) == alive
    if scope == "layer":
        # each layer independently: 600 -> 480 -> 384 -> 307 -> 246 -> 197 (round per round)
        kept = 600
        for _ in range(5):
            kept -= round(0.2 * kept)
        assert float(mask["hidden"]["kernel"].sum()) == kept
    # biases and non-kernel leaves are never pruned
    assert float(mask["hidden"]["bias"].min()) == 1.0 and float(mask["scale"].min()) == 1.0


def test_global_prunes_the_smallest_magnitudes():
    params = _params()
    mask = magnitude_prune(params, ones_mask(params), 0.5)
    kernels = np.concatenate([np.abs(np.asarray(params[k]["kernel"])).ravel()
                              for k in ("hidden", "out")])
    kept = np.concatenate([np.asarray(mask[k]["kernel"]).ravel() for k in ("hidden", "out")])
    assert kernels[kept == 0].max() <= kernels[kept == 1].min()


def test_layer_rates_by_name_and_already_pruned_weights_stay_pruned():
    params = _params()
    rate = lambda name: 0.1 if name.startswith("out") else 0.2  # noqa: E731  (LTH LeNet rates)
    mask1 = magnitude_prune(params, ones_mask(params), rate, scope="layer")
    assert float(mask1["out"]["kernel"].sum()) == 210 - 21
    assert float(mask1["hidden"]["kernel"].sum()) == 600 - 120
    # even if a pruned weight grows large, it is not revived
    grown = jax.tree_util.tree_map(lambda p, m: p + 100.0 * (1 - m), params, mask1)
    mask2 = magnitude_prune(grown, mask1, rate, scope="layer")
    assert np.all(np.asarray(mask2["hidden"]["kernel"]) <= np.asarray(mask1["hidden"]["kernel"]))
    densities = layer_densities(mask2)
    assert set(densities) == {"hidden/kernel", "out/kernel"}
    assert densities["hidden/kernel"] == pytest.approx(384 / 600)


def test_pruned_weights_stay_zero_through_adam_with_weight_decay():
    params = _params()
    mask = magnitude_prune(params, ones_mask(params), 0.7)
    params = apply_mask(params, mask)
    tx = masked_optimizer(optax.adamw(1e-2, weight_decay=0.1), mask)
    state = tx.init(params)
    loss = lambda p: sum(jnp.sum(jnp.sin(x) ** 2 + x) for x in jax.tree_util.tree_leaves(p))  # noqa: E731
    for _ in range(5):
        grads = jax.grad(loss)(params)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    for k in ("hidden", "out"):
        pruned = np.asarray(mask[k]["kernel"]) == 0
        assert pruned.sum() > 0 and np.all(np.asarray(params[k]["kernel"])[pruned] == 0.0)
        assert np.any(np.asarray(params[k]["kernel"])[~pruned] != 0.0)


def test_random_mask_matches_layerwise_counts_but_not_positions():
    params = _params()
    mask = magnitude_prune(params, ones_mask(params), 0.6)
    rand = random_mask_like(jax.random.key(1), mask)
    for k in ("hidden", "out"):
        assert float(rand[k]["kernel"].sum()) == float(mask[k]["kernel"].sum())
    assert not np.array_equal(np.asarray(rand["hidden"]["kernel"]),
                              np.asarray(mask["hidden"]["kernel"]))
    assert float(density(rand)) == pytest.approx(float(density(mask)))


def test_pruning_is_jittable_and_vmaps_over_seeds():
    params = jax.vmap(_params)(jnp.arange(2))
    masks = jax.jit(jax.vmap(lambda p: magnitude_prune(p, ones_mask(p), 0.5)))(params)
    for s in range(2):
        one = jax.tree_util.tree_map(lambda x: x[s], params)
        expected = magnitude_prune(one, ones_mask(one), 0.5)
        np.testing.assert_array_equal(masks["out"]["kernel"][s], expected["out"]["kernel"])


def test_snip_scores_prune_the_least_sensitive_connections():
    params = _params()
    x = jax.random.normal(jax.random.key(3), (16, 20))
    y = jax.random.normal(jax.random.key(4), (16, 7))

    def loss(p, x, y):
        h = jnp.tanh(x @ p["hidden"]["kernel"] + p["hidden"]["bias"][None])
        return jnp.mean((h @ p["out"]["kernel"] + p["out"]["bias"][None] - y) ** 2)

    scores = snip_scores(loss, params, x, y)
    grad = jax.grad(loss)(params, x, y)["out"]["kernel"]
    np.testing.assert_allclose(scores["out"]["kernel"],
                               np.abs(np.asarray(params["out"]["kernel"]) * np.asarray(grad)),
                               rtol=1e-6)
    mask = magnitude_prune(params, ones_mask(params), 0.5, scores=scores)
    kept = np.concatenate([np.asarray(mask[k]["kernel"]).ravel() for k in ("hidden", "out")])
    s = np.concatenate([np.asarray(scores[k]["kernel"]).ravel() for k in ("hidden", "out")])
    assert s[kept == 0].max() <= s[kept == 1].min()
    # a different criterion from magnitude: the masks differ
    assert not np.array_equal(np.asarray(mask["hidden"]["kernel"]), np.asarray(
        magnitude_prune(params, ones_mask(params), 0.5)["hidden"]["kernel"]))


def test_bad_inputs_are_errors():
    params = _params()
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        magnitude_prune(params, ones_mask(params), 1.5)
    with pytest.raises(ValueError, match="scope='layer'"):
        magnitude_prune(params, ones_mask(params), lambda n: 0.2)
    with pytest.raises(ValueError, match="no prunable"):
        magnitude_prune({"bias": jnp.ones(3)}, {"bias": jnp.ones(3)}, 0.2)
