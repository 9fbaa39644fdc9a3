"""Elastic MLP / GCN: masked forward == sliced network, extraction, per-arch init."""
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

import supernet_reference as ref
from jaxnets.nn.elastic import ElasticMLP, WidthDepthArch
from jaxnets.supernet import WidthDepthSpace, extract_subnet, index_arch, sample_uniform

SPACE = WidthDepthSpace(width_choices=(1, 3, 5, 8), depth_choices=(1, 2, 3),
                        activations=("relu", "tanh", "sigmoid"))


def _arch_tuple(archs, i):
    a = jax.tree.map(np.asarray, index_arch(archs, i))
    return [int(w) for w in a.widths], int(a.depth), SPACE.activations[int(a.activation)]


def test_masked_mlp_equals_sliced_mlp_for_random_archs_in_one_vmap():
    rng = np.random.default_rng(0)
    model = SPACE.mlp(4)
    x = rng.standard_normal((7, 6)).astype(np.float32)
    params = ref.perturb(jax.jit(model.init)(jax.random.PRNGKey(0), x), rng)
    archs = sample_uniform(SPACE, jax.random.PRNGKey(1), 24)
    out = jax.jit(jax.vmap(lambda a: model.apply(params, x, a)))(archs)
    depths = set()
    for i in range(24):
        widths, depth, act = _arch_tuple(archs, i)
        depths.add(depth)
        np.testing.assert_allclose(out[i], ref.mlp(params, widths, depth, act, x), atol=1e-5,
                                   err_msg=f"arch {widths, depth, act}")
    assert depths == {1, 2, 3}
    small, small_params = extract_subnet(model, params, index_arch(archs, 5))
    widths, depth, act = _arch_tuple(archs, 5)
    assert small.hidden == tuple(widths[:depth]) and small.activations == (act,)
    np.testing.assert_allclose(jax.jit(small.apply)(small_params, x), out[5], atol=1e-5)


def test_masked_gcn_equals_sliced_dense_gcn_and_extraction():
    rng = np.random.default_rng(1)
    n = 9
    pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n)])
    pairs = pairs[rng.choice(len(pairs), 12, replace=False)]
    senders = np.concatenate([pairs[:, 0], pairs[:, 1]]).astype(np.int32)
    receivers = np.concatenate([pairs[:, 1], pairs[:, 0]]).astype(np.int32)
    graph = jraph.GraphsTuple(nodes=None, edges=None, globals=None, senders=senders,
                              receivers=receivers, n_node=np.array([n]),
                              n_edge=np.array([len(senders)]))
    x = rng.standard_normal((n, 4)).astype(np.float32)
    model = SPACE.gcn(3)
    params = ref.perturb(jax.jit(lambda k: model.init(k, graph, x))(jax.random.PRNGKey(0)), rng)
    archs = sample_uniform(SPACE, jax.random.PRNGKey(2), 8)
    out = jax.jit(jax.vmap(lambda a: model.apply(params, graph, x, a)))(archs)
    operator = ref.gcn_operator(senders, receivers, n)
    for i in range(8):
        widths, depth, act = _arch_tuple(archs, i)
        np.testing.assert_allclose(out[i], ref.mlp(params, widths, depth, act, x, operator),
                                   atol=1e-5)
    small, small_params = extract_subnet(model, params, index_arch(archs, 0))
    np.testing.assert_allclose(jax.jit(lambda p: small.apply(p, graph, x))(small_params), out[0], atol=1e-5)


def test_per_arch_init_draws_each_weight_from_its_subnets_fan_in():
    model = ElasticMLP((64, 64), 10, init_per_arch=True)
    arch = WidthDepthArch(jnp.array([4, 64]), jnp.array(2), jnp.array(0))
    params = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 16)), arch)["params"]
    # PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with the subnet's fan-in:
    # 16 inputs to layer 0, 4 active inputs to layer 1, 64 to the head.
    for name, fan_in in [("dense_0", 16), ("dense_1", 4), ("head", 64)]:
        kernel = np.asarray(params[name]["kernel"])
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.9 * bound, name


def test_errors_name_the_argument():
    model = ElasticMLP((8,), 2, activations=("swish",))
    with pytest.raises(ValueError, match="activations"):
        jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 3)))
    model = ElasticMLP((8, 8), 2)
    variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 3)))
    params = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), variables)
    too_wide = WidthDepthArch(np.array([9, 8]), np.array(2), np.array(0))
    with pytest.raises(ValueError, match=r"arch.widths\[0\]"):
        extract_subnet(model, params, too_wide)
    with pytest.raises(ValueError, match="arch.depth"):
        extract_subnet(model, params, WidthDepthArch(np.array([8, 8]), np.array(0), np.array(0)))
    with pytest.raises(ValueError, match="width_choices"):
        WidthDepthSpace(width_choices=(), depth_choices=(1,))


def test_masked_mlp_gradient_is_the_extracted_subnets_gradient_in_its_slots():
    """Backward through the width masks (applied once, after the activation): the supernet's
    gradient, sliced as `extract_subnet` slices the params, equals the small MLP's gradient;
    everything outside the slices is exactly zero."""
    rng = np.random.default_rng(1)
    model = SPACE.mlp(4)
    x = rng.standard_normal((7, 6)).astype(np.float32)
    params = ref.perturb(jax.jit(model.init)(jax.random.PRNGKey(0), x), rng)
    archs = sample_uniform(SPACE, jax.random.PRNGKey(2), 6)
    for i in range(6):
        arch = index_arch(archs, i)
        grads = jax.grad(lambda p: jnp.sum(model.apply(p, x, arch) ** 2))(params)
        small, small_params = extract_subnet(model, params, arch)
        small_grads = jax.grad(lambda p: jnp.sum(small.apply(p, x) ** 2))(small_params)
        _, sliced = extract_subnet(model, grads, arch)
        for got, want in zip(jax.tree.leaves(sliced), jax.tree.leaves(small_grads)):
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5,
                                       err_msg=str(_arch_tuple(archs, i)))
        mass = sum(float(jnp.sum(jnp.abs(g))) for g in jax.tree.leaves(grads))
        np.testing.assert_allclose(
            mass, sum(float(jnp.sum(jnp.abs(g))) for g in jax.tree.leaves(sliced)), rtol=1e-5)
