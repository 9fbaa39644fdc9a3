"""Mini-batch node classification on sampled neighbourhoods (GraphSAGE, Algorithm 2).

Hamilton, Ying & Leskovec, "Inductive Representation Learning on Large Graphs", NeurIPS 2017.
A step draws a batch of training seeds, samples their K-hop neighbourhood with fixed fan-outs
(`jaxnets.graph.sampling.sample_blocks`), gathers the features of the sampled nodes only and
applies the K mean-aggregator layers hop by hop (Alg. 2 lines 9-15, with the mean of Alg. 1
line 4 over the *sampled* neighbours); the loss is on the seeds. Every array in the step has a
shape fixed by the batch size and the fan-outs, so its memory does not grow with the graph,
which stays on the device as arguments (CSR, features, labels).

Evaluation uses the exact neighbour mean over the full graph, computed layer by layer with a
`lax.scan` over fixed-size edge chunks (memory O(N F + chunk F), never O(E F)).

The graph arrays travel as a `NodeData` argument rather than as closed-over constants, so one
compiled step serves any graph of the same sizes and large graphs are not baked into the HLO.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnets.graph.sampling import CSRAdjacency, SampledBlocks, sample_blocks
from jaxnets.train.data import batch_indices, steps_per_epoch
from jaxnets.train.state import TrainState
from jaxnets.train.supervised import masked_accuracy

__all__ = ["NodeData", "SAGEMean", "evaluate", "exact_logits", "exact_neighbor_mean", "make_epoch",
           "make_sampled_step", "sampled_logits"]

PyTree = Any


class NodeData(NamedTuple):
    """A node-classification graph as device arrays.

    Attributes:
      csr: in-neighbour CSR of the graph.
      x_NxF: float node features.
      labels_N: int labels.
      train_nodes_T: int32 ids of the training nodes (the seeds are drawn from these).
    """

    csr: CSRAdjacency
    x_NxF: jax.Array
    labels_N: jax.Array
    train_nodes_T: jax.Array


class SAGEMeanLayer(nn.Module):
    """``h_i' = W_root h_i + W_neigh mean_{j in N(i)} h_j + b`` (GraphSAGE-mean, Alg. 1 l. 4-5)."""
    features: int

    @nn.compact
    def __call__(self, h_self_MxF: jax.Array, h_mean_MxF: jax.Array) -> jax.Array:
        root = nn.Dense(self.features, name="root")(h_self_MxF)
        return root + nn.Dense(self.features, use_bias=False, name="neighbor")(h_mean_MxF)


class SAGEMean(nn.Module):
    """A stack of GraphSAGE-mean layers (ReLU between them) that leaves aggregation to the
    caller, so the same parameters serve sampled blocks and the exact full-graph mean.

    Attributes:
      features: output width of each layer, e.g. (hidden, num_classes) for two layers.
    """
    features: Sequence[int]

    def setup(self) -> None:
        self.layers = [SAGEMeanLayer(f, name=f"layer_{i}") for i, f in enumerate(self.features)]

    def __call__(self, h_self_MxF: jax.Array, h_mean_MxF: jax.Array, layer: int) -> jax.Array:
        """Layer ``layer`` (static int) on M nodes: [M, F_in] x 2 -> [M, features[layer]]."""
        out = self.layers[layer](h_self_MxF, h_mean_MxF)
        return nn.relu(out) if layer < len(self.features) - 1 else out

    def init_all(self, x_MxF: jax.Array) -> jax.Array:
        """Runs every layer once (use as ``model.init(key, x, method=SAGEMean.init_all)``)."""
        h = x_MxF
        for layer in range(len(self.features)):
            h = self(h, h, layer)
        return h


def _masked_mean(h_MfxF: jax.Array, mask_Mf: jax.Array, m: int) -> jax.Array:
    """Mean over the real entries of each group of f consecutive rows; 0 for an empty group."""
    f = h_MfxF.shape[0] // m
    h = h_MfxF.reshape(m, f, -1)
    w = mask_Mf.reshape(m, f, 1).astype(h.dtype)
    return jnp.sum(h * w, axis=1) / jnp.maximum(jnp.sum(w, axis=1), 1.0)


def sampled_logits(model: SAGEMean, params: PyTree, x_NxF: jax.Array,
                   blocks: SampledBlocks) -> jax.Array:
    """Logits [B, C] of the seeds from their sampled K-hop blocks (Alg. 2 lines 9-15).

    Layer l is computed at hops 0 .. K - l - 1 from hop k's representation and the masked mean
    of its sampled children at hop k + 1; only the B (1 + f1 + f1 f2 + ...) sampled rows of
    ``x_NxF`` are read.

    Args:
      model: a `SAGEMean` with K layers.
      params: its variables.
      x_NxF: node features.
      blocks: K + 1 hops from `sample_blocks` with K fan-outs.
    """
    num_layers = len(model.features)
    if len(blocks.nodes) != num_layers + 1:
        raise ValueError(f"the model has {num_layers} layers but the blocks have "
                         f"{len(blocks.nodes) - 1} hops; pass one fan-out per layer")
    h = [jnp.take(x_NxF, ids, axis=0, mode="fill", fill_value=0) for ids in blocks.nodes]
    for layer in range(num_layers):
        h = [model.apply(params, h[k], _masked_mean(h[k + 1], blocks.masks[k + 1], h[k].shape[0]),
                         layer) for k in range(num_layers - layer)]
    return h[0]


def exact_neighbor_mean(csr: CSRAdjacency, h_NxF: jax.Array, edge_chunk: int = 65536
                        ) -> jax.Array:
    """Exact in-neighbour mean [N, F] via a `lax.scan` over edge chunks of static size.

    Peak memory is the [N, F] accumulator plus one [edge_chunk, F] gather, whatever E is.
    Nodes without in-neighbours get 0 (as `propagate(..., aggregate="mean")`).
    """
    n, e = csr.num_nodes, csr.num_edges
    chunks = max(-(-e // edge_chunk), 1)
    degree = csr.degree()
    rows = jnp.repeat(jnp.arange(n, dtype=jnp.int32), degree, total_repeat_length=e)
    pad = chunks * edge_chunk - e
    rows = jnp.concatenate([rows, jnp.full((pad,), n, jnp.int32)]).reshape(chunks, edge_chunk)
    cols = jnp.concatenate([csr.indices_E, jnp.zeros((pad,), jnp.int32)]).reshape(
        chunks, edge_chunk)

    def add_chunk(total, chunk):
        r, c = chunk
        return total + jax.ops.segment_sum(h_NxF[c], r, num_segments=n), None  # r = n dropped

    total, _ = jax.lax.scan(add_chunk, jnp.zeros(h_NxF.shape, h_NxF.dtype), (rows, cols))
    return total / jnp.maximum(degree, 1).astype(h_NxF.dtype)[:, None]


def exact_logits(model: SAGEMean, params: PyTree, csr: CSRAdjacency, x_NxF: jax.Array,
                 edge_chunk: int = 65536) -> jax.Array:
    """Full-graph logits [N, C] with the exact neighbour mean at every layer (inference)."""
    h = x_NxF
    for layer in range(len(model.features)):
        h = model.apply(params, h, exact_neighbor_mean(csr, h, edge_chunk), layer)
    return h


def make_sampled_step(model: SAGEMean, tx: optax.GradientTransformation, fanouts: Sequence[int],
                      batch_size: int, num_train: int
                      ) -> Callable[[TrainState, NodeData], tuple[TrainState, dict]]:
    """Builds the pure step ``(state, data) -> (state, {"loss"})`` (jit it; `fit`-compatible
    once ``data`` is bound with `functools.partial`).

    The batch of step t is `batch_indices` over the training nodes with a data key derived from
    ``state.rng`` (a fresh permutation each epoch, remainder dropped); the sampling key is
    ``state.step_key()``. Loss: mean softmax cross-entropy over the B seeds.

    Args:
      model: a `SAGEMean` with one layer per fan-out.
      tx: optax transform.
      fanouts: static fan-outs (f1, ..., fK).
      batch_size: B seeds per step, 1 <= B <= num_train.
      num_train: T, the length of ``data.train_nodes_T`` (static).
    """
    fanouts = tuple(fanouts)
    if len(fanouts) != len(model.features):
        raise ValueError(f"{len(fanouts)} fan-outs for a model of {len(model.features)} layers")
    if not 0 < batch_size <= num_train:
        raise ValueError(f"batch_size must be in [1, num_train={num_train}], got {batch_size}")

    def step(state: TrainState, data: NodeData) -> tuple[TrainState, dict]:
        if data.train_nodes_T.shape[0] != num_train:
            raise ValueError(f"data has {data.train_nodes_T.shape[0]} training nodes, the step "
                             f"was built for num_train={num_train}")
        data_key = jax.random.split(state.rng)[1]
        seeds = data.train_nodes_T[batch_indices(data_key, state.step, num_train, batch_size)]
        blocks = sample_blocks(state.step_key(), data.csr, seeds, fanouts)
        labels = data.labels_N[seeds]

        def loss_fn(params):
            logits = sampled_logits(model, params, data.x_NxF, blocks)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(tx, grads), {"loss": loss}

    return step


def make_epoch(step: Callable[[TrainState, NodeData], tuple[TrainState, dict]], num_train: int,
               batch_size: int) -> Callable[[TrainState, NodeData], tuple[TrainState, dict]]:
    """One epoch, ``num_train // batch_size`` steps under `lax.scan`; returns the mean loss."""
    num_steps = steps_per_epoch(num_train, batch_size)

    def epoch(state: TrainState, data: NodeData) -> tuple[TrainState, dict]:
        state, metrics = jax.lax.scan(lambda s, _: step(s, data), state, None, length=num_steps)
        return state, {"loss": jnp.mean(metrics["loss"])}

    return epoch


def evaluate(model: SAGEMean, params: PyTree, data: NodeData, masks: dict[str, jax.Array],
             edge_chunk: int = 65536) -> dict[str, jax.Array]:
    """``{"<name>/accuracy"}`` for each bool [N] mask, from the exact full-graph logits."""
    logits = exact_logits(model, params, data.csr, data.x_NxF, edge_chunk)
    return {f"{name}/accuracy": masked_accuracy(logits, data.labels_N, mask)
            for name, mask in masks.items()}
