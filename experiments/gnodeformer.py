"""Fed-GNODEFormer (Gurumurthy, Pal & Sharma, "Federated Spectral Graph Transformers Meet Neural
Ordinary Differential Equations for Non-IID Graphs", TMLR 2025) against FedAvg-GCN on non-IID
client subgraphs of Cora and Chameleon.

Protocol (the official runner's defaults, `SpringWiz11/Fed-GNODEFormer`): the nodes are split
among K = 5 clients by FedGCN's Dirichlet label partition with alpha = 0.01 (per class,
Dirichlet(alpha) proportions over the clients that still hold fewer than N/K nodes; redrawn until
every client has >= 20 nodes; `fedgcn_dirichlet_partition`); client k holds the induced subgraph of
its nodes (edges across clients are lost) and computes its own Laplacian eigendecomposition once.
Each round every client takes 3 full-batch SGD steps (lr 0.05, weight decay 5e-3 on every
parameter) on the cross-entropy of its local training nodes, from the global model; the server
takes the *unweighted* mean of the client models (FedAvg as in the official server). Metric: the
global model after the last round on each client's local test nodes, averaged with weights =
#test nodes (= the accuracy over all client test nodes). Cora: Planetoid public split (140 train,
1000 test); Chameleon (Geom-GCN graph, Platonov et al. features, see `jaxnets.data`): the official
class-balanced random split (round(0.6 N / C) training nodes per class, 20 % validation, the rest
test), redrawn per seed like the partition. The model is `jaxnets.models.gnodeformer.GNODEFormer`
with the runner's defaults (hidden 32, 2 heads/filters, 2 spectral layers, 6 RK-2 ODE blocks,
dropouts 0.2 / 0.6 / 0.2) on raw features, as the official loader gives them.

Baseline FedAvg-GCN (FedGCN's 0-hop setting, Yao et al. 2023, the FedAvg row the paper compares
against): a 2-layer GCN (hidden 16, dropout 0.5) on each client's induced subgraph with
row-normalised features, SGD lr 0.5 with weight decay 5e-4 (FedGCN's defaults), the same partition,
rounds, local steps, uniform averaging and metric. 3 seeds (partition, split, init and dropout),
vmapped: each round is one jitted call over seeds x clients (`jaxnets.federated.make_round`), and
`eval_every` rounds are one `lax.scan`.

Claim (issue 9): Fed-GNODEFormer >= FedAvg-GCN + 5 points on Chameleon and >= FedAvg-GCN - 1 on
Cora (mean over 3 seeds). The paper's own table numbers could not be retrieved offline; its text
says Fed-GNODEFormer improves markedly on non-IID heterophilic graphs and is competitive or better
on homophilic ones.

Deviations: `rounds` defaults to 30 (the research note's CPU-scale mini-reproduction) instead of
the runner's 100, since each local step runs 12 attention passes over up to ~1.2k eigen-tokens
per client; `--set rounds=100` runs the paper's schedule. 3 seeds instead of 10 repeats. Dropout
masks use jaxnets' 8-bit lanes (0.6 -> 0.6016). The FedGCN-style partition is written here
(`jaxnets.federated.dirichlet_label_partition` has no N/K cap).

Outcome (full config, 30 rounds, 3 seeds, shared 2-core machine, 2026-12-02; PASSES): Cora:
Fed-GNODEFormer 81.2 +- 4.9 vs FedAvg-GCN 15.2 +- 1.5 (SGD, FedGCN's lr 0.5) and 18.6 +- 6.6
(Adam, lr 0.01), 7 classes (chance 14.3 %); Chameleon: 48.2 +- 3.4 vs 23.6 +- 4.1 (SGD) and
27.9 +- 1.4 (Adam), 5 classes (chance 20 %). Both baselines end near chance under
Dirichlet(0.01) skew. Checked that this is the federated setting and not a broken baseline
(one seed, same code path, Cora, 30 rounds x 3 local steps): one client holding the whole graph
reaches 82.4 % with Adam (21.4 % with FedGCN's SGD, which is too slow for 90 steps); 5 IID
clients (alpha = 100) reach 54.4 % (Adam) / 27.7 % (SGD), since client subgraphs lose the
edges between clients; alpha = 0.01 gives 18.6 %. So the margins (+62.6 on Cora, +20.3 on
Chameleon, against the stronger baseline) measure FedAvg-GCN's collapse under strong label skew,
which is the paper's point, but they are far larger than the paper's table would suggest (not
retrieved offline). The Fed-GNODEFormer curve oscillates between evaluations (25-53 % on
Chameleon), as expected from averaging models trained on disjoint label sets. Not tried:
`--set rounds=100` (the paper's schedule).
"""
from __future__ import annotations

import json
import pathlib
from typing import Callable

import jax
import jax.numpy as jnp
import jraph
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import optax
import scipy.sparse

from jaxnets import config as config_lib
from jaxnets import data as data_lib
from jaxnets import plots
from jaxnets.experiment import Claim, Paper
from jaxnets.federated import fedavg, induced_subgraphs, label_skew, make_round
from jaxnets.models.gnodeformer import GNODEFormer, client_spectra
from jaxnets.nn import GCN
from jaxnets.train.progress import progress_bar

PAPER = Paper(
    title=("Federated Spectral Graph Transformers Meet Neural Ordinary Differential Equations "
           "for Non-IID Graphs"),
    authors="Gurumurthy, Pal & Sharma",
    venue="TMLR 2025",
)
DESCRIPTION = ("Fed-GNODEFormer (spectral ODE-transformer, per-client eigenbasis, FedAvg) vs "
               "FedAvg-GCN under Dirichlet(0.01) label skew on Cora and Chameleon")
HETEROPHILIC_GAIN = 5.0   # points Fed-GNODEFormer must beat FedAvg-GCN by on chameleon (issue row)
HOMOPHILIC_MARGIN = 1.0   # points it may trail FedAvg-GCN by on Cora (issue row)
MODELS = ("gnodeformer", "gcn", "gcn_adam")
BASELINES = ("gcn", "gcn_adam")
PUBLIC_SPLIT = ("cora", "citeseer")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        datasets="cora,chameleon",  # comma-separated jaxnets.data.load_dataset names
        data_root="",               # "" = $JAXNETS_DATA
        csbm_nodes=2000,            # only for dataset "csbm" (the smoke test)
        num_clients=5,
        alpha=0.01,                 # Dirichlet concentration of the label partition
        min_client_size=20,
        rounds=30,
        local_steps=3,
        eval_every=5,
        n_seeds=3,
        seed=0,
        # GNODEFormer (official runner defaults)
        hidden=32,
        heads=2,
        num_layers=2,
        num_blocks=6,
        rk_order=2,
        tran_dropout=0.2,
        feat_dropout=0.6,
        prop_dropout=0.2,
        learning_rate=0.05,
        weight_decay=5e-3,
        # FedAvg-GCN (FedGCN defaults)
        gcn_hidden=16,
        gcn_dropout=0.5,
        gcn_optimizer="sgd",        # "sgd" (FedGCN) or "adam" (Kipf & Welling: lr 0.01)
        gcn_learning_rate=0.5,
        gcn_weight_decay=5e-4,
        # A second, Adam-trained FedAvg-GCN (Kipf & Welling's optimiser); the claim compares
        # against the stronger of the two baselines.
        adam_baseline=True,
        adam_learning_rate=0.01,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "datasets=csbm", "csbm_nodes=120", "num_clients=2", "min_client_size=5", "alpha=1.0",
        "rounds=2", "local_steps=1", "eval_every=1", "n_seeds=2", "hidden=8", "num_blocks=1",
        "num_layers=1", "gcn_hidden=8"])


# ----------------------------------------------------------------------------------- partition

def fedgcn_dirichlet_partition(labels: np.ndarray, num_clients: int, alpha: float,
                               rng: np.random.Generator, min_size: int = 20,
                               max_tries: int = 1000) -> list[np.ndarray]:
    """FedGCN's label partition (Yao et al., NeurIPS 2023; `label_dirichlet_partition` of the
    official Fed-GNODEFormer code): class by class, proportions p ~ Dirichlet(alpha 1_K) are
    zeroed for clients already holding >= N/K nodes and renormalised, and the class's shuffled
    nodes are cut accordingly; the draw is repeated until every client has >= `min_size` nodes.

    Returns:
      K sorted int64 node-id arrays, disjoint, covering all nodes.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.min() < 0:
        raise ValueError("labels must be [N] non-negative class ids")
    if num_clients < 1 or alpha <= 0 or min_size * num_clients > len(labels):
        raise ValueError(f"need num_clients >= 1, alpha > 0 and min_size * num_clients <= N, got "
                         f"{num_clients}, {alpha}, {min_size}")
    cap = len(labels) / num_clients
    for _ in range(max_tries):
        parts: list[list[int]] = [[] for _ in range(num_clients)]
        for c in range(int(labels.max()) + 1):
            members = rng.permutation(np.flatnonzero(labels == c))
            share = rng.dirichlet(np.full(num_clients, alpha))
            open_clients = np.array([len(p) < cap for p in parts])
            share = share * open_clients
            if share.sum() > 0:
                share = share / share.sum()
            else:  # all mass underflowed onto full clients: Dirichlet(alpha -> 0) is one-hot
                share = np.eye(num_clients)[rng.choice(np.flatnonzero(open_clients))]
            cuts = (np.cumsum(share) * len(members)).astype(int)[:-1]
            for part, piece in zip(parts, np.split(members, cuts)):
                part += piece.tolist()
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.asarray(p, np.int64)) for p in parts]
    raise RuntimeError(f"no partition gave all {num_clients} clients >= {min_size} nodes in "
                       f"{max_tries} tries")


def class_balanced_split(labels: np.ndarray, num_classes: int, rng: np.random.Generator,
                         train: float = 0.6, val: float = 0.2) -> tuple[np.ndarray, ...]:
    """The official `get_split`: round(train N / C) random nodes of each class (all of a smaller
    class) for training, then round(val N) random others for validation, the rest test.

    Returns:
      (train_mask, val_mask, test_mask), [N] bool each.
    """
    n = len(labels)
    per_class = int(round(train * n / num_classes))
    shuffled = [rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)]
    train_idx = np.concatenate([s[:per_class] for s in shuffled])
    rest = rng.permutation(np.concatenate([s[per_class:] for s in shuffled]))
    masks = [np.zeros(n, bool) for _ in range(3)]
    masks[0][train_idx] = True
    masks[1][rest[:int(round(val * n))]] = True
    masks[2][rest[int(round(val * n)):]] = True
    return tuple(masks)


# ----------------------------------------------------------------------------------------- data

def _load(config: ml_collections.ConfigDict, name: str) -> data_lib.NodeDataset:
    kwargs = {}
    if name == "csbm":
        kwargs = dict(num_nodes=config.csbm_nodes, num_classes=3, avg_degree=6.0,
                      homophily=0.2, num_features=16, feature_signal=4.0, seed=0)
    dataset = data_lib.load_dataset(name, root=config.data_root or None, **kwargs)
    if dataset.num_splits > 1:
        dataset = dataset.split(0)  # masks unused unless the public split (Planetoid) applies
    return dataset


def _row_normalize(x: np.ndarray) -> np.ndarray:
    sums = x.sum(axis=1, keepdims=True)
    return np.divide(x, sums, out=np.zeros_like(x), where=sums != 0)


def prepare_clients(config: ml_collections.ConfigDict, dataset: data_lib.NodeDataset
                    ) -> tuple[dict[str, np.ndarray], dict]:
    """Partitions, splits and spectra for every seed, stacked as [S, K, Nc, ...] arrays.

    Returns:
      (data, info): data holds "x" (raw features), "x_gcn" (row-normalised), "labels",
      "train_mask", "test_mask", "node_mask", "senders", "receivers" (local, padding edges on a
      padding slot), "eigvals", "eigvecs", "token_mask"; info holds client sizes and label skew.
    """
    features = dataset.features
    features = features.toarray() if scipy.sparse.issparse(features) else np.asarray(features)
    features = features.astype(np.float32)
    labels = dataset.labels
    if labels.min() < 0:
        raise ValueError(f"{dataset.name}: every node needs a label for the label partition")
    per_seed, sizes, skews = [], [], []
    for s in range(config.n_seeds):
        rng = np.random.default_rng(config.seed + s)
        if dataset.name in PUBLIC_SPLIT:
            train_mask, test_mask = dataset.train_mask, dataset.test_mask
        else:
            train_mask, _, test_mask = class_balanced_split(labels, dataset.num_classes, rng)
        clients = fedgcn_dirichlet_partition(labels, config.num_clients, config.alpha, rng,
                                             config.min_client_size)
        per_seed.append((clients, induced_subgraphs(dataset.senders, dataset.receivers,
                                                    dataset.num_nodes, clients),
                         train_mask, test_mask))
        sizes.append([len(c) for c in clients])
        skews.append(label_skew(labels, clients, dataset.num_classes))
    node_cap = max(sub.nodes.shape[1] for _, sub, _, _ in per_seed)
    edge_cap = max(sub.senders.shape[1] for _, sub, _, _ in per_seed)
    stacked: dict[str, list] = {}
    x_gcn = _row_normalize(features) if features.min() >= 0 else features
    for _, sub, train_mask, test_mask in per_seed:
        nodes = np.zeros((config.num_clients, node_cap), np.int64)
        nodes[:, :sub.nodes.shape[1]] = sub.nodes
        node_mask = np.zeros((config.num_clients, node_cap), bool)
        node_mask[:, :sub.nodes.shape[1]] = sub.node_mask
        senders = np.full((config.num_clients, edge_cap), node_cap - 1, np.int32)
        receivers = np.full((config.num_clients, edge_cap), node_cap - 1, np.int32)
        senders[:, :sub.senders.shape[1]] = np.where(sub.edge_mask, sub.senders, node_cap - 1)
        receivers[:, :sub.senders.shape[1]] = np.where(sub.edge_mask, sub.receivers, node_cap - 1)
        edge_mask = np.zeros((config.num_clients, edge_cap), bool)
        edge_mask[:, :sub.senders.shape[1]] = sub.edge_mask
        spectra = client_spectra(senders, receivers, edge_mask, sub.num_nodes, node_cap)
        item = {
            "x": np.where(node_mask[..., None], features[nodes], 0.0).astype(np.float32),
            "x_gcn": np.where(node_mask[..., None], x_gcn[nodes], 0.0).astype(np.float32),
            "labels": np.where(node_mask, labels[nodes], 0).astype(np.int32),
            "train_mask": node_mask & train_mask[nodes],
            "test_mask": node_mask & test_mask[nodes],
            "node_mask": node_mask, "senders": senders, "receivers": receivers, **spectra,
        }
        for name, value in item.items():
            stacked.setdefault(name, []).append(value)
    data = {name: np.stack(values) for name, values in stacked.items()}
    info = {"client_sizes": sizes, "label_skew": skews, "padded_client_size": int(node_cap),
            "train_nodes": data["train_mask"].sum(axis=(1, 2)).tolist(),
            "test_nodes": data["test_mask"].sum(axis=(1, 2)).tolist()}
    return data, info


# ---------------------------------------------------------------------------------- federation

def _gnodeformer_apply(model: GNODEFormer) -> Callable:
    def apply(params, client, key, train):
        rngs = {"dropout": key} if train else {}
        return model.apply(params, client["eigvals"], client["eigvecs"], client["x"],
                           client["token_mask"], deterministic=not train, rngs=rngs)
    return apply


def _gcn_apply(model: GCN) -> Callable:
    def apply(params, client, key, train):
        n = client["x_gcn"].shape[0]
        graph = jraph.GraphsTuple(nodes=None, edges=None, globals=None,
                                  senders=client["senders"], receivers=client["receivers"],
                                  n_node=jnp.asarray([n]),
                                  n_edge=jnp.asarray([client["senders"].shape[0]]))
        rngs = {"dropout": key} if train else {}
        return model.apply(params, graph, client["x_gcn"], deterministic=not train, rngs=rngs)
    return apply


def _masked_ce(logits_NxC: jax.Array, labels_N: jax.Array, mask_N: jax.Array) -> jax.Array:
    ce = optax.softmax_cross_entropy_with_integer_labels(logits_NxC, labels_N)
    mask = mask_N.astype(ce.dtype)
    return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def make_client_update(apply: Callable, optimizer: optax.GradientTransformation,
                       local_steps: int) -> Callable:
    """The official client: `local_steps` full-batch steps on the local training nodes, with a
    fresh dropout key per step (`fold_in(key, step)`), returning the delta to the global model."""

    def client_update(global_params, client_state, client, key, hp):
        del hp

        def loss_fn(params, step_key):
            logits = apply(params, client, step_key, True)
            loss = _masked_ce(logits, client["labels"], client["train_mask"])
            return loss

        def step(carry, step):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, jax.random.fold_in(key, step))
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        init = (global_params, optimizer.init(global_params))
        (params, _), losses = jax.lax.scan(step, init, jnp.arange(local_steps))
        delta = jax.tree_util.tree_map(jnp.subtract, params, global_params)
        return delta, client_state, {"loss_first": losses[0], "loss_last": losses[-1],
                                     "num_examples": jnp.sum(client["train_mask"])}

    return client_update


def _test_counts(apply: Callable, params, client) -> tuple[jax.Array, jax.Array]:
    logits = apply(params, client, None, False)
    correct = (jnp.argmax(logits, axis=-1) == client["labels"]) & client["test_mask"]
    return jnp.sum(correct), jnp.sum(client["test_mask"])


def train_federated(apply: Callable, init: Callable, optimizer: optax.GradientTransformation,
                    data: dict[str, np.ndarray], config: ml_collections.ConfigDict,
                    description: str, progress: bool = True) -> dict:
    """FedAvg of S seed populations at once: [S, K, ...] client data, [S] global models.

    Returns:
      {"test_accuracy": [S] (after the last round, in %), "curve": {"round": [...],
      "accuracy": [[S] per evaluation]}, "loss_last": mean final local loss per evaluation}.
    """
    if config.rounds % config.eval_every:
        raise ValueError(f"rounds ({config.rounds}) must be a multiple of eval_every "
                         f"({config.eval_every})")
    num_seeds, num_clients = data["labels"].shape[:2]
    client_data = {k: jnp.asarray(v) for k, v in data.items()}
    seed_keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(config.seed, config.seed + num_seeds))
    init_keys, run_keys = jnp.split(jax.vmap(jax.random.split)(seed_keys), 2, axis=1)
    first = jax.tree_util.tree_map(lambda v: v[:, 0], client_data)
    params = jax.jit(jax.vmap(init))(init_keys[:, 0], first)
    round_fn = make_round(make_client_update(apply, optimizer, config.local_steps), fedavg,
                          shard=False)
    weights = jnp.ones((num_clients,), jnp.float32)  # uniform FedAvg, as the official server
    per_seed_round = jax.vmap(
        lambda p, d, key: round_fn(p, (), (), d, weights, key, {})[::3],
        in_axes=(0, 0, 0))

    def evaluate(params, client_data):
        counts = jax.vmap(jax.vmap(lambda p, c: _test_counts(apply, p, c), in_axes=(None, 0)))(
            params, client_data)
        return 100.0 * jnp.sum(counts[0], axis=1) / jnp.maximum(jnp.sum(counts[1], axis=1), 1)

    @jax.jit
    def run_chunk(params, client_data, keys, start):  # data as an argument: no constant folding
        """`eval_every` rounds in one scan, then the test accuracy [S] of the global models."""
        def body(params, r):
            round_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, r)
            params, metrics = per_seed_round(params, client_data, round_keys)
            return params, jnp.mean(metrics["clients"]["loss_last"], axis=1)
        params, losses = jax.lax.scan(body, params, start + jnp.arange(config.eval_every))
        return params, losses[-1], evaluate(params, client_data)

    curve: dict = {"round": [], "accuracy": [], "loss_last": []}
    bar = progress_bar(config.rounds, 0, description, progress)
    try:
        for start in range(0, config.rounds, config.eval_every):
            params, loss, accuracy = run_chunk(params, client_data, run_keys[:, 0], start)
            loss = np.asarray(loss)
            if not np.all(np.isfinite(loss)):
                raise FloatingPointError(f"{description}: non-finite local loss {loss} after "
                                         f"round {start + config.eval_every}")
            curve["round"].append(start + config.eval_every)
            curve["accuracy"].append(np.asarray(accuracy).tolist())
            curve["loss_last"].append(loss.tolist())
            bar.update(config.eval_every)
    finally:
        bar.close()
    return {"test_accuracy": curve["accuracy"][-1], "curve": curve}


def _models(config: ml_collections.ConfigDict, num_classes: int) -> dict:
    gnode = GNODEFormer(num_classes=num_classes, hidden=config.hidden, heads=config.heads,
                        num_layers=config.num_layers, num_blocks=config.num_blocks,
                        rk_order=config.rk_order, tran_dropout=config.tran_dropout,
                        feat_dropout=config.feat_dropout, prop_dropout=config.prop_dropout)
    gcn = GCN(hidden_features=(config.gcn_hidden,), num_classes=num_classes,
              dropout_rate=config.gcn_dropout)
    apply_gnode, apply_gcn = _gnodeformer_apply(gnode), _gcn_apply(gcn)

    def init_gnode(key, client):
        return gnode.init(key, client["eigvals"], client["eigvecs"], client["x"],
                          client["token_mask"])

    def init_gcn(key, client):
        n = client["x_gcn"].shape[0]
        graph = jraph.GraphsTuple(nodes=None, edges=None, globals=None,
                                  senders=client["senders"], receivers=client["receivers"],
                                  n_node=jnp.asarray([n]),
                                  n_edge=jnp.asarray([client["senders"].shape[0]]))
        return gcn.init(key, graph, client["x_gcn"])

    def sgd(lr, wd):  # torch.optim.SGD(weight_decay=wd): grad + wd * param, then -lr
        return optax.chain(optax.add_decayed_weights(wd), optax.sgd(lr))

    if config.gcn_optimizer == "sgd":
        gcn_tx = sgd(config.gcn_learning_rate, config.gcn_weight_decay)
    elif config.gcn_optimizer == "adam":  # L2 on every parameter, Adam reset every round
        gcn_tx = optax.chain(optax.add_decayed_weights(config.gcn_weight_decay),
                             optax.adam(config.gcn_learning_rate))
    else:
        raise ValueError(f"gcn_optimizer must be 'sgd' or 'adam', got {config.gcn_optimizer!r}")
    models = {
        "gnodeformer": (apply_gnode, init_gnode, sgd(config.learning_rate, config.weight_decay)),
        "gcn": (apply_gcn, init_gcn, gcn_tx),
    }
    if config.adam_baseline:  # L2 on every parameter, Adam reset every round
        models["gcn_adam"] = (apply_gcn, init_gcn, optax.chain(
            optax.add_decayed_weights(config.gcn_weight_decay),
            optax.adam(config.adam_learning_rate)))
    return models


# --------------------------------------------------------------------------------------- run

def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    datasets = [d.strip() for d in config.datasets.split(",") if d.strip()]
    if not datasets:
        raise ValueError(f"config.datasets names no dataset: {config.datasets!r}")
    results: dict = {"datasets": {}}
    for name in datasets:
        dataset = _load(config, name)
        data, info = prepare_clients(config, dataset)
        entry: dict = {"name": dataset.name, "num_classes": int(dataset.num_classes), **info}
        for label, (apply, init, optimizer) in _models(config, dataset.num_classes).items():
            out = train_federated(apply, init, optimizer, data, config,
                                  description=f"{label} on {name}")
            entry[label] = out["test_accuracy"]
            entry[f"{label}_curve"] = out["curve"]
        results["datasets"][name] = entry
        with (workdir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"dataset": name, **{m: entry[m] for m in MODELS if m in entry}})
                    + "\n")
    results["plot"] = "gnodeformer.png"
    _plot(results, workdir / results["plot"])
    (workdir / "gnodeformer_summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _plot(results: dict, path: pathlib.Path) -> None:
    names = list(results["datasets"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        entry = results["datasets"][name]
        for label in (m for m in MODELS if m in entry):
            curve = entry[f"{label}_curve"]
            acc = np.asarray(curve["accuracy"])
            (mean_line,) = ax.plot(curve["round"], acc.mean(axis=1), linewidth=2,
                                   label=f"{label} ({np.mean(entry[label]):.1f})")
            ax.plot(curve["round"], acc, linewidth=0.6, alpha=0.4, color=mean_line.get_color())
        ax.set_title(f"{entry['name']}, {len(entry['client_sizes'][0])} clients")
        ax.set_xlabel("round")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    conditions, ours = [], []
    required = {"chameleon", "cora"}
    for name, entry in results["datasets"].items():
        gnode = float(np.mean(entry["gnodeformer"]))
        best = max((b for b in BASELINES if b in entry), key=lambda b: np.mean(entry[b]))
        gcn = float(np.mean(entry[best]))
        if name == "chameleon":
            conditions.append(gnode >= gcn + HETEROPHILIC_GAIN)
        elif name == "cora":
            conditions.append(gnode >= gcn - HOMOPHILIC_MARGIN)
        others = "".join(f", {b} {plots.mean_std(entry[b])}" for b in BASELINES
                         if b in entry and b != best)
        ours.append(f"{name}: Fed-GNODEFormer {plots.mean_std(entry['gnodeformer'])} vs "
                    f"FedAvg-GCN ({best}, the stronger baseline) {plots.mean_std(entry[best])} "
                    f"({gnode - gcn:+.1f}{others})")
    missing = sorted(required - set(results["datasets"]))
    if missing:
        ours.append(f"not run: {', '.join(missing)} (the claim needs both)")
    return Claim(
        passed=not missing and all(conditions),
        text=(f"under Dirichlet label skew, Fed-GNODEFormer >= FedAvg-GCN + {HETEROPHILIC_GAIN:g} "
              f"points on chameleon and >= FedAvg-GCN - {HOMOPHILIC_MARGIN:g} on Cora (the "
              "stronger of the SGD and Adam FedAvg-GCN baselines) "
              "(mean test accuracy over seeds, global model on the clients' test nodes)"),
        paper=("significant improvement over federated baselines on non-IID heterophilic graphs, "
               "better on homophilic ones (table numbers not retrieved offline)"),
        ours="; ".join(ours),
        plot=results["plot"],
    )
