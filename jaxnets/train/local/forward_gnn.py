"""Forward learning of GNNs (ForwardGNN; Park et al., "Forward Learning of Graph Neural
Networks", ICLR 2024): every GNN layer learns from its own forward-only loss.

Each layer is `relu(conv(graph, sg(h) / (||h||_2 + 1e-8)))` (row L2 normalisation, then a GCN
convolution) with its own optimizer; nothing is back-propagated across layers. The losses run
through `jaxnets.train.local.local_step` (the reference trains the layers one after the other:
`schedule="sequential"`).

* SF (single forward, the paper's method, no negatives): the graph gets C *virtual nodes*, one per
  class, with N(0, 1) features, and every training node is linked (both directions) to its class's
  virtual node (`add_virtual_nodes`). Layer l's loss is the cross-entropy of
  `logits = H_l[train] H_l[virtual]^T / T` against the training labels (`sf_loss`). Inference sums
  `softmax(H_l[v] H_l[virtual]^T)` over the layers (`sf_probabilities`).
* Top-down SF: layer l's loss reads the mean of its own output and the *detached* outputs of the
  layers above it, so upper-layer signals reach layer l without backprop (`topdown_sf_losses`).
* FF+LA (forward-forward with label appending): input `[x || onehot(y)]` on training nodes and
  `[x || 1/C]` elsewhere; negatives are the same graph with a wrong label on every training node.
  Goodness `g = sum_d h_d^2 - theta`; loss `BCE(g_pos, 1) + mean_k BCE(g_neg_k, 0)` on the training
  nodes. The positive graph and K negative graphs are 1 + K copies of the node features stacked
  on rows and propagated over the one graph side by side (`GCNConv(copies=...)`: one
  [N, (1 + K) H] pass, not a disjoint union with (1 + K) E edges); the first layer computes
  x W_x once for all copies (`LabelAppendedGNNLayer`).
  Inference: for each class c, append onehot(c) to the non-training nodes, sum the
  per-layer mean goodness, take the argmax (`ff_la_scores`).
* Link prediction: per layer `logit(u, v) = sum_d z_u,d z_v,d`, BCE against edge labels
  (`link_loss`); the score is the mean over layers of `sigmoid(logit)` (`link_scores`).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
from jax.experimental import sparse as jsparse

from jaxnets.graph import RowStack, gcn_preprocess, is_sparse, row_indices, with_data
from jaxnets.graph.csr import CSREdges
from jaxnets.nn import GCNConv
from jaxnets.nn.gcn import gcn_propagate
from jaxnets.nn.linear import add_bias
from jaxnets.train.local.stack import LocalLayer, LocalStack
from jaxnets.train.local.batches import data_key
from jaxnets.train.state import TrainState
from jaxnets.train.supervised import masked_cross_entropy

PyTree = Any


def l2_normalize_rows(h_NxF: Any, eps: float = 1e-8) -> Any:
    """`h / (||h||_2 + eps)` row-wise (the reference's "LayerNormalization").

    `h` may be dense, a sparse `BCOO` / `CSRMatrix` (its stored values are scaled: the result
    stays sparse) or a `RowStack` of the two (each block normalised; SF's first-layer input).
    """
    if isinstance(h_NxF, RowStack):
        return RowStack(l2_normalize_rows(h_NxF.top, eps), l2_normalize_rows(h_NxF.bottom, eps))
    if is_sparse(h_NxF):
        rows = row_indices(h_NxF)
        squares = jax.ops.segment_sum(jnp.square(h_NxF.data), rows, num_segments=h_NxF.shape[0])
        return with_data(h_NxF, h_NxF.data / (jnp.sqrt(squares)[rows] + eps))
    return h_NxF / (jnp.linalg.norm(h_NxF, axis=-1, keepdims=True) + eps)


class ForwardGNNLayer(nn.Module):
    """One ForwardGNN layer without its activation: `GCNConv(l2_normalize_rows(h))`.

    Attributes:
      features: output width.
      num_nodes: the graph's N when h may stack several copies of the nodes on rows (FF+LA's
        positive and negative copies, [copies · N, F]); the copies are propagated side by side
        (`GCNConv(copies=...)`). None: h has one row per node.
    """

    features: int
    num_nodes: int | None = None

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, h_NxF: Any) -> jax.Array:
        """[rows, features] from h [rows, F]: dense, sparse or a `RowStack` (see
        `l2_normalize_rows`)."""
        copies = 1
        if self.num_nodes is not None:
            if h_NxF.shape[0] % self.num_nodes:
                raise ValueError(f"h has {h_NxF.shape[0]} rows, not a multiple of the "
                                 f"{self.num_nodes} nodes")
            copies = h_NxF.shape[0] // self.num_nodes
        return GCNConv(self.features, copies=copies)(graph, l2_normalize_rows(h_NxF))


def _check_nodes(labels_N: Any, train_mask_N: Any, num_classes: int) -> tuple[np.ndarray, ...]:
    labels = np.asarray(labels_N)
    mask = np.asarray(train_mask_N, bool)
    if labels.ndim != 1 or mask.shape != labels.shape:
        raise ValueError(f"labels_N and train_mask_N must both be [N], got {labels.shape} and "
                         f"{mask.shape}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if mask.any() and (labels[mask].min() < 0 or labels[mask].max() >= num_classes):
        raise ValueError(f"training labels must lie in [0, {num_classes}), got "
                         f"[{labels[mask].min()}, {labels[mask].max()}]")
    return labels, mask


def add_virtual_nodes(senders_E: Any, receivers_E: Any, num_nodes: int, labels_N: Any,
                      train_mask_N: Any, num_classes: int) -> jraph.GraphsTuple:
    """The SF graph: N real nodes, then C virtual nodes (node N + c is class c's), every training
    node linked both ways to its class's virtual node; GCN-normalised with self-loops
    (`gcn_preprocess`). Host-side, once before training."""
    labels, mask = _check_nodes(labels_N, train_mask_N, num_classes)
    if labels.shape[0] != num_nodes:
        raise ValueError(f"labels_N has {labels.shape[0]} entries for num_nodes={num_nodes}")
    train = np.nonzero(mask)[0].astype(np.int32)
    virtual = (num_nodes + labels[train]).astype(np.int32)
    senders = np.concatenate([np.asarray(senders_E, np.int32), train, virtual])
    receivers = np.concatenate([np.asarray(receivers_E, np.int32), virtual, train])
    n = num_nodes + num_classes
    graph = jraph.GraphsTuple(nodes=None, edges=None, globals=None,
                              senders=jnp.asarray(senders), receivers=jnp.asarray(receivers),
                              n_node=jnp.asarray([n]), n_edge=jnp.asarray([senders.shape[0]]))
    return gcn_preprocess(graph, num_nodes=n)


def virtual_node_features(key: jax.Array, num_classes: int, num_features: int) -> jax.Array:
    """[C, F] N(0, 1) features of the class virtual nodes."""
    return jax.random.normal(key, (num_classes, num_features))


def sf_logits(h_MxH: jax.Array, num_nodes: int, temperature: float = 1.0) -> jax.Array:
    """`H[:N] H[N:]^T / T`: [N, C] similarity of every real node to every class virtual node."""
    return h_MxH[:num_nodes] @ h_MxH[num_nodes:].T / temperature


def sf_loss(num_nodes: int, temperature: float = 1.0) -> Callable[[jax.Array, dict], jax.Array]:
    """Layer loss of SF: cross-entropy of `sf_logits` on the nodes in `batch["mask"]` against
    `batch["labels"]`."""

    def loss(h_MxH: jax.Array, batch: dict) -> jax.Array:
        return masked_cross_entropy(sf_logits(h_MxH, num_nodes, temperature), batch["labels"],
                                    batch["mask"])

    return loss


def forward_gnn_stack(hidden: Sequence[int], loss: Callable[[jax.Array, dict], jax.Array],
                      num_nodes: int | None = None) -> LocalStack:
    """`len(hidden)` ForwardGNN layers (ReLU after each), every one with the same local loss;
    `num_nodes` lets the layers take stacked copies of the nodes (see `ForwardGNNLayer`)."""
    hidden = tuple(int(h) for h in hidden)
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden}")
    return LocalStack(tuple(LocalLayer(module=ForwardGNNLayer(w, num_nodes), activation=nn.relu,
                                       loss=loss) for w in hidden))


def sf_stack(hidden: Sequence[int], num_nodes: int, temperature: float = 1.0) -> LocalStack:
    """The SF network over the virtual-node graph (batch: "x" [N + C, F], "context" (graph,),
    "labels" [N], "mask" [N] = training nodes)."""
    return forward_gnn_stack(hidden, sf_loss(num_nodes, temperature))


def sf_probabilities(stack: LocalStack, params: tuple, model_state: tuple, batch: dict,
                     num_nodes: int, *, topdown: bool = False) -> jax.Array:
    """[N, C] sum over layers of `softmax(sf_logits)` (argmax = the prediction); with `topdown`
    each layer's representation is the top-down mean used in training."""
    ys, _ = stack.apply(params, model_state, batch)
    reps = _topdown_means(ys) if topdown else ys
    return sum(jax.nn.softmax(sf_logits(h, num_nodes), axis=-1) for h in reps)


def _topdown_means(ys: Sequence[jax.Array]) -> list[jax.Array]:
    """`mean(y_l, sg(y_{l+1}), ..., sg(y_L))` for every layer l."""
    out = []
    for l, y in enumerate(ys):
        above = [jax.lax.stop_gradient(u) for u in ys[l + 1:]]
        out.append(sum([y] + above) / (1 + len(above)))
    return out


def topdown_sf_losses(stack: LocalStack, num_nodes: int, temperature: float = 1.0
                      ) -> Callable[[tuple, PyTree, dict, jax.Array], jax.Array]:
    """`losses_fn` of top-down SF: layer l's SF loss on the mean of its fresh output and the
    detached outputs of the layers above (all layers need the same width)."""
    widths = {layer.module.features for layer in stack.layers}
    if len(widths) != 1:
        raise ValueError(f"top-down SF averages layer outputs, so all widths must match; got "
                         f"{sorted(widths)}")
    loss = sf_loss(num_nodes, temperature)

    def losses_fn(params, model_state, batch, key):
        ys, _ = stack.apply(params, model_state, batch, train=True, key=key)
        return jnp.stack([loss(h, batch) for h in _topdown_means(ys)])

    return losses_fn


# --- FF with label appending -------------------------------------------------------------------

def append_labels(x_NxF: jax.Array, labels_N: jax.Array, labelled_N: jax.Array,
                  num_classes: int) -> jax.Array:
    """`[x || onehot(label)]` on labelled nodes, `[x || 1/C]` on the others: [N, F + C]."""
    one_hot = jax.nn.one_hot(labels_N, num_classes, dtype=x_NxF.dtype)
    uniform = jnp.full_like(one_hot, 1.0 / num_classes)
    return jnp.concatenate([x_NxF, jnp.where(labelled_N[:, None], one_hot, uniform)], axis=-1)


def wrong_label_sets(key: jax.Array, labels_N: jax.Array, num_classes: int,
                     num_negatives: int) -> jax.Array:
    """[K, N] labels, each different from the true one and distinct across the K rows:
    `(y + 1 + (r + k) mod (C - 1)) mod C` with a random r per node; K = C - 1 gives every wrong
    label once."""
    if not 1 <= num_negatives <= num_classes - 1:
        raise ValueError(f"num_negatives must be in [1, {num_classes - 1}], got {num_negatives}")
    r = jax.random.randint(key, labels_N.shape, 0, num_classes - 1)
    k = jnp.arange(num_negatives)[:, None]
    return (labels_N[None, :] + 1 + (r[None, :] + k) % (num_classes - 1)) % num_classes


def ff_la_graph(graph: jraph.GraphsTuple, num_nodes: int, copies: int) -> jraph.GraphsTuple:
    """`copies` disjoint copies of a (preprocessed) graph, copy k holding nodes kN..(k+1)N - 1."""
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    offsets = (jnp.arange(copies, dtype=jnp.int32) * num_nodes)[:, None]
    tile = lambda a: jnp.tile(a, copies)  # noqa: E731
    return graph._replace(
        senders=(graph.senders[None, :] + offsets).reshape(-1),
        receivers=(graph.receivers[None, :] + offsets).reshape(-1),
        edges=None if graph.edges is None else tile(graph.edges),
        n_node=tile(graph.n_node), n_edge=tile(graph.n_edge))


class LabelAppendedGNNLayer(nn.Module):
    """`ForwardGNNLayer` applied to `[x || label_part]` without materialising the concatenation.

    FF+LA's first-layer input is the same features x [N, F] (sparse bag-of-words on Cora) in every
    copy of the graph, followed by each copy's C label entries. With `W = [W_x; W_l]`,
    `[x_i || l_i] W / ||[x_i || l_i]|| = (x_i W_x + l_i W_l) / sqrt(||x_i||^2 + ||l_i||^2)`, so
    x W_x is computed once (a sparse product when x is a `BCOO`) and shared by the copies; then the GCN
    propagation of every copy over the one graph (`gcn_propagate`, side by side) and the bias,
    exactly as `GCNConv` on each copy.

    Input `h`: a dict with "features" x [N, F] (dense or BCOO), "features_sq" ||x_i||^2 [N] and
    "label_part" [copies * N, C]. Output [copies * N, features].
    """

    features: int
    eps: float = 1e-8

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, h: dict) -> jax.Array:
        x, x_sq, labels = h["features"], h["features_sq"], h["label_part"]
        n, f = x.shape
        m, c = labels.shape
        if m % n:
            raise ValueError(f"label_part has {m} rows, not a multiple of the {n} nodes")
        if graph.edges is None or (not isinstance(graph.edges, CSREdges)
                                   and jnp.ndim(graph.edges) != 1):
            raise ValueError("LabelAppendedGNNLayer needs precomputed GCN weights in graph.edges "
                             "(gcn_preprocess)")
        kernel = self.param("kernel", nn.initializers.glorot_uniform(), (f + c, self.features))
        xw = jnp.tile(x @ kernel[:f], (m // n, 1))
        norm = jnp.sqrt(jnp.tile(x_sq, m // n) + jnp.sum(jnp.square(labels), axis=-1))
        z = (xw + labels @ kernel[f:]) / (norm + self.eps)[:, None]
        out = gcn_propagate(z, graph, graph.edges, m // n)
        return add_bias(out, self.param("bias", nn.initializers.zeros_init(), (self.features,)))


def label_part(labels_N: jax.Array, labelled_N: jax.Array, num_classes: int) -> jax.Array:
    """The appended C entries: onehot(label) on labelled nodes, 1/C elsewhere: [N, C]."""
    one_hot = jax.nn.one_hot(labels_N, num_classes)
    return jnp.where(labelled_N[:, None], one_hot, jnp.full_like(one_hot, 1.0 / num_classes))


def ff_la_input(x_NxF: Any, label_part_MxC: jax.Array) -> dict:
    """The first-layer input of `ff_la_stack` (see `LabelAppendedGNNLayer`)."""
    if isinstance(x_NxF, jsparse.BCOO):
        if not x_NxF.unique_indices:
            x_NxF = x_NxF.sum_duplicates()
        x_sq = jax.ops.segment_sum(jnp.square(x_NxF.data), x_NxF.indices[:, 0],
                                   num_segments=x_NxF.shape[0])
    else:
        x_sq = jnp.sum(jnp.square(x_NxF), axis=-1)
    return {"features": x_NxF, "features_sq": x_sq, "label_part": label_part_MxC}


def ff_la_stack(hidden: Sequence[int], num_nodes: int, theta: float = 2.0) -> LocalStack:
    """The FF+LA network: a `LabelAppendedGNNLayer`, then `ForwardGNNLayer`s, ReLU after each,
    every layer trained by `ff_la_loss`."""
    hidden = tuple(int(h) for h in hidden)
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden}")
    loss = ff_la_loss(num_nodes, theta)
    first = LocalLayer(module=LabelAppendedGNNLayer(hidden[0]), activation=nn.relu, loss=loss)
    return LocalStack((first,) + forward_gnn_stack(hidden[1:], loss, num_nodes).layers
                      if len(hidden) > 1 else (first,))


def ff_la_batches(x_NxF: Any, graph: jraph.GraphsTuple, labels_N: jax.Array,
                  train_mask_N: jax.Array, num_classes: int, num_negatives: int
                  ) -> Callable[[TrainState], dict]:
    """`state -> batch` for `ff_la_stack`: the input holds x once and the label entries of the
    positive graph then K negative graphs ((1 + K) N rows, fresh wrong labels on the training
    nodes each step); "context" is the graph (the copies share it); also "negative_labels" [K, N],
    "mask" [N]."""
    labels, mask = _check_nodes(labels_N, train_mask_N, num_classes)
    n = labels.shape[0]
    labels = jnp.asarray(np.where(labels < 0, 0, labels), jnp.int32)
    mask = jnp.asarray(mask)
    positive = label_part(labels, mask, num_classes)
    base = ff_la_input(x_NxF, positive)

    def batch_fn(state: TrainState) -> dict:
        neg = wrong_label_sets(jax.random.fold_in(data_key(state), state.step), labels,
                               num_classes, num_negatives)
        negatives = jax.vmap(lambda y: label_part(y, mask, num_classes))(neg)
        parts = jnp.concatenate([positive[None], negatives], axis=0).reshape(-1, num_classes)
        return {"x": dict(base, label_part=parts), "context": (graph,), "negative_labels": neg,
                "mask": mask}

    return batch_fn


def ff_la_loss(num_nodes: int, theta: float = 2.0) -> Callable[[jax.Array, dict], jax.Array]:
    """`BCE(g_pos - theta, 1) + mean_k BCE(g_neg_k - theta, 0)` on the training nodes, where
    `g = sum_d h_d^2` and the rows are the positive copy then the K negative copies."""

    def loss(h_MxH: jax.Array, batch: dict) -> jax.Array:
        g = jnp.sum(jnp.square(h_MxH), axis=-1).reshape(-1, num_nodes) - theta   # [1 + K, N]
        mask = batch["mask"].astype(g.dtype)
        count = jnp.maximum(jnp.sum(mask), 1.0)
        pos = jnp.sum(jax.nn.softplus(-g[0]) * mask) / count
        neg = jnp.sum(jnp.mean(jax.nn.softplus(g[1:]), axis=0) * mask) / count
        return pos + neg

    return loss


def ff_la_scores(stack: LocalStack, params: tuple, model_state: tuple, x_NxF: Any,
                 graph: jraph.GraphsTuple, labels_N: jax.Array, train_mask_N: jax.Array,
                 num_classes: int) -> jax.Array:
    """[N, C] summed per-layer mean goodness of `ff_la_stack` with class c appended to the
    non-training nodes (training nodes keep their true label); `argmax` is the prediction."""
    labels = jnp.where(labels_N < 0, 0, labels_N).astype(jnp.int32)
    mask = jnp.asarray(train_mask_N, bool)
    base = ff_la_input(x_NxF, label_part(labels, mask, num_classes))

    def score(c):
        part = label_part(jnp.where(mask, labels, c), jnp.ones_like(mask), num_classes)
        ys, _ = stack.apply(params, model_state, {"x": dict(base, label_part=part),
                                                  "context": (graph,)})
        return sum(jnp.mean(jnp.square(h), axis=-1) for h in ys)

    return jax.vmap(score, out_axes=1)(jnp.arange(num_classes))


# --- link prediction ---------------------------------------------------------------------------

def link_logits(z_NxH: jax.Array, pairs_Px2: jax.Array) -> jax.Array:
    """`sum_d z_u,d z_v,d` for each pair (u, v): [P]."""
    return jnp.sum(z_NxH[pairs_Px2[:, 0]] * z_NxH[pairs_Px2[:, 1]], axis=-1)


def link_loss(z_NxH: jax.Array, batch: dict) -> jax.Array:
    """Layer loss of forward-learning link prediction: BCE of `link_logits` on `batch["pairs"]`
    against `batch["pair_labels"]` (1 = edge, 0 = non-edge)."""
    logits = link_logits(z_NxH, batch["pairs"])
    y = batch["pair_labels"].astype(logits.dtype)
    return jnp.mean(jax.nn.softplus(logits) - y * logits)


def link_stack(hidden: Sequence[int]) -> LocalStack:
    """ForwardGNN layers each trained by `link_loss`."""
    return forward_gnn_stack(hidden, link_loss)


def link_scores(stack: LocalStack, params: tuple, model_state: tuple, batch: dict,
                pairs_Px2: jax.Array) -> jax.Array:
    """[P] mean over layers of `sigmoid(link_logits)`."""
    ys, _ = stack.apply(params, model_state, batch)
    return sum(jax.nn.sigmoid(link_logits(z, pairs_Px2)) for z in ys) / len(ys)
