"""The Final-Stage Bottleneck (Sairam S, Girdhar & Soni, arXiv 2511.13018): R-learners with
graph-blind and graph-aware final stages, cross-fitted GNN / MLP nuisances, and a GNN T-learner,
on simulated networks whose effect depends on the graph.

Data (`jaxnets.data.network_causal`, the paper's `simulate_data`): n = 1000 nodes of a
Barabasi-Albert graph (m = 4), X ~ N(0, I_10), a random untrained 2-layer GCN gives H1, and
T = 1[0.5 x0 - 0.7 H1_1 + 0.3 eps > 0], tau = 2 + 1.5 sin(H1_0) ("simple_h"),
Y = H1_0 + 0.5 x1 + 0.5 eps + T tau. One dataset per seed.

Estimators (`jaxnets.causal`), as in the paper's `run_experiments.py`; nuisances are 2-fold
cross-fitted, 2-layer width-32 MLPs or GCNs, Adam 1e-3, 150 full-batch epochs:
  * baseline      MLP nuisances + linear final stage (Ridge 0.1 on X * T~, intercept added to tau^)
  * ablation      GCN nuisances + the same linear final stage
  * sanity_check  MLP nuisances + GCN final stage (R-loss, 200 epochs)
  * graph_r       GCN nuisances + GCN final stage: the Graph R-learner
  * t_learner     one GCN on [X, T] fitted to Y (150 epochs), tau^ = f(X, 1) - f(X, 0)
Our ablation (the notes' honesty check, not in the paper): the linear final stage with a T~
column in its design (intercept inside tau), and an MLP final stage (graph-blind but nonlinear),
each with MLP and GCN nuisances. Metric: MSE(tau^, tau) over all nodes, per seed. All seeds run
together under `vmap`; each estimator's training loop is one `lax.scan`.

Claim (issue row): (i) both graph-blind final stages of the paper (baseline, ablation) have mean
MSE > 4.0 (the paper's number) and >= 3x the Graph R-learner's; (ii) the Graph R-learner beats
the GNN T-learner in >= 80 % of seeds (4 of 5 in the issue's form). A paired t-test is reported.

Deviations: the BA graph is networkx's rather than PyG's generator; fold assignment is drawn per
seed (the paper fixes KFold's random_state = 42); MLP biases start at zero (torch: uniform);
the run is one jitted call over all seeds (a few minutes), so it writes no checkpoints.

Outcome (full config, 30 seeds, PASSES; ~4.5 min wall on the shared 2-core machine at load ~10):
MSE(tau^, tau) baseline 5.18 ± 0.92, ablation 4.60 ± 0.82 (paper: > 4.0), sanity check
0.60 ± 0.14, Graph R-learner 0.55 ± 0.13 (graph-blind / Graph R = 9.4x and 8.3x), GNN
T-learner 2.51 ± 0.61; Graph R-learner < T-learner in 30/30 seeds, paired t-test p = 7.7e-17.
A 10-seed run gave the same picture (5.04, 4.47, 0.63, 0.56, 2.70; 10/10, p = 4.3e-6).
Ablation (ungated): linear final stage with a T~ column 0.076 ± 0.029 (MLP nuisances) and
0.038 ± 0.014 (GCN nuisances); MLP final stage 0.21 ± 0.03 / 0.29 ± 0.06.
Reading: in this DGP tau is almost constant (std of tau over nodes 0.004-0.18, mean 0.07: H1_0
is small after two normalised aggregations), so the "> 4.0" failure of the as-coded linear
stage is the missing T~ column (tau^ ~ w.x while E[tau] ~ 2), not a representational limit of a
graph-blind final stage: with the column, the graph-blind linear stage beats the Graph
R-learner by ~10x, and even a graph-blind MLP final stage beats it by ~2x. The paper's numbers
reproduce for the code as written; its explanation ("representation bottleneck") does not.
"""
from __future__ import annotations

import json
import math
import pathlib

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
from scipy import stats

from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.causal import (
    NodeGCN, NodeMLP, fit_final_stage, fold_assignment, linear_final_stage, nuisances, t_learner)
from jaxnets.data.network_causal import simulate_network_causal, stack_graphs
from jaxnets.experiment import Claim, Paper

PAPER = Paper(
    title="The Final-Stage Bottleneck: A Systematic Dissection of the R-Learner for Network "
          "Causal Inference",
    authors="Sairam S, Girdhar & Soni",
    venue="arXiv 2511.13018 (2025)",
)
DESCRIPTION = ("Graph R-learner vs graph-blind final stages and a GNN T-learner on BA networks "
               "with graph-dependent effects")
PAPER_RESULT = ("graph-blind final stages: MSE > 4.0 (p < 0.001, 30 seeds, BA graph), even with "
                "GNN nuisances; Graph R-learner significantly below the GNN T-learner")
PAPER_MSE_FLOOR = 4.0   # graph-blind final stages' MSE in the paper
MIN_RATIO = 3.0         # graph-blind MSE / Graph R-learner MSE (issue row)
MIN_WIN_FRACTION = 0.8  # Graph R-learner < T-learner in >= 4 of 5 seeds (issue row)
MAIN = ("baseline", "ablation", "sanity_check", "graph_r", "t_learner")
EXTRA = ("mlp_linear_tcol", "gnn_linear_tcol", "mlp_mlp_final", "gnn_mlp_final")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        num_nodes=1000,
        num_features=10,
        graph="ba",           # "ba", "er" or "sbm"
        cate="simple_h",      # see jaxnets.data.network_causal.CATE_TYPES
        noise=0.5,
        ba_m=4,
        hidden=32,
        num_layers=2,
        num_folds=2,
        nuisance_epochs=150,
        cate_epochs=200,
        learning_rate=1e-3,
        ridge_alpha=0.1,
        n_seeds=30,          # the paper's 30
        seed=0,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The issue's 5-seed form; training is kept at the paper's epochs (fewer leave lr 1e-3 models
    unfitted: at 30/40 epochs every estimator's MSE is ~3 and the claim's shape is lost)."""
    return config_lib.apply_overrides(config, ["n_seeds=5"])


def _estimators(config: ml_collections.ConfigDict):
    """A function (key, graph, x, t, y) -> {estimator: tau^ [N]} for one dataset."""
    mlp = NodeMLP(config.hidden, config.num_layers)
    gcn = NodeGCN(config.hidden, config.num_layers)
    nuis = dict(epochs=config.nuisance_epochs, learning_rate=config.learning_rate)
    final = dict(epochs=config.cate_epochs, learning_rate=config.learning_rate)

    def estimate(key, graph, x, t, y):
        k_fold, k_mlp, k_gcn, k_final, k_t = jax.random.split(key, 5)
        fold = fold_assignment(k_fold, x.shape[0], config.num_folds)
        res = [nuisances(model, graph, x, t, y, fold, config.num_folds, k, **nuis)
               for model, k in ((mlp, k_mlp), (gcn, k_gcn))]
        # both nuisance kinds' residuals, stacked [2, N], share each final stage under vmap
        y_res = jnp.stack([y - m for m, _ in res])
        t_res = jnp.stack([t - e for _, e in res])
        alpha = config.ridge_alpha
        stages = {
            "linear": jax.vmap(lambda yr, tr: linear_final_stage(x, yr, tr, alpha=alpha)),
            "linear_tcol": jax.vmap(lambda yr, tr: linear_final_stage(
                x, yr, tr, alpha=alpha, treatment_column=True)),
            "gnn_final": jax.vmap(lambda yr, tr: fit_final_stage(
                gcn, graph, x, yr, tr, k_final, **final)),
            "mlp_final": jax.vmap(lambda yr, tr: fit_final_stage(
                mlp, graph, x, yr, tr, k_final, **final)),
        }
        out = {}
        for stage, fn in stages.items():
            tau_2xN = fn(y_res, t_res)
            out[f"mlp_{stage}"], out[f"gnn_{stage}"] = tau_2xN[0], tau_2xN[1]
        out["t_learner"] = t_learner(gcn, graph, x, t, y, k_t, **nuis)
        names = {"mlp_linear": "baseline", "gnn_linear": "ablation",
                 "mlp_gnn_final": "sanity_check", "gnn_gnn_final": "graph_r"}
        return {names.get(k, k): v for k, v in out.items()}

    return estimate


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    if config.n_seeds < 1:
        raise ValueError(f"n_seeds must be >= 1, got {config.n_seeds}")
    seeds = [config.seed + i for i in range(config.n_seeds)]
    data = [simulate_network_causal(s, config.num_nodes, config.num_features, graph=config.graph,
                                    cate=config.cate, noise=config.noise, ba_m=config.ba_m)
            for s in seeds]
    graph = stack_graphs([d.gcn_graph for d in data])
    x, t, y, tau = (jnp.asarray(np.stack([getattr(d, f) for d in data]))
                    for f in ("x_NxD", "t_N", "y_N", "tau_N"))
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])

    @jax.jit
    def mse_all(keys, graph, x, t, y, tau):
        taus = jax.vmap(_estimators(config))(keys, graph, x, t, y)
        return {k: jnp.mean((v - tau) ** 2, axis=1) for k, v in taus.items()}

    mse = {k: [float(v) for v in np.asarray(a)]
           for k, a in mse_all(keys, graph, x, t, y, tau).items()}
    results = {
        "seeds": seeds,
        "mse": mse,
        "tau_std": [float(np.std(d.tau_N)) for d in data],
        "treated_fraction": [float(np.mean(d.t_N)) for d in data],
        "plot": "graph_rlearner.png",
    }
    if len(seeds) > 1:
        test = stats.ttest_rel(mse["graph_r"], mse["t_learner"])
        results["ttest_graph_r_vs_t_learner_p"] = float(test.pvalue)
    _plot(results, workdir / results["plot"])
    (workdir / "graph_rlearner_summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _plot(results: dict, path: pathlib.Path) -> None:
    names = list(MAIN) + list(EXTRA)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    vals = [results["mse"][n] for n in names]
    ax.bar(range(len(names)), [np.mean(v) for v in vals], yerr=[np.std(v) for v in vals],
           color=["C0"] * len(MAIN) + ["C7"] * len(EXTRA))
    ax.axhline(PAPER_MSE_FLOOR, color="C3", ls="--", label="paper: graph-blind > 4.0")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("MSE(tau^, tau)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    mse = results["mse"]
    graph_r = float(np.mean(mse["graph_r"]))
    blind_ok, ratios = [], []
    for name in ("baseline", "ablation"):
        m = float(np.mean(mse[name]))
        blind_ok.append(m > PAPER_MSE_FLOOR and m >= MIN_RATIO * graph_r)
        ratios.append(f"{name} {m / max(graph_r, 1e-12):.1f}x")
    wins = int(np.sum(np.asarray(mse["graph_r"]) < np.asarray(mse["t_learner"])))
    n = len(mse["graph_r"])
    need = math.ceil(MIN_WIN_FRACTION * n)
    p = results.get("ttest_graph_r_vs_t_learner_p")
    p_text = f", paired t-test p = {p:.2g}" if p is not None else ""
    ours = "; ".join(f"{k} {plots.mean_std(mse[k], digits=3)}" for k in MAIN)
    ablation = "; ".join(f"{k} {plots.mean_std(mse[k], digits=3)}" for k in EXTRA)
    return Claim(
        passed=all(blind_ok) and wins >= need,
        text=(f"graph-blind final stages (baseline, ablation) mean MSE > {PAPER_MSE_FLOOR} and "
              f">= {MIN_RATIO}x Graph R-learner's ({', '.join(ratios)}); Graph R-learner < GNN "
              f"T-learner in "
              f"{wins}/{n} seeds (need {need}){p_text}. Ablation, not gated (T~ column = "
              f"intercept inside tau; MLP final stage): {ablation}"),
        paper=PAPER_RESULT,
        ours=f"MSE over {n} seeds: {ours}",
        plot=results["plot"],
    )
