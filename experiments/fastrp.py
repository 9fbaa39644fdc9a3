"""FastRP (Chen et al., CIKM 2019): very sparse random projection node embeddings, scored by
one-vs-rest logistic regression on Cora.

FastRP embeds a graph without training: a very sparse random projection R (density 1/sqrt(N)),
made degree-aware by L = diag(deg^beta), is propagated through q powers of the transition
matrix D^-1 A, and the powers are merged with weights alpha_k, then the columns standardised
(`jaxnets.graph.random_projection`; Alg. 1 of the paper, exactly as the official `fastrp.py`).
The abstract: "over 4,000 times faster than DeepWalk/node2vec" with comparable or better
accuracy; the official notebook reaches macro-F1 0.185 / micro-F1 0.292 on BlogCatalog with 10 %
labels in about 1.2 s of embedding time.

Protocol (BlogCatalog is not in the offline data, so Planetoid Cora, structure only): the
official BlogCatalog configuration (dim 512, `trans`, weights [1, 1, 7.81, 45.28], beta = -0.628,
no per-power normalisation), three projection seeds, all embedded in one jitted, vmapped call.
Each embedding is scored, as the official evaluation does, with scikit-learn's one-vs-rest
L2 logistic regression (liblinear, the scikit-learn default when FastRP was published; C = 1)
on (a) Planetoid's public split (140 training labels, 1000 test nodes) and (b) a random 50/50
split of the labelled nodes (drawn with `split_seed + seed index`). Ablations on the same
projections: the 1-power FastRP (weights [1, 0, 0, 0]) and the prefixes q = 2, 3 of the weight
vector. The embedding time is the median of `timing_repeats` jitted calls (compile apart).

Claim (issue row, as corrected by ERRATA.md): public-split accuracy within 2 points of 0.60
(the official code run here: 0.594 ± 0.006 unnormalised, 0.602 ± 0.005 normalised with
C = 0.1); >= 70 % on the random 50/50 split; the 4-power FastRP beats the 1-power ablation (on
both splits); embedding time measured (and, per our notes, below 10 s on 2 cores).

Deviations: Cora instead of BlogCatalog, and its public split instead of 10 % labels. Isolated
nodes get zero rows in D^-1 and L (Cora has none). R is drawn with `jax.random`, so the
embeddings differ from the official code's for a given seed number; with the same R they agree
to float32 rounding (tests/graph/test_fastrp.py, and checked against the official formulas in
float64 on Cora: max abs difference 6e-6 after standardisation).

Outcome (full config, 3 seeds, all conditions pass): public split 0.593 ± 0.003 (official
code per ERRATA.md 0.594 ± 0.006), random 50/50 split 0.774 ± 0.015 (gate 0.70), 1-power
ablation 0.316 ± 0.016 / 0.447 ± 0.022 (so the 4-power FastRP is +28 / +33 points); the weight
prefixes q = 2, 3 give 0.478 / 0.530 (public) and 0.734 / 0.722 (50/50). Embedding (dim 512,
4 powers, Cora) 0.23 s per seed median and 3.0 s for the first call with compilation, measured
with the 2-core machine at load ~14 (0.07-0.1 s at lower load). Not in the verdict: with the
ERRATA's other setting (per-power normalisation, C = 0.1) a scikit-learn lbfgs check gave
0.594 on the public split (ERRATA 0.602 ± 0.005), 0.781 on the 50/50 split. The full run takes
~2 min, mostly the 24 logistic regressions.
"""
from __future__ import annotations

import json
import pathlib
import statistics
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import ml_collections
import numpy as np

from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.data.planetoid import load_planetoid
from jaxnets.experiment import Claim, Paper
from jaxnets.graph import random_projection as rp

PAPER = Paper(
    title="Fast and Accurate Network Embeddings via Very Sparse Random Projection",
    authors="Chen, Sun, Ye, Li, Zhang & Wang",
    venue="CIKM 2019",
)
DESCRIPTION = "FastRP: very sparse random projection embeddings + logistic regression, Cora"
# ERRATA.md: the official code on Cora's public split, 3 projection seeds.
PAPER_PUBLIC, PAPER_PUBLIC_STD = 0.594, 0.006
PAPER_TEXT = ("official FastRP code on Cora's public split: 0.594 ± 0.006 (0.602 ± 0.005 "
              "normalised, C = 0.1; ERRATA.md); paper: BlogCatalog 10 % labels macro-F1 0.185 / "
              "micro-F1 0.292 in ~1.2 s, >4000x faster than DeepWalk")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        dataset="cora",
        data_root="",                  # "" = $JAXNETS_DATA, else the download cache
        dim=512,                       # official BlogCatalog notebook
        weights=(1.0, 1.0, 7.81, 45.28),
        beta=-0.628,                   # `alpha` in the official code
        input_matrix="trans",
        normalize_powers=False,
        ablation_weights=(1.0, 0.0, 0.0, 0.0),
        C=1.0,                         # logistic regression inverse regularisation
        seeds=(0, 1, 2),
        split_seed=0, train_fraction=0.5,
        timing_repeats=5,
        target_public=0.60, tolerance_public=0.02,   # ERRATA.md
        gate_random_split=0.70,                       # ERRATA.md
        time_limit_s=10.0,                            # notes: "< 10 s on 2 cores"
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, ["dim=32", "seeds=(0,)", "timing_repeats=1",
                                               "train_fraction=0.2"])


def _embedder(config, senders, receivers, num_nodes):
    """seed keys [S] -> embeddings [P, S, N, D] for the weight prefixes q = 1..Q and the
    ablation (same projection per seed), one jitted call."""
    weights = np.asarray(config.weights, np.float32)
    q = len(weights)
    ablation = np.asarray(config.ablation_weights, np.float32)
    if ablation.shape != weights.shape:
        raise ValueError(f"ablation_weights has {ablation.size} entries, weights {q}")
    variants = [np.where(np.arange(q) < k, weights, 0.0) for k in range(1, q)]
    variants = np.stack([weights, ablation, *variants]).astype(np.float32)   # [P, Q]

    def one(key):
        k_node, _ = jax.random.split(key)  # the split `fastrp` makes
        r = rp.sparse_rp_kernel(k_node, num_nodes, config.dim)
        powers = rp.fastrp_powers(senders, receivers, num_nodes, r, num_powers=q,
                                  input_matrix=config.input_matrix, beta=config.beta)
        return jax.vmap(lambda w: rp.fastrp_merge(
            powers, w, normalize_powers=config.normalize_powers))(jnp.asarray(variants))

    return jax.jit(lambda keys: jnp.swapaxes(jax.vmap(one)(keys), 0, 1)), len(variants)


def _timed_fastrp(config, senders, receivers, num_nodes):
    """(first call incl. compile, median of repeats) seconds of one `fastrp` embedding."""
    fn = jax.jit(lambda key: rp.fastrp(
        key, senders, receivers, num_nodes, dim=config.dim, weights=tuple(config.weights),
        input_matrix=config.input_matrix, beta=config.beta,
        normalize_powers=config.normalize_powers))
    key = jax.random.PRNGKey(config.seeds[0])
    start = time.perf_counter()
    jax.block_until_ready(fn(key))
    first = time.perf_counter() - start
    runs = []
    for _ in range(config.timing_repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(key))
        runs.append(time.perf_counter() - start)
    return first, statistics.median(runs)


def _logreg_accuracy(emb_NxD, labels_N, train_idx, test_idx, c):
    """One-vs-rest L2 logistic regression (scikit-learn, liblinear) test accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    clf = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear", max_iter=1000,
                                                 random_state=0))
    clf.fit(emb_NxD[train_idx], labels_N[train_idx])
    return float(np.mean(clf.predict(emb_NxD[test_idx]) == labels_N[test_idx]))


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    if not 0.0 < config.train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {config.train_fraction}")
    ds = load_planetoid(config.dataset, root=config.data_root or None, split="public")
    num_nodes = int(ds.labels.shape[0])
    senders, receivers = np.asarray(ds.senders), np.asarray(ds.receivers)
    embed, num_variants = _embedder(config, senders, receivers, num_nodes)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in config.seeds])
    start = time.perf_counter()
    emb_PxSxNxD = np.asarray(jax.block_until_ready(embed(keys)))
    all_seeds_s = time.perf_counter() - start
    first_s, median_s = _timed_fastrp(config, senders, receivers, num_nodes)

    labelled = np.flatnonzero(ds.labels >= 0)
    public = (np.flatnonzero(ds.train_mask), np.flatnonzero(ds.test_mask))
    q = len(config.weights)
    names = ["full", "one_power", *[f"q{k}" for k in range(1, q)]]
    acc = {f"{split}_{name}": [] for split in ("public", "random") for name in names}
    for i, _ in enumerate(config.seeds):
        perm = np.random.default_rng(config.split_seed + i).permutation(labelled)
        cut = int(round(config.train_fraction * perm.size))
        random_split = (perm[:cut], perm[cut:])
        for p, name in enumerate(names):
            emb = emb_PxSxNxD[p, i]
            if not np.all(np.isfinite(emb)):
                raise FloatingPointError(f"non-finite FastRP embedding ({name}, seed {i})")
            for split, (tr, te) in (("public", public), ("random", random_split)):
                acc[f"{split}_{name}"].append(_logreg_accuracy(emb, ds.labels, tr, te, config.C))

    results: dict = {
        "seeds": list(config.seeds), "num_nodes": num_nodes, "num_edges": int(senders.size),
        "variants": names, **{f"acc_{k}": v for k, v in acc.items()},
        **{f"acc_{k}_mean": float(np.mean(v)) for k, v in acc.items()},
        "embed_time_first_call_s": first_s, "embed_time_median_s": median_s,
        "embed_time_all_variants_seeds_s": all_seeds_s, "embed_variants": num_variants,
        "paper_public": PAPER_PUBLIC, "paper_public_std": PAPER_PUBLIC_STD,
        "target_public": config.target_public, "tolerance_public": config.tolerance_public,
        "gate_random_split": config.gate_random_split, "time_limit_s": config.time_limit_s,
        "train_fraction": config.train_fraction,
    }
    with open(workdir / "metrics.jsonl", "w") as f:
        for i, seed in enumerate(config.seeds):
            f.write(json.dumps({"seed": seed, **{k: v[i] for k, v in acc.items()}}) + "\n")
    results["plot"] = _plot(workdir, results, q)
    return results


def _plot(workdir, results, q) -> str:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    powers = np.arange(1, q + 1)
    for split, color, label in (("public", "C0", "public split (140 labels)"),
                                ("random", "C1", f"random {100 * results['train_fraction']:.0f}"
                                                 f" % split")):
        keys = [f"acc_{split}_q{k}" for k in range(1, q)] + [f"acc_{split}_full"]
        vals = 100 * np.asarray([results[k] for k in keys])            # [q, S]
        ax.plot(powers, vals.mean(1), "o-", color=color, label=label)
        for k in range(q):
            ax.scatter(np.full(vals.shape[1], powers[k]), vals[k], color=color, s=8, alpha=0.5)
    ax.axhline(100 * results["paper_public"], color="C0", ls="--", lw=1,
               label="official code, public split")
    ax.axhline(100 * results["gate_random_split"], color="C1", ls=":", lw=1,
               label="50/50 gate")
    ax.set_xticks(powers)
    ax.set_xlabel("powers q merged (weights truncated to the first q)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"FastRP + logistic regression on Cora, {len(results['seeds'])} seeds; "
                 f"embed {1e3 * results['embed_time_median_s']:.0f} ms", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(workdir / "fastrp_accuracy.png", dpi=100)
    plt.close(fig)
    return "fastrp_accuracy.png"


def claim(results: dict) -> Claim:
    pub = results["acc_public_full_mean"]
    rnd = results["acc_random_full_mean"]
    checks = {
        f"public split within {results['tolerance_public']:.2f} of {results['target_public']:.2f}":
            abs(pub - results["target_public"]) <= results["tolerance_public"] + 1e-12,
        f"random split >= {results['gate_random_split']:.2f}": rnd >= results["gate_random_split"],
        "4 powers > 1 power (public)": pub > results["acc_public_one_power_mean"],
        "4 powers > 1 power (random)": rnd > results["acc_random_one_power_mean"],
        f"embedding < {results['time_limit_s']:.0f} s":
            results["embed_time_first_call_s"] < results["time_limit_s"],
    }
    text = (f"Cora, {len(results['seeds'])} projection seeds: public split {pub:.3f} (target "
            f"{results['target_public']:.2f} ± {results['tolerance_public']:.2f}), random "
            f"{100 * results['train_fraction']:.0f} % split {rnd:.3f}; 1-power ablation "
            f"{results['acc_public_one_power_mean']:.3f} / "
            f"{results['acc_random_one_power_mean']:.3f}; embedding "
            f"{1e3 * results['embed_time_median_s']:.1f} ms per seed (first call with compile "
            f"{results['embed_time_first_call_s']:.2f} s). "
            + "; ".join(f"{k}: {'ok' if v else 'FAILS'}" for k, v in checks.items()) + ".")
    return Claim(
        passed=bool(all(checks.values())), text=text, paper=PAPER_TEXT,
        ours=(f"public {plots.mean_std(results['acc_public_full'], 1, 3)}, random split "
              f"{plots.mean_std(results['acc_random_full'], 1, 3)}, 1-power "
              f"{plots.mean_std(results['acc_public_one_power'], 1, 3)} / "
              f"{plots.mean_std(results['acc_random_one_power'], 1, 3)}, embed "
              f"{1e3 * results['embed_time_median_s']:.1f} ms"),
        plot=results["plot"])
