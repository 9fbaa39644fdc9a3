"""HEI (Yang et al., "Leveraging Invariant Principle for Heterophilic Graph Structure Distribution
Shifts", WWW 2025) against ERM on the same LINKX backbone, on Geom-GCN heterophilous graphs with
their standard splits, evaluated on all test nodes and on the homophilous (Test_Max) and
heterophilous (Test_Min) halves of the test set.

Method (`jaxnets.models.hei`): the label-free neighbour pattern `s_i = mean_j ||x_i - x_j||`
standardised over the training nodes feeds ZIN's environment-inference MLP (1 -> 16 -> 4,
softmax); for the first 5 epochs it ascends on the IRMv1 penalty over the soft environments
while the backbone trains on `nll + 1e-3 ||theta||^2`; then it is frozen and the backbone
minimises `(nll + 1e-3 ||theta||^2 + 1e4 P) / (1 + 1e4)`. Backbone: LINKX
(`jaxnets.nn.linkx`, hidden 128, MLP_A 2 layers, MLP_X 1, MLP_f 1), AdamW (lr 0.01, weight decay
1e-3), up to 500 epochs, the epoch with the best validation accuracy kept per run (stop after
100 epochs without improvement in every run), as in the reference. ERM is the same step with
lambda = 0 and no environment updates (the backbone's own objective; `erm_l2` sets its explicit
L2, 0 as in the LINKX code). ERM and HEI of a run start from the same backbone initialisation.
All runs of a dataset (splits x seeds) train together as one `vmap`-ed population.

Datasets: Chameleon and Film/Actor (both in the paper's table), Geom-GCN graphs and their 10
standard splits (48/32/20 %); Chameleon's features are Platonov et al.'s copy (see
`jaxnets.data.geom_gcn`). Squirrel is supported (`datasets=...,squirrel`) but costs ~6x more on
CPU. Cornell is not used (the Geom-GCN file is a copy of Texas's).

Claim (issue row): on every dataset, mean Test_Min accuracy of HEI >= ERM + 1.0 point and mean
overall test accuracy of HEI >= ERM - 0.5. The paper reports HEI improving on ERM, most on the
low-homophily test nodes; no per-dataset number was retrieved for this note.

Deviations: LINKX's BatchNorm uses full-batch statistics at evaluation too (no running
averages); the IRMv1 dummy scale multiplies the logits (`irm_scale="logits"`, IRMv1 as the
paper writes it) where the reference code multiplies the log-softmax output (`"log_probs"`,
which turns the penalty into `sum_e R_e^2`); one population-wide early stop instead of one per
run (a run that would have stopped keeps training, but its best-validation state is kept).

Outcome (2026-12-02, shared 2-core machine at load ~15; FAILS on both datasets):
Chameleon, 10 standard splits, full config: Test HEI 63.6 +- 1.9 vs ERM 65.8 +- 2.4 (-2.2);
Test_Min HEI 62.2 +- 2.3 vs ERM 63.8 +- 3.5 (-1.6); Test_Max HEI 64.9 vs ERM 67.7 (1530 s wall).
With the reference code's placement of the dummy scale (`irm_scale=log_probs`, same splits and
inits): Test 64.0 (-1.8), Test_Min 64.1 (+0.3), Test_Max 64.0 (-3.7), so closer on the
heterophilous half but still short of +1.0 and below ERM overall. Both backbones reach 100 %
training accuracy within ~10 epochs and the best-validation epoch is mostly 4-11, i.e. around the
end of the 5 anneal epochs, so the penalty phase rarely produces the selected model. Film
(Actor), all 10 splits, full config (2026-12-02): Test HEI 27.6 +- 0.9 vs ERM 28.7 +- 1.2
(-1.0); Test_Min 25.1 +- 1.8 vs 25.9 +- 1.5 (-0.8); Test_Max 30.1 vs 31.4 (an earlier run of the
first 3 splits had Test_Min +0.6: the 10-split mean removes it). Our LINKX ERM on Film (28.7) is
below the ~36 % the LINKX paper reports, which we did not have time to chase (the same backbone
serves both arms, so the comparison stays paired).
One point of the authors' per-dataset grid, anneal 10 epochs and lambda 2e4 (10 splits each,
2026-12-02): Chameleon Test_Min 64.8 vs ERM 63.8 (+1.05), Test 65.4 vs 65.8 (-0.37), i.e. the
claim holds there; Film Test_Min 24.9 vs 25.9 (-0.95), Test 27.5 vs 28.7 (-1.2). Selecting
between the two settings by HEI's mean validation accuracy (never by test) picks (10, 2e4) on
both datasets (Chameleon 65.9 vs 63.8, Film 28.45 vs 28.43), so the validation-selected result
is a pass on Chameleon and a fail on Film: the claim still fails. The rest of the grid
(infer_env_lr, K, anneal 15, lambda 5e4, l2, lr 5e-3..5e-4) is untried.
"""
from __future__ import annotations

import json
import pathlib

import jax
import jax.experimental.sparse
import jax.numpy as jnp
import jraph
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import optax
import scipy.sparse

from jaxnets import config as config_lib
from jaxnets import data as data_lib
from jaxnets import graph as graph_lib
from jaxnets import plots
from jaxnets.experiment import Claim, Paper
from jaxnets.models.hei import (EnvironmentInference, HEIConfig, hei_step, homophily_groups,
                                neighbor_pattern_score, node_homophily, standardize_on)
from jaxnets.nn.linkx import LINKX
from jaxnets.train import EarlyStopping, TrainState, fit
from jaxnets.train.supervised import masked_accuracy

PAPER = Paper(
    title=("Leveraging Invariant Principle for Heterophilic Graph Structure Distribution "
           "Shifts"),
    authors="Yang, Chen, Xiao, Zhang, Lin & Kuang",
    venue="WWW 2025",
)
DESCRIPTION = "HEI (invariant learning over neighbour-pattern environments) vs ERM on LINKX, Test_Min/Test_Max"
MIN_GAIN = 1.0    # Test_Min points HEI must gain over ERM (issue row)
MAX_LOSS = 0.5    # overall test points HEI may lose to ERM (issue row)
METHODS = ("erm", "hei")
GROUPS = ("test", "test_max", "test_min")
SPARSE_BELOW = 0.1  # feature density under which the model reads the features as BCOO


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        datasets="chameleon,film",  # jaxnets.data.load_dataset names
        data_root="",               # "" = $JAXNETS_DATA
        num_splits=10,              # first k standard splits
        n_seeds=1,                  # seeds per split (seed + split index + 1000 * seed)
        seed=0,
        csbm_nodes=300,             # only for dataset "csbm" (smoke test)
        hidden=128,
        num_layers=1,
        a_layers=2,
        x_layers=1,
        dropout=0.5,
        learning_rate=0.01,
        weight_decay=1e-3,
        epochs=500,
        patience=100,
        distance="norm2",           # neighbour-pattern distance: "norm2" or "cos"
        num_envs=4,
        env_hidden=16,
        env_learning_rate=1e-3,
        anneal_epochs=5,
        penalty_weight=1e4,
        l2=1e-3,
        erm_l2=0.0,
        irm_scale="logits",         # "logits" (IRMv1) or "log_probs" (the reference code)
        ratio=0.5,                  # Test_Max / Test_Min split point (median)
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "datasets=csbm", "csbm_nodes=120", "num_splits=1", "n_seeds=2", "hidden=8",
        "epochs=6", "patience=0", "anneal_epochs=2"])


def _load(config: ml_collections.ConfigDict, name: str) -> data_lib.NodeDataset:
    if name == "csbm":
        return data_lib.contextual_sbm(num_nodes=config.csbm_nodes, num_classes=3, avg_degree=6.0,
                                       homophily=0.3, num_features=16, feature_signal=2.0, seed=0)
    return data_lib.load_dataset(name, root=config.data_root or None)


def _members(dataset: data_lib.NodeDataset, config: ml_collections.ConfigDict) -> dict:
    """Per population member (split k, seed s): masks, Test_Max/Min masks and env input."""
    n = dataset.num_nodes
    masks = {name: np.asarray(getattr(dataset, f"{name}_mask")).reshape(-1, n)
             for name in ("train", "val", "test")}
    splits = min(config.num_splits, masks["train"].shape[0])
    if splits < 1:
        raise ValueError(f"num_splits must be >= 1, got {config.num_splits}")
    features = dataset.features
    dense = features.toarray() if scipy.sparse.issparse(features) else np.asarray(features)
    score = neighbor_pattern_score(dense, dataset.senders, dataset.receivers, n,
                                   method=config.distance)
    homophily = node_homophily(dataset.senders, dataset.receivers, dataset.labels, n)
    rows: dict[str, list] = {k: [] for k in ("split", "seed", "train", "val", "test",
                                             "test_max", "test_min", "env_input")}
    for k in range(splits):
        test_max, test_min = homophily_groups(homophily, masks["test"][k], config.ratio)
        env_input = np.asarray(standardize_on(score, masks["train"][k]))[:, None]
        for s in range(config.n_seeds):
            rows["split"].append(k)
            rows["seed"].append(config.seed + k + 1000 * s)
            for name in ("train", "val", "test"):
                rows[name].append(masks[name][k])
            rows["test_max"].append(test_max)
            rows["test_min"].append(test_min)
            rows["env_input"].append(env_input)
    return {k: np.stack(v) for k, v in rows.items()}


def _model_features(features) -> jax.Array | jax.experimental.sparse.BCOO:
    """BCOO when the features are mostly zeros (the Geom-GCN bag-of-words: ~0.6 % non-zero),
    so MLP_X costs O(nnz H) (PERFORMANCE.md item 1); dense otherwise."""
    if scipy.sparse.issparse(features):
        return graph_lib.to_bcoo(features)
    features = np.asarray(features, np.float32)
    if np.count_nonzero(features) < SPARSE_BELOW * features.size:
        return graph_lib.to_bcoo(scipy.sparse.csr_matrix(features))
    return jnp.asarray(features)


def _train(config, dataset, members, method: str, workdir: pathlib.Path) -> dict:
    """Trains the population with `method` ("erm" or "hei"); per-member best-val metrics."""
    x = _model_features(dataset.features)
    graph = jraph.GraphsTuple(
        nodes=None, edges=None, globals=None, senders=jnp.asarray(dataset.senders),
        receivers=jnp.asarray(dataset.receivers), n_node=jnp.asarray([dataset.num_nodes]),
        n_edge=jnp.asarray([dataset.num_edges]))
    model = LINKX(hidden=config.hidden, num_classes=dataset.num_classes,
                  num_layers=config.num_layers, a_layers=config.a_layers,
                  x_layers=config.x_layers, dropout_rate=config.dropout)
    env_model = EnvironmentInference(num_envs=config.num_envs, hidden=config.env_hidden)
    backbone_tx = optax.adamw(config.learning_rate, weight_decay=config.weight_decay)
    env_tx = optax.adam(config.env_learning_rate)
    if method == "hei":
        hei = HEIConfig(config.penalty_weight, config.l2, config.anneal_epochs, config.irm_scale)
    else:  # ERM: the backbone's own loss; the environment net is never updated
        hei = HEIConfig(0.0, config.erm_l2, 0, config.irm_scale)
    labels = jnp.asarray(dataset.labels)
    per_member = {k: jnp.asarray(v) for k, v in members.items() if k not in ("split", "seed")}

    def logits_fn(params, key):
        return model.apply({"params": params}, graph, x, deterministic=False,
                           rngs={"dropout": key})

    def init(key, index):
        backbone = model.init(key, graph, x, deterministic=True)["params"]
        env_input = per_member["env_input"][index]
        env = env_model.init(jax.random.fold_in(key, 1), env_input)["params"]
        return TrainState(
            step=jnp.zeros((), jnp.int32), params={"backbone": backbone, "env": env},
            opt_state={"backbone": backbone_tx.init(backbone), "env": env_tx.init(env)},
            rng=key, model_state={name: v[index] for name, v in per_member.items()})

    def evaluate(state):
        logits = model.apply({"params": state.params["backbone"]}, graph, x, deterministic=True)
        return {f"{name}/accuracy": masked_accuracy(logits, labels, state.model_state[name])
                for name in ("train", "val", *GROUPS)}

    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(members["seed"], jnp.uint32))
    population = jax.jit(jax.vmap(init))(keys, jnp.arange(len(members["seed"])))
    step = hei_step(logits_fn, env_model, backbone_tx, env_tx, labels, hei)
    result = fit(population, step, num_steps=config.epochs, eval_fn=evaluate, eval_every=1,
                 early_stopping=EarlyStopping("val/accuracy", "max",
                                              patience=config.patience or None),
                 workdir=workdir, config=config_lib.to_dict(config), resume=True,
                 description=f"{method} {dataset.name}")
    final = jax.jit(jax.vmap(evaluate))(result.best_state)
    out = {name: (100 * np.asarray(final[f"{name}/accuracy"])).tolist()
           for name in ("val", *GROUPS)}
    out["best_step"] = np.asarray(result.best_step).tolist()
    out["stop_reason"] = result.stop_reason
    return out


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    names = [d.strip() for d in config.datasets.split(",") if d.strip()]
    if not names:
        raise ValueError(f"config.datasets names no dataset: {config.datasets!r}")
    results: dict = {"datasets": {}}
    for name in names:
        dataset = _load(config, name)
        members = _members(dataset, config)
        entry: dict = {"name": dataset.name, "splits": members["split"].tolist(),
                       "seeds": members["seed"].tolist(),
                       "test_max_size": members["test_max"].sum(1).tolist(),
                       "test_min_size": members["test_min"].sum(1).tolist()}
        for method in METHODS:
            entry[method] = _train(config, dataset, members, method,
                                   workdir / name.replace("/", "_") / method)
        results["datasets"][name] = entry
    results["plot"] = "hei.png"
    _plot(results, workdir / results["plot"])
    (workdir / "hei_summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _plot(results: dict, path: pathlib.Path) -> None:
    names = list(results["datasets"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        entry = results["datasets"][name]
        for i, method in enumerate(METHODS):
            values = [entry[method][g] for g in GROUPS]
            ax.bar(np.arange(len(GROUPS)) + 0.4 * i, [np.mean(v) for v in values], 0.4,
                   yerr=[np.std(v) for v in values], label=method.upper())
        ax.set_xticks(np.arange(len(GROUPS)) + 0.2, ["Test", "Test_Max", "Test_Min"])
        ax.set_title(entry["name"])
        ax.set_ylabel("accuracy (%)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    conditions, ours = [], []
    for name, entry in results["datasets"].items():
        erm, hei = entry["erm"], entry["hei"]
        gain_min = np.mean(hei["test_min"]) - np.mean(erm["test_min"])
        gain_all = np.mean(hei["test"]) - np.mean(erm["test"])
        conditions += [gain_min >= MIN_GAIN, gain_all >= -MAX_LOSS]
        ours.append(
            f"{name} ({len(erm['test'])} runs): Test HEI {plots.mean_std(hei['test'])} vs ERM "
            f"{plots.mean_std(erm['test'])} ({gain_all:+.2f}); Test_Min HEI "
            f"{plots.mean_std(hei['test_min'])} vs ERM {plots.mean_std(erm['test_min'])} "
            f"({gain_min:+.2f}); Test_Max HEI {plots.mean_std(hei['test_max'])} vs ERM "
            f"{plots.mean_std(erm['test_max'])}")
    return Claim(
        passed=all(conditions),
        text=(f"on every dataset, HEI's mean Test_Min accuracy >= ERM + {MIN_GAIN} points and "
              f"its mean test accuracy >= ERM - {MAX_LOSS} (same LINKX backbone, splits, "
              "epochs and best-validation selection)"),
        paper=("HEI beats ERM on the same backbones, most on the heterophilous (Test_Min) "
               "test nodes; no per-dataset number retrieved"),
        ours="; ".join(ours),
        plot=results["plot"],
    )
