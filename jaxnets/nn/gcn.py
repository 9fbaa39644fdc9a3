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

__all__ = ["GCNConv", "gcn_propagate"]


def gcn_propagate(h_MxF: jax.Array, graph: jraph.GraphsTuple, weight: Any, copies: int = 1
                  ) -> jax.Array:
    """``Â h`` for ``copies`` feature sets of one graph stacked on rows ([copies · N, F]).

    The copies are laid side by side as one [N, copies · F] matrix and propagated in one pass
    (gather + ``segment_sum`` over the E edges, or XLA's CSR kernel when ``weight`` is a
    ``CSREdges``), instead of over a disjoint union of ``copies`` graphs with ``copies · E`` edges:
    the same sums, read in wide contiguous rows.

    Args:
      h_MxF: [copies * N, F] dense features, copy k in rows kN..(k+1)N - 1.
      graph: the graph of N nodes (senders / receivers).
      weight: [E] edge weights or a ``CSREdges``.
      copies: static number of stacked copies.

    Returns:
      [copies * N, F].
    """
    m, f = h_MxF.shape
    if copies < 1 or m % copies:
        raise GraphError(f"{m} feature rows do not split into {copies} copies of the graph")
    n = m // copies
    wide = h_MxF if copies == 1 else h_MxF.reshape(copies, n, f).transpose(1, 0, 2).reshape(
        n, copies * f)
    if isinstance(weight, CSREdges):
        out = csr_propagate(wide, weight.propagation, weight.weight_E)
    else:
        out = propagate(wide, graph.senders, graph.receivers, n, weight)
    if copies == 1:
        return out
    return out.reshape(n, copies, f).transpose(1, 0, 2).reshape(m, f)


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
        copies: x stacks this many feature sets of the same graph ([copies · N, F], copy k in
            rows kN..(k+1)N - 1: FF's positive and negative label copies, augmented views), each
            propagated over the graph (``gcn_propagate``: one [N, copies · F'] pass).
    """
    features: int
    use_bias: bool = True
    add_self_loops: bool = True
    kernel_init: Initializer = nn.initializers.glorot_uniform()
    copies: int = 1

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
                 ) -> jax.Array:
        """Maps node features x [N, F] (dense or `BCOO`) to [N, features].

        Args:
            graph: senders/receivers/n_node, and optionally precomputed weights in `edges`.
            x: node features [N, F].
            deterministic: unused (no dropout inside the layer); kept for the shared convention.
        """
        if self.copies < 1 or x.shape[0] % self.copies:
            raise GraphError(f"GCNConv(copies={self.copies}) got {x.shape[0]} feature rows, not "
                             f"a multiple of the copies")
        nodes = x if self.copies == 1 else jax.ShapeDtypeStruct(
            (x.shape[0] // self.copies, x.shape[1]), jnp.float32)
        senders, receivers, n = graph_inputs("GCNConv", graph, nodes)
        if isinstance(graph.edges, CSREdges):
            weight = graph.edges
        elif graph.edges is None:
            senders, receivers, weight = gcn_norm(senders, receivers, n,
                                                  add_self_loops=self.add_self_loops)
            graph = graph._replace(senders=senders, receivers=receivers)
        else:
            weight = graph.edges
            if np.ndim(weight) != 1:
                raise GraphError("GCNConv reads graph.edges as precomputed normalised weights of "
                                 f"shape [E], got shape {np.shape(weight)}; use gcn_preprocess "
                                 "or set edges=None")
            check_rows("graph.edges", weight, np.shape(senders)[0])
        h = Linear(self.features, use_bias=False, kernel_init=self.kernel_init)(x)
        return self._bias(gcn_propagate(h, graph, weight, self.copies))

    def _bias(self, out: jax.Array) -> jax.Array:
        if not self.use_bias:
            return out
        return add_bias(out, self.param("bias", nn.initializers.zeros_init(), (self.features,),
                                        jnp.float32))
