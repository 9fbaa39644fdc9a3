"""TargetSpec: shapes from eval_shape, exact ravel/unravel, errors that name the leaf."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets import nn as jnn
from jaxnets.hyper import TargetSpec, TargetStructureError, mip_hypernetwork, standard_hypernetwork


class _Mixed(nn.Module):
    """A target with a conv, a dense, a scalar and a non-float32 leaf."""

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(3, (3, 3))(x)
        scale = self.param("scale", nn.initializers.ones_init(), ())
        table = self.param("table", nn.initializers.normal(), (4, 2), jnp.bfloat16)
        return nn.Dense(5)(x.reshape(x.shape[0], -1)) * scale + table.astype(jnp.float32).sum()


def _mixed_spec():
    return TargetSpec.from_module(_Mixed(), jnp.zeros((2, 6, 6, 1)))


def test_spec_matches_the_real_init_without_materialising():
    module = _Mixed()
    spec = _mixed_spec()
    real = module.init(jax.random.PRNGKey(1), jnp.zeros((2, 6, 6, 1)))["params"]
    flat, treedef = jax.tree_util.tree_flatten(real)
    assert spec.treedef == treedef
    assert spec.shapes == tuple(leaf.shape for leaf in flat)
    assert spec.dtypes == tuple(np.dtype(leaf.dtype) for leaf in flat)
    assert spec.num_params == sum(leaf.size for leaf in flat) == 3 * 9 + 3 + 1 + 8 + 108 * 5 + 5
    assert spec.paths == ("Conv_0/bias", "Conv_0/kernel", "Dense_0/bias", "Dense_0/kernel",
                          "scale", "table")


def test_ravel_unravel_round_trip_is_exact_and_ordered():
    spec = _mixed_spec()
    params = _Mixed().init(jax.random.PRNGKey(2), jnp.zeros((2, 6, 6, 1)))["params"]
    flat = spec.ravel(params)
    expected = np.concatenate([np.asarray(leaf, np.float32).ravel()
                               for leaf in jax.tree_util.tree_leaves(params)])
    np.testing.assert_array_equal(np.asarray(flat), expected)
    back = spec.unravel(flat)
    for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(params)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
    for path, offset, size in spec.blocks:  # block i of the vector is leaf i
        leaf = dict(zip(spec.paths, jax.tree_util.tree_leaves(params)))[path]
        np.testing.assert_array_equal(expected[offset:offset + size],
                                      np.asarray(leaf, np.float32).ravel())


@pytest.mark.parametrize("make", [standard_hypernetwork, mip_hypernetwork])
def test_generated_params_have_exactly_the_target_structure(make):
    module = _Mixed()
    spec = _mixed_spec()
    hypernet = make(spec, hidden_sizes=(4, 8))
    phi = hypernet.init(jax.random.PRNGKey(0), jnp.array([0.3]))["params"]
    theta = hypernet.apply({"params": phi}, jnp.array([0.3]))
    real = module.init(jax.random.PRNGKey(1), jnp.zeros((2, 6, 6, 1)))["params"]
    assert jax.tree_util.tree_structure(theta) == jax.tree_util.tree_structure(real)
    for a, b in zip(jax.tree_util.tree_leaves(theta), jax.tree_util.tree_leaves(real)):
        assert a.shape == b.shape and a.dtype == b.dtype
    out = spec.apply(theta, jnp.ones((2, 6, 6, 1)))
    assert out.shape == (2, 5) and np.isfinite(np.asarray(out)).all()


def test_mismatched_structures_raise_naming_the_leaf():
    spec = TargetSpec.from_module(jnn.MLP((8, 3)), jnp.zeros((1, 4)))
    wider = jnn.MLP((9, 3)).init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))["params"]
    with pytest.raises(TargetStructureError, match=r"'Linear_0/bias' has shape \(9,\).*\(8,\)"):
        spec.check(wider)
    deeper = jnn.MLP((8, 8, 3)).init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))["params"]
    with pytest.raises(TargetStructureError, match=r"unexpected leaves \['Linear_2/bias'"):
        spec.apply(deeper, jnp.zeros((1, 4)))
    params = jnn.MLP((8, 3)).init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))["params"]
    half = jax.tree.map(lambda a: a.astype(jnp.float16), params)
    with pytest.raises(TargetStructureError, match=r"'Linear_0/bias' has dtype float16"):
        spec.ravel(half)
    # 4*8 + 8 + 8*3 + 3 = 67 parameters
    with pytest.raises(TargetStructureError, match=r"flat_P must have shape \(67,\)"):
        spec.unravel(jnp.zeros((74,)))


def test_bad_arguments_raise_named_errors():
    spec = TargetSpec.from_module(jnn.MLP((8, 3)), jnp.zeros((1, 4)))
    hypernet = mip_hypernetwork(spec, hidden_sizes=(4,))
    with pytest.raises(ValueError, match="gamma must have shape"):
        hypernet.init(jax.random.PRNGKey(0), jnp.zeros((2, 1)))
    with pytest.raises(ValueError, match="encoding must be one of"):
        mip_hypernetwork(spec, encoding="sin").init(jax.random.PRNGKey(0), jnp.zeros((1,)))
    with pytest.raises(ValueError, match="residual=True"):
        mip_hypernetwork(TargetSpec.from_params({"w": jnp.zeros(3)})).init(
            jax.random.PRNGKey(0), jnp.zeros((1,)))
    with pytest.raises(TypeError, match="module must be a flax.linen.Module"):
        TargetSpec.from_module(lambda x: x, jnp.zeros(3))
