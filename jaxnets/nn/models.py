"""The baseline node classifiers: GCN (Kipf & Welling 2017) and GAT (Velickovic et al. 2018)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jraph

from jaxnets.nn.dropout import Dropout
from jaxnets.nn.gat import GATConv
from jaxnets.nn.gcn import GCNConv

__all__ = ["GCN", "GAT"]


class GCN(nn.Module):
    """Stacked `GCNConv`: `Z = A^ ReLU(A^ X W0) W1` for the defaults, Kipf & Welling (2017), eq. 9.

    Defaults are the paper's Cora setup (sec. 5.2): one hidden layer of 16 units, ReLU, dropout
    0.5 on the input of every layer (input features and hidden units), Glorot init. Pass a graph
    prepared once with `jaxnets.graph.gcn_preprocess` so the normalisation is not recomputed.
    The paper's L2 penalty (5e-4, first layer only) belongs to the loss, not the model.

    Attributes:
        hidden_features: widths of the hidden layers, (16,) in the paper.
        num_classes: output width (7 for Cora).
        dropout_rate: dropout before every layer; applied as a multiple of 1/256 (0.5 exact).
        activation: nonlinearity after each hidden layer.
    """
    hidden_features: Sequence[int] = (16,)
    num_classes: int = 7
    dropout_rate: float = 0.5
    activation: Callable[[jax.Array], jax.Array] = nn.relu

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
                 ) -> jax.Array:
        """Logits [N, num_classes] from node features x [N, F] (dense or `BCOO`)."""
        for width in self.hidden_features:
            x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
            x = self.activation(GCNConv(width)(graph, x))
        x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
        return GCNConv(self.num_classes)(graph, x)


class GAT(nn.Module):
    """Stacked `GATConv`, Velickovic et al. (2018), sec. 3.3 (transductive setup).

    Defaults are the paper's Cora model: 8 heads x 8 features, concatenated, ELU; an output layer
    of `num_classes` features with 1 head (averaged when `out_heads` > 1, as for Pubmed's 8);
    dropout 0.6 on each layer's input and on the attention coefficients. 0.6 is applied as
    0.6015625 (a multiple of 1/256, see `jaxnets.nn.dropout`). The L2 penalty (5e-4) belongs to
    the loss.

    Attributes:
        hidden_features: per-head width of each hidden layer, (8,) in the paper.
        heads: heads of each hidden layer (same length as `hidden_features`), (8,).
        num_classes: output width (7 for Cora).
        out_heads: heads of the output layer, averaged (eq. 6).
        dropout_rate: dropout on every layer's input.
        attention_dropout: dropout on the normalised attention coefficients.
        activation: nonlinearity after each hidden layer.
    """
    hidden_features: Sequence[int] = (8,)
    heads: Sequence[int] = (8,)
    num_classes: int = 7
    out_heads: int = 1
    dropout_rate: float = 0.6
    attention_dropout: float = 0.6
    activation: Callable[[jax.Array], jax.Array] = nn.elu

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
                 ) -> jax.Array:
        """Logits [N, num_classes] from node features x [N, F] (dense or `BCOO`)."""
        if len(self.heads) != len(self.hidden_features):
            raise ValueError(f"heads {tuple(self.heads)} needs one entry per hidden layer "
                             f"{tuple(self.hidden_features)}")
        for width, k in zip(self.hidden_features, self.heads):
            x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
            x = GATConv(width, heads=k, attention_dropout=self.attention_dropout)(
                graph, x, deterministic=deterministic)
            x = self.activation(x)
        x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
        return GATConv(self.num_classes, heads=self.out_heads, concat=False,
                       attention_dropout=self.attention_dropout)(
                           graph, x, deterministic=deterministic)
