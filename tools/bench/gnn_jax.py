"""The JAX side of the GNN epoch benchmark: jaxnets' layers, a hand-written GCN, epoch steps.

Every model trains full-batch on the same arrays as the PyTorch Geometric side
(`gnn_data.GraphArrays`), with PyG's example hyperparameters: GCN 16 hidden, dropout 0.5, lr 0.01;
GraphSAGE-mean 64 hidden, dropout 0.5, lr 0.01; GAT 8 heads x 8, dropout 0.6 on inputs and
attention, lr 0.005; Adam with L2 weight decay 5e-4 on all parameters (torch's
`Adam(weight_decay=...)`, i.e. `add_decayed_weights` before `adam`). Node features stay sparse
(`BCOO`): input dropout and `X @ W` touch the ~49k stored values only (PERFORMANCE.md item 1).

* `library` models are `jaxnets.nn.GCN`, `jaxnets.nn.GAT` and `SAGE` (two `jaxnets.nn.SAGEConv`).
* `handwritten_gcn` is the reference the library's GCN should match: the same computation
  written directly as gathers and `segment_sum`s over receiver-sorted edges with precomputed
  normalisation, with the same dropout function (`jaxnets.nn.dropout`).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from jaxnets.graph import gcn_preprocess, to_bcoo, to_csr
from jaxnets.nn import GAT, GCN, Dropout, SAGEConv, dropout

from tools.bench.gnn_data import GraphArrays

MODELS = ("gcn", "sage", "gat")
LEARNING_RATE = {"gcn": 0.01, "sage": 0.01, "gat": 0.005}
WEIGHT_DECAY = 5e-4


class SAGE(nn.Module):
    """Two GraphSAGE-mean layers with dropout before each, ReLU between (PyG's example shape)."""
    hidden: int = 64
    num_classes: int = 7
    dropout_rate: float = 0.5

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
                 ) -> jax.Array:
        x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
        x = nn.relu(SAGEConv(self.hidden)(graph, x))
        x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
        return SAGEConv(self.num_classes)(graph, x)


class JaxInputs(NamedTuple):
    """Device arrays of one graph (a pytree, passed to the jitted steps as an argument)."""
    graph: jraph.GraphsTuple       # senders/receivers as loaded (sorted by receiver)
    gcn_graph: jraph.GraphsTuple   # with self-loops and normalised weights in `edges`
    x: Any                         # BCOO [N, F]
    labels: jax.Array
    train_mask: jax.Array
    csr_graph: jraph.GraphsTuple   # gcn_graph with `CSREdges` (the CPU CSR kernel path)
    x_csr: Any                     # the features as a `CSRMatrix` (the same values)


def jax_inputs(data: GraphArrays) -> JaxInputs:
    """Moves one `GraphArrays` to device in the layout the JAX models read."""
    n, e = data.num_nodes, data.num_edges
    graph = jraph.GraphsTuple(nodes=None, edges=None, senders=jnp.asarray(data.senders),
                              receivers=jnp.asarray(data.receivers),
                              n_node=jnp.array([n]), n_edge=jnp.array([e]), globals=None)
    host_graph = graph._replace(senders=data.senders, receivers=data.receivers,
                                n_node=np.array([n]), n_edge=np.array([e]))
    gcn_graph = jax.tree.map(jnp.asarray, gcn_preprocess(host_graph, num_nodes=n))
    csr_graph = jax.tree.map(jnp.asarray, gcn_preprocess(host_graph, num_nodes=n, csr=True))
    return JaxInputs(graph, gcn_graph, to_bcoo(data.features), jnp.asarray(data.labels),
                     jnp.asarray(data.train_mask), csr_graph, to_csr(data.features))


def library_model(kind: str, num_classes: int, dropout_rate: float | None = None) -> nn.Module:
    """jaxnets' own model for `kind` in MODELS, with PyG's example widths (and dropout unless
    `dropout_rate` is given; GCN only)."""
    if kind == "gcn":
        return GCN(hidden_features=(16,), num_classes=num_classes,
                   dropout_rate=0.5 if dropout_rate is None else dropout_rate)
    if dropout_rate is not None:
        raise ValueError("dropout_rate can be overridden for the GCN only")
    if kind == "sage":
        return SAGE(hidden=64, num_classes=num_classes, dropout_rate=0.5)
    if kind == "gat":
        return GAT(hidden_features=(8,), heads=(8,), num_classes=num_classes, dropout_rate=0.6,
                   attention_dropout=0.6)
    raise ValueError(f"kind must be one of {MODELS}, got {kind!r}")


def _masked_cross_entropy(logits_NxC: jax.Array, labels_N: jax.Array, mask_N: jax.Array
                          ) -> jax.Array:
    losses = optax.softmax_cross_entropy_with_integer_labels(logits_NxC, labels_N)
    return jnp.sum(jnp.where(mask_N, losses, 0.0)) / jnp.maximum(jnp.sum(mask_N), 1)


def optimizer(kind: str) -> optax.GradientTransformation:
    """torch's `Adam(lr, weight_decay=5e-4)`: L2 added to the gradient, then Adam."""
    return optax.chain(optax.add_decayed_weights(WEIGHT_DECAY), optax.adam(LEARNING_RATE[kind]))


# A "forward" maps (params, inputs, dropout key) to logits in training mode.
Forward = Callable[[Any, JaxInputs, jax.Array], jax.Array]


def library_forward(kind: str, num_classes: int, *, csr: bool = False,
                    dropout_rate: float | None = None) -> tuple[Forward, Callable]:
    """(forward, init(key, inputs) -> params) of jaxnets' model for `kind`.

    `csr=True` feeds the features as a `CSRMatrix` and (GCN) the graph preprocessed with
    `gcn_preprocess(..., csr=True)`: both products run through XLA's CPU CSR kernel.
    """
    model = library_model(kind, num_classes, dropout_rate)

    def graph_of(inputs: JaxInputs) -> jraph.GraphsTuple:
        if kind == "gcn":
            return inputs.csr_graph if csr else inputs.gcn_graph
        return inputs.graph

    def features_of(inputs: JaxInputs):
        return inputs.x_csr if csr else inputs.x

    def forward(params, inputs: JaxInputs, key):
        return model.apply(params, graph_of(inputs), features_of(inputs), deterministic=False,
                           rngs={"dropout": key})

    def init(key, inputs: JaxInputs):
        return jax.jit(model.init)(key, graph_of(inputs), features_of(inputs))

    return forward, init


def handwritten_gcn(num_features: int, num_classes: int, hidden: int = 16
                    ) -> tuple[Forward, Callable]:
    """(forward, init) of a 2-layer GCN written directly with gathers and `segment_sum`.

    `Z = A^ (drop(relu(A^ drop(X) W0 + b0))) W1 + b1` with `A^` the precomputed weights of the
    preprocessed graph (receiver-sorted, so `indices_are_sorted=True` throughout).
    """

    def init(key, inputs: JaxInputs):
        k0, k1 = jax.random.split(key)
        glorot = nn.initializers.glorot_uniform()
        return {"w0": glorot(k0, (num_features, hidden)), "b0": jnp.zeros((hidden,)),
                "w1": glorot(k1, (hidden, num_classes)), "b1": jnp.zeros((num_classes,))}

    def propagate(h_NxH, graph):
        msgs = h_NxH[graph.senders] * graph.edges[:, None]
        return jax.ops.segment_sum(msgs, graph.receivers, num_segments=h_NxH.shape[0],
                                   indices_are_sorted=True)

    def forward(params, inputs: JaxInputs, key):
        k0, k1 = jax.random.split(key)
        x, g, n = inputs.x, inputs.gcn_graph, inputs.x.shape[0]
        values = dropout(k0, x.data, 0.5)
        rows, cols = x.indices[:, 0], x.indices[:, 1]
        xw_NxH = jax.ops.segment_sum(values[:, None] * params["w0"][cols], rows, num_segments=n,
                                     indices_are_sorted=True)
        h = nn.relu(propagate(xw_NxH, g) + params["b0"][None, :])
        h = dropout(k1, h, 0.5)
        return propagate(h @ params["w1"], g) + params["b1"][None, :]

    return forward, init


def handwritten_sage(num_features: int, num_classes: int, hidden: int = 64
                     ) -> tuple[Forward, Callable]:
    """(forward, init) of a 2-layer GraphSAGE-mean written directly, as `SAGE` computes it.

    Per layer `h' = W_root h + mean_{j -> i} W_neigh h_j + b`, but with `[W_neigh | W_root]`
    applied in **one** sparse product of width 2H (one gather of the sparse input instead of
    two), the mean as a `segment_sum` over receiver-sorted edges times a precomputed 1/in-degree.
    """

    def init(key, inputs: JaxInputs):
        glorot = nn.initializers.glorot_uniform()
        k0, k1, k2, k3 = jax.random.split(key, 4)
        return {"w0": jnp.concatenate([glorot(k0, (num_features, hidden)),
                                       glorot(k1, (num_features, hidden))], axis=1),
                "b0": jnp.zeros((hidden,)),
                "w1": jnp.concatenate([glorot(k2, (hidden, num_classes)),
                                       glorot(k3, (hidden, num_classes))], axis=1),
                "b1": jnp.zeros((num_classes,))}

    def layer(xw_Nx2H, graph, inv_deg_N, bias):
        width = xw_Nx2H.shape[1] // 2
        neigh, root = xw_Nx2H[:, :width], xw_Nx2H[:, width:]
        total = jax.ops.segment_sum(neigh[graph.senders], graph.receivers,
                                    num_segments=neigh.shape[0], indices_are_sorted=True)
        return total * inv_deg_N[:, None] + root + bias[None, :]

    def forward(params, inputs: JaxInputs, key):
        k0, k1 = jax.random.split(key)
        x, g, n = inputs.x, inputs.graph, inputs.x.shape[0]
        deg = jax.ops.segment_sum(jnp.ones_like(g.receivers, jnp.float32), g.receivers,
                                  num_segments=n, indices_are_sorted=True)
        inv_deg = 1.0 / jnp.maximum(deg, 1.0)
        values = dropout(k0, x.data, 0.5)
        rows, cols = x.indices[:, 0], x.indices[:, 1]
        xw = jax.ops.segment_sum(values[:, None] * params["w0"][cols], rows, num_segments=n,
                                 indices_are_sorted=True)
        h = dropout(k1, nn.relu(layer(xw, g, inv_deg, params["b0"])), 0.5)
        return layer(h @ params["w1"], g, inv_deg, params["b1"])

    return forward, init


def epoch_step(forward: Forward, tx: optax.GradientTransformation):
    """One full-batch training epoch: forward (training mode), backward, Adam update.

    Returns a jitted `step(params, opt_state, inputs, key) -> (params, opt_state, loss)` whose
    params and optimizer state are donated.
    """

    def loss_fn(params, inputs, key):
        logits = forward(params, inputs, key)
        return _masked_cross_entropy(logits, inputs.labels, inputs.train_mask)

    def step(params, opt_state, inputs, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, inputs, key)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1)), step


def scanned_epochs(step: Callable, num_epochs: int):
    """`num_epochs` epochs in one jitted `lax.scan` (keys `fold_in(key, epoch)`), donated state."""

    def run(params, opt_state, inputs, key):
        def body(carry, epoch):
            params, opt_state = carry
            params, opt_state, loss = step(params, opt_state, inputs,
                                           jax.random.fold_in(key, epoch))
            return (params, opt_state), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state),
                                                   jnp.arange(num_epochs))
        return params, opt_state, losses

    return jax.jit(run, donate_argnums=(0, 1))


def stepper(jitted_step: Callable, params, opt_state, inputs: JaxInputs, seed: int = 1):
    """A zero-argument callable running the next epoch (state kept between calls)."""
    state = {"params": params, "opt": opt_state, "epoch": 0}
    base = jax.random.PRNGKey(seed)

    def call():
        key = jax.random.fold_in(base, state["epoch"])
        state["params"], state["opt"], loss = jitted_step(state["params"], state["opt"],
                                                          inputs, key)
        state["epoch"] += 1
        return loss

    return call
