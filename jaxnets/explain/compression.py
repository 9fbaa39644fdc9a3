"""Lossy compression before mutual-information estimation (Butakov et al., ICLR 2024, §4).

The paper's estimator of I(X; Y) for high-dimensional X, Y is Î(f(X); g(Y)) with f, g
compressors onto a few dimensions: if a compressor is injective on the data manifold MI is
unchanged (MI is invariant under injective maps, the paper's Statement 2), and kNN estimators are
accurate in low dimension. Two compressors, as in the reference code's examples:

  * PCA: the top `dim` principal components (SVD of the centred data);
  * an autoencoder (MLP encoder d → hidden → dim, mirrored decoder), trained on the squared
    reconstruction error with Adam; the whole training loop is one `lax.scan`.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


def _matrix(name: str, x: Any) -> jax.Array:
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must have shape [N, d] with N >= 2, got {x.shape}")
    return x


@functools.partial(jax.jit, static_argnames=("dim",))
def _pca(x, dim):
    centred = x - jnp.mean(x, axis=0, keepdims=True)
    _, _, vt = jnp.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:dim].T


def pca_codes(x_NxD: Any, dim: int) -> jax.Array:
    """Projections of the centred data on its top `dim` principal axes, [N, dim]."""
    x = _matrix("x_NxD", x_NxD)
    if not 1 <= dim <= min(x.shape):
        raise ValueError(f"dim must be in [1, min(N, d) = {min(x.shape)}], got {dim}")
    return _pca(x, dim)


class Autoencoder(nn.Module):
    """MLP autoencoder: encoder hidden... → code (linear), decoder mirrored → reconstruction.

    Attributes:
      hidden: encoder hidden widths (the decoder uses them reversed).
      code_dim: width of the code.
      out_dim: width of the reconstruction (the input width).
    """

    hidden: Sequence[int]
    code_dim: int
    out_dim: int

    def setup(self):
        self.enc = [nn.Dense(w) for w in self.hidden]
        self.code = nn.Dense(self.code_dim)
        self.dec = [nn.Dense(w) for w in reversed(tuple(self.hidden))]
        self.out = nn.Dense(self.out_dim)

    def encode(self, x_NxD: jax.Array) -> jax.Array:
        h = x_NxD
        for layer in self.enc:
            h = nn.leaky_relu(layer(h), 0.2)
        return self.code(h)

    def decode(self, z_NxC: jax.Array) -> jax.Array:
        h = z_NxC
        for layer in self.dec:
            h = nn.leaky_relu(layer(h), 0.2)
        return self.out(h)

    def __call__(self, x_NxD: jax.Array) -> jax.Array:
        return self.decode(self.encode(x_NxD))


@functools.partial(jax.jit, static_argnames=("hidden", "dim", "steps", "batch_size"))
def _train_autoencoder(key, x, hidden, dim, steps, batch_size, learning_rate):
    n, d = x.shape
    mean, std = jnp.mean(x, axis=0, keepdims=True), jnp.std(x, axis=0, keepdims=True) + 1e-6
    xs = (x - mean) / std
    model = Autoencoder(hidden, dim, d)
    init_key, data_key = jax.random.split(key)
    params = model.init(init_key, xs[:1])
    tx = optax.adam(learning_rate)

    def loss_fn(p, batch):
        return jnp.mean((model.apply(p, batch) - batch) ** 2)

    def step(carry, t):
        p, opt = carry
        idx = jax.random.choice(jax.random.fold_in(data_key, t), n, (batch_size,), replace=False)
        loss, grads = jax.value_and_grad(loss_fn)(p, xs[idx])
        updates, opt = tx.update(grads, opt, p)
        return (optax.apply_updates(p, updates), opt), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(steps))
    codes = model.apply(params, xs, method=Autoencoder.encode)
    return codes, losses, loss_fn(params, xs)


def autoencoder_codes(key: jax.Array, x_NxD: Any, dim: int, hidden: Sequence[int] = (32,),
                      steps: int = 1000, batch_size: int = 256, learning_rate: float = 1e-3
                      ) -> tuple[jax.Array, dict]:
    """Trains an autoencoder on (standardised) `x_NxD` and returns its codes.

    Args:
      key: PRNG key (init and minibatch order; step t draws its batch from fold_in(key, t)).
      x_NxD: data [N, d].
      dim: code width.
      hidden: encoder hidden widths (the paper's examples: a small MLP/conv net per variable).
      steps: Adam steps; batch_size: minibatch size (<= N); learning_rate: Adam step size.

    Returns:
      (codes [N, dim], {"losses": [steps] training MSE, "final_mse": MSE on all of x}).
    """
    x = _matrix("x_NxD", x_NxD)
    if dim < 1 or steps < 1 or not 1 <= batch_size <= x.shape[0]:
        raise ValueError(f"need dim >= 1, steps >= 1 and 1 <= batch_size <= N = {x.shape[0]}; "
                         f"got {dim}, {steps}, {batch_size}")
    codes, losses, final = _train_autoencoder(key, x, tuple(hidden), dim, steps, batch_size,
                                              learning_rate)
    return codes, {"losses": losses, "final_mse": final}
