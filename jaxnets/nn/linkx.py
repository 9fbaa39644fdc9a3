"""LINKX (Lim et al., "Large Scale Learning on Non-Homophilous Graphs: New Benchmarks and Strong
Simple Methods", NeurIPS 2021), the default backbone of HEI.

    h_A = MLP_A(A),  h_X = MLP_X(X),  y = MLP_f(ReLU(W [h_A || h_X] + h_A + h_X))      (eq. 1)

`MLP_A` reads row i of the adjacency matrix as node i's input, so its first layer is
`A W_A = sum_{j in N(i)} W_A[j]`: a gather + `segment_sum` over the edge list (no dense N x N).
Each MLP is `Linear -> ReLU -> BatchNorm -> dropout` per hidden layer and a linear last layer, as
in the reference code (`MLP_A`, `MLP_X` with dropout 0; `MLP_f` with the model's dropout).

Batch normalisation here always uses the full-batch statistics of the current forward pass (no
running averages). Training is full-batch and transductive, so the batch is the whole node set at
both training and evaluation time; the reference's running averages (momentum 0.1) converge to the
same statistics. This keeps the model stateless.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from jaxnets.graph import propagate
from jaxnets.nn._inputs import graph_inputs
from jaxnets.nn.dropout import Dropout
from jaxnets.nn.linear import Linear, add_bias

__all__ = ["LINKX", "full_batch_norm"]


def full_batch_norm(h_NxH: jax.Array, scale_H: jax.Array, bias_H: jax.Array,
                    eps: float = 1e-5) -> jax.Array:
    """`(h - mean) / sqrt(var + eps) * scale + bias` with the biased variance over the N rows
    (Ioffe & Szegedy 2015, Alg. 1, with the whole node set as the batch)."""
    mean = jnp.mean(h_NxH, axis=0, keepdims=True)
    var = jnp.mean(jnp.square(h_NxH - mean), axis=0, keepdims=True)
    normed = (h_NxH - mean) * jax.lax.rsqrt(var + eps)
    return add_bias(normed * scale_H.reshape(1, -1), bias_H)


class _BatchNorm(nn.Module):
    @nn.compact
    def __call__(self, h_NxH: jax.Array) -> jax.Array:
        width = h_NxH.shape[-1]
        scale = self.param("scale", nn.initializers.ones_init(), (width,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (width,), jnp.float32)
        return full_batch_norm(h_NxH, scale, bias)


class _AdjacencyLinear(nn.Module):
    """`A W + b` for the [N, N] adjacency `A_ij = 1` per edge j -> i, as `segment_sum`."""
    features: int

    @nn.compact
    def __call__(self, senders_E: jax.Array, receivers_E: jax.Array, num_nodes: int) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.glorot_uniform(),
                            (num_nodes, self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        return add_bias(propagate(kernel, senders_E, receivers_E, num_nodes), bias)


class _LinkxMLP(nn.Module):
    """Hidden layers `ReLU -> BatchNorm -> dropout` after the given first layer output."""
    features: tuple[int, ...]
    dropout_rate: float
    batch_norm: bool

    @nn.compact
    def __call__(self, h: jax.Array, *, deterministic: bool) -> jax.Array:
        for width in self.features:
            h = nn.relu(h)
            if self.batch_norm:
                h = _BatchNorm()(h)
            h = Dropout(self.dropout_rate)(h, deterministic=deterministic)
            h = Linear(width)(h)
        return h


class LINKX(nn.Module):
    """LINKX node classifier, eq. 1 of Lim et al. (2021), following the `jaxnets.nn` convention.

    Defaults are the setting HEI runs (`--num_layers 1 --link_init_layers_A 2
    --link_init_layers_X 1 --hidden_channels 128`).

    Attributes:
        hidden: width H of h_A, h_X and the hidden layers.
        num_classes: output width C.
        num_layers: layers of MLP_f (1 = a single linear read-out).
        a_layers: layers of MLP_A (the first reads the adjacency rows).
        x_layers: layers of MLP_X.
        dropout_rate: dropout inside MLP_f (MLP_A and MLP_X have none, as in the reference).
        batch_norm: full-batch normalisation after each hidden ReLU.
    """
    hidden: int = 128
    num_classes: int = 5
    num_layers: int = 1
    a_layers: int = 2
    x_layers: int = 1
    dropout_rate: float = 0.5
    batch_norm: bool = True

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
                 ) -> jax.Array:
        """Logits [N, C] from features x [N, F] (dense or BCOO) and the graph's edge list."""
        if min(self.num_layers, self.a_layers, self.x_layers) < 1:
            raise ValueError(f"LINKX needs >= 1 layer in every MLP, got num_layers="
                             f"{self.num_layers}, a_layers={self.a_layers}, "
                             f"x_layers={self.x_layers}")
        senders, receivers, num_nodes = graph_inputs("LINKX", graph, x)
        hidden = (self.hidden,)
        h_a = _AdjacencyLinear(self.hidden, name="mlp_a_in")(senders, receivers, num_nodes)
        h_a = _LinkxMLP(hidden * (self.a_layers - 1), 0.0, self.batch_norm, name="mlp_a")(
            h_a, deterministic=deterministic)
        h_x = Linear(self.hidden, name="mlp_x_in")(x)
        h_x = _LinkxMLP(hidden * (self.x_layers - 1), 0.0, self.batch_norm, name="mlp_x")(
            h_x, deterministic=deterministic)
        h = Linear(self.hidden, name="w")(jnp.concatenate([h_a, h_x], axis=-1))
        h = nn.relu(h + h_a + h_x)
        if self.num_layers == 1:
            return Linear(self.num_classes, name="mlp_f_in")(h)
        h = Linear(self.hidden, name="mlp_f_in")(h)
        widths = hidden * (self.num_layers - 2) + (self.num_classes,)
        return _LinkxMLP(widths, self.dropout_rate, self.batch_norm, name="mlp_f")(
            h, deterministic=deterministic)
