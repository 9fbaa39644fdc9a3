"""Depth tables, samplers and schedules: values checked against the papers' stated examples."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.supernet import (PiecewiseSchedule, TransformerSpace, WidthDepthSpace, depth_table,
                              equidistant_layers, lighthubert_layers, sample_progressive,
                              sample_sandwich, sample_uniform)


def _dropped(mask):
    return [i + 1 for i in np.flatnonzero(~mask)]  # 1-indexed, as in the notes


def test_lighthubert_depth_table():
    # LightHuBERT's fixed keep patterns over 12 layers (research notes sec. 1, 1-indexed drops).
    expected = {12: [], 11: [12], 10: [8, 12], 9: [4, 8, 12], 8: [4, 8, 11, 12],
                7: [4, 7, 8, 11, 12], 6: [3, 4, 7, 8, 11, 12]}
    for depth, drops in expected.items():
        assert _dropped(lighthubert_layers(12, depth)) == drops, depth


def test_equidistant_and_nested_depth_sets():
    # VARiant, D=30: d=8 -> {0,4,...,24,29}, d=4 -> {0,9,19,29}, d=2 -> {0,29}.
    assert np.flatnonzero(equidistant_layers(30, 8)).tolist() == [0, 4, 8, 12, 16, 20, 24, 29]
    assert np.flatnonzero(equidistant_layers(30, 4)).tolist() == [0, 9, 19, 29]
    assert np.flatnonzero(equidistant_layers(30, 2)).tolist() == [0, 29]
    assert np.flatnonzero(equidistant_layers(30, 16)).tolist() == [0] + list(range(1, 30, 2))
    floor = depth_table(30, (16, 8), "equidistant")
    assert not np.all(floor[1] <= floor[0])  # the floor rule's sets are not nested
    nested = depth_table(30, (16, 8, 4, 2), "nested")
    assert nested.sum(1).tolist() == [16, 8, 4, 2]
    for small, big in zip(nested[1:], nested[:-1]):
        assert np.all(small <= big)
    assert nested[:, 0].all() and nested[:, -1].all()
    with pytest.raises(ValueError, match="depth rule"):
        depth_table(4, (2,), "random")
    with pytest.raises(ValueError, match="depth must be"):
        equidistant_layers(4, 5)


progressive = jax.jit(sample_progressive, static_argnums=(0, 2))
sandwich = jax.jit(sample_sandwich, static_argnums=(0, 2))

SPACE = TransformerSpace(embed_choices=(8, 16), head_choices=(1, 2), ffn_ratio_choices=(2.0, 3.5),
                         depth_choices=(4, 8), num_layers=8)


def test_uniform_samples_stay_in_the_space_and_cover_it():
    archs = jax.tree.map(np.asarray, jax.jit(lambda k: sample_uniform(SPACE, k, 400))(
        jax.random.PRNGKey(0)))
    assert set(archs.embed.tolist()) == {8, 16}
    assert set(archs.heads.ravel().tolist()) == {1, 2}
    ratios = archs.ffn / archs.embed[:, None]
    assert set(np.round(ratios, 6).ravel().tolist()) == {2.0, 3.5}
    assert {int(s) for s in archs.layers.sum(1)} == {4, 8}
    # Per-layer draws: some subnets mix head counts across layers.
    assert (archs.heads.min(1) != archs.heads.max(1)).any()
    # Roughly uniform: each embed choice 200 +- 50 times out of 400.
    assert abs((archs.embed == 8).sum() - 200) < 50


def test_sandwich_puts_largest_then_smallest_then_random():
    archs = sandwich(SPACE, jax.random.PRNGKey(1), 3)
    embed, heads, layers = (np.asarray(a) for a in (archs.embed, archs.heads, archs.layers))
    assert embed.shape == (5,) and embed[0] == 16 and embed[1] == 8
    assert heads[0].tolist() == [2] * 8 and heads[1].tolist() == [1] * 8
    assert layers[0].all() and layers[1].sum() == 4
    assert np.asarray(archs.ffn)[0].tolist() == [56] * 8  # int(3.5 * 16)
    mlp = WidthDepthSpace((4, 16), (1, 3))
    ends = sandwich(mlp, jax.random.PRNGKey(0), 0)
    assert np.asarray(ends.widths).tolist() == [[16] * 3, [4] * 3]
    assert np.asarray(ends.depth).tolist() == [3, 1]


def test_progressive_sampler_and_piecewise_schedule():
    schedule = PiecewiseSchedule(boundaries=(10, 20), values=(0.2, 0.5, 1.0))
    got = jax.jit(jax.vmap(schedule))(jnp.asarray([0, 9, 10, 19, 20, 100])).tolist()
    assert got == pytest.approx([0.2, 0.2, 0.5, 0.5, 1.0, 1.0])
    mlp = WidthDepthSpace((4, 16), (1, 3))
    full = progressive(mlp, jax.random.PRNGKey(0), 64, 0.0)
    assert (np.asarray(full.depth) == 3).all() and (np.asarray(full.widths) == 16).all()
    sub = progressive(mlp, jax.random.PRNGKey(0), 400, 1.0)
    is_full = (np.asarray(sub.depth) == 3) & (np.asarray(sub.widths) == 16).all(1)
    # Only the uniform draws that happen to be the largest: P = 1/2 * 1/8.
    assert 0 < is_full.mean() < 0.15
    half = progressive(mlp, jax.random.PRNGKey(3), 400, 0.5)
    is_full = (np.asarray(half.depth) == 3) & (np.asarray(half.widths) == 16).all(1)
    assert abs(is_full.mean() - (0.5 + 0.5 / 16)) < 0.08
    with pytest.raises(ValueError, match="boundaries"):
        PiecewiseSchedule(boundaries=(10,), values=(1.0,))
    with pytest.raises(ValueError, match="num"):
        sample_uniform(mlp, jax.random.PRNGKey(0), 0)
