"""Masked transformer supernet == physically sliced small transformer (LightHuBERT slicing)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import supernet_reference as ref
from jaxnets.nn.elastic import masked_layer_norm
from jaxnets.nn.elastic_transformer import (TransformerArch,
                                            lighthubert_ffn_mask)
from jaxnets.supernet import TransformerSpace, extract_subnet, index_arch, sample_uniform

SPACE = TransformerSpace(embed_choices=(8, 12, 16), head_choices=(1, 2, 3, 4),
                         ffn_ratio_choices=(1.0, 2.5, 3.0, 3.5, 4.0), depth_choices=(2, 3, 4),
                         num_layers=4)
HEAD_DIM, T, F_IN, OUT = 4, 5, 3, 6


def test_chunked_ffn_mask_matches_the_lighthubert_examples():
    # E=640, r=3.5 over D=768: [0,640) u [768,1408) u [1536,2176) u [2304,2624) (notes, sec. 1).
    mask = np.asarray(lighthubert_ffn_mask(640, 2240, 768, 3072))
    expected = np.zeros(3072)
    for lo, hi in [(0, 640), (768, 1408), (1536, 2176), (2304, 2624)]:
        expected[lo:hi] = 1
    np.testing.assert_array_equal(mask, expected)
    mask = np.asarray(lighthubert_ffn_mask(256, 768, 768, 3072))
    assert np.flatnonzero(mask).tolist() == (list(range(256)) + list(range(768, 1024))
                                             + list(range(1536, 1792)))
    assert np.asarray(lighthubert_ffn_mask(768, 3072, 768, 3072)).all()


def test_masked_layer_norm_equals_layer_norm_of_the_slice(rng):
    x = rng.standard_normal((3, 10)).astype(np.float32)
    scale, bias = rng.standard_normal(10), rng.standard_normal(10)
    mask = (np.arange(10) < 6).astype(np.float32)
    got = np.asarray(masked_layer_norm(jnp.asarray(x), jnp.asarray(mask),
                                       jnp.asarray(scale, jnp.float32),
                                       jnp.asarray(bias, jnp.float32)))
    np.testing.assert_allclose(got[:, :6], ref.layer_norm(x[:, :6].astype(np.float64),
                                                          scale[:6], bias[:6]), atol=1e-5)
    assert not got[:, 6:].any()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _supernet(pre_norm):
    return SPACE.supernet(head_dim=HEAD_DIM, out_features=OUT, max_len=8, pre_norm=pre_norm)


@pytest.mark.parametrize("pre_norm", [False, True])
def test_twenty_random_subnets_under_one_vmap_equal_their_sliced_networks(rng, pre_norm):
    model = _supernet(pre_norm)
    x = rng.standard_normal((2, T, F_IN)).astype(np.float32)
    params = ref.perturb(jax.jit(model.init)(jax.random.PRNGKey(1), x), rng)
    archs = sample_uniform(SPACE, jax.random.PRNGKey(2), 20)
    # One jitted call for all 20 subnets; the params are shared (in_axes None).
    out = jax.jit(jax.vmap(lambda a: model.apply(params, x, a)))(archs)
    assert out.shape == (20, 2, T, OUT)
    archs_np = jax.tree.map(np.asarray, archs)
    assert len({int(e) for e in archs_np.embed}) > 1 and archs_np.layers.sum(1).min() < 4
    for i in range(20):
        arch = {k: getattr(archs_np, k)[i] for k in ("embed", "heads", "ffn", "layers")}
        expected = ref.transformer(params, arch, x, head_dim=HEAD_DIM, pre_norm=pre_norm,
                                   embed_max=SPACE.embed_max, ffn_max=SPACE.ffn_max)
        np.testing.assert_allclose(np.asarray(out[i]), expected, atol=1e-5, rtol=1e-5,
                                   err_msg=f"subnet {i}: {arch}")


def test_full_arch_equals_no_arch_and_extracted_model_equals_masked_supernet(rng):
    model = _supernet(False)
    x = rng.standard_normal((2, T, F_IN)).astype(np.float32)
    params = ref.perturb(jax.jit(model.init)(jax.random.PRNGKey(3), x), rng)
    archs = sample_uniform(SPACE, jax.random.PRNGKey(4), 3)
    masked = jax.jit(jax.vmap(lambda a: model.apply(params, x, a)))(archs)
    full = jax.jit(lambda: (model.apply(params, x, SPACE.largest()), model.apply(params, x)))()
    np.testing.assert_allclose(full[0], full[1], atol=1e-5)
    for i in range(3):
        arch = index_arch(archs, i)
        small, small_params = extract_subnet(model, params, arch)
        n_layers = int(np.sum(arch.layers))
        assert len(small.num_heads) == n_layers and small.embed_dim == int(arch.embed)
        assert small_params["params"]["block_0"]["fc1"]["kernel"].shape[1] == small.ffn_hidden[0]
        np.testing.assert_allclose(jax.jit(small.apply)(small_params, x), masked[i], atol=1e-5, rtol=1e-5)


def test_bad_archs_are_reported():
    model = _supernet(False)
    x = jnp.zeros((1, T, F_IN))
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
    params = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    batch = sample_uniform(SPACE, jax.random.PRNGKey(0), 2)
    with pytest.raises(ValueError, match="vmap"):
        jax.eval_shape(lambda: model.apply(params, x, batch))
    with pytest.raises(TypeError, match="TransformerArch"):
        jax.eval_shape(lambda: model.apply(params, x, {"embed": 8}))
    bad = TransformerArch(jnp.asarray(8), jnp.full((4,), 2), jnp.full((4,), 60),
                          jnp.ones((4,), bool))
    with pytest.raises(ValueError, match="arch.ffn"):
        extract_subnet(model, params, bad)
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda a: extract_subnet(model, params, a)[1])(SPACE.largest())
    with pytest.raises(ValueError, match="max_len"):
        jax.eval_shape(lambda: model.apply(params, jnp.zeros((1, 9, F_IN))))


@pytest.mark.parametrize("pre_norm", [False, True])
def test_masked_supernet_gradient_is_the_extracted_subnets_gradient_in_its_slots(rng, pre_norm):
    """Backward through the masks: the supernet's gradient for an arch, sliced as
    `extract_subnet` slices the params, equals the small model's gradient, and every entry
    outside the slices (inactive units, dropped layers) is exactly zero."""
    model = _supernet(pre_norm)
    x = rng.standard_normal((2, T, F_IN)).astype(np.float32)
    target = rng.standard_normal((2, T, OUT)).astype(np.float32)
    params = ref.perturb(jax.jit(model.init)(jax.random.PRNGKey(5), x), rng)
    archs = sample_uniform(SPACE, jax.random.PRNGKey(6), 2)
    for i in range(2):
        arch = index_arch(archs, i)
        grads = jax.jit(jax.grad(lambda p: jnp.sum((model.apply(p, x, arch) - target) ** 2)))(
            params)
        small, small_params = extract_subnet(model, params, arch)
        small_grads = jax.jit(jax.grad(lambda p: jnp.sum((small.apply(p, x) - target) ** 2)))(
            small_params)
        _, sliced = extract_subnet(model, grads, arch)
        for path, want in jax.tree_util.tree_leaves_with_path(small_grads):
            got = _leaf(sliced, path)
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4, err_msg=str(path))
        mass = sum(float(jnp.sum(jnp.abs(g))) for g in jax.tree.leaves(grads))
        sliced_mass = sum(float(jnp.sum(jnp.abs(g))) for g in jax.tree.leaves(sliced))
        np.testing.assert_allclose(mass, sliced_mass, rtol=1e-5)


def _leaf(tree, path):
    for key in path:
        tree = tree[key.key]
    return np.asarray(tree)
