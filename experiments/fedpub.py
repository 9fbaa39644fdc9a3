"""FED-PUB (Baek, Jeong, Jin, Yoon & Hwang, "Personalized Subgraph Federated Learning", ICML 2023):
personalised, similarity-weighted aggregation with functional embeddings on a random proxy graph
and personalised sparse masks (`jaxnets.federated.fedpub`), against FedAvg-GCN, a uniform-
similarity ablation and local-only training, on Cora cut into community subgraphs.

Setting (the paper's disjoint Cora setting, Sec. 5.1, at the official scripts' hyperparameters):
Cora's largest connected component (2,485 nodes), row-normalised features, one random 20/40/40
train/val/test split of all nodes, Louvain communities merged into 10 clients (the paper uses
METIS, not available offline; `jaxnets.federated.partition.louvain_partition`); each client keeps
its induced subgraph (edges across clients are lost). Local model: GCN(1433 -> 128) -> ReLU ->
dropout 0.5 -> GCN(128 -> 128) -> ReLU -> dropout -> Linear(128 -> 7). 100 rounds, all clients
every round, 1 local epoch (one full-batch step) of Adam (lr 0.01, torch-style weight decay 1e-6)
whose state persists on each client across rounds (as in the official code).
* FED-PUB: masks initialised to ones on every weight matrix; local objective CE(theta * mu) +
  1e-3 ||mu||_1 + 1e-3 ||theta - theta_bar||^2 (`regularizers_active=True`, the paper; False =
  the official code, whose penalties carry no gradient); functional embedding = mean over a 5 x
  100-node random partition graph (p_in 0.1, N(0, 1) features) of the pruned model's second
  GCN output; alpha = softmax_j(tau cos(h_i, h_j)) with tau = 3 (official Cora script).
* uniform ablation: the same client (masks, penalties), alpha_ij = 1/K (the similarity softmax
  at tau = 0, so it shares FED-PUB's compiled program).
* local: the same client, alpha = identity (no collaboration).
* FedAvg: the plain GCN, FedAvg over training-node counts (`jaxnets.federated.simulator`).
Metric (official `evaluations/analysis.ipynb`): each client's model after its local training in a
round is evaluated on its own val/test nodes (masks pruned at |mu| < 1e-3); per seed, the mean
local test accuracy at the round with the best mean local validation accuracy. Three seeds (model
init, dropout; the partition, split and proxy graph are fixed) run together under `vmap`, each
method's 100 rounds in one `lax.scan`.

Claim (issue row): FED-PUB mean local test accuracy >= FedAvg + 5 points at 10 clients (the
official notebook: FedAvg 68.80 vs FED-PUB 81.19), and the uniform-similarity ablation loses at
least half of that gain.

Deviations: Louvain for METIS; our seeds vary the model, not the partition; the proxy graph is
drawn with numpy/networkx (same distribution, other random stream); the proximal term is the
paper's squared L2 norm (the code's is unsquared and gradient-free); FedAvg weights clients by
training-node counts.

Outcome (full config, 3 seeds, 100 rounds; FAILS both conditions). Mean local test accuracy at
best local val:
* paper objective (default, `regularizers_active=True`): FedAvg 77.5 +- 0.6, FED-PUB 69.2 +- 0.5,
  uniform 68.6 +- 1.0, local 78.0 +- 0.4 (gain -8.3, ablation loss +0.6). The L1 term collapses
  the masks: under Adam every mask entry whose task gradient is below lambda1 = 1e-3 moves by
  ~lr = 0.01 per step towards 0, so after ~100 one-step rounds 82 % of the entries sit below
  the 1e-3 pruning threshold and the pruned models degrade (curves in the plot peak near round
  55, then fall; local-only with masks falls too). The proximal term is inert at one local step
  (its gradient is 0 at theta = theta_bar).
* official-code objective (`regularizers_active=False`): FedAvg 77.5 +- 0.6, FED-PUB
  81.1 +- 0.2 (the paper's 81.19 +- 0.26), uniform 80.8 +- 0.5, local 80.2 +- 0.3: gain +3.6
  points (needs 5), the ablation loses +0.3 (needs half the gain). corr(alpha_ij, cosine of the
  clients' label histograms) = 0.65, so the functional embeddings do find similar clients, but
  at tau = 3 alpha stays close to uniform (row maxima 0.12-0.20 against 1/K = 0.1, minimum 0.05),
  and the personalisation comes mostly from the local masks and per-client Adam states, which the
  uniform ablation keeps.
  With the parser's default tau = 10 (same objective, FED-PUB only): 80.6 +- 0.4, alpha much
  sharper (corr. with label similarity 0.81; two clients keep ~0.99 of their own model), so a
  sharper similarity does not open a gap either.
Our FED-PUB matches the paper's number; what differs is FedAvg (77.5 here vs 68.8): our Louvain
communities are a different (likely less label-heterogeneous) partition than METIS's, and
local-only training is already at 80 %, leaving little room above FedAvg. Not tried: METIS
(not installed), other seeds of the partition, more local epochs. ~12-14 min wall per full run on
the loaded 2-core machine (load ~15).
"""
from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import ml_collections
import numpy as np

from experiments import _federated_graph as fg
from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.experiment import Claim, Paper
from jaxnets.federated import fedpub
from jaxnets.graph import gcn_norm

PAPER = Paper(
    title="Personalized Subgraph Federated Learning",
    authors="Baek, Jeong, Jin, Yoon & Hwang",
    venue="ICML 2023",
)
DESCRIPTION = ("FED-PUB (functional-embedding similarity aggregation + personalised sparse masks) "
               "vs FedAvg-GCN on Cora community subgraphs")
PAPER_RESULT = ("Cora disjoint, 10 clients, 100 rounds (official notebook): local test accuracy "
                "FedAvg 68.80 +- 1.36, FED-PUB 81.19 +- 0.26")
MIN_GAIN = 5.0            # points FED-PUB must beat FedAvg by (issue row)
MIN_ABLATION_SHARE = 0.5  # share of the gain the uniform-similarity ablation must lose
METHODS = ("fedavg", "fedpub", "uniform", "local")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        dataset="cora",
        data_root="",              # "" = $JAXNETS_DATA
        num_clients=10,
        partition="disjoint",      # or "overlapping"
        clients_per_group=3,       # overlapping only
        partition_seed=0,
        split_seed=0,
        train_fraction=0.2,        # val and test share the rest equally (FED-PUB: 20/40/40)
        methods="fedavg,fedpub,uniform,local",
        hidden=128,
        dropout=0.5,
        rounds=100,
        local_epochs=1,
        learning_rate=0.01,
        weight_decay=1e-6,
        tau=3.0,                   # the official Cora script's --norm-scale
        l1=1e-3,
        loc_l2=1e-3,
        regularizers_active=True,  # False = the official code (penalties without gradient)
        proxy_blocks=5,
        proxy_block_size=100,
        proxy_p_in=0.1,
        n_seeds=3,
        seed=0,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "num_clients=4", "hidden=16", "rounds=4", "n_seeds=2", "proxy_blocks=2",
        "proxy_block_size=20"])


def _proxy_inputs(config, num_features: int):
    proxy = fedpub.proxy_graph(num_features, config.seed, config.proxy_blocks,
                               config.proxy_block_size, config.proxy_p_in)
    num = proxy.x.shape[0]
    senders, receivers, weight = jax.jit(lambda s, r: gcn_norm(s, r, num))(
        jnp.asarray(proxy.senders), jnp.asarray(proxy.receivers))
    return fg.client_graph(senders, receivers, weight, num), jnp.asarray(proxy.x)


def personalised_trainer(config, model: fg.ClientGCN, num_features: int, weighting: str):
    """FED-PUB's rounds (or its local variant) for all seeds in one jitted `lax.scan`.

    Returns:
      `train(seed_keys [S], data, weights [K], tau) -> history` with "val_accuracy",
      "test_accuracy", "loss", "sparsity": [R, S, K] and "alpha": [R, S, K, K]. The temperature
      is traced, so FED-PUB (tau = config.tau) and the uniform ablation (tau = 0) share one
      compiled program.
    """
    optimizer = fg.adam_with_l2(config.learning_rate, config.weight_decay)
    proxy_graph, proxy_x = _proxy_inputs(config, num_features)

    def loss_fn(params, client, key):
        graph, x = fg.one_client(client)
        logits = model.apply(params, graph, x, deterministic=False, rngs={"dropout": key})
        return fg.masked_cross_entropy(logits, client.labels, client.train_mask)

    client_update = fedpub.fedpub_client_update(
        loss_fn, lambda params: model.apply(params, proxy_graph, proxy_x, embed=True),
        lambda params, client: fg.local_accuracies(model.apply, params, client), optimizer,
        local_epochs=config.local_epochs, l1=config.l1, loc_l2=config.loc_l2,
        regularizers_active=config.regularizers_active)
    round_fn = fedpub.make_personalised_round(
        client_update, fedpub.fedpub_server_aggregate(weighting, None))

    def one_seed(seed_key, data, weights_K, tau):
        num_clients = weights_K.shape[0]
        params = fg.init_gcn(model, jax.random.fold_in(seed_key, 0), data)
        personal = fg.broadcast_clients(params, num_clients)
        state = fg.broadcast_clients(fedpub.init_client_state(params, optimizer), num_clients)

        def body(carry, r):
            personal, state = carry
            _, personal, state, metrics = round_fn(
                personal, state, data, weights_K, jax.random.fold_in(seed_key, r + 1),
                {"tau": tau})
            out = {k: metrics["clients"][k] for k in ("val_accuracy", "test_accuracy", "loss",
                                                      "sparsity")}
            return (personal, state), {**out, "alpha": metrics["server"]["alpha"],
                                       "num_nonfinite": metrics["num_nonfinite"]}

        _, history = jax.lax.scan(body, (personal, state), jnp.arange(config.rounds))
        return history

    run_seeds = jax.jit(jax.vmap(one_seed, in_axes=(0, None, None, None)))

    def train(seed_keys, data, weights_K, tau):
        history = run_seeds(seed_keys, data, weights_K, jnp.float32(tau))   # leaves [S, R, ...]
        if int(np.max(np.asarray(history["num_nonfinite"]))) > 0:
            raise FloatingPointError(f"{weighting} (tau={tau}): a client's params became "
                                     f"non-finite")
        return {k: jnp.swapaxes(v, 0, 1) for k, v in history.items() if k != "num_nonfinite"}

    return train


def _label_similarity(histograms: list[list[int]]) -> np.ndarray:
    h = np.asarray(histograms, np.float64)
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    return h @ h.T


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    methods = [m.strip() for m in config.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ValueError(f"config.methods must name some of {METHODS}, got {config.methods!r}")
    rest = (1.0 - config.train_fraction) / 2
    data, info = fg.federated_node_data(
        config.dataset, config.num_clients, root=config.data_root or None,
        partition_kind=config.partition, partition_seed=config.partition_seed,
        split_seed=config.split_seed, fractions=(config.train_fraction, rest, rest),
        clients_per_group=config.clients_per_group)
    model = fg.ClientGCN(config.hidden, info["num_classes"], config.dropout)
    weights = jnp.asarray(info["client_train"], jnp.float32)
    seed_keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(config.seed, config.seed + config.n_seeds))
    results: dict = {"data": info, "methods": {}}
    label_sim = _label_similarity(info["label_histograms"])
    off_diagonal = ~np.eye(config.num_clients, dtype=bool)
    trainers: dict = {}
    for method in methods:
        if method == "fedavg":
            out = fg.run_fedavg(model, data, weights,
                                fg.adam_with_l2(config.learning_rate, config.weight_decay),
                                seed_keys, config.rounds, config.local_epochs)
        else:
            weighting = "local" if method == "local" else "similarity"
            if weighting not in trainers:
                trainers[weighting] = personalised_trainer(config, model, info["num_features"],
                                                           weighting)
            out = trainers[weighting](seed_keys, data, weights,
                                      0.0 if method == "uniform" else config.tau)
        best = fg.accuracy_at_best_val(out["val_accuracy"], out["test_accuracy"])
        entry = {"test_accuracy": best["test"], "val_accuracy": best["val"],
                 "best_round": best["round"],
                 "curve": (100 * np.asarray(out["test_accuracy"]).mean(axis=(1, 2))).tolist()}
        if "alpha" in out:
            alpha = np.asarray(out["alpha"][-1])                        # [S, K, K], last round
            entry["alpha_seed0"] = alpha[0].tolist()
            entry["final_sparsity"] = float(np.asarray(out["sparsity"][-1]).mean())
            if method == "fedpub" and config.num_clients > 2:
                entry["alpha_label_correlation"] = float(np.mean([
                    np.corrcoef(a[off_diagonal], label_sim[off_diagonal])[0, 1] for a in alpha]))
        results["methods"][method] = entry
    results["plot"] = "fedpub.png"
    _plot(results, workdir / results["plot"])
    (workdir / "fedpub_summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _plot(results: dict, path: pathlib.Path) -> None:
    entries = results["methods"]
    has_alpha = "alpha_seed0" in entries.get("fedpub", {})
    fig, axes = plt.subplots(1, 2 if has_alpha else 1, figsize=(10 if has_alpha else 5.5, 3.8))
    ax = axes[0] if has_alpha else axes
    for method, entry in entries.items():
        curve = entry["curve"]
        ax.plot(np.arange(1, len(curve) + 1), curve,
                label=f"{method} ({np.mean(entry['test_accuracy']):.1f} at best val)")
    ax.set_xlabel("round")
    ax.set_ylabel("mean local test accuracy (%)")
    ax.set_title(f"{results['data']['num_nodes']}-node graph, "
                 f"{len(results['data']['client_nodes'])} clients")
    ax.legend(fontsize=8)
    if has_alpha:
        image = axes[1].imshow(np.asarray(entries["fedpub"]["alpha_seed0"]), cmap="viridis")
        axes[1].set_title("FED-PUB alpha_ij, last round (seed 0)")
        axes[1].set_xlabel("source client j")
        axes[1].set_ylabel("client i")
        fig.colorbar(image, ax=axes[1])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    entries = results["methods"]
    missing = [m for m in ("fedavg", "fedpub", "uniform") if m not in entries]
    if missing:
        return Claim(passed=False, text=f"not checked: the claim needs methods {missing} in "
                     f"config.methods", paper=PAPER_RESULT,
                     ours="; ".join(f"{m} {plots.mean_std(e['test_accuracy'])}"
                                    for m, e in entries.items()), plot=results["plot"])
    mean = {m: float(np.mean(e["test_accuracy"])) for m, e in entries.items()}
    gain = mean["fedpub"] - mean["fedavg"]
    lost = mean["fedpub"] - mean["uniform"]
    passed = gain >= MIN_GAIN and lost >= MIN_ABLATION_SHARE * gain
    ours = "; ".join(f"{m} {plots.mean_std(e['test_accuracy'])}" for m, e in entries.items())
    ours += (f"; gain over FedAvg {gain:+.1f} points, the uniform ablation loses {lost:+.1f} "
             f"({lost / gain:.0%} of the gain)" if gain else "")
    if "alpha_label_correlation" in entries["fedpub"]:
        ours += (f"; corr(alpha_ij, label-histogram cosine) "
                 f"{entries['fedpub']['alpha_label_correlation']:.2f}")
    return Claim(
        passed=passed,
        text=(f"FED-PUB mean local test accuracy (at best local val) >= FedAvg + {MIN_GAIN:.0f} "
              f"points on {len(results['data']['client_nodes'])} community-subgraph clients, and "
              f"the uniform-similarity ablation loses >= {MIN_ABLATION_SHARE:.0%} of that gain: "
              f"gain {gain:+.1f}, ablation loss {lost:+.1f}"),
        paper=PAPER_RESULT,
        ours=ours,
        plot=results["plot"],
    )
