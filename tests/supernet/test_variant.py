"""VARiant: the digit token pyramid, the block-causal next-scale transformer, the scale/depth gate
against a physically smaller subnet, the progressive schedule, and the experiment (smoke + slow)."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import variant as experiment
from jaxnets import experiment as experiment_lib
from jaxnets.data.scale_tokens import ScaleLayout, dequantize, detokenize, quantize, tokenize
from jaxnets.data.small import load_digits
from jaxnets.models.variant import (NextScaleTransformer, ScaleDepthArch, ScaleDepthSpace,
                                    sample_tokens)

LAYOUT = ScaleLayout((1, 2, 4, 8), 8)


def test_tokenizer_shapes_and_round_trip():
    x, _ = load_digits()
    tokens = tokenize(x[:50], LAYOUT, 8)
    assert LAYOUT.length == 85 and LAYOUT.offsets == (0, 1, 5, 21)
    assert tokens.shape == (50, 85) and tokens.dtype == np.int32
    assert tokens.min() >= 0 and tokens.max() <= 7
    # independent numpy references: the 1x1 map is the image mean, the 8x8 map the pixels
    np.testing.assert_array_equal(tokens[:, 0], np.minimum(np.floor(x[:50].mean(1) * 8), 7))
    np.testing.assert_array_equal(tokens[:, 21:], np.minimum(np.floor(x[:50] * 8), 7))
    two = x[:50].reshape(50, 2, 4, 2, 4).mean((2, 4)).reshape(50, 4)
    np.testing.assert_array_equal(tokens[:, 1:5], np.minimum(np.floor(two * 8), 7))
    maps = detokenize(tokens, LAYOUT, 8)
    assert [m.shape for m in maps] == [(50, 1), (50, 4), (50, 16), (50, 64)]
    assert np.abs(maps[-1] - x[:50]).max() <= 1 / 16 + 1e-6       # half a level
    np.testing.assert_array_equal(quantize(maps[-1], 8), tokens[:, 21:])  # round trip
    q = np.arange(8)
    np.testing.assert_array_equal(quantize(dequantize(q, 8), 8), q)


def test_layout_parents_and_mask():
    parent = LAYOUT.parent_of()
    assert list(parent[1:5]) == [0, 0, 0, 0]
    for i in range(4):
        for j in range(4):
            assert parent[5 + 4 * i + j] == 1 + 2 * (i // 2) + j // 2
    assert parent[21 + 8 * 7 + 7] == 5 + 4 * 3 + 3
    mask = LAYOUT.block_causal_mask()
    assert mask[4, 0] and mask[4, 1] and mask[1, 4] and not mask[0, 1] and not mask[4, 5]
    with pytest.raises(ValueError, match="divide image_size"):
        ScaleLayout((1, 3), 8)


def test_space_uses_equidistant_layers():
    space = ScaleDepthSpace(8, 4, (4, 2), k0=2)
    d4 = np.asarray(space.subnet(4).layers)
    # I_4 = {floor(i * 7 / 3)} = {0, 2, 4, 7}; scales 0, 1 (< k0) keep all layers
    assert d4[:2].all() and list(np.flatnonzero(d4[2])) == [0, 2, 4, 7] and (d4[3] == d4[2]).all()
    assert list(np.flatnonzero(np.asarray(space.smallest().layers)[3])) == [0, 7]
    early = np.asarray(space.subnet(4, early_subnet=True).layers)
    assert list(np.flatnonzero(early[0])) == [0, 2, 4, 7] and early[2:].all()
    drawn = {tuple(np.asarray(space.sample(k).layers)[3]) for k in jax.random.split(
        jax.random.PRNGKey(0), 20)}
    assert len(drawn) == 2
    with pytest.raises(ValueError, match="k0"):
        ScaleDepthSpace(8, 4, (4,), k0=5)


def _model_and_batch(num_layers=4):
    model = NextScaleTransformer(LAYOUT, 8, 10, num_layers=num_layers, embed_dim=32, num_heads=4)
    tokens = jax.random.randint(jax.random.PRNGKey(1), (3, 85), 0, 8)
    labels = jnp.asarray([0, 3, 9])
    params = model.init(jax.random.PRNGKey(0), tokens, labels)["params"]
    return model, params, tokens, labels


@pytest.mark.parametrize("gated", [False, True])
def test_block_causal_no_token_sees_a_later_scale(gated):
    model, params, tokens, labels = _model_and_batch()
    arch = ScaleDepthSpace(4, 4, (2,), 2).smallest() if gated else None
    base = model.apply({"params": params}, tokens, labels, arch)
    scale = LAYOUT.scale_of()
    for k in range(1, 4):
        # tokens of scale k are the inputs of scale k+1: perturbing them (and every later scale)
        # must leave the logits of scales <= k unchanged and change those of scale k+1
        changed = tokens.at[:, scale >= k].set((tokens[:, scale >= k] + 3) % 8)
        out = model.apply({"params": params}, changed, labels, arch)
        np.testing.assert_allclose(out[:, scale <= k], base[:, scale <= k], atol=1e-6)
        if k < 3:
            assert np.abs(out[:, scale == k + 1] - base[:, scale == k + 1]).max() > 1e-3


def _physical_subnet_logits(model, params, tokens, labels, keep, k0):
    """Reference: the first k0 scales through all layers (their per-layer states are the KV
    cache); the later tokens through the kept layers only, each kept layer run on the sequence
    [early states entering that layer; late states]."""
    apply = lambda method, *a: model.apply({"params": params}, *a, method=method)  # noqa: E731
    h = apply(NextScaleTransformer.embed, tokens, labels)
    n_early = sum(LAYOUT.sizes[:k0])
    early, late = h[:, :n_early], h[:, n_early:]
    cache = []
    for layer in range(model.num_layers):
        cache.append(early)
        early = apply(NextScaleTransformer.block, early, layer)
    for layer in np.flatnonzero(keep):
        full = jnp.concatenate([cache[layer], late], axis=1)
        late = apply(NextScaleTransformer.block, full, int(layer))[:, n_early:]
    return apply(NextScaleTransformer.logits, jnp.concatenate([early, late], axis=1))


def test_gated_forward_equals_physical_subnet():
    model, params, tokens, labels = _model_and_batch(num_layers=6)
    space = ScaleDepthSpace(6, 4, (3,), 2)
    keep = np.asarray(space.patterns()[0])
    assert list(np.flatnonzero(keep)) == [0, 2, 5]
    gated = model.apply({"params": params}, tokens, labels, space.smallest())
    reference = _physical_subnet_logits(model, params, tokens, labels, keep, 2)
    np.testing.assert_allclose(gated, reference, atol=2e-5)
    full = model.apply({"params": params}, tokens, labels)
    np.testing.assert_allclose(gated[:, :5], full[:, :5], atol=2e-5)   # early scales: full depth
    assert np.abs(gated[:, 5:] - full[:, 5:]).max() > 1e-3            # late: really the subnet
    # a vmapped batch of archs gives each arch's own logits
    archs = jax.tree.map(lambda *a: jnp.stack(a), space.largest(), space.smallest())
    both = jax.vmap(lambda a: model.apply({"params": params}, tokens, labels, a))(archs)
    np.testing.assert_allclose(both[1], gated, atol=1e-5)
    with pytest.raises(ValueError, match="arch.layers"):
        model.apply({"params": params}, tokens, labels, ScaleDepthArch(jnp.ones((4, 5), bool)))


def test_sampling_and_schedule():
    model, params, _, _ = _model_and_batch()
    labels = jnp.arange(6) % 10
    arch = ScaleDepthSpace(4, 4, (2,), 2).smallest()
    a = sample_tokens(model, params, labels, arch, jax.random.PRNGKey(3))
    b = sample_tokens(model, params, labels, arch, jax.random.PRNGKey(3))
    assert a.shape == (6, 85) and a.dtype == jnp.int32 and int(a.min()) >= 0 and int(a.max()) < 8
    np.testing.assert_array_equal(a, b)
    schedule = {"boundaries": jnp.asarray([100, 200]), "values": jnp.asarray([0.2, 0.6, 1.0])}
    got = [float(experiment.p_subnet(schedule, jnp.asarray(s))) for s in (0, 99, 100, 199, 250)]
    np.testing.assert_allclose(got, [0.2, 0.2, 0.6, 0.6, 1.0])
    config = experiment_lib.build_config(experiment, ["num_steps=300"])
    assert experiment._boundaries(config) == [100, 200]
    assert experiment._schedules(config)["progressive"] == (0.2, 0.6, 1.0)
    config = experiment_lib.build_config(experiment, ["num_steps=300", "pretrain_fraction=0.5"])
    assert experiment._boundaries(config) == [150, 200, 250]
    schedules = experiment._schedules(config)
    assert schedules["progressive"] == (0.0, 0.2, 0.6, 1.0)
    assert schedules["fixed"] == (0.0, 0.5, 0.5, 0.5)


def test_quick_variant_runs_and_reports(tmp_path):
    config = experiment_lib.build_config(experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path / "run")
    runs = results["runs"]
    assert set(runs) == {"full_only", "fixed", "progressive"}
    for run in runs.values():
        for metric in ("nll", "fidelity"):
            assert set(run[metric]) == set(experiment.EVAL_ARCHS)
            assert all(len(v) == 2 and np.isfinite(v).all() for v in run[metric].values())
    # full_only never draws a subnet; progressive draws some late in training (p_sub -> 1)
    sub = [np.asarray(r["train/subnet_step"]) for r in results["history"]]
    assert all(s[0].max() == 0 for s in sub) and sub[-1][2].min() > 0
    assert runs["progressive"]["p_sub"] == [0.2, 0.6, 1.0]
    for name in ("metrics.jsonl", "variant.png", "results.json"):
        assert (tmp_path / "run" / name).exists()
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["claim"]["paper"] == experiment.PAPER_RESULT
    assert "seeds" in claim.ours and "1.95" in claim.paper


@pytest.mark.slow
def test_variant_reproduces_asymmetry_and_progressive_training(tmp_path):
    config = experiment_lib.build_config(experiment, [])
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path / "run")
    assert len(results["seeds"]) == 3
    assert claim.passed, claim.text
