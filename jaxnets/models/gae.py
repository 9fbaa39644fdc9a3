"""Graph auto-encoder link predictor: a GCN encoder with a dot-product or MLP pair decoder.

Kipf & Welling, "Variational Graph Auto-Encoders" (NIPS BDL workshop 2016): a GCN encodes nodes,
``Z = GCN(X, Â)``, and a link (u, v) is scored ``σ(z_u · z_v)`` (their eq. 2, non-variational
GAE). The Topological Concentration paper (Wang et al., ICLR 2024; official ``Topo_LP_GNN``)
keeps the GCN encoder and scores pairs with an MLP on the Hadamard product, ``MLP(z_u ⊙ z_v)``
(its "M-LP" predictor). Both are one module, ``GAE``, with ``decoder="dot"`` or ``"mlp"``.

API (stable; NetInfoF and TC build on it):

* ``GAE(hidden_features, out_features, num_layers=2, decoder="mlp", decoder_hidden=(H,),
  dropout_rate=0.)`` — ``encode(graph, x)`` -> [N, F], ``decode(h_NxF, pairs_Bx2)`` -> [B]
  logits, ``decode_products(prod_BxF)`` -> [B] logits of ``z_u ⊙ z_v`` rows,
  ``__call__(graph, x, pairs_Bx2)`` = encode + decode.
* ``encoder_graph(senders, receivers, num_nodes, edge_weight_E=None)`` -> ``GraphsTuple`` whose
  ``edges`` hold the GCN weights ``D~^-1/2 (A + I) D~^-1/2`` (jit-safe; optional per-edge weights,
  e.g. TC-guided re-weighting, enter A before normalising).
* ``LinkData`` / ``link_data(split)``: the arrays of a ``jaxnets.data.links.LinkSplit``.
* ``LinkTrainConfig``: epochs, batch size, learning rate, gradient clip, eval interval, K.
* ``make_link_trainer(model, x, num_nodes, config, graph_update=None)`` -> a pure
  ``train(key, data) -> LinkTrainResult`` (jit it; vmap it over seeds: every split of one graph
  with the same fractions has the same shapes).
* ``train_link_predictor(model, x, split, key, config=LinkTrainConfig(), ...)``: the jitted
  convenience call.

Training (the ``Topo_LP_GNN`` ``train``/``eval`` loop in pure JAX): each epoch permutes the
positive training pairs (``permutation(fold_in(key, epoch))``) and cuts ``P // B`` full batches
(the remainder is dropped, as the reference ``PermIterator`` does); each step re-encodes the whole
graph (full-batch encoder), draws B uniform node pairs as negatives with ``fold_in(key, step)``,
and minimises ``-mean log σ(s_pos) - mean log σ(-s_neg)`` with Adam after global-norm clipping.
Negatives are uniform pairs, not filtered against the edges (the collision rate is ~2E/N^2, 0.1 %
on Cora). Every ``eval_every`` epochs validation and test Hits@K (OGB definition) are computed;
the parameters with the best validation Hits@K are kept. Epochs run in ``lax.scan`` (chunks of
``eval_every`` epochs inside an outer scan over evaluations), so one call trains a whole run.

``jaxnets.train.link_train`` is the other link-prediction loop in the library, for NCN/NCNC's
protocol: it hides each mini-batch's own edges from the model (target-link removal), pads the
last batch instead of dropping it, draws negatives once per epoch and evaluates on the host
between compiled chunks. The two loops follow their reference codes' protocols, so results stay
comparable with each paper; they share the loss (``link_train.link_bce_loss``) and the metrics.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from jaxnets.graph import gcn_norm
from jaxnets.metrics.link import hits_at_k
from jaxnets.nn.dropout import Dropout
from jaxnets.nn.gcn import GCNConv
from jaxnets.nn.linear import MLP
from jaxnets.train.link_train import link_bce_loss

__all__ = ["GAE", "LinkData", "LinkTrainConfig", "LinkTrainResult", "encoder_graph",
           "link_data", "make_link_trainer", "train_link_predictor"]

DECODERS = ("dot", "mlp")


def _check_pairs(name: str, pairs: Any) -> None:
    shape = np.shape(pairs)
    if len(shape) != 2 or shape[1] != 2:
        raise ValueError(f"{name} must be an [B, 2] array of node pairs, got shape {shape}")


def encoder_graph(senders_E: Any, receivers_E: Any, num_nodes: int,
                  edge_weight_E: Any = None) -> jraph.GraphsTuple:
    """The message-passing graph of the GCN encoder, with GCN weights in ``edges``.

    Kipf & Welling (2017), eq. 2: ``D~^-1/2 (A + I) D~^-1/2`` with ``A_ij = w_e`` for the edge
    j -> i (1 when ``edge_weight_E`` is None). Jit-safe (static shapes E + N).

    Args:
      senders_E: [E] int (both directions of each undirected training edge).
      receivers_E: [E] int.
      num_nodes: N.
      edge_weight_E: optional [E] float entries of A.

    Returns:
      ``GraphsTuple`` with senders/receivers of length E + N (self-loops appended) and ``edges``
      the normalised weights.
    """
    s, r, w = gcn_norm(senders_E, receivers_E, num_nodes, edge_weight_E)
    return jraph.GraphsTuple(nodes=None, edges=w, senders=s, receivers=r,
                             n_node=jnp.asarray([num_nodes]), n_edge=jnp.asarray([s.shape[0]]),
                             globals=None)


class GAE(nn.Module):
    """GCN encoder + pair decoder (Kipf & Welling 2016 GAE; Wang et al. 2024's GCN + M-LP).

    Encoder: ``num_layers`` ``GCNConv`` layers (widths ``hidden_features`` ... ``out_features``),
    ReLU and dropout between them, none after the last (the reference ``GCN``). Decoder
    ``"dot"``: ``z_u · z_v``; ``"mlp"``: ``MLP(z_u ⊙ z_v)`` with hidden widths ``decoder_hidden``
    and ReLU (the reference ``MLP`` predictor with ``n_layers=1`` is one hidden layer).

    Attributes:
      hidden_features: width of the hidden GCN layers.
      out_features: embedding width F.
      num_layers: GCN layers (>= 1).
      decoder: ``"dot"`` or ``"mlp"``.
      decoder_hidden: hidden widths of the MLP decoder.
      dropout_rate: dropout on hidden GCN activations and MLP-decoder activations.
    """
    hidden_features: int = 128
    out_features: int = 128
    num_layers: int = 2
    decoder: str = "mlp"
    decoder_hidden: Sequence[int] = (128,)
    dropout_rate: float = 0.0

    def setup(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        widths = [self.hidden_features] * (self.num_layers - 1) + [self.out_features]
        self.convs = [GCNConv(w) for w in widths]
        self.drop = Dropout(self.dropout_rate)
        if self.decoder == "mlp":
            self.mlp = MLP((*self.decoder_hidden, 1), dropout_rate=self.dropout_rate)

    def encode(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
               ) -> jax.Array:
        """Node embeddings [N, out_features] from features x [N, F_in] (dense or BCOO)."""
        h = x
        for i, conv in enumerate(self.convs):
            h = conv(graph, h)
            if i < len(self.convs) - 1:
                h = self.drop(nn.relu(h), deterministic=deterministic)
        return h

    def decode(self, h_NxF: jax.Array, pairs_Bx2: Any, *, deterministic: bool = True
               ) -> jax.Array:
        """Logits [B] of the pairs ``(u, v)`` = rows of ``pairs_Bx2``."""
        _check_pairs("pairs_Bx2", pairs_Bx2)
        pairs = jnp.asarray(pairs_Bx2)
        return self.decode_products(h_NxF[pairs[:, 0]] * h_NxF[pairs[:, 1]],
                                    deterministic=deterministic)

    def decode_products(self, prod_BxF: jax.Array, *, deterministic: bool = True) -> jax.Array:
        """Logits [B] from Hadamard products ``z_u ⊙ z_v`` [B, F] (sum, or the MLP)."""
        if self.decoder == "dot":
            return jnp.sum(prod_BxF, axis=-1)
        return self.mlp(prod_BxF, deterministic=deterministic)[:, 0]

    def __call__(self, graph: jraph.GraphsTuple, x: Any, pairs_Bx2: Any, *,
                 deterministic: bool = True) -> jax.Array:
        return self.decode(self.encode(graph, x, deterministic=deterministic), pairs_Bx2,
                           deterministic=deterministic)


class LinkData(NamedTuple):
    """Arrays of one link split (all int32; pairs [P, 2]); vmappable over seeds.

    Attributes:
      senders_E, receivers_E: the message-passing (training) graph, both directions.
      edge_weight_E: float [E] entries of A (ones unless re-weighted).
      train_pos, val_pos, val_neg, test_pos, test_neg: node pairs.
    """
    senders_E: jax.Array
    receivers_E: jax.Array
    edge_weight_E: jax.Array
    train_pos: jax.Array
    val_pos: jax.Array
    val_neg: jax.Array
    test_pos: jax.Array
    test_neg: jax.Array


def link_data(split: Any, edge_weight_E: Any = None) -> LinkData:
    """``LinkData`` from a ``jaxnets.data.links.LinkSplit`` (weights 1 unless given)."""
    s = jnp.asarray(split.message_passing_senders, jnp.int32)
    w = jnp.ones(s.shape, jnp.float32) if edge_weight_E is None else jnp.asarray(
        edge_weight_E, jnp.float32)
    if w.shape != s.shape:
        raise ValueError(f"edge_weight_E must have shape {s.shape}, got {w.shape}")
    return LinkData(s, jnp.asarray(split.message_passing_receivers, jnp.int32), w,
                    *(jnp.asarray(getattr(split, k), jnp.int32)
                      for k in ("train_pos", "val_pos", "val_neg", "test_pos", "test_neg")))


@dataclasses.dataclass(frozen=True)
class LinkTrainConfig:
    """Training hyperparameters (defaults: ``Topo_LP_GNN``'s Cora GCN run, fewer epochs).

    Attributes:
      epochs: training epochs (a multiple of ``eval_every``).
      batch_size: positive pairs per step; None = all of them (full batch).
      learning_rate: Adam step size (reference 1e-3).
      grad_clip: global-norm clip (reference 1.0); None = none.
      eval_every: epochs between evaluations (model selection granularity).
      hits_k: K of the Hits@K used for selection and reported.
    """
    epochs: int = 200
    batch_size: int | None = 1152
    learning_rate: float = 1e-3
    grad_clip: float | None = 1.0
    eval_every: int = 10
    hits_k: int = 100


class LinkTrainResult(NamedTuple):
    """What ``train`` returns.

    Attributes:
      params: parameters with the best validation Hits@K.
      graph_edges: encoder-graph weights in force for ``params`` (changed only by a
        ``graph_update``).
      best_val_hits, test_hits: Hits@K at the selected evaluation.
      best_epoch: epoch (1-based) of the selected evaluation.
      val_curve, test_curve: Hits@K at every evaluation, [epochs // eval_every].
      loss_curve: mean training loss per epoch, [epochs].
    """
    params: Any
    graph_edges: jax.Array
    best_val_hits: jax.Array
    test_hits: jax.Array
    best_epoch: jax.Array
    val_curve: jax.Array
    test_curve: jax.Array
    loss_curve: jax.Array


GraphUpdate = Callable[[Any, jraph.GraphsTuple, jax.Array, jax.Array], jax.Array]


def make_link_trainer(model: GAE, x: Any, num_nodes: int, config: LinkTrainConfig = LinkTrainConfig(),
                      graph_update: GraphUpdate | None = None
                      ) -> Callable[[jax.Array, LinkData], LinkTrainResult]:
    """Builds the pure training function of a ``GAE`` link predictor.

    Args:
      model: the ``GAE``.
      x: node features [N, F] (dense or BCOO), shared by all calls.
      num_nodes: N.
      config: ``LinkTrainConfig``.
      graph_update: optional ``f(params, graph, base_edges, epoch) -> edges`` called after
        every epoch (from inside the scan) to replace the encoder-graph weights; ``graph`` holds
        the current weights and ``base_edges`` the original GCN ones (TC-guided re-weighting).

    Returns:
      ``train(key, data: LinkData) -> LinkTrainResult``; jit and vmap it freely.
    """
    if config.epochs < config.eval_every or config.epochs % config.eval_every:
        raise ValueError(f"epochs ({config.epochs}) must be a positive multiple of eval_every "
                         f"({config.eval_every})")
    if x.shape[0] != num_nodes:
        raise ValueError(f"x has {x.shape[0]} rows but num_nodes={num_nodes}")
    tx = optax.adam(config.learning_rate)
    if config.grad_clip is not None:
        tx = optax.chain(optax.clip_by_global_norm(config.grad_clip), tx)
    num_evals = config.epochs // config.eval_every
    k = config.hits_k

    def train(key: jax.Array, data: LinkData) -> LinkTrainResult:
        _check_pairs("data.train_pos", data.train_pos)
        num_pos = data.train_pos.shape[0]
        batch = num_pos if config.batch_size is None else config.batch_size
        if not 0 < batch <= num_pos:
            raise ValueError(f"batch_size must be in [1, {num_pos}], got {batch}")
        steps = num_pos // batch
        k_init, k_data, k_neg, k_drop = jax.random.split(key, 4)
        graph0 = encoder_graph(data.senders_E, data.receivers_E, num_nodes, data.edge_weight_E)
        params = model.init(k_init, graph0, x, data.train_pos[:1])

        def loss_fn(p, graph, pos_Bx2, neg_Bx2, rng):
            h = model.apply(p, graph, x, deterministic=False, rngs={"dropout": rng},
                            method=GAE.encode)
            k1, k2 = jax.random.split(rng)
            pos = model.apply(p, h, pos_Bx2, deterministic=False, rngs={"dropout": k1},
                              method=GAE.decode)
            neg = model.apply(p, h, neg_Bx2, deterministic=False, rngs={"dropout": k2},
                              method=GAE.decode)
            return link_bce_loss(pos, neg, jnp.ones(pos.shape, bool))

        def step(carry, t):
            p, opt, graph, epoch = carry
            perm = jax.random.permutation(jax.random.fold_in(k_data, epoch), num_pos)
            pos = data.train_pos[jax.lax.dynamic_slice_in_dim(perm, t * batch, batch)]
            global_step = epoch * steps + t
            neg = jax.random.randint(jax.random.fold_in(k_neg, global_step), (batch, 2), 0,
                                     num_nodes, jnp.int32)
            loss, grads = jax.value_and_grad(loss_fn)(p, graph, pos, neg,
                                                      jax.random.fold_in(k_drop, global_step))
            updates, opt = tx.update(grads, opt, p)
            return (optax.apply_updates(p, updates), opt, graph, epoch), loss

        def epoch_fn(carry, epoch):
            p, opt, graph = carry
            (p, opt, graph, _), losses = jax.lax.scan(step, (p, opt, graph, epoch),
                                                      jnp.arange(steps))
            if graph_update is not None:
                graph = graph._replace(edges=graph_update(p, graph, graph0.edges, epoch + 1))
            return (p, opt, graph), jnp.mean(losses)

        def evaluate(p, graph):
            h = model.apply(p, graph, x, method=GAE.encode)

            def score(pairs):
                return model.apply(p, h, pairs, method=GAE.decode)

            return (hits_at_k(score(data.val_pos), score(data.val_neg), k),
                    hits_at_k(score(data.test_pos), score(data.test_neg), k))

        def chunk(carry, c):
            p, opt, graph, best = carry
            (p, opt, graph), losses = jax.lax.scan(
                epoch_fn, (p, opt, graph), c * config.eval_every + jnp.arange(config.eval_every))
            val, test = evaluate(p, graph)
            better = val > best["val"]
            new = {"params": p, "edges": graph.edges, "val": val, "test": test,
                   "epoch": (c + 1) * config.eval_every}
            best = jax.tree.map(lambda a, b: jnp.where(better, a, b), new, best)
            return (p, opt, graph, best), (val, test, losses)

        best0 = {"params": params, "edges": graph0.edges, "val": jnp.asarray(-1.0),
                 "test": jnp.asarray(0.0), "epoch": jnp.asarray(0)}
        (_, _, _, best), (val_c, test_c, loss_c) = jax.lax.scan(
            chunk, (params, tx.init(params), graph0, best0), jnp.arange(num_evals))
        return LinkTrainResult(best["params"], best["edges"], best["val"], best["test"],
                               best["epoch"], val_c, test_c, loss_c.reshape(-1))

    return train


def train_link_predictor(model: GAE, x: Any, split: Any, key: jax.Array,
                         config: LinkTrainConfig = LinkTrainConfig(), *,
                         edge_weight_E: Any = None,
                         graph_update: GraphUpdate | None = None) -> LinkTrainResult:
    """Trains ``model`` on one ``LinkSplit`` (or ``LinkData``) in one jitted call.

    Args:
      model: a ``GAE``.
      x: node features [N, F] (dense or BCOO).
      split: ``jaxnets.data.links.LinkSplit`` or ``LinkData``.
      key: PRNG key (init, batch order, negatives, dropout).
      config: ``LinkTrainConfig``.
      edge_weight_E: optional fixed weights of the message-passing edges (ignored for LinkData).
      graph_update: see ``make_link_trainer``.

    Returns:
      ``LinkTrainResult`` (best-by-validation parameters and metrics).
    """
    data = split if isinstance(split, LinkData) else link_data(split, edge_weight_E)
    train = make_link_trainer(model, x, int(x.shape[0]), config, graph_update)
    return jax.jit(train)(key, data)
