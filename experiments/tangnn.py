"""TANGNN (E et al., "TANGNN: a Concise, Scalable and Effective Graph Neural Network with Top-m
Attention Mechanism for Graph Representation Learning", ESWA 2024): Top-m attention plus sampled
neighbourhood aggregation, against GraphSAGE, on Cora and a heterophilous graph.

The model (`jaxnets.nn.tangnn`) is the paper's layer: `[SAGE-mean over 5 sampled neighbours ||
multi-head attention over each node's Top-m set]`, where the Top-m set of node v holds the m
nodes whose cosine with the re-centred auxiliary vector is nearest v's own (found exactly by a
sorted window, O(N log N + N m)). Not the official code's behaviour (global top-m tiled over the
nodes; available as `attention="official"`). Official defaults: 2 layers, hidden 32, 1 head,
m = 20, sample size 5, Adam lr 0.005 with weight decay 1e-4 (torch-style L2, here on every
parameter except the gradient-free auxiliary vector), 100 epochs; dropout 0.5 on each layer's
input (the paper gives none). GraphSAGE is the same network with the attention branch removed
(same sampler, widths, read-out, optimiser and epochs: the m = 0 ablation). Per seed we keep the
epoch with the best validation accuracy and report its test accuracy; 3 seeds train together
under `vmap` (`experiments._node_classification`).

Datasets: Cora (Planetoid public split, 140/500/1000) and Chameleon (heterophilous, edge homophily
~0.23; the Geom-GCN graph and its standard split 0 of 10, 48/32/20 %, features from the Platonov
et al. file, see `jaxnets.data`). Cost: in the same run, the wall time of one jitted full-batch
training epoch (forward + backward + Adam) of TANGNN with Top-m attention and with full N x N
attention (`attention="full"`, same parameters), median of `timing_steps` interleaved steps.

Claim (issue row): TANGNN mean accuracy >= GraphSAGE - 0.5 points on Cora and on Chameleon, and
Top-m epoch time <= 0.5 x full-attention epoch time (on both graphs). Whether TANGNN beats
GraphSAGE (the paper's claim; the paper gives no number we could retrieve) is reported, not gated.

Deviations: Chameleon rather than the paper's datasets for the heterophilous graph (the issue's
choice); the Top-m criterion follows the paper's description (the auxiliary vector is re-centred
functionally at every forward pass rather than by an explicit update step); evaluation uses the
exact neighbour mean instead of a sample.

Outcome (full config, 3 seeds; FAILS the accuracy conditions, passes the cost condition):
Cora TANGNN 76.2 ± 0.9 vs GraphSAGE 78.6 ± 0.5 (-2.4 points, gate -0.5); Chameleon TANGNN
59.6 ± 0.8 vs GraphSAGE 60.8 ± 0.8 (-1.2 points); Top-m / full-attention epoch time 0.11 on Cora
(0.31 s vs 2.84 s) and 0.25 on Chameleon (0.41 s vs 1.66 s), GraphSAGE alone 0.06 / 0.18 s, on
the shared 2-core machine at load ~18. An earlier full run of the same model with a sort-based
neighbour sampler (same distribution, other random stream) gave Cora 76.0 ± 0.9 vs 77.2 ± 0.8 and
Chameleon 58.8 ± 0.5 vs 62.1 ± 0.4, so TANGNN trailing GraphSAGE is consistent. Only the official
defaults were run (no tuning of either model); `criterion="cosine"` and `layer_concat=True`
(TANGNN-LC, the paper's best variant) are available as config options but were not run at full
scale for lack of time. The full run takes ~14 min on the loaded machine (~4.5 min CPU).
"""
from __future__ import annotations

import json
import pathlib
import statistics
import time

import jax
import jraph
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import optax
import scipy.sparse

from experiments import _node_classification as common
from jaxnets import config as config_lib
from jaxnets import graph as graph_lib
from jaxnets import plots
from jaxnets.experiment import Claim, Paper
from jaxnets.nn.tangnn import TANGNN
from jaxnets.train.supervised import l2_on, node_classification

PAPER = Paper(
    title=("TANGNN: a Concise, Scalable and Effective Graph Neural Network with Top-m Attention "
           "Mechanism for Graph Representation Learning"),
    authors="E, Zhang, Xia & Xu",
    venue="Expert Systems with Applications 2024",
)
DESCRIPTION = "TANGNN (Top-m attention + sampled SAGE) vs GraphSAGE on Cora and Chameleon, cost vs full attention"
MARGIN = 0.5          # accuracy points TANGNN may trail GraphSAGE by (issue row)
MAX_COST_RATIO = 0.5  # Top-m epoch time / full-attention epoch time (issue row)
MODELS = {"tangnn": "top_m", "graphsage": "none"}


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        datasets="cora,chameleon",  # comma-separated jaxnets.data.load_dataset names
        data_root="",               # "" = $JAXNETS_DATA, else the download cache
        split=0,                    # standard split, for datasets with several
        csbm_nodes=2000,            # only for dataset "csbm" (used by the smoke test)
        normalize_features=True,
        hidden=32,
        num_layers=2,
        heads=1,
        m=20,
        criterion="auxiliary",      # "auxiliary" (the paper) or "cosine" (exact pairwise top-m)
        layer_concat=False,         # True = TANGNN-LC (all layers' outputs to the read-out)
        sample_size=5,
        dropout=0.5,
        learning_rate=0.005,
        weight_decay=1e-4,
        epochs=100,
        eval_every=1,
        patience=0,
        n_seeds=3,
        seed=0,
        timing_steps=20,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "datasets=csbm", "csbm_nodes=200", "epochs=4", "eval_every=2", "n_seeds=2",
        "hidden=8", "num_layers=1", "m=4", "timing_steps=1"])


def _sub_config(config: ml_collections.ConfigDict, dataset: str) -> ml_collections.ConfigDict:
    keys = ("data_root", "split", "csbm_nodes", "normalize_features", "epochs", "eval_every",
            "patience", "n_seeds", "seed")
    return config_lib.locked(dict(dataset=dataset, **{k: config[k] for k in keys}))


def _model(config: ml_collections.ConfigDict, num_classes: int, attention: str) -> TANGNN:
    return TANGNN(hidden=config.hidden, num_layers=config.num_layers, num_classes=num_classes,
                  dropout_rate=config.dropout, m=config.m, heads=config.heads,
                  sample_size=config.sample_size, attention=attention,
                  criterion=config.criterion, layer_concat=config.layer_concat)


def _penalty(config: ml_collections.ConfigDict):
    return l2_on(lambda path: not path.endswith("auxiliary"), config.weight_decay)


def _epoch_times(config: ml_collections.ConfigDict, sub: ml_collections.ConfigDict) -> dict:
    """Median seconds of one jitted training epoch, Top-m vs full attention (interleaved)."""
    dataset = common.load(sub)
    features = dataset.features
    if sub.normalize_features and features.min() >= 0:
        features = common.row_normalize(features)
    x = graph_lib.to_bcoo(features) if scipy.sparse.issparse(features) else jax.numpy.asarray(features)
    graph = jraph.GraphsTuple(
        nodes=None, edges=None, globals=None, senders=jax.numpy.asarray(dataset.senders),
        receivers=jax.numpy.asarray(dataset.receivers),
        n_node=jax.numpy.asarray([dataset.num_nodes]), n_edge=jax.numpy.asarray([dataset.num_edges]))
    states, steps, times = {}, {}, {}
    for name in ("top_m", "full", "none"):
        task = node_classification(
            _model(config, dataset.num_classes, name), graph, x, dataset.labels,
            dataset.train_mask, dataset.val_mask, dataset.test_mask,
            optax.adam(config.learning_rate), l2_penalty=_penalty(config))
        steps[name] = jax.jit(task.step)
        state = task.init(jax.random.PRNGKey(config.seed))
        for _ in range(2):  # compile and warm up
            state, metrics = steps[name](state)
        jax.block_until_ready(metrics)
        states[name], times[name] = state, []
    for _ in range(config.timing_steps):
        for name in states:
            start = time.perf_counter()
            states[name], metrics = steps[name](states[name])
            jax.block_until_ready(metrics)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    return {"top_m_s": median["top_m"], "full_s": median["full"], "sage_s": median["none"],
            "ratio": median["top_m"] / median["full"]}


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    datasets = [d.strip() for d in config.datasets.split(",") if d.strip()]
    if not datasets:
        raise ValueError(f"config.datasets names no dataset: {config.datasets!r}")
    tx = optax.adam(config.learning_rate)
    results: dict = {"datasets": {}}
    for dataset in datasets:
        sub = _sub_config(config, dataset)
        entry: dict = {}
        for label, attention in MODELS.items():
            out = common.run_population(
                sub, workdir / dataset.replace("/", "_") / label,
                lambda c, attention=attention: _model(config, c, attention), tx,
                l2_penalty=_penalty(config), title=label, paper_accuracy=0.0)
            entry[label] = [100 * a for a in out["test_accuracy"]]
            entry["name"] = out["dataset"]
        entry["cost"] = _epoch_times(config, sub)
        results["datasets"][dataset] = entry
    results["plot"] = "tangnn.png"
    _plot(results, workdir / results["plot"])
    (workdir / "tangnn_summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _plot(results: dict, path: pathlib.Path) -> None:
    names = list(results["datasets"])
    fig, (ax_acc, ax_cost) = plt.subplots(1, 2, figsize=(9, 3.5))
    for i, label in enumerate(MODELS):
        accs = [results["datasets"][d][label] for d in names]
        ax_acc.bar(np.arange(len(names)) + 0.4 * i, [np.mean(a) for a in accs], 0.4,
                   yerr=[np.std(a) for a in accs], label=label)
    ax_acc.set_xticks(np.arange(len(names)) + 0.2, names)
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.legend()
    for i, key in enumerate(("top_m_s", "full_s", "sage_s")):
        ax_cost.bar(np.arange(len(names)) + 0.27 * i,
                    [1e3 * results["datasets"][d]["cost"][key] for d in names], 0.27,
                    label=key[:-2].replace("_", "-"))
    ax_cost.set_xticks(np.arange(len(names)) + 0.27, names)
    ax_cost.set_ylabel("ms per training epoch")
    ax_cost.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    conditions, ours, beats = [], [], []
    for d, entry in results["datasets"].items():
        tan, sage = np.mean(entry["tangnn"]), np.mean(entry["graphsage"])
        ratio = entry["cost"]["ratio"]
        conditions += [tan >= sage - MARGIN, ratio <= MAX_COST_RATIO]
        beats.append(f"{d}: {'yes' if tan > sage else 'no'}")
        ours.append(f"{d}: TANGNN {plots.mean_std(entry['tangnn'])} vs GraphSAGE "
                    f"{plots.mean_std(entry['graphsage'])}, Top-m/full epoch time {ratio:.2f}")
    return Claim(
        passed=all(conditions),
        text=(f"TANGNN accuracy >= GraphSAGE - {MARGIN} points and Top-m epoch time <= "
              f"{MAX_COST_RATIO} x full attention on every dataset "
              f"(TANGNN > GraphSAGE, the paper's claim, not gated: {', '.join(beats)})"),
        paper="TANGNN outperforms GraphSAGE on vertex classification (no number retrieved); "
              "Top-m attention O(n m) vs O(n^2)",
        ours="; ".join(ours),
        plot=results["plot"],
    )
