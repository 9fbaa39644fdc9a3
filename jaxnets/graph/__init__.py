"""Pure graph ops on `jraph.GraphsTuple` and edge lists; jraph is used through this package.

Conventions: edges are directed `senders_E[e] -> receivers_E[e]`, messages are aggregated at the
receiver, shapes are in names (`x_NxF`, `senders_E`, `logits_ExH`). Every op checks shapes while
tracing and node indices whenever they are concrete; see `validate` for checks under `jit`
(`checked`). `GraphsTuple`, `batch` and `unbatch` are jraph's, re-exported; `zero_out_padding`
and `get_fully_connected_graph` are working replacements for jraph's, which call removed JAX
functions.
"""
from jraph import GraphsTuple, batch, unbatch

from jaxnets.graph.neighbors import (
    PaddedAdjacency, PairNeighborhoods, common_neighbor_count, common_neighbor_sum, gather_sum,
    padded_adjacency, pair_neighborhoods, ragged_expand, row_member, walk_counts)
from jaxnets.graph.csr import (
    CSREdges, CSRMatrix, CSRPropagation, csr_propagate, csr_propagation, to_csr)
from jaxnets.graph.normalize import gcn_norm, gcn_preprocess, random_walk_norm, symmetric_norm
from jaxnets.graph.padding import (
    PaddingBudget, edge_mask, graph_mask, node_mask, pad_graph, padding_budget, unpad_graph,
    zero_out_padding)
from jaxnets.graph.propagate import propagate, segment_softmax
from jaxnets.graph.sampling import (
    CSRAdjacency, SampledBlocks, csr_adjacency, sample_blocks, sample_neighbors)
from jaxnets.graph.random_projection import fastrp, fastrp_merge, fastrp_powers, sparse_rp_kernel
from jaxnets.graph.sparse import (BCOO, RowStack, is_sparse, row_indices, spmm, to_bcoo,
                                  with_data)
from jaxnets.graph.structure import (
    add_self_loops, degree, get_fully_connected_graph, in_degree, is_self_loop, out_degree,
    remove_self_loops)
from jaxnets.graph.validate import GraphError, check_graph, checked, graph_checks_enabled

__all__ = [
    "BCOO", "CSRAdjacency", "CSREdges", "CSRMatrix", "CSRPropagation", "csr_propagate",
    "csr_propagation", "to_csr", "GraphError", "SampledBlocks", "csr_adjacency", "sample_blocks",
    "sample_neighbors", "GraphsTuple", "PaddedAdjacency", "PaddingBudget", "PairNeighborhoods",
    "common_neighbor_count", "common_neighbor_sum", "ragged_expand", "row_member", "fastrp", "fastrp_merge", "fastrp_powers", "gather_sum", "padded_adjacency", "pair_neighborhoods", "walk_counts", "add_self_loops", "batch",
    "check_graph", "checked", "degree", "edge_mask", "gcn_norm", "gcn_preprocess",
    "get_fully_connected_graph", "graph_checks_enabled", "graph_mask", "in_degree", "is_self_loop",
    "is_sparse", "RowStack", "row_indices", "node_mask", "out_degree", "pad_graph", "padding_budget", "propagate",
    "random_walk_norm", "remove_self_loops", "segment_softmax", "sparse_rp_kernel", "spmm", "symmetric_norm",
    "to_bcoo", "unbatch", "unpad_graph", "with_data", "zero_out_padding",
]
