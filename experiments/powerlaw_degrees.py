"""Power-law degree statistics (Klemens, "Measures of the Capital Network of the U.S. Economy",
2024): the discrete power-law fit with x_min selection, bootstrap CIs and KS goodness of fit.

The paper measures the confidential IRS owner -> subsidiary network (about 2 M entities and 15 M
links, 2009-2021): in- and out-degrees follow power laws whose exponents ("coefficients of
concentration") are estimable "to within a generally narrow confidence interval"; the network is
mostly a tree, with a diameter an order of magnitude larger than a small world with the same
degrees. The data cannot be obtained, so only the *method* is reproduced; no exponent of the
paper can be compared (none is in the abstract, and the paper's table was not available here).

Protocol (`jaxnets.stats.powerlaw`, Clauset, Shalizi & Newman 2009):
  1. estimator check: `num_samples` i.i.d. draws of a discrete power law (x_min = 1) for each
     exponent in `alphas`, `seeds` seeds; fit with x_min selection; nonparametric bootstrap CI
     (x_min refitted in every replicate);
  2. synthetic graphs with known exponents: a directed configuration multigraph of `graph_nodes`
     nodes whose in- and out-degrees are i.i.d. power-law draws (`alpha_in`, `alpha_out`);
     fit both degree sequences, bootstrap CIs, CSN goodness-of-fit p-value;
  3. reported, not gated: a preferential-attachment ownership forest (edges / nodes, degree fits,
     diameter against a configuration model with the same degrees), and the real directed
     graphs in the shared data (CollegeMsg's distinct sender -> receiver pairs, Cora-ML's
     citations).
Claim (issue): every recovered exponent within `tolerance` (0.05) of the truth, and the
bootstrap CI covers the truth, in at least 2 of 3 seeds for every exponent, for both the i.i.d.
samples and the synthetic graphs. The agreement with the `powerlaw` package is a test
(tests/stats/test_powerlaw.py).

Outcome (full config, 2026-12-02): PASS. i.i.d. α̂ (3 seeds): 2.101/2.099/2.101 (α = 2.1),
2.500/2.500/2.502 (2.5), 3.028/3.000/2.997 (3.0); configuration graph in-degree 2.513/2.493/2.498
(2.5), out-degree 2.202/2.206/2.204 (2.2); every CI covers the truth. Reported: the ownership
forest has 1.05 edges per node and out-degree α̂ 2.76 [2.34, 3.03], but its diameter (20) is
*smaller* than a configuration model's with the same degrees (30): preferential-attachment
growth does not produce the paper's "diameter an order of magnitude larger" (both are O(log n));
in-degrees stay near 1-2 (no heavy tail) at p_extra = 0.05. Real graphs: CollegeMsg in α̂ 3.82
(x_min 39, GOF p 0.38), out 2.67 (x_min 27, p 0.06); Cora-ML in 3.05 (x_min 14, p 0.96), out 3.47
(x_min 6, p 0.20).
"""
from __future__ import annotations

import json
import pathlib

import matplotlib.pyplot as plt
import ml_collections
import networkx as nx
import numpy as np

from jaxnets import config as config_lib
from jaxnets.data import degree_graphs
from jaxnets.data.cora_ml import load_cora_ml
from jaxnets.data.temporal import load_collegemsg
from jaxnets.experiment import Claim, Paper
from jaxnets.stats import powerlaw
from jaxnets.train.progress import progress_bar, progress_enabled

PAPER = Paper(
    title="Measures of the Capital Network of the U.S. Economy",
    authors="Klemens",
    venue="arXiv 2024",
)
DESCRIPTION = "power-law MLE with x_min selection, bootstrap CIs and KS goodness of fit"


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        alphas=(2.1, 2.5, 3.0),    # true exponents of the i.i.d. estimator check
        num_samples=100_000,       # draws per i.i.d. sample (the notes' 1e5)
        graph_nodes=20_000,        # nodes of the synthetic configuration multigraph
        alpha_in=2.5,
        alpha_out=2.2,
        seeds=3,
        num_resamples=100,         # bootstrap replicates per fit
        gof_sims=50,               # CSN goodness-of-fit synthetic data sets
        min_tail=50,               # x_min candidates keep at least this many tail observations
        tolerance=0.05,            # |alpha_hat - alpha| allowed
        forest_nodes=20_000,       # ownership-forest size (reported part)
        real_graphs=True,          # fit CollegeMsg and Cora-ML from the data root
        data_root="",
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "alphas=(2.5,)", "num_samples=4000", "graph_nodes=3000", "seeds=2", "num_resamples=8",
        "gof_sims=4", "forest_nodes=2000", "real_graphs=False"])


def _fit_with_ci(degrees: np.ndarray, config, seed: int, gof: bool = False) -> dict:
    base = powerlaw.fit(degrees, min_tail=config.min_tail)
    boot = powerlaw.bootstrap(degrees, num_resamples=config.num_resamples, seed=seed,
                              min_tail=config.min_tail)
    out = {"alpha": base.alpha, "xmin": base.xmin, "n_tail": base.n_tail, "n": base.n,
           "ks": base.ks, "ci_low": boot["ci_low"], "ci_high": boot["ci_high"],
           "ci_width": boot["ci_high"] - boot["ci_low"]}
    if gof:
        out["gof_p"] = powerlaw.goodness_of_fit(degrees, num_sims=config.gof_sims, seed=seed,
                                                min_tail=config.min_tail)
    return out


def _recovery(fits: list[dict], truth: float, tolerance: float) -> dict:
    ok = [abs(f["alpha"] - truth) <= tolerance and f["ci_low"] <= truth <= f["ci_high"]
          for f in fits]
    return {"truth": truth, "alpha_hat": [f["alpha"] for f in fits],
            "ci": [[f["ci_low"], f["ci_high"]] for f in fits],
            "recovered": ok, "passed": sum(ok) >= 2 if len(ok) >= 3 else all(ok)}


def _diameter(senders: np.ndarray, receivers: np.ndarray) -> tuple[int, int]:
    """Two-sweep lower bound on the diameter of the undirected giant component, and its size."""
    g = nx.Graph()
    g.add_edges_from(zip(senders.tolist(), receivers.tolist()))
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    giant = g.subgraph(max(nx.connected_components(g), key=len))
    return int(nx.approximation.diameter(giant, seed=0)), giant.number_of_nodes()


def _forest(config) -> dict:
    s, r = degree_graphs.ownership_forest(config.forest_nodes, seed=0)
    n = config.forest_nodes
    d_out, d_in = np.bincount(s, minlength=n), np.bincount(r, minlength=n)
    rng = np.random.default_rng(0)
    cm = nx.directed_configuration_model(d_in.tolist(), d_out.tolist(), seed=int(rng.integers(2**31)))
    cm_edges = np.array(list(cm.edges()), np.int64).reshape(-1, 2)
    diam, giant = _diameter(s, r)
    cm_diam, cm_giant = _diameter(cm_edges[:, 0], cm_edges[:, 1])
    return {"edges_per_node": s.size / n,
            "out_degree": _fit_with_ci(d_out, config, 0),
            "in_degree": _fit_with_ci(d_in, config, 1),
            "diameter": diam, "giant_nodes": giant,
            "configuration_diameter": cm_diam, "configuration_giant_nodes": cm_giant,
            "diameter_ratio": diam / max(cm_diam, 1)}


def _real_graphs(config) -> dict:
    root = config.data_root or None
    out = {}
    msgs = load_collegemsg(root)
    pairs = np.unique(msgs.src.astype(np.int64) * msgs.num_nodes + msgs.dst)
    graphs = {"collegemsg": (pairs // msgs.num_nodes, pairs % msgs.num_nodes, msgs.num_nodes)}
    cora = load_cora_ml(root, directed=True)
    graphs["cora_ml"] = (np.asarray(cora.senders), np.asarray(cora.receivers),
                         int(cora.labels.shape[0]))
    for name, (s, r, n) in graphs.items():
        out[name] = {"nodes": n, "edges": int(s.size),
                     "out_degree": _fit_with_ci(np.bincount(s, minlength=n), config, 0, gof=True),
                     "in_degree": _fit_with_ci(np.bincount(r, minlength=n), config, 1, gof=True)}
    return out


def _ccdf(ax, degrees: np.ndarray, fit: dict, title: str) -> None:
    d = np.sort(degrees[degrees >= 1])
    values, counts = np.unique(d, return_counts=True)
    ccdf = 1.0 - np.concatenate([[0], np.cumsum(counts)[:-1]]) / d.size
    ax.loglog(values, ccdf, ".", ms=3, label="data")
    xs = np.unique(np.logspace(np.log10(fit["xmin"]), np.log10(values[-1]), 50).astype(int))
    tail_frac = fit["n_tail"] / d.size
    from scipy import special
    ax.loglog(xs, tail_frac * special.zeta(fit["alpha"], xs) / special.zeta(fit["alpha"],
                                                                           fit["xmin"]),
              "-", label=f"α̂={fit['alpha']:.2f}, x_min={fit['xmin']}")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def run(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    results: dict = {"iid": {}, "graph": {}}
    seeds = range(config.seeds)
    bar = progress_bar(len(config.alphas) * config.seeds + config.seeds, 0, "power-law fits",
                       progress_enabled(True))
    for alpha in config.alphas:
        fits = []
        for seed in seeds:
            x = powerlaw.sample(alpha, 1, config.num_samples, np.random.default_rng(seed))
            fits.append(_fit_with_ci(x, config, seed))
            bar.update()
        results["iid"][str(alpha)] = {"fits": fits, **_recovery(fits, alpha, config.tolerance)}
    in_fits, out_fits, last = [], [], None
    for seed in seeds:
        _, _, d_in, d_out = degree_graphs.directed_configuration_multigraph(
            config.graph_nodes, config.alpha_in, config.alpha_out, seed=seed)
        in_fits.append(_fit_with_ci(d_in, config, seed, gof=True))
        out_fits.append(_fit_with_ci(d_out, config, seed, gof=True))
        last = (d_in, d_out)
        bar.update()
    bar.close()
    results["graph"]["in_degree"] = {"fits": in_fits,
                                     **_recovery(in_fits, config.alpha_in, config.tolerance)}
    results["graph"]["out_degree"] = {"fits": out_fits,
                                      **_recovery(out_fits, config.alpha_out, config.tolerance)}
    results["forest"] = _forest(config)
    if config.real_graphs:
        results["real"] = _real_graphs(config)

    fig, axes = plt.subplots(1, 2 + 2 * bool(config.real_graphs), figsize=(12, 3.2))
    _ccdf(axes[0], last[0], in_fits[-1], f"configuration in-degree (α={config.alpha_in})")
    s, r = degree_graphs.ownership_forest(config.forest_nodes, seed=0)
    _ccdf(axes[1], np.bincount(s), results["forest"]["out_degree"], "ownership forest out-degree")
    if config.real_graphs:
        msgs = load_collegemsg(config.data_root or None)
        pairs = np.unique(msgs.src.astype(np.int64) * msgs.num_nodes + msgs.dst)
        _ccdf(axes[2], np.bincount(pairs // msgs.num_nodes),
              results["real"]["collegemsg"]["out_degree"], "CollegeMsg out-degree")
        cora = load_cora_ml(config.data_root or None, directed=True)
        _ccdf(axes[3], np.bincount(np.asarray(cora.receivers)),
              results["real"]["cora_ml"]["in_degree"], "Cora-ML in-degree (citations)")
    fig.tight_layout()
    fig.savefig(workdir / "ccdf.png", dpi=120)
    plt.close(fig)
    (workdir / "powerlaw.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    return results


def claim(results: dict) -> Claim:
    parts = [("iid α=" + a, v) for a, v in results["iid"].items()]
    parts += [("graph in-degree", results["graph"]["in_degree"]),
              ("graph out-degree", results["graph"]["out_degree"])]
    lines = [f"{name}: truth {v['truth']}, α̂ " + ", ".join(f"{a:.3f}" for a in v["alpha_hat"])
             + f"; within ±0.05 and CI covers in {sum(v['recovered'])}/{len(v['recovered'])}"
             for name, v in parts]
    forest = results["forest"]
    lines.append(
        f"ownership forest (reported): edges/nodes {forest['edges_per_node']:.3f}, out-degree "
        f"α̂ {forest['out_degree']['alpha']:.2f} [{forest['out_degree']['ci_low']:.2f}, "
        f"{forest['out_degree']['ci_high']:.2f}], diameter {forest['diameter']} vs "
        f"{forest['configuration_diameter']} for a configuration model with the same degrees "
        f"(paper: an order of magnitude larger than a small world)")
    for name, g in results.get("real", {}).items():
        lines.append(f"{name} (reported): " + "; ".join(
            f"{k} α̂ {g[k]['alpha']:.2f} [{g[k]['ci_low']:.2f}, {g[k]['ci_high']:.2f}], "
            f"x_min {g[k]['xmin']}, GOF p {g[k]['gof_p']:.2f}" for k in ("in_degree",
                                                                        "out_degree")))
    passed = all(v["passed"] for _, v in parts)
    return Claim(
        passed=passed,
        text="every exponent recovered within ±0.05 with the bootstrap CI covering the truth in "
             ">= 2 of 3 seeds (i.i.d. samples and synthetic configuration graphs):\n"
             + "\n".join(lines),
        paper="power laws for in- and out-links with narrow CIs, every year 2009-2021, on the "
              "confidential IRS network (not available: only the method is reproduced; no "
              "exponent to compare)",
        ours="; ".join(f"{name}: mean α̂ {np.mean(v['alpha_hat']):.3f} (truth {v['truth']})"
                       for name, v in parts),
        plot="ccdf.png")
