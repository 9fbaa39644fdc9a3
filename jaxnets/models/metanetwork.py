"""Graph metanetworks over MLPs (Liu, Wang & Zhang 2025, "Meta Pruning via Graph Metanetworks to
Prune Neural Networks", arXiv 2506.12041; official code Yewei-Liu/MetaPruning).

Network -> graph (as `utils/convert.py` of the official code): one node per neuron, one edge per weight.
For an MLP with widths `sizes = (D_0, ..., D_L)` the nodes are the D_0 inputs, then each layer's
outputs; the edge of `W_l[i, j]` runs from neuron i of layer l to neuron j of layer l + 1 and its
feature is the weight. A node's feature is `[bias, one-hot(layer)]` (inputs have bias 0; the
one-hot plays the role of the paper's per-channel non-weight features, which an MLP lacks, and
is the same for all neurons of a layer, so hidden-neuron permutations stay symmetries). Edges are
ordered layer by layer, row-major within each kernel, so `graph_to_params` is reshapes and slices
and inverts `params_to_graph` exactly.

Metanetwork (`GraphMetanetwork`, the paper's `MyGNN`): node / edge encoders to `hidden`, then
`num_layers` PNA-style convolutions, each run twice per layer, on the edges and on the reversed
edges with the second half of the edge channels sign-flipped; a conv's message is
`z_i * x_j * e_ij` aggregated by {mean, std, max, min} and mixed by a linear map, and its edge
update is `(W_3 x_src) * (W_4 x_dst) * e`. Outputs are residual: `bias' = bias + r Dec(h)`,
`w' = w + r Dec(e)` with r = 0.01, so an untrained metanetwork is nearly the identity. Every
operation is per node or per edge, or a symmetric aggregation over edges, so the metanetwork is
equivariant to permutations of the hidden neurons (a test checks this).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.graph import GraphsTuple, propagate
from jaxnets.prune.structured import dense_layers

__all__ = ["GraphMetanetwork", "MLPGraphSpec", "graph_spec", "graph_to_params",
           "params_to_graph", "transform_params"]

PyTree = Any


@dataclasses.dataclass(frozen=True)
class MLPGraphSpec:
    """Static layout of the graph of an MLP with widths `sizes` (inputs first).

    Attributes:
      sizes: (D_0, ..., D_L).
      node_offsets: first node of each of the L + 1 neuron layers, then N.
      edge_offsets: first edge of each of the L kernels, then E.
      senders_E, receivers_E: int32 [E], input neuron -> output neuron of each weight.
      layer_N: int32 [N], the neuron layer of each node.
    """

    sizes: tuple[int, ...]
    node_offsets: tuple[int, ...]
    edge_offsets: tuple[int, ...]
    senders_E: np.ndarray
    receivers_E: np.ndarray
    layer_N: np.ndarray

    @property
    def num_nodes(self) -> int:
        return self.node_offsets[-1]

    @property
    def num_edges(self) -> int:
        return self.edge_offsets[-1]

    @property
    def node_dim(self) -> int:
        """Node feature width: the bias and a one-hot of the L + 1 neuron layers."""
        return 1 + len(self.sizes)


@functools.lru_cache(maxsize=32)
def graph_spec(sizes: tuple[int, ...]) -> MLPGraphSpec:
    """The static graph layout of an MLP with widths `sizes`, e.g. (64, 64, 64, 10)."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must hold >= 2 positive widths, got {sizes}")
    node_offsets = tuple(int(x) for x in np.concatenate([[0], np.cumsum(sizes)]))
    per_kernel = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    edge_offsets = tuple(int(x) for x in np.concatenate([[0], np.cumsum(per_kernel)]))
    senders, receivers = [], []
    for l, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        rows, cols = np.meshgrid(np.arange(d_in), np.arange(d_out), indexing="ij")
        senders.append(node_offsets[l] + rows.reshape(-1))
        receivers.append(node_offsets[l + 1] + cols.reshape(-1))
    layer = np.repeat(np.arange(len(sizes)), sizes)
    return MLPGraphSpec(sizes, node_offsets, edge_offsets,
                        np.concatenate(senders).astype(np.int32),
                        np.concatenate(receivers).astype(np.int32), layer.astype(np.int32))


def params_to_graph(variables: PyTree) -> GraphsTuple:
    """The graph of an MLP (`jaxnets.nn.MLP` variables): nodes [N, 1 + L + 1] = [bias, layer
    one-hot], edges [E, 1] = weights, senders / receivers [E]; one graph (n_node = [N])."""
    layers = dense_layers(variables)
    sizes = (layers[0][0].shape[0],) + tuple(k.shape[1] for k, _ in layers)
    spec = graph_spec(sizes)
    bias_N = jnp.concatenate([jnp.zeros((sizes[0],), layers[0][1].dtype)]
                             + [b for _, b in layers])
    onehot_NxL = jnp.asarray(np.eye(len(sizes), dtype=np.float32)[spec.layer_N])
    nodes = jnp.concatenate([bias_N[:, None], onehot_NxL.astype(bias_N.dtype)], axis=1)
    edges = jnp.concatenate([k.reshape(-1) for k, _ in layers])[:, None]
    return GraphsTuple(nodes=nodes, edges=edges, senders=spec.senders_E,
                       receivers=spec.receivers_E, n_node=np.array([spec.num_nodes]),
                       n_edge=np.array([spec.num_edges]), globals=None)


def graph_to_params(graph: GraphsTuple, sizes: Sequence[int]) -> PyTree:
    """Inverse of `params_to_graph`: MLP variables from column 0 of the nodes (biases; input
    nodes ignored) and the edge weights. Exact: only slices and reshapes."""
    spec = graph_spec(tuple(sizes))
    nodes, edges = graph.nodes, graph.edges
    if nodes.shape != (spec.num_nodes, spec.node_dim) or edges.shape != (spec.num_edges, 1):
        raise ValueError(f"graph has nodes {nodes.shape} and edges {edges.shape}; MLP {spec.sizes}"
                         f" needs ({spec.num_nodes}, {spec.node_dim}) and ({spec.num_edges}, 1)")
    params = {}
    for l, (d_in, d_out) in enumerate(zip(spec.sizes[:-1], spec.sizes[1:])):
        e0, e1 = spec.edge_offsets[l], spec.edge_offsets[l + 1]
        n0 = spec.node_offsets[l + 1]
        params[f"Linear_{l}"] = {"kernel": edges[e0:e1, 0].reshape(d_in, d_out),
                                 "bias": nodes[n0:n0 + d_out, 0]}
    return {"params": params}


def _aggregate(x_NxH: jax.Array, w_ExH: jax.Array, senders_E: np.ndarray,
               receivers_E: np.ndarray, num_nodes: int) -> jax.Array:
    """PNA aggregators {mean, std, max, min} of messages `x_j * w_e` at receivers -> [N, 4H].

    std = sqrt(max(E[m^2] - E[m]^2, 1e-5)) as PyG's `StdAggregation`; nodes without incoming
    edges get 0 for mean / max / min (PyG fills empty segments with 0). The four statistics take
    two scatters: one sum of [m, m^2] and one max of [m, -m]."""
    hidden = x_NxH.shape[1]
    agg = functools.partial(propagate, senders_E=senders_E, receivers_E=receivers_E,
                            num_nodes=num_nodes)
    if isinstance(receivers_E, np.ndarray):   # static layout: the in-degrees are constants
        count_N = np.bincount(receivers_E, minlength=num_nodes).astype(np.float32)
    else:
        count_N = jax.ops.segment_sum(jnp.ones(receivers_E.shape, jnp.float32), receivers_E,
                                      num_segments=num_nodes)
    count_Nx1 = jnp.maximum(count_N, 1.0)[:, None]
    sums = agg(jnp.concatenate([x_NxH, jnp.square(x_NxH)], axis=1),
               edge_weight_E=jnp.concatenate([w_ExH, jnp.square(w_ExH)], axis=1))
    mean, sq_mean = sums[:, :hidden] / count_Nx1, sums[:, hidden:] / count_Nx1
    std = jnp.sqrt(jnp.maximum(sq_mean - jnp.square(mean), 1e-5))
    tops = agg(jnp.concatenate([x_NxH, -x_NxH], axis=1),
               edge_weight_E=jnp.concatenate([w_ExH, w_ExH], axis=1), aggregate="max")
    return jnp.concatenate([mean, std, tops[:, :hidden], -tops[:, hidden:]], axis=1)


class _PNAConv(nn.Module):
    """One direction of a metanetwork layer (the paper's `PNAConv`)."""
    hidden: int

    def setup(self):
        self.lin = [nn.Dense(self.hidden, name=f"lin{i}") for i in range(1, 5)]
        self.down = nn.Dense(self.hidden, name="down")

    def __call__(self, h_NxH, e_ExH, senders_E, receivers_E):
        x, z, a, b = (nn.silu(lin(h_NxH)) for lin in self.lin)
        # message z_i * x_j * e_ij: receiver i, sender j.
        node = self.down(_aggregate(x, z[receivers_E] * e_ExH, senders_E, receivers_E,
                                    h_NxH.shape[0]))
        edge = a[senders_E] * b[receivers_E] * e_ExH
        return node, edge


def _decoder(h: jax.Array, hidden: int, out: int, name: str) -> jax.Array:
    h = nn.LayerNorm(use_scale=False, use_bias=False, name=f"{name}_norm")(h)
    h = nn.silu(nn.Dense(hidden, name=f"{name}_0")(h))
    return nn.Dense(out, name=f"{name}_1")(h)


class GraphMetanetwork(nn.Module):
    """The metanetwork M of Meta Pruning (`MyGNN` in the official `nn/GNN.py`).

    Attributes:
      hidden: width of node and edge states (paper: 64 for ResNet-56).
      num_layers: message-passing layers (paper: 8).
      residual: output scale r of `x' = x + r Dec(h)` (paper: 0.01).
    """
    hidden: int = 32
    num_layers: int = 3
    residual: float = 0.01

    @nn.compact
    def __call__(self, graph: GraphsTuple) -> GraphsTuple:
        """Maps the graph of a network to the graph of the transformed network (same layout).

        Args:
          graph: nodes [N, F] with the bias in column 0, edges [E, 1] weights, senders and
            receivers [E]; the other node columns are passed through unchanged.
        """
        nodes_NxF, edges_Ex1 = graph.nodes, graph.edges
        senders_E, receivers_E = graph.senders, graph.receivers
        if nodes_NxF.ndim != 2 or edges_Ex1.ndim != 2 or edges_Ex1.shape[0] != len(senders_E):
            raise ValueError(f"expected nodes [N, F] and edges [E, D] with E = {len(senders_E)}, "
                             f"got {nodes_NxF.shape} and {edges_Ex1.shape}")
        h = nn.Dense(self.hidden, name="node_enc")(nodes_NxF)
        e = nn.Dense(self.hidden, name="edge_enc")(edges_Ex1)
        invert_1xH = jnp.concatenate([jnp.ones((self.hidden // 2,)),
                                      -jnp.ones(((self.hidden + 1) // 2,))])[None, :]
        norm = nn.LayerNorm(use_scale=False, use_bias=False, name="norm")
        for layer in range(self.num_layers):
            conv = _PNAConv(self.hidden, name=f"conv{layer}")
            n_fwd, e_fwd = conv(norm(h), e, senders_E, receivers_E)
            n_bwd, e_bwd = conv(norm(h), invert_1xH * e, receivers_E, senders_E)
            h = h + n_fwd + n_bwd
            e = e + e_fwd + invert_1xH * e_bwd
        edges = edges_Ex1 + self.residual * _decoder(e, self.hidden, edges_Ex1.shape[1], "edge_dec")
        bias = nodes_NxF[:, :1] + self.residual * _decoder(h, self.hidden, 1, "node_dec")
        return graph._replace(nodes=jnp.concatenate([bias, nodes_NxF[:, 1:]], axis=1),
                              edges=edges)


def transform_params(metanet: GraphMetanetwork, meta_params: PyTree,
                     variables: PyTree) -> PyTree:
    """theta' = M(theta): the MLP variables transformed by the metanetwork (graph in, graph out)."""
    layers = dense_layers(variables)
    sizes = (layers[0][0].shape[0],) + tuple(k.shape[1] for k, _ in layers)
    return graph_to_params(metanet.apply(meta_params, params_to_graph(variables)), sizes)
