"""Validation shared by the graph layers: the `(graph, x)` calling convention."""
from __future__ import annotations

from typing import Any

import jax
import jraph

from jaxnets.graph import GraphError, check_graph, is_sparse


def graph_inputs(layer: str, graph: jraph.GraphsTuple, x: Any) -> tuple[jax.Array, jax.Array, int]:
    """Checks `layer(graph, x)` arguments; returns `(senders_E, receivers_E, num_nodes)`.

    Shapes are checked while tracing; indices and `n_node` when concrete or under `checked`.
    """
    if not isinstance(graph, jraph.GraphsTuple):
        raise GraphError(f"{layer} expects a jraph.GraphsTuple as its first argument, got "
                         f"{type(graph).__name__}")
    if len(x.shape) != 2 or (is_sparse(x) and (x.n_batch or x.n_dense)):
        raise GraphError(f"{layer} expects node features x of shape [N, F] (dense or 2-D BCOO), "
                         f"got shape {tuple(x.shape)}")
    num_nodes = int(x.shape[0])
    check_graph(graph._replace(nodes=None, edges=None), num_nodes)
    return graph.senders, graph.receivers, num_nodes
