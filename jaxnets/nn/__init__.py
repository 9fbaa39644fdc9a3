"""Flax linen layers, thin, over the pure ops of `jaxnets.graph`.

Graph layers share one calling convention: `layer(graph, x, *, deterministic=True)` where
`graph` is a `jraph.GraphsTuple` carrying senders/receivers/n_node (and for `GCNConv`,
optionally, precomputed normalised weights in `graph.edges`, shape [E]) and `x` is the [N, F]
node feature array, dense or `BCOO`; the result is [N, F'] node features.
"""
from jaxnets.graph.normalize import gcn_preprocess  # the graph op GCNConv reads; re-exported
from jaxnets.nn.char_lm import CharLM, GatedFFN, bits_per_char, next_token_nll
from jaxnets.nn.elastic import (
    ElasticDense, ElasticGCN, ElasticGCNConv, ElasticMLP, WidthDepthArch, full_arch,
    masked_layer_norm, prefix_mask)
from jaxnets.nn.elastic_transformer import (
    ElasticTransformer, ElasticTransformerBlock, TransformerArch, lighthubert_ffn_mask)
from jaxnets.nn.dropout import Dropout, dropout, effective_dropout_rate, keep_mask
from jaxnets.nn.gat import GATConv
from jaxnets.nn.gcn import GCNConv
from jaxnets.nn.gin import GINConv
from jaxnets.nn.linear import MLP, Linear
from jaxnets.nn.lora import (
    attention_and_dense_kernels, count_params, init_lora, merge_lora, path_target)
from jaxnets.nn.models import GAT, GCN
from jaxnets.nn.sage import SAGEConv
from jaxnets.nn.tangnn import TANGNN, TANGNNConv, top_m_attention, top_m_blockwise

__all__ = [
    "TANGNN", "TANGNNConv", "top_m_attention", "top_m_blockwise",
    "CharLM", "GatedFFN", "bits_per_char", "next_token_nll",
    "ElasticDense", "ElasticGCN", "ElasticGCNConv", "ElasticMLP", "ElasticTransformer",
    "ElasticTransformerBlock", "TransformerArch", "WidthDepthArch", "full_arch",
    "lighthubert_ffn_mask", "masked_layer_norm", "prefix_mask",
    "Dropout", "GAT", "GATConv", "GCN", "GCNConv", "GINConv", "Linear", "MLP", "SAGEConv",
    "dropout", "effective_dropout_rate", "gcn_preprocess", "keep_mask",
    "attention_and_dense_kernels", "count_params", "init_lora", "merge_lora", "path_target",
]
