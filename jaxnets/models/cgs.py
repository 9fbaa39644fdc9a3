"""Convergent Graph Solvers (CGS): Park, Choo & Park, ICLR 2022.

CGS predicts the stationary properties of a graph system in three steps (paper Sec. 3, Fig. 1;
notes `shared/research/papers-solvers-fed-net.md` Sec. 1 "Algorithm"):

1. a parameter-generating encoder f_theta (an attention MPNN, `AttnMPNN`) maps the input graph
   to M per-head linear systems: node values b in R^{N x M} and edge values l in R^{E x M};
2. each head's transition map T_m(z) = gamma A_m z + b_m is made contracting by clipping the
   edge values to [0, 1] and normalising by a degree (`jaxnets.solvers.contractive_edge_weights`),
   so its fixed point H*_m exists and is unique (Banach) and is found by iteration; gradients
   flow by the implicit function theorem (`jaxnets.solvers.fixed_point`), so the backward's
   memory does not depend on the number of iterations;
3. a decoder g_theta maps the stacked fixed points H* in R^{N x M} to per-node outputs, or
   after a sum readout to per-graph outputs.

Orientation (a deliberate choice). The released code normalises by the *source's* out-degree
and updates the source from its out-neighbours (`prepare_degree_A_b`, A[src, dst]): information
flows against the edge direction. We default to ``orientation="receiver"``: each receiver is
updated from its senders and weights are divided by the receiver's in-degree, so the linear
system has the dependency structure of message passing and of graph value iteration, where
V(i) backs up over the incoming edges j -> i. Both give ||gamma A_m||_inf <= gamma;
``orientation="sender"`` reproduces the released code's direction (edges reversed).

Nothing here forms an N x N matrix: the operator is a gather and a `segment_sum` over edges.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Literal, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from jaxnets.graph import segment_softmax
from jaxnets.nn import MLP
from jaxnets.solvers import (
    FixedPointInfo,
    contractive_edge_weights,
    fixed_point,
    fixed_point_unrolled,
    linear_edge_map,
)

__all__ = ["AttnMPNN", "AttnMPNNLayer", "CGS", "CGSConfig", "CGSLayer", "MPNN", "cgs_fixed_point",
           "graph_readout"]

Solver = Literal["ift", "unrolled"]
Orientation = Literal["receiver", "sender"]


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def cgs_fixed_point(
    raw_ExH: jax.Array, b_NxH: jax.Array, senders_E: jax.Array, receivers_E: jax.Array, *,
    gamma: float, solver: Solver = "ift", tol: float = 1e-6, max_iter: int = 50,
    orientation: Orientation = "receiver", edge_mask_E: jax.Array | None = None,
    on_nonconvergence: str = "ignore",
) -> tuple[jax.Array, FixedPointInfo]:
    """Fixed points H*_m = gamma A_m H*_m + b_m of CGS's contracting linear maps, all heads at once.

    Paper Sec. 3 (construction of the contracting map, fixed-point computation, IFT gradient).
    A_m holds w_{e,m} = clip(raw_{e,m}, 0, 1) / deg, the degree being the in-degree of the updated
    node (module docstring, "Orientation"). The forward iterates from z = 0 until
    ||z_{k+1} - z_k||_2 < tol over all heads and nodes together (as the released code) or
    `max_iter` updates.

    Args:
      raw_ExH: float (E, H), the encoder's edge outputs l.
      b_NxH: float (N, H), the encoder's node outputs b.
      senders_E, receivers_E: int (E,) edges.
      gamma: contraction factor in [0, 1) (0.5 in every CGS config).
      solver: "ift" (`fixed_point`, implicit gradients, memory independent of iterations) or
        "unrolled" (`fixed_point_unrolled`: exactly `max_iter` applications, backprop through all).
      tol, max_iter: the stopping rule (CGS: 1e-6, 50); the adjoint solve uses the same.
      orientation: "receiver" (default) or "sender" (the released code's direction).
      edge_mask_E: optional bool (E,), False for padding edges (weight 0, not counted in degrees).
      on_nonconvergence: "ignore" | "warn" | "raise" (see `jaxnets.solvers.fixed_point`); the
        default leaves it to the caller, who reads the returned info (no host callback per step).

    Returns:
      (z_NxH, info).
    """
    _check_choice("solver", solver, ("ift", "unrolled"))
    _check_choice("orientation", orientation, ("receiver", "sender"))
    if jnp.ndim(b_NxH) != 2 or jnp.ndim(raw_ExH) != 2 or b_NxH.shape[1] != raw_ExH.shape[1]:
        raise ValueError(f"b_NxH (N, H) and raw_ExH (E, H) must share H, got {jnp.shape(b_NxH)} "
                         f"and {jnp.shape(raw_ExH)}")
    if orientation == "sender":
        senders_E, receivers_E = receivers_E, senders_E
    num_nodes = b_NxH.shape[0]
    w_ExH = contractive_edge_weights(raw_ExH, receivers_E, num_nodes, gamma=gamma,
                                     edge_mask_E=edge_mask_E)
    params = (w_ExH, b_NxH, senders_E, receivers_E)
    z0_NxH = jnp.zeros_like(b_NxH)
    if solver == "ift":
        return fixed_point(linear_edge_map, params, z0_NxH, tol=tol, max_iter=max_iter,
                           on_nonconvergence=on_nonconvergence)
    return fixed_point_unrolled(linear_edge_map, params, z0_NxH, max_iter, tol=tol)


def graph_readout(h_NxF: jax.Array, graph: jraph.GraphsTuple, how: str = "sum") -> jax.Array:
    """Per-graph "sum" or "mean" of node rows, (G, F) with G = len(graph.n_node) (jit-safe)."""
    _check_choice("readout", how, ("sum", "mean"))
    n_node = jnp.asarray(graph.n_node)
    ids_N = jnp.repeat(jnp.arange(n_node.shape[0]), n_node, total_repeat_length=h_NxF.shape[0])
    total = jax.ops.segment_sum(h_NxF, ids_N, num_segments=n_node.shape[0])
    if how == "mean":
        total = total / jnp.maximum(n_node, 1)[:, None].astype(total.dtype)
    return total


def _edge_features(graph: jraph.GraphsTuple) -> jax.Array:
    edges = graph.edges
    if edges is None or not hasattr(edges, "ndim") or edges.ndim != 2 or edges.shape[0] != (
        jnp.shape(graph.senders)[0]
    ):
        raise ValueError("graph.edges must be a float (E, D) array of edge features, got "
                         f"{type(edges).__name__} {getattr(edges, 'shape', '')}")
    return edges


class AttnMPNNLayer(nn.Module):
    """One layer of CGS's parameter-generating encoder (released code `MPNNLayer`).

    e'_e = MLP_e([e, h_src, h_dst]);  alpha_e = softmax over the incoming edges of dst of
    MLP_a([e, h_src, h_dst]);  h'_i = MLP_n([aggr_{e -> i} alpha_e e'_e, h_i]). Every MLP ends
    with the activation (the released code's `out_act`).

    Attributes:
      node_features, edge_features: output widths.
      mlp_hidden: hidden widths of the three MLPs ((128,) for GVI in the paper's config).
      aggregation: "sum" (GVI) or "mean" (TU benchmarks).
      activation: LeakyReLU (GVI) or SiLU (TU benchmarks).
    """
    node_features: int
    edge_features: int
    mlp_hidden: Sequence[int] = (128,)
    aggregation: str = "sum"
    activation: Callable[[jax.Array], jax.Array] = nn.leaky_relu

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, h_NxF: jax.Array, e_ExD: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
        """(h'_NxF', e'_ExD') from node features h_NxF and edge features e_ExD."""
        _check_choice("aggregation", self.aggregation, ("sum", "mean"))
        senders, receivers, num_nodes = graph.senders, graph.receivers, h_NxF.shape[0]
        inputs_ExK = jnp.concatenate([e_ExD, h_NxF[senders], h_NxF[receivers]], axis=-1)

        def mlp(width: int) -> MLP:
            return MLP((*self.mlp_hidden, width), activation=self.activation, activate_final=True)

        e_new = mlp(self.edge_features)(inputs_ExK)
        alpha_E = segment_softmax(mlp(1)(inputs_ExK)[:, 0], receivers, num_nodes)
        agg_NxD = jax.ops.segment_sum(alpha_E[:, None] * e_new, receivers, num_segments=num_nodes)
        if self.aggregation == "mean":
            count_N = jax.ops.segment_sum(jnp.ones_like(alpha_E), receivers, num_segments=num_nodes)
            agg_NxD = agg_NxD / jnp.maximum(count_N, 1.0)[:, None]
        h_new = mlp(self.node_features)(jnp.concatenate([agg_NxD, h_NxF], axis=-1))
        return h_new, e_new


class AttnMPNN(nn.Module):
    """`num_layers` `AttnMPNNLayer`s; hidden widths `hidden`, the last layer's node and edge
    outputs `out_features` wide (released code `AttnMPNN`, num_hidden_gn = num_layers - 1)."""
    hidden: int
    out_features: int
    num_layers: int = 2
    mlp_hidden: Sequence[int] = (128,)
    aggregation: str = "sum"
    activation: Callable[[jax.Array], jax.Array] = nn.leaky_relu

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, h_NxF: jax.Array, e_ExD: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        for i in range(self.num_layers):
            width = self.out_features if i == self.num_layers - 1 else self.hidden
            h_NxF, e_ExD = AttnMPNNLayer(width, width, self.mlp_hidden, self.aggregation,
                                         self.activation)(graph, h_NxF, e_ExD)
        return h_NxF, e_ExD


@dataclasses.dataclass(frozen=True)
class CGSConfig:
    """Settings of a CGS block (paper Sec. 3; defaults: the GVI mini-reproduction, notes Sec. 1).

    Attributes:
      heads: M, independent linear systems (64 in the paper's GVI config).
      hidden: encoder width.
      encoder_layers: encoder MPNN layers (num_hidden_gn + 1 in the released code).
      mlp_hidden: hidden widths of the encoder's MLPs.
      gamma: contraction factor, in [0, 1).
      solver: "ift" or "unrolled" (see `cgs_fixed_point`).
      tol, max_iter: fixed-point stopping rule.
      aggregation: encoder aggregation, "sum" or "mean".
      orientation: "receiver" or "sender" (module docstring).
      activation: encoder (and decoder) nonlinearity.
    """
    heads: int = 16
    hidden: int = 32
    encoder_layers: int = 2
    mlp_hidden: tuple[int, ...] = (64,)
    gamma: float = 0.5
    solver: Solver = "ift"
    tol: float = 1e-6
    max_iter: int = 50
    aggregation: str = "sum"
    orientation: Orientation = "receiver"
    activation: Callable[[jax.Array], jax.Array] = nn.leaky_relu

    def __post_init__(self):
        if self.heads < 1 or self.hidden < 1:
            raise ValueError(f"CGSConfig.heads and .hidden must be >= 1, got {self.heads}, "
                             f"{self.hidden}")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"CGSConfig.gamma must be in [0, 1), got {self.gamma!r}")
        _check_choice("CGSConfig.solver", self.solver, ("ift", "unrolled"))
        _check_choice("CGSConfig.orientation", self.orientation, ("receiver", "sender"))


class CGSLayer(nn.Module):
    """The CGS block: graph -> per-head fixed points H* (N, heads); composable in any model.

    Call as ``layer(graph, x_NxF)`` with edge features (E, D) in ``graph.edges``. The solve's
    info is sown as ``intermediates/fixed_point_{iterations,residual,converged}``.
    """
    config: CGSConfig = CGSConfig()

    def setup(self):
        c = self.config
        self.encoder = AttnMPNN(c.hidden, c.heads, c.encoder_layers, c.mlp_hidden, c.aggregation,
                                c.activation)

    def encode(self, graph: jraph.GraphsTuple, x_NxF: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The encoder's (raw_ExH, b_NxH): edge values l and node values b of each head."""
        b_NxH, raw_ExH = self.encoder(graph, x_NxF, _edge_features(graph))
        return raw_ExH, b_NxH

    def __call__(self, graph: jraph.GraphsTuple, x_NxF: jax.Array, *, deterministic: bool = True
                 ) -> jax.Array:
        """H*, float (N, heads). (`deterministic` is accepted for the layer convention.)"""
        c = self.config
        raw_ExH, b_NxH = self.encode(graph, x_NxF)
        if self.is_initializing():
            # The solve has no parameters: skip it so that `init` compiles only the encoder.
            return b_NxH
        z_NxH, info = cgs_fixed_point(raw_ExH, b_NxH, graph.senders, graph.receivers,
                                      gamma=c.gamma, solver=c.solver, tol=c.tol,
                                      max_iter=c.max_iter, orientation=c.orientation)
        self.sow("intermediates", "fixed_point_iterations", info.iterations)
        self.sow("intermediates", "fixed_point_residual", info.residual)
        self.sow("intermediates", "fixed_point_converged", info.converged)
        return z_NxH


class CGS(nn.Module):
    """CGS for node tasks (``readout=None``) or graph tasks (``readout="sum"``), paper Sec. 3.

    Attributes:
      config: the block's `CGSConfig`.
      out_features: output width (1 for GVI's values).
      decoder_hidden: hidden widths of the decoder MLP ((64, 32) in every paper config).
      readout: None (per node), "sum" (the released `GraphTaskCGS`) or "mean".
    """
    config: CGSConfig = CGSConfig()
    out_features: int = 1
    decoder_hidden: Sequence[int] = (64, 32)
    readout: str | None = None

    def setup(self):
        self.block = CGSLayer(self.config)
        self.decoder = MLP((*self.decoder_hidden, self.out_features),
                           activation=self.config.activation)

    def encode(self, graph: jraph.GraphsTuple, x_NxF: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(raw_ExH, b_NxH), see `CGSLayer.encode`."""
        return self.block.encode(graph, x_NxF)

    def decode(self, z_NxH: jax.Array, graph: jraph.GraphsTuple) -> jax.Array:
        """Outputs from fixed points: (N, out) per node or (G, out) after the readout."""
        if self.readout is not None:
            z_NxH = graph_readout(z_NxH, graph, self.readout)
        return self.decoder(z_NxH)

    def __call__(self, graph: jraph.GraphsTuple, x_NxF: jax.Array, *, deterministic: bool = True
                 ) -> jax.Array:
        return self.decode(self.block(graph, x_NxF, deterministic=deterministic), graph)


class MPNN(nn.Module):
    """The plain (non-fixed-point) baseline: the same attention MPNN, decoded directly.

    Attributes: as `CGS`, with `num_layers` MPNN layers and the last layer `out_width` wide (the
    heads' width in the CGS comparison).
    """
    hidden: int = 32
    out_width: int = 16
    num_layers: int = 3
    mlp_hidden: Sequence[int] = (64,)
    aggregation: str = "sum"
    activation: Callable[[jax.Array], jax.Array] = nn.leaky_relu
    out_features: int = 1
    decoder_hidden: Sequence[int] = (64, 32)
    readout: str | None = None

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x_NxF: jax.Array, *, deterministic: bool = True
                 ) -> jax.Array:
        h_NxF, _ = AttnMPNN(self.hidden, self.out_width, self.num_layers, self.mlp_hidden,
                            self.aggregation, self.activation)(graph, x_NxF, _edge_features(graph))
        if self.readout is not None:
            h_NxF = graph_readout(h_NxF, graph, self.readout)
        return MLP((*self.decoder_hidden, self.out_features), activation=self.activation)(h_NxF)
