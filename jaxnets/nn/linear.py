"""Dense layers that take dense or sparse (`BCOO`) input, and an MLP built from them."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnets.graph import spmm
from jaxnets.nn.dropout import Dropout

__all__ = ["Linear", "MLP"]

Initializer = Callable[..., jax.Array]


def add_bias(y: jax.Array, bias_H: jax.Array) -> jax.Array:
    """`y + bias` over the last axis, without implicit rank promotion."""
    return y + bias_H.reshape((1,) * (y.ndim - 1) + bias_H.shape)


class Linear(nn.Module):
    """`y = x W + b` for dense x of shape [..., F] or a 2-D `BCOO` x of shape [N, F].

    Sparse input costs O(nnz * H) through `jaxnets.graph.spmm` (PERFORMANCE.md item 1). Glorot
    uniform weights and zero bias, the initialisation of both GCN (Kipf & Welling 2017, sec. 5.2)
    and GAT (Velickovic et al. 2018, sec. 3.3).

    Attributes:
        features: output width H.
        use_bias: add a learned bias.
        kernel_init: initialiser of W, shape [F, H].
        bias_init: initialiser of b, shape [H].
    """
    features: int
    use_bias: bool = True
    kernel_init: Initializer = nn.initializers.glorot_uniform()
    bias_init: Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: Any) -> jax.Array:
        """Maps [..., F] (dense) or [N, F] (`BCOO`) to [..., H]."""
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        y = spmm(x, kernel)
        if self.use_bias:
            y = add_bias(y, self.param("bias", self.bias_init, (self.features,), jnp.float32))
        return y


class MLP(nn.Module):
    """`Linear -> activation -> dropout` repeated; the last layer is linear unless asked.

    Attributes:
        features: widths of the layers, e.g. (64, 64, 7).
        activation: nonlinearity between layers.
        dropout_rate: dropout on each hidden activation (see `Dropout` for the rounding).
        activate_final: apply the activation (and dropout) after the last layer too.
        use_bias: biases in every layer.
    """
    features: Sequence[int]
    activation: Callable[[jax.Array], jax.Array] = nn.relu
    dropout_rate: float = 0.0
    activate_final: bool = False
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: Any, *, deterministic: bool = True) -> jax.Array:
        """Maps [..., F] (dense) or [N, F] (`BCOO`) to [..., features[-1]]."""
        if not self.features:
            raise ValueError("MLP needs at least one layer width in features")
        for i, width in enumerate(self.features):
            x = Linear(width, use_bias=self.use_bias)(x)
            if i < len(self.features) - 1 or self.activate_final:
                x = self.activation(x)
                x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
        return x
