"""Subgraph federated learning on a node-classification graph: what `fedpub` (and later
`gnodeformer`) share.

* `federated_node_data`: a dataset -> (optionally) its largest connected component -> a random
  train/val/test node split over the whole graph -> a Louvain community partition into K client
  subgraphs (`jaxnets.federated.partition`, FED-PUB's disjoint / overlapping settings with Louvain
  for METIS) -> `ClientGraphs`: every array padded to a common size and stacked on a leading
  client axis, with the GCN propagation weights precomputed per client.
* `ClientGCN`: FED-PUB's two-layer GCN + linear classifier (the official `models/nets.py` shape)
  built from `jaxnets.nn.GCNConv`; `embed=True` returns the second convolution's pre-ReLU output
  (FED-PUB's functional embedding reads it).
* `gcn_client_update`: a `jaxnets.federated.simulator` client update for full-batch GCN training
  on one client subgraph (the client's Adam state persists across rounds, as in the FED-PUB code),
  which also reports the trained local model's val/test accuracy.
* `run_fedavg`: FedAvg-GCN (McMahan et al. 2017) for R rounds, seeds vmapped, rounds in a
  `lax.scan`, returning per-round, per-seed, per-client local accuracies.
* `accuracy_at_best_val`: FED-PUB's metric, the mean over clients of the local test accuracy at
  the round with the best mean local validation accuracy.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
import scipy.sparse
import scipy.sparse.csgraph

from jaxnets import data as data_lib
from jaxnets.federated import aggregators, partition, simulator
from jaxnets.graph import gcn_norm
from jaxnets.nn.dropout import Dropout
from jaxnets.nn.gcn import GCNConv
from jaxnets.nn.linear import Linear

Params = Any


class ClientGraphs(NamedTuple):
    """K client subgraphs padded to Nc node slots and Ec edges, stacked (a pytree of arrays).

    Attributes:
      x: [K, Nc, F] float32 node features (zeros in padding slots).
      labels: [K, Nc] int32 (0 in padding slots).
      node_mask: [K, Nc] bool real node slots.
      train_mask, val_mask, test_mask: [K, Nc] bool (False in padding slots).
      senders, receivers: [K, Ec] int32 local slot indices, self-loops included.
      edge_weight: [K, Ec] float32 GCN weights D~^-1/2 (A + I) D~^-1/2 of the client's own
        subgraph (Kipf & Welling 2017, eq. 2); 0 on padding edges.
    """

    x: jax.Array
    labels: jax.Array
    node_mask: jax.Array
    train_mask: jax.Array
    val_mask: jax.Array
    test_mask: jax.Array
    senders: jax.Array
    receivers: jax.Array
    edge_weight: jax.Array


def row_normalize_dense(features: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (zero rows stay zero): PyG's `NormalizeFeatures`."""
    sums = features.sum(axis=1, keepdims=True)
    return np.divide(features, sums, out=np.zeros_like(features), where=sums != 0)


def largest_component(senders: np.ndarray, receivers: np.ndarray,
                      num_nodes: int) -> np.ndarray:
    """Sorted node ids of the largest (weakly) connected component."""
    adjacency = scipy.sparse.coo_matrix(
        (np.ones(len(senders)), (senders, receivers)), shape=(num_nodes, num_nodes))
    _, component = scipy.sparse.csgraph.connected_components(adjacency, directed=False)
    return np.flatnonzero(component == np.bincount(component).argmax())


def federated_node_data(dataset: str, num_clients: int, *, root: str | None = None,
                        partition_kind: str = "disjoint", partition_seed: int = 0,
                        split_seed: int = 0,
                        fractions: tuple[float, float, float] = (0.2, 0.4, 0.4),
                        use_largest_component: bool = True, normalize: bool = True,
                        clients_per_group: int = 3) -> tuple[ClientGraphs, dict]:
    """A node-classification dataset cut into K padded client subgraphs.

    Follows FED-PUB's data pipeline (`data/generators/{utils,disjoint}.py` of the official code):
    largest connected component, row-normalised features, one random split of all nodes into
    train/val/test by `fractions` (FED-PUB: 20/40/40), then the partition; each client keeps
    the split masks of its nodes. Edges between clients are lost.

    Args:
      dataset: a `jaxnets.data.load_dataset` name (e.g. "cora").
      num_clients: K.
      root: data root ($JAXNETS_DATA when None).
      partition_kind: "disjoint" (`louvain_partition`, K communities) or "overlapping"
        (`overlapping_louvain_partition`: K / clients_per_group groups, each giving
        `clients_per_group` clients holding random halves of it).
      partition_seed: seed of Louvain (and of the overlapping halves).
      split_seed: seed of the train/val/test split.
      fractions: (train, val, test) fractions of the labelled nodes.
      use_largest_component: keep only the largest connected component first.
      normalize: row-normalise the features.
      clients_per_group: for "overlapping" only; must divide K.

    Returns:
      (ClientGraphs as jnp arrays, info) with info = {"num_classes", "num_features",
      "num_nodes", "client_nodes" [K], "client_train" [K], "label_histograms" [K][C],
      "lost_edges" (directed edges between clients)}.

    Raises:
      ValueError: an unknown partition kind, K not divisible by `clients_per_group`, or a client
        without training nodes.
    """
    ds = data_lib.load_dataset(dataset, root=root)
    senders, receivers = ds.senders.astype(np.int64), ds.receivers.astype(np.int64)
    features = ds.features.toarray() if scipy.sparse.issparse(ds.features) else ds.features
    features = np.asarray(features, np.float32)
    labels = ds.labels
    keep = (largest_component(senders, receivers, ds.num_nodes) if use_largest_component
            else np.arange(ds.num_nodes))
    new_id = np.full(ds.num_nodes, -1, np.int64)
    new_id[keep] = np.arange(len(keep))
    inside = (new_id[senders] >= 0) & (new_id[receivers] >= 0)
    senders, receivers = new_id[senders[inside]], new_id[receivers[inside]]
    features, labels = features[keep], labels[keep]
    if normalize:
        features = row_normalize_dense(features)
    num_nodes = len(keep)
    train, val, test = data_lib.random_node_split(labels, fractions=fractions, seed=split_seed)
    if partition_kind == "disjoint":
        subgraphs = partition.louvain_partition(senders, receivers, num_nodes, num_clients,
                                                partition_seed)
    elif partition_kind == "overlapping":
        if num_clients % clients_per_group:
            raise ValueError(f"num_clients ({num_clients}) must be a multiple of "
                             f"clients_per_group ({clients_per_group}) for 'overlapping'")
        subgraphs = partition.overlapping_louvain_partition(
            senders, receivers, num_nodes, num_clients // clients_per_group, clients_per_group,
            partition_seed)
    else:
        raise ValueError(f"partition_kind must be 'disjoint' or 'overlapping', got "
                         f"{partition_kind!r}")
    node_mask = subgraphs.node_mask
    train_k = subgraphs.take(train) & node_mask
    if not train_k.any(axis=1).all():
        raise ValueError(f"client(s) {np.flatnonzero(~train_k.any(axis=1)).tolist()} have no "
                         f"training node; use fewer clients or a larger train fraction")
    node_cap = node_mask.shape[1]
    loops_s, loops_r, weight = jax.jit(jax.vmap(
        lambda s, r, m: gcn_norm(s, r, node_cap, edge_mask_E=m)))(
            jnp.asarray(subgraphs.senders), jnp.asarray(subgraphs.receivers),
            jnp.asarray(subgraphs.edge_mask))
    client_labels = subgraphs.take(labels).astype(np.int32)
    histograms = [np.bincount(client_labels[k][node_mask[k]], minlength=ds.num_classes).tolist()
                  for k in range(len(node_mask))]
    graphs = ClientGraphs(
        x=jnp.asarray(subgraphs.take(features)), labels=jnp.asarray(client_labels),
        node_mask=jnp.asarray(node_mask), train_mask=jnp.asarray(train_k),
        val_mask=jnp.asarray(subgraphs.take(val) & node_mask),
        test_mask=jnp.asarray(subgraphs.take(test) & node_mask),
        senders=loops_s.astype(jnp.int32), receivers=loops_r.astype(jnp.int32),
        edge_weight=weight.astype(jnp.float32))
    info = {"num_classes": ds.num_classes, "num_features": int(features.shape[1]),
            "num_nodes": num_nodes, "client_nodes": subgraphs.num_nodes.tolist(),
            "client_train": train_k.sum(axis=1).tolist(), "label_histograms": histograms,
            "lost_edges": int(len(senders) - subgraphs.num_edges.sum())}
    return graphs, info


def client_graph(senders: jax.Array, receivers: jax.Array, edge_weight: jax.Array,
                 num_nodes: int) -> jraph.GraphsTuple:
    """One client's (or any padded graph's) GraphsTuple with precomputed GCN weights in `edges`."""
    return jraph.GraphsTuple(nodes=None, edges=edge_weight, senders=senders, receivers=receivers,
                             n_node=jnp.asarray([num_nodes]),
                             n_edge=jnp.asarray([senders.shape[0]]), globals=None)


def one_client(data: ClientGraphs) -> tuple[jraph.GraphsTuple, jax.Array]:
    """(graph, x [Nc, F]) of one client's slice of `ClientGraphs` (no client axis)."""
    return client_graph(data.senders, data.receivers, data.edge_weight, data.x.shape[0]), data.x


class ClientGCN(nn.Module):
    """GCN(F -> H) -> ReLU -> dropout -> GCN(H -> H) -> ReLU -> dropout -> Linear(H -> C).

    The local model of FED-PUB's experiments (Baek et al., ICML 2023, Sec. 5.1; `models/nets.py`
    of the official code: H = 128, dropout 0.5). Kernels are named `.../kernel`, so masks can
    target them (`jaxnets.federated.fedpub.init_masks`).

    Attributes:
      hidden: H.
      num_classes: C.
      dropout_rate: dropout after each hidden ReLU.
    """

    hidden: int
    num_classes: int
    dropout_rate: float = 0.5

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: jax.Array, *, deterministic: bool = True,
                 embed: bool = False) -> jax.Array:
        """[N, F] -> logits [N, C]; with `embed`, the second convolution's output [N, H]
        before its ReLU (FED-PUB's functional-embedding read-out)."""
        h = nn.relu(GCNConv(self.hidden, name="conv1")(graph, x))
        h = Dropout(self.dropout_rate)(h, deterministic=deterministic)
        h = GCNConv(self.hidden, name="conv2")(graph, h)
        if embed:
            return h
        h = Dropout(self.dropout_rate)(nn.relu(h), deterministic=deterministic)
        return Linear(self.num_classes, name="classifier")(h)


def init_gcn(model: ClientGCN, key: jax.Array, data: ClientGraphs) -> Params:
    """Params of `model` for the clients' padded shapes (from client 0's slice)."""
    graph, x = one_client(jax.tree.map(lambda a: a[0], data))
    return model.init(key, graph, x)


def masked_cross_entropy(logits_NxC: jax.Array, labels_N: jax.Array,
                         mask_N: jax.Array) -> jax.Array:
    """Mean cross-entropy over the nodes in `mask_N` (0 when there are none)."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits_NxC, labels_N)
    mask = mask_N.astype(losses.dtype)
    return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def masked_accuracy(logits_NxC: jax.Array, labels_N: jax.Array, mask_N: jax.Array) -> jax.Array:
    """Accuracy over the nodes in `mask_N` (0 when there are none)."""
    hit = (jnp.argmax(logits_NxC, -1) == labels_N).astype(jnp.float32)
    mask = mask_N.astype(jnp.float32)
    return jnp.sum(hit * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def local_accuracies(apply_fn: Callable, params: Params, data: ClientGraphs) -> dict:
    """{"val_accuracy", "test_accuracy"} of one client's model on its own nodes (eval mode).

    Args:
      apply_fn: `apply_fn(params, graph, x) -> logits` (deterministic).
    """
    graph, x = one_client(data)
    logits = apply_fn(params, graph, x)
    return {"val_accuracy": masked_accuracy(logits, data.labels, data.val_mask),
            "test_accuracy": masked_accuracy(logits, data.labels, data.test_mask)}


def adam_with_l2(learning_rate: float, weight_decay: float) -> optax.GradientTransformation:
    """torch.optim.Adam(lr, weight_decay): L2 added to the gradient, then Adam."""
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate))


def gcn_client_update(model: ClientGCN, optimizer: optax.GradientTransformation,
                      local_epochs: int) -> simulator.ClientUpdate:
    """FedAvg's client for full-batch GCN node classification on one client subgraph.

    `client_state` is the client's optimizer state, kept across rounds (the FED-PUB code
    instantiates each client's Adam once); params restart from the global model every round.
    Each local epoch is one full-batch step on the training nodes (with dropout from `key`).

    Returns:
      `client_update(global_params, opt_state, data: ClientGraphs slice, key, hp)
      -> (delta params, opt_state, {"loss", "val_accuracy", "test_accuracy"})`, where the
      accuracies are the trained local model's on the client's own val/test nodes.
    """
    if local_epochs < 1:
        raise ValueError(f"local_epochs must be >= 1, got {local_epochs}")

    def loss_fn(params, data, key):
        graph, x = one_client(data)
        logits = model.apply(params, graph, x, deterministic=False, rngs={"dropout": key})
        return masked_cross_entropy(logits, data.labels, data.train_mask)

    def client_update(global_params, opt_state, data, key, hp):
        del hp

        def step(carry, step_key):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, data, step_key)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(
            step, (global_params, opt_state), jax.random.split(key, local_epochs))
        metrics = {"loss": losses[-1], **local_accuracies(model.apply, params, data)}
        delta = jax.tree.map(jnp.subtract, params, global_params)
        return delta, opt_state, metrics

    return client_update


def broadcast_clients(tree: Any, num_clients: int) -> Any:
    """Each leaf repeated on a new leading client axis [K, ...]."""
    return jax.tree.map(lambda a: jnp.broadcast_to(a, (num_clients,) + jnp.shape(a)), tree)


def run_fedavg(model: ClientGCN, data: ClientGraphs, weights_K: jax.Array,
               optimizer: optax.GradientTransformation, seed_keys: jax.Array, num_rounds: int,
               local_epochs: int = 1) -> dict:
    """FedAvg-GCN: `num_rounds` rounds, every client every round, seeds vmapped.

    Uses `simulator.make_round` with `gcn_client_update` and `aggregators.fedavg` (weights =
    e.g. training-node counts). Seed s initialises the global model from `seed_keys[s]` and runs
    round r with `fold_in(seed_keys[s], r + 1)`; all rounds are one `lax.scan` in one jit.

    Returns:
      {"val_accuracy", "test_accuracy"}: [R, S, K] local accuracies of each client's model after
      its local training in round r, and "loss": [R, S, K].
    """
    num_clients = weights_K.shape[0]
    round_fn = simulator.make_round(gcn_client_update(model, optimizer, local_epochs),
                                    aggregators.fedavg, shard=False)

    def one_seed(seed_key, data, weights_K):
        params = init_gcn(model, jax.random.fold_in(seed_key, 0), data)
        opt_states = broadcast_clients(optimizer.init(params), num_clients)

        def body(carry, r):
            params, opt_states = carry
            params, _, opt_states, metrics = round_fn(
                params, (), opt_states, data, weights_K, jax.random.fold_in(seed_key, r + 1),
                {"server_lr": 1.0})
            return (params, opt_states), metrics["clients"]

        _, client_metrics = jax.lax.scan(body, (params, opt_states), jnp.arange(num_rounds))
        return client_metrics

    # data are arguments, not closed-over constants (no 20 MB constants in the compiled program)
    out = jax.jit(jax.vmap(one_seed, in_axes=(0, None, None)))(seed_keys, data, weights_K)
    return {name: jnp.swapaxes(out[name], 0, 1) for name in ("val_accuracy", "test_accuracy",
                                                              "loss")}


def accuracy_at_best_val(val_RxSxK: np.ndarray, test_RxSxK: np.ndarray) -> dict:
    """FED-PUB's metric (official `evaluations/analysis.ipynb`): per seed, the round whose mean
    (over clients) local validation accuracy is highest, and the mean local test accuracy there.

    Returns:
      {"test": [S] in %, "val": [S] in %, "round": [S] 1-based best rounds}.
    """
    val, test = np.asarray(val_RxSxK).mean(-1), np.asarray(test_RxSxK).mean(-1)   # [R, S]
    best = np.argmax(val, axis=0)
    seeds = np.arange(val.shape[1])
    return {"test": (100 * test[best, seeds]).tolist(), "val": (100 * val[best, seeds]).tolist(),
            "round": (best + 1).tolist()}
