"""Lottery-ticket pruning rounds: exact layer-wise pruning, random controls, masked training."""
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import experiments.lottery_ticket as lottery_experiment
from jaxnets import experiment as experiment_lib
from jaxnets.prune import density, magnitude_prune, ones_mask, random_mask_like
from jaxnets.prune.lottery import lth_rate, make_round_trainer


def _params(key=0):
    k = jax.random.split(jax.random.key(key), 3)
    return {"Dense_0": {"kernel": jax.random.normal(k[0], (12, 30)), "bias": jnp.ones(30)},
            "Dense_1": {"kernel": jax.random.normal(k[1], (30, 20)), "bias": jnp.ones(20)},
            "Dense_2": {"kernel": jax.random.normal(k[2], (20, 5)), "bias": jnp.ones(5)}}


def test_lth_rates_for_conv_fc_and_output_layers():
    params = {"Conv_0": {"kernel": jnp.ones((3, 3, 1, 4))}, **_params()}
    rate = lth_rate(params, conv=0.1)                  # the paper's Conv-2/4/6: 10/20/10 %
    assert [rate(n) for n in ("Conv_0/kernel", "Dense_0/kernel", "Dense_2/kernel")] == [
        0.1, 0.2, 0.1]
    assert lth_rate(params)("Conv_0/kernel") == 0.2    # without conv=, convs count as hidden
    with pytest.raises(ValueError, match="rates"):
        lth_rate(params, conv=1.5)


def test_jitted_layerwise_pruning_matches_host_magnitude_prune_over_rounds():
    rate = lth_rate(_params())
    assert rate("Dense_2/kernel") == 0.1 and rate("Dense_0/kernel") == 0.2
    prune = jax.jit(jax.vmap(lambda p, m: magnitude_prune(p, m, rate, scope="layer")))   # over 2 seeds
    stack = lambda *trees: jax.tree.map(lambda *x: jnp.stack(x), *trees)
    masks_host = [ones_mask(_params())] * 2
    masks = stack(*masks_host)
    for r in range(4):
        seeds = [_params(2 * r + 1), _params(2 * r + 2)]   # fresh "trained" weights per round
        seeds[0]["Dense_1"]["kernel"] = seeds[0]["Dense_1"]["kernel"].at[:3].set(0.0)  # ties
        masks = prune(stack(*seeds), masks)
        masks_host = [magnitude_prune(p, m, rate, scope="layer")
                      for p, m in zip(seeds, masks_host)]
        for s, host in enumerate(masks_host):
            for a, b in zip(jax.tree.leaves(masks), jax.tree.leaves(host)):
                np.testing.assert_array_equal(np.asarray(a[s]), np.asarray(b))
    # hidden layers keep 0.8 of their survivors per round (rounded), the output layer 0.9
    kept, kept_out = 360, 100
    for _ in range(4):
        kept, kept_out = kept - round(0.2 * kept), kept_out - round(0.1 * kept_out)
    assert float(masks["Dense_0"]["kernel"][1].sum()) == kept
    assert float(masks["Dense_2"]["kernel"][0].sum()) == kept_out
    assert float(masks["Dense_2"]["bias"].min()) == 1.0


def test_random_mask_keeps_layerwise_counts_and_density_is_traceable():
    params = _params()
    mask = magnitude_prune(params, ones_mask(params), lth_rate(params), scope="layer")
    rand = jax.jit(random_mask_like)(jax.random.key(1), mask)
    for name in ("Dense_0", "Dense_1", "Dense_2"):
        assert float(rand[name]["kernel"].sum()) == float(mask[name]["kernel"].sum())
        assert float(rand[name]["bias"].min()) == 1.0
    assert not np.array_equal(rand["Dense_0"]["kernel"], mask["Dense_0"]["kernel"])
    expected = (288 + 480 + 90) / (360 + 600 + 100)
    np.testing.assert_allclose(float(jax.jit(density)(mask)), expected, rtol=1e-6)


def test_bad_input_is_a_clear_value_error():
    params = _params()
    with pytest.raises(ValueError, match="rate"):
        lth_rate(params, hidden=1.5)
    with pytest.raises(ValueError, match="rate"):
        magnitude_prune(params, ones_mask(params), 2.0, scope="layer")
    with pytest.raises(ValueError, match="prunable"):
        magnitude_prune({"b": jnp.ones(3)}, {"b": jnp.ones(3)}, 0.2, scope="layer")
    data = (jnp.ones((8, 3)), jnp.zeros(8, jnp.int32))
    with pytest.raises(ValueError, match="multiple"):
        make_round_trainer(lambda p, x: x, optax.sgd(0.1), data, data, data, steps=10,
                           batch_size=4, eval_every=3)
    with pytest.raises(ValueError, match="rewind_step"):
        make_round_trainer(lambda p, x: x, optax.sgd(0.1), data, data, data, steps=10,
                           batch_size=4, eval_every=5, rewind_step=11)


def test_masked_training_keeps_pruned_weights_zero_and_records_theta_k():
    key = jax.random.key(0)
    x = jax.random.normal(key, (64, 6))
    y = (x[:, 0] > 0).astype(jnp.int32)
    apply_fn = lambda p, x: x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"][None]
    kernel = jax.random.normal(jax.random.key(1), (6, 2)).at[0].set(jnp.asarray([-3.0, 3.0]))
    params = {"Dense_0": {"kernel": kernel, "bias": jnp.zeros(2)}}   # feature 0 survives
    mask = magnitude_prune(params, ones_mask(params), 0.5, scope="layer")

    # plain SGD has no optimizer state, so resuming from θk at step k must reproduce the run
    trainer = jax.jit(make_round_trainer(apply_fn, optax.sgd(0.5), (x, y), (x, y), (x, y),
                                         steps=12, batch_size=16, eval_every=4, rewind_step=4))
    out = trainer(params, mask, jax.random.key(2))
    dead = np.asarray(mask["Dense_0"]["kernel"]) == 0
    assert np.all(np.asarray(out.params["Dense_0"]["kernel"])[dead] == 0)
    assert np.any(np.asarray(out.params["Dense_0"]["kernel"])[~dead]
                  != np.asarray(params["Dense_0"]["kernel"])[~dead])
    assert out.val_acc_E.shape == (3,) and float(out.final_test_acc) > 0.9
    best = int(np.argmin(out.val_loss_E))
    assert int(out.early_stop_step) == 4 * (best + 1)
    assert not np.allclose(out.rewind_params["Dense_0"]["kernel"], out.params["Dense_0"]["kernel"])
    resumed = trainer(out.rewind_params, mask, jax.random.key(2), 4)
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(out.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resumed.val_loss_E[1:], out.val_loss_E[1:], rtol=1e-5)
    assert int(resumed.early_stop_step) == 4 * (int(np.argmin(out.val_loss_E[1:])) + 2) - 4
    # a run started at the last step trains nothing
    idle = trainer(params, mask, jax.random.key(2), 12)
    np.testing.assert_array_equal(idle.params["Dense_0"]["kernel"],
                                  params["Dense_0"]["kernel"] * mask["Dense_0"]["kernel"])


def test_patch_conv_equals_flax_conv():
    x = jax.random.normal(jax.random.key(0), (5, 8, 8, 3))
    conv = lottery_experiment.PatchConv(4)
    params = jax.tree.map(lambda p: p + 0.1, conv.init(jax.random.key(1), x))   # bias != 0
    np.testing.assert_allclose(conv.apply(params, x),
                               nn.Conv(4, (3, 3), padding="SAME").apply(params, x), atol=1e-5)


def test_quick_lottery_ticket_runs_end_to_end_on_mlp_and_conv(tmp_path):
    config = experiment_lib.build_config(lottery_experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(lottery_experiment, config, tmp_path / "run")
    seeds, rounds = len(config.seeds), config.rounds
    assert results["architectures"] == ["mlp", "conv"]
    for arch, steps in (("mlp", config.steps), ("conv", config.conv_steps)):
        res = results[arch]
        density = res["density"]
        assert len(density) == rounds + 1 and density[0] == 1.0
        assert all(a > b for a, b in zip(density, density[1:]))
        for name in ("ticket", "rewind", "reinit", "random_mask"):
            assert np.shape(res[f"{name}_early_stop_test_acc"]) == (rounds, seeds)
            assert all(0 < s <= steps for row in res[f"{name}_early_stop_step"] for s in row)
        assert len(res["dense_early_stop_test_acc"]) == seeds and res["steps"] == steps
    # the paper's rates: hidden layers keep 0.8, the output 0.9 per round
    hidden, out = 64 * 32 + 32 * 16, 16 * 10
    np.testing.assert_allclose(results["mlp"]["density"][1], (
        round(0.8 * 64 * 32) + round(0.8 * 32 * 16) + round(0.9 * out)) / (hidden + out))
    # conv: 3x3 kernels keep 0.9 (1x2 and 2x2 channels), FC 0.8 (32 -> 16 -> 8), output 0.9
    sizes = {"conv": (9 * 2, 9 * 2 * 2), "fc": (32 * 16, 16 * 8), "out": (8 * 10,)}
    kept = (sum(round(0.9 * n) for n in sizes["conv"]) + sum(round(0.8 * n) for n in sizes["fc"])
            + round(0.9 * sizes["out"][0]))
    np.testing.assert_allclose(results["conv"]["density"][1],
                               kept / sum(sum(v) for v in sizes.values()))
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * (rounds + 1) and "random_mask" in lines[-1]
    assert [x["architecture"] for x in lines] == ["mlp"] * (rounds + 1) + ["conv"] * (rounds + 1)
    assert (tmp_path / "run" / results["plot"]).exists()
    assert "3.6" in claim.paper and isinstance(claim.passed, bool)
    assert "LeNet-300-100" in claim.text and "Conv-2" in claim.text
    json.loads((tmp_path / "run" / "results.json").read_text())
    with pytest.raises(ValueError, match="architectures"):
        lottery_experiment.run(experiment_lib.build_config(
            lottery_experiment, ["architectures=('mlp', 'cnn')"], quick=True), tmp_path / "bad")


@pytest.mark.slow
def test_lottery_ticket_claim_on_digits(tmp_path):
    config = experiment_lib.build_config(lottery_experiment, [])
    results, claim = experiment_lib.run_experiment(lottery_experiment, config, tmp_path / "run")
    assert len(results["seeds"]) == 3 and results["architectures"] == ["mlp", "conv"]
    assert claim.passed, claim.text
