"""Graph isomorphism network layer, Xu et al. (2019), eq. 4.1."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from jaxnets.graph import propagate
from jaxnets.nn._inputs import graph_inputs
from jaxnets.nn.linear import MLP, Linear, add_bias

__all__ = ["GINConv"]


class GINConv(nn.Module):
    """`h_i' = MLP((1 + eps) h_i + sum_{j in N(i)} h_j)`, Xu et al. (2019), eq. 4.1.

    The MLP's first layer is linear, so it is applied before the sum:
    `W((1 + eps) h_i + sum_j h_j) + b = (1 + eps) W h_i + sum_j W h_j + b` (exact), which keeps
    sparse inputs sparse and aggregates at the first hidden width. The MLP is
    `Linear -> activation -> ... -> Linear` over `features`, no activation after the last layer.

    Attributes:
        features: MLP widths, e.g. (64, 64).
        eps: initial (or fixed) epsilon.
        train_eps: learn epsilon (GIN-eps) instead of fixing it (GIN-0 when eps = 0).
        activation: nonlinearity inside the MLP.
    """
    features: Sequence[int]
    eps: float = 0.0
    train_eps: bool = False
    activation: Callable[[jax.Array], jax.Array] = nn.relu

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
                 ) -> jax.Array:
        """Maps node features x [N, F] (dense or `BCOO`) to [N, features[-1]]."""
        if not self.features:
            raise ValueError("GINConv needs at least one MLP width in features")
        senders, receivers, n = graph_inputs("GINConv", graph, x)
        eps = (self.param("eps", nn.initializers.constant(self.eps), (), jnp.float32)
               if self.train_eps else self.eps)
        h = Linear(self.features[0], use_bias=False)(x)
        h = (1.0 + eps) * h + propagate(h, senders, receivers, n)
        h = add_bias(h, self.param("bias", nn.initializers.zeros_init(), (self.features[0],),
                                   jnp.float32))
        if len(self.features) > 1:
            h = MLP(self.features[1:], activation=self.activation)(
                self.activation(h), deterministic=deterministic)
        return h
