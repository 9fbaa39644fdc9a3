"""G2GNet masks and dynamic sparse training: densities, exact DST counts, masked updates,
the Hebbian score against a hand computation, and a smoke run of the experiment."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import experiments.g2gnet as g2g_experiment
from jaxnets import experiment as experiment_lib
from jaxnets.prune import dynamic, g2g
from jaxnets.prune.masks import mask_updates


def test_group_ids_and_variant_groupings():
    np.testing.assert_array_equal(g2g.group_ids(8, 4, "index"), [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(g2g.group_ids(8, 4, "interleaved"), [0, 1, 2, 3, 0, 1, 2, 3])
    rand = np.asarray(g2g.group_ids(64, 8, "random", jax.random.key(0)))
    assert np.bincount(rand).tolist() == [8] * 8 and not np.all(rand == np.arange(64) // 8)
    assert g2g.variant_groupings("mixer", 3) == [("index", "index"),
                                                 ("interleaved", "interleaved"),
                                                 ("index", "index")]
    # p_inter = 0 with contiguous groups: block diagonal, by hand
    mask = g2g.g2g_mask(jax.random.key(1), 4, 6, 2, p_inter=0.0, sampling="exact")
    expected = np.zeros((4, 6))
    expected[:2, :3] = expected[2:, 3:] = 1
    np.testing.assert_array_equal(mask, expected)


def test_masks_have_the_requested_density():
    key = jax.random.key(3)
    n_in, n_out, groups, p_inter = 128, 256, 8, 0.15
    expected = g2g.expected_density(groups, 1.0, p_inter)
    assert expected == pytest.approx(1 / 8 + 7 / 8 * 0.15)
    intra, inter = g2g.num_edges(n_in, n_out, groups, 1.0, p_inter)
    assert intra + inter == round(n_in * n_out / 8) + round(0.15 * n_in * n_out * 7 / 8)
    for grouping in g2g.GROUPINGS:
        exact = g2g.g2g_mask(key, n_in, n_out, groups, p_inter=p_inter, in_grouping=grouping,
                             out_grouping=grouping, sampling="exact")
        assert float(exact.sum()) == intra + inter
        # with p_intra = 1 every unit keeps its whole own ensemble: fan-in >= n_in / G
        assert float(exact.sum(0).min()) >= n_in // groups
    bern = g2g.g2g_mask(key, n_in, n_out, groups, p_inter=p_inter, in_grouping="random",
                        out_grouping="random")
    assert abs(float(bern.mean()) - expected) < 0.01  # std of the density ~0.002
    er = g2g.erdos_renyi_mask(key, n_in, n_out, intra + inter)
    assert float(er.sum()) == intra + inter


def test_rescaled_init_and_padded_dense_block():
    mask = (np.random.default_rng(0).random((64, 32)) < 0.3).astype(np.float32)
    block = np.zeros((64, 32), np.float32)
    block[:20, :12] = 1.0  # a dense 20 -> 12 layer embedded in a 64 x 32 mask
    out = jax.jit(jax.vmap(g2g.rescaled_init))(jax.random.split(jax.random.key(1), 2),
                                               jnp.asarray(np.stack([mask, block])))
    kernel, bias = np.asarray(out["kernel"]), np.asarray(out["bias"])
    fan = mask.sum(0)
    bound = np.where(mask > 0, 1 / np.sqrt(fan)[None, :], 1 / np.sqrt(64))
    assert np.all(np.abs(kernel[0]) <= bound + 1e-6)
    assert np.abs(kernel[0][mask > 0] * np.sqrt(fan / 64)[None, :].repeat(64, 0)[mask > 0]
                  ).max() <= 1 / np.sqrt(64) + 1e-6
    assert np.abs(bias[0]).max() <= 1 / np.sqrt(fan.mean()) + 1e-6
    # the block gets exactly PyTorch's default init of a dense 20 -> 12 layer: U(±1/√20)
    assert 0.8 / np.sqrt(20) < np.abs(kernel[1, :20, :12]).max() <= 1 / np.sqrt(20) + 1e-6
    assert np.abs(bias[1]).max() <= 1 / np.sqrt(20) + 1e-6


def test_hebbian_score_matches_a_hand_computation():
    pre = jnp.asarray([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])   # B=3 samples, I=2
    post = jnp.asarray([[2.0, 0.0], [0.0, 0.0], [1.0, 3.0]])  # O=2; the second unit fires once
    # pre columns (1,1,0), (0,1,1): norms √2; post (2,0,1): norm √5, (0,0,3): norm 3
    expected = [[2 / np.sqrt(10), 0.0], [1 / np.sqrt(10), 3 / (3 * np.sqrt(2))]]
    np.testing.assert_allclose(dynamic.hebbian_score(pre, post), expected, rtol=1e-6)


def test_prune_regrow_by_hand():
    mask = jnp.asarray([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    kernel = jnp.asarray([[0.5, -0.1, 0.7], [-2.0, 0.3, 0.0]])
    hebb = jnp.asarray([[0.9, 0.6, 0.1], [0.3, 0.8, 0.4]])
    keep = dynamic.keep_scores("magnitude", kernel, hebb, jax.random.key(0))
    grow = dynamic.grow_scores("hebbian", hebb, jax.random.key(1))
    new_mask, new_kernel, info = dynamic.prune_regrow(mask, kernel, keep, grow, 1)
    # SET drops |-0.1| (the smallest active); Hebbian growth adds (1, 1), H = 0.8
    np.testing.assert_array_equal(info["pruned"], [[0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(new_mask, [[1, 0, 0], [1, 1, 0]])
    # the dropped weight is zeroed; the regrown one keeps its stored value (released code)
    np.testing.assert_allclose(new_kernel, [[0.5, 0.0, 0.7], [-2.0, 0.3, 0.0]])
    _, zeroed, _ = dynamic.prune_regrow(mask, kernel, keep, grow, 1, zero_regrown=True)
    assert float(zeroed[1, 1]) == 0.0
    # Hebbian pruning drops the active edge with the lowest H: (1, 0), H = 0.3
    keep_h = dynamic.keep_scores("hebbian", kernel, hebb, jax.random.key(0))
    _, _, info = dynamic.prune_regrow(mask, kernel, keep_h, grow, 1)
    np.testing.assert_array_equal(info["pruned"], [[0, 0, 0], [1, 0, 0]])


def test_dst_keeps_edges_exactly_and_pruned_weights_stay_zero():
    """Jitted, vmapped over traced prune/grow modes: the edge count never changes, and masked
    Adam steps never move an inactive weight (a pruned one stays exactly 0)."""
    n_in, n_out, count = 32, 24, 19
    mask0 = g2g.g2g_mask(jax.random.key(0), n_in, n_out, 4, sampling="exact")
    edges = float(mask0.sum())
    tx = optax.adam(1e-1)

    def run(prune_mode, grow_mode):
        def body(carry, t):
            mask, params, opt_state = carry
            key = jax.random.fold_in(jax.random.key(5), t)
            pre = jax.nn.relu(jax.random.normal(key, (16, n_in)))
            post = jax.nn.relu(pre @ (params["kernel"] * mask))
            hebb = dynamic.hebbian_score(pre, post)
            keep = dynamic.keep_scores(prune_mode, params["kernel"], hebb,
                                       jax.random.fold_in(key, 1))
            grow = dynamic.grow_scores(grow_mode, hebb, jax.random.fold_in(key, 2))
            mask, kernel, info = dynamic.prune_regrow(mask, params["kernel"], keep, grow, count)
            params = {"kernel": kernel}
            inactive_before = params["kernel"] * (1 - mask)
            for s in range(2):  # masked optimizer steps with dense random gradients
                grads = {"kernel": jax.random.normal(jax.random.fold_in(key, 10 + s),
                                                     kernel.shape)}
                updates, opt_state = tx.update(grads, opt_state, params)
                params = optax.apply_updates(params, mask_updates(updates, {"kernel": mask}))
            moved = jnp.max(jnp.abs(params["kernel"] * (1 - mask) - inactive_before))
            pruned_abs = jnp.max(jnp.abs(params["kernel"] * info["pruned"] * (1 - mask)))
            return (mask, params, opt_state), (mask.sum(), moved, pruned_abs,
                                               info["pruned"].sum(), info["grown"].sum())

        params = g2g.rescaled_init(jax.random.key(1), mask0)
        params = {"kernel": params["kernel"]}
        return jax.lax.scan(body, (mask0, params, tx.init(params)), jnp.arange(4))[1]

    prune_modes = jnp.asarray([0, 1, 2, 2])  # magnitude, random, hebbian, hebbian
    grow_modes = jnp.asarray([0, 1, 0, 1])   # hebbian, random, hebbian, random
    sums, moved, pruned_abs, n_pruned, n_grown = jax.jit(jax.vmap(run))(prune_modes, grow_modes)
    np.testing.assert_array_equal(sums, edges)
    np.testing.assert_array_equal(n_pruned, count)
    np.testing.assert_array_equal(n_grown, count)
    assert float(moved.max()) == 0.0 and float(pruned_abs.max()) == 0.0


def test_bad_input_raises():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="multiple of num_groups"):
        g2g.g2g_mask(key, 10, 16, 4)
    with pytest.raises(ValueError, match="p_inter"):
        g2g.g2g_mask(key, 8, 8, 4, p_inter=1.5)
    with pytest.raises(ValueError, match="grouping"):
        g2g.g2g_mask(key, 8, 8, 4, in_grouping="blocks")
    with pytest.raises(ValueError, match="sampling"):
        g2g.g2g_mask(key, 8, 8, 4, sampling="poisson")
    with pytest.raises(ValueError, match="variant"):
        g2g.variant_groupings("ring", 2)
    with pytest.raises(ValueError, match="edges"):
        g2g.erdos_renyi_mask(key, 4, 4, 17)
    with pytest.raises(ValueError, match="same B"):
        dynamic.hebbian_score(jnp.ones((3, 2)), jnp.ones((4, 2)))
    with pytest.raises(ValueError, match="mode"):
        dynamic.keep_scores("gradient", jnp.ones((2, 2)), jnp.ones((2, 2)), key)
    with pytest.raises(ValueError, match="count"):
        dynamic.prune_regrow(jnp.ones((2, 2)), jnp.ones((2, 2)), jnp.ones((2, 2)),
                             jnp.ones((2, 2)), 5)
    config = experiment_lib.build_config(g2g_experiment, ["steps=45"], quick=True)
    with pytest.raises(ValueError, match="multiple of dst_interval"):
        g2g_experiment.run(config, "/nonexistent")


def test_quick_g2gnet_runs_end_to_end(tmp_path):
    config = experiment_lib.build_config(g2g_experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(g2g_experiment, config, tmp_path / "run")
    seeds = len(config.seeds)
    for name in g2g_experiment.NAMES:
        assert len(results[f"{name}_test_accuracy"]) == seeds
        assert all(0.0 <= a <= 1.0 for a in results[f"{name}_test_accuracy"])
    # static and dynamic sparse conditions share the exact G2G edge count
    for name in ("er", "index", "random", "mixer", "mixer_dst_set_hebb", "mixer_dst_hebb_hebb",
                 "mixer_dst_set_random"):
        assert results[f"{name}_final_edges"] == [results["edges_per_layer"]] * seeds
    assert all(t > 0 for t in np.ravel(results["mixer_dst_set_hebb_turnover"]))
    assert results["params_dense_matched"] <= results["params_sparse"]
    assert (tmp_path / "run" / "g2gnet_accuracy.png").exists()
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == config.steps // config.dst_interval
    assert "4.3" in claim.paper and isinstance(claim.passed, bool)
    json.loads((tmp_path / "run" / "results.json").read_text())


@pytest.mark.slow
def test_g2gnet_claim_on_digits(tmp_path):
    config = experiment_lib.build_config(g2g_experiment, [])
    results, claim = experiment_lib.run_experiment(g2g_experiment, config, tmp_path / "run")
    assert len(results["seeds"]) == 5
    assert claim.passed, claim.text
