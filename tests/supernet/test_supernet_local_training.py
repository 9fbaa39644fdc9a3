"""Composability: a weight-sharing width supernet trained by the local-loss trainer.

Neither side changes: the supernet layer is an `ElasticDense` with the subnet's width masks as its
leading argument (the `context` a `LocalStack` passes to every layer), the batch function draws a
fresh subnet per step from the step's key (sandwich rule: largest, smallest, random, in turn), and
`local_step` trains every layer with its own Mono-Forward loss. Afterwards the largest and the
smallest subnet both classify digits well, each read out by its own last layer.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets import data as data_lib
from jaxnets.nn.elastic import ElasticDense, prefix_mask
from jaxnets.supernet import WidthDepthSpace
from jaxnets.train import TrainState, fit
from jaxnets.train.local import (LocalLayer, LocalStack, accuracy, array_batches,
                                 cross_entropy_loss, local_step, locality_matrix, per_layer)

WIDTH, LAYERS, C = 32, 2, 10
SPACE = WidthDepthSpace(width_choices=(8, 16, 32), depth_choices=(LAYERS,))


class MaskedHidden(nn.Module):
    """Hidden layer `index` of the supernet: ElasticDense with this subnet's in/out width masks."""
    index: int

    @nn.compact
    def __call__(self, masks_LxW: jax.Array, h: jax.Array) -> jax.Array:
        in_mask = None if self.index == 0 else masks_LxW[self.index - 1]
        return ElasticDense(WIDTH)(h, in_mask, masks_LxW[self.index])


def _masks(arch) -> jax.Array:
    return jax.vmap(lambda w: prefix_mask(w, WIDTH))(arch.widths)


def _stack() -> LocalStack:
    return LocalStack(tuple(
        LocalLayer(MaskedHidden(l), head=nn.Dense(C, use_bias=False), activation=nn.relu,
                   loss=cross_entropy_loss) for l in range(LAYERS)))


def _sandwich_batches(x, y, batch_size):
    plain = array_batches(x, y, batch_size)

    def batch_fn(state):
        batch = plain(state)
        key = jax.random.fold_in(state.step_key(), 7)
        arch = jax.lax.switch(state.step % 3, [lambda k: SPACE.largest(),
                                               lambda k: SPACE.smallest(), SPACE.sample], key)
        return {**batch, "context": (_masks(arch),)}

    return batch_fn


def test_local_trainer_trains_a_width_supernet_by_sandwich_sampling():
    x, y = data_lib.load_digits()
    x, y = jnp.asarray(x), jnp.asarray(y)
    x_tr, y_tr, x_te, y_te = x[:1200], y[:1200], x[1200:], y[1200:]
    stack = _stack()
    batch_fn = _sandwich_batches(x_tr, y_tr, 64)
    tx = per_layer(optax.adam(3e-3), len(stack))
    params, model_state = stack.init(jax.random.PRNGKey(0),
                                     {"x": x_tr[:2], "context": (_masks(SPACE.largest()),)})
    state = TrainState.create(params, tx, jax.random.PRNGKey(0), model_state)

    # Every local loss reaches only its own layer, with the masks in the context.
    local = locality_matrix(stack.losses, params, model_state, batch_fn(state),
                            jax.random.PRNGKey(1))
    assert np.all(np.diag(np.asarray(local)) > 0)
    np.testing.assert_array_equal(np.asarray(local)[~np.eye(LAYERS, dtype=bool)], 0.0)

    def test_accuracy(params, arch):
        _, outs = stack.apply(params, model_state, {"x": x_te, "context": (_masks(arch),)})
        return float(accuracy(outs[-1], y_te))

    before = test_accuracy(params, SPACE.smallest())
    result = fit(state, local_step(stack.losses, tx, batch_fn=batch_fn), num_steps=300,
                 eval_every=300, progress=False)
    largest = test_accuracy(result.state.params, SPACE.largest())
    smallest = test_accuracy(result.state.params, SPACE.smallest())
    assert before < 0.5
    assert largest > 0.85 and smallest > 0.7, (largest, smallest)  # chance: 0.1
    # Units past the smallest width receive no gradient on a smallest-subnet step.
    smallest_batch = {**batch_fn(state), "context": (_masks(SPACE.smallest()),)}
    grads = jax.grad(lambda p: jnp.sum(stack.losses(p, model_state, smallest_batch,
                                                    jax.random.PRNGKey(2))))(params)
    kernel = grads[1]["module"]["ElasticDense_0"]["kernel"]
    np.testing.assert_array_equal(np.asarray(kernel)[8:], 0.0)
    np.testing.assert_array_equal(np.asarray(kernel)[:, 8:], 0.0)
