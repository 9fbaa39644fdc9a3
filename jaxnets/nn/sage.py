"""GraphSAGE layer with the mean aggregator, Hamilton et al. (2017)."""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from jaxnets.graph import propagate
from jaxnets.nn._inputs import graph_inputs
from jaxnets.nn.linear import Initializer, Linear, add_bias

__all__ = ["SAGEConv"]


class SAGEConv(nn.Module):
    """GraphSAGE with the mean aggregator, Hamilton et al. (2017), Algorithm 1 lines 4-5.

    `h_i' = W [h_i || mean_{j in N(i)} h_j] = W_root h_i + W_neigh mean_j h_j (+ b)`. The
    neighbours are projected by `W_neigh` *before* the mean (equal by linearity; PERFORMANCE.md
    item 3). `normalize=True` adds line 7, `h_i' / ||h_i'||_2`. A node without in-neighbours
    gets `W_root h_i + b`.

    Attributes:
        features: output width F'.
        use_bias: bias on the root term.
        root_weight: include the `W_root h_i` term (the concatenation with the node itself).
        normalize: l2-normalise the outputs row-wise.
        kernel_init: initialiser of both weight matrices.
    """
    features: int
    use_bias: bool = True
    root_weight: bool = True
    normalize: bool = False
    kernel_init: Initializer = nn.initializers.glorot_uniform()

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
                 ) -> jax.Array:
        """Maps node features x [N, F] (dense or `BCOO`) to [N, features]."""
        senders, receivers, n = graph_inputs("SAGEConv", graph, x)
        h = Linear(self.features, use_bias=False, kernel_init=self.kernel_init,
                   name="neighbor")(x)
        out = propagate(h, senders, receivers, n, aggregate="mean")
        if self.root_weight:
            out = out + Linear(self.features, use_bias=False, kernel_init=self.kernel_init,
                               name="root")(x)
        if self.use_bias:
            out = add_bias(out, self.param("bias", nn.initializers.zeros_init(),
                                           (self.features,), jnp.float32))
        if self.normalize:
            norm = jnp.linalg.norm(out, axis=-1, keepdims=True)
            out = out / jnp.maximum(norm, 1e-12)
        return out
