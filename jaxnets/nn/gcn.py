"""Graph convolution of Kipf & Welling (2017), over precomputed or on-the-fly weights."""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np

from jaxnets.graph import GraphError, gcn_norm, propagate
from jaxnets.graph.csr import CSREdges, csr_propagate
from jaxnets.graph.validate import check_rows
from jaxnets.nn._inputs import graph_inputs
from jaxnets.nn.linear import Initializer, Linear, add_bias

__all__ = ["GCNConv"]


class GCNConv(nn.Module):
    """`H' = D~^-1/2 (A + I) D~^-1/2 H W + b`, Kipf & Welling (2017), eq. 2.

    X is projected before propagating (PERFORMANCE.md item 3), so a sparse 1433-wide input is
    propagated at width `features`. The normalised weights are read from `graph.edges` (shape
    [E], as written by `jaxnets.graph.gcn_preprocess`, self-loops included) when present; when
    `graph.edges` is None they are computed here with `gcn_norm` on every call. With
    `gcn_preprocess(..., csr=True)`, `graph.edges` is a `CSREdges` and the propagation runs
    through XLA's CPU CSR kernel (`jaxnets.graph.csr`), same result, 2-5x faster on CPU.

    Attributes:
        features: output width F'.
        use_bias: add a bias after propagation.
        add_self_loops: when computing the weights here, add `I` (ignored for precomputed ones).
        kernel_init: initialiser of W.
    """
    features: int
    use_bias: bool = True
    add_self_loops: bool = True
    kernel_init: Initializer = nn.initializers.glorot_uniform()

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
                 ) -> jax.Array:
        """Maps node features x [N, F] (dense or `BCOO`) to [N, features].

        Args:
            graph: senders/receivers/n_node, and optionally precomputed weights in `edges`.
            x: node features [N, F].
            deterministic: unused (no dropout inside the layer); kept for the shared convention.
        """
        senders, receivers, n = graph_inputs("GCNConv", graph, x)
        if isinstance(graph.edges, CSREdges):
            h = Linear(self.features, use_bias=False, kernel_init=self.kernel_init)(x)
            out = csr_propagate(h, graph.edges.propagation, graph.edges.weight_E)
            return self._bias(out)
        if graph.edges is None:
            senders, receivers, weight = gcn_norm(senders, receivers, n,
                                                  add_self_loops=self.add_self_loops)
        else:
            weight = graph.edges
            if np.ndim(weight) != 1:
                raise GraphError("GCNConv reads graph.edges as precomputed normalised weights of "
                                 f"shape [E], got shape {np.shape(weight)}; use gcn_preprocess "
                                 "or set edges=None")
            check_rows("graph.edges", weight, np.shape(senders)[0])
        h = Linear(self.features, use_bias=False, kernel_init=self.kernel_init)(x)
        return self._bias(propagate(h, senders, receivers, n, weight))

    def _bias(self, out: jax.Array) -> jax.Array:
        if not self.use_bias:
            return out
        return add_bias(out, self.param("bias", nn.initializers.zeros_init(), (self.features,),
                                        jnp.float32))
