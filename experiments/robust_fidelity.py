"""Robust Fidelity (Zheng et al., "Towards Robust Fidelity for Evaluating Explainability of
GNNs", ICLR 2024): do fidelity measures rank explanations by their distance to the truth?

Protocol (the paper's §5 edit-distance study at CPU scale, after the research notes):
  * data: BA-2Motifs generated here (`jaxnets.data.motifs`; BA base of 20 nodes + a house or a
    5-cycle; label = motif; ground truth = motif edges), `num_graphs` graphs, 80/20 split;
  * model: a 3-layer weighted-sum graph classifier (`MotifGNN`; see its docstring for why not
    a normalised GCN) that takes edge weights, so removing an edge is a weight of 0 (`jax.vmap` over graphs, epochs in `lax.scan`);
  * explanations at a known distance from the ground truth: for `eval_graphs` test graphs and
    every cell of the grid (add a fraction of non-motif edges) x (remove a fraction of motif
    edges), one perturbed explanation; its edit distance = edges changed;
  * measures: classic Fid+, Fid−, Fid_Δ and robust Fid_{α1,+}, Fid_{α2,−}, Fid_{α1,α2,Δ}
    (α1 = 0.1, α2 = 0.9, 50 samples; `jaxnets.explain.fidelity`), probability versions with the
    true label;
  * for each measure, the Spearman correlation between its value and −(edit distance), pooled
    over graphs and cells; `seeds` seeds (data, model and perturbations).
Also scored (reported): three explainers at the ground truth's size — the ground truth itself,
gradient saliency (|∂p_y/∂w_e| summed over both directions, top-k) and random edges — the
usability question of the authors' issue #1 (do robust measures separate explainers?).

Claim (issue): the robust measures rank explanations by their distance to the ground truth
better (higher Spearman) than the classic ones — for Fid_Δ, mean over seeds (Fid+ and Fid− are
reported beside). The paper shows this as heat maps only (no single number).

Outcome (full config, 3 seeds, 2026-12-02): PASS. Spearman with −(edit distance): Fid_Δ robust
0.141 vs classic 0.008 (robust higher in 3/3 seeds); Fid+ robust 0.086 vs classic 0.003; Fid−
robust −0.146 vs classic −0.055 (negative is the good direction for Fid−). The classifier reaches
0.998 test accuracy. The robust measures also separate explainers at the motif's size (robust
Fid_Δ: ground truth 0.145 > saliency 0.066 > random −0.152), the concern of the authors' issue #1.
The research notes' stricter gate (robust Spearman >= 0.5 and >= classic + 0.1) is met only on
the margin (+0.133), not on the level: the pooled correlation is weak because most grid cells
leave the prediction nearly unchanged for this confident model.
"""
from __future__ import annotations

import json
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import optax
from scipy import stats

from jaxnets import config as config_lib
from jaxnets.data.motifs import MotifGraphs, ba_2motifs
from jaxnets.experiment import Claim, Paper
from jaxnets.explain import fidelity as fid
from jaxnets.graph import propagate

PAPER = Paper(
    title="Towards Robust Fidelity for Evaluating Explainability of GNNs",
    authors="Zheng, Shu, Liu, Yang, Zhang, Wu, Wang, Zhou & Wang",
    venue="ICLR 2024",
)
DESCRIPTION = "robust vs classic fidelity against edit distance to ground-truth motifs (BA-2Motifs)"
MEASURES = ("plus", "minus", "delta")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        num_graphs=800,
        hidden=32,
        epochs=300,                # full-batch Adam epochs
        learning_rate=0.01,
        eval_graphs=50,            # test graphs explained (the notes' 50)
        add_fractions=(0.0, 0.2, 0.4),
        remove_fractions=(0.0, 0.2, 0.4, 0.6),
        alpha_plus=0.1,            # α1
        alpha_minus=0.9,           # α2
        num_samples=50,            # Monte-Carlo samples per robust expectation
        seeds=(0, 1, 2),
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "num_graphs=120", "epochs=60", "eval_graphs=8", "num_samples=8", "seeds=(0,)",
        "add_fractions=(0.0, 0.4)", "remove_fractions=(0.0, 0.6)"])


class MotifGNN(nn.Module):
    """3 weighted-sum graph convolutions ``h' = ReLU(W_1 h + W_2 Σ_j w_ji h_j + b)`` (Morris et
    al.'s GraphConv), their outputs concatenated, mean ‖ max ‖ sum readout, linear classifier.

    Edges are weighted by `weight_E`, so a removed edge is a weight of 0. (A degree-normalised
    GCN, as in the paper's pretrained model, stayed at chance on CPU for 1000 full-batch
    epochs with BA-2Motifs' constant features; sum aggregation sees degrees directly.)
    """

    hidden: int
    num_classes: int = 2

    @nn.compact
    def __call__(self, senders_E, receivers_E, weight_E, num_nodes: int) -> jax.Array:
        h = jnp.ones((num_nodes, 1), jnp.float32)  # BA-2Motifs has no informative features
        layers = []
        for _ in range(3):
            agg = propagate(h, senders_E, receivers_E, num_nodes, weight_E)
            h = nn.relu(nn.Dense(self.hidden)(h) + nn.Dense(self.hidden, use_bias=False)(agg))
            layers.append(h)
        h = jnp.concatenate(layers, axis=1)  # PGExplainer's GraphGCN: all layers, then pool
        pooled = jnp.concatenate([h.mean(0), h.max(0), h.sum(0) / num_nodes])
        return nn.Dense(self.num_classes)(pooled)


def _train(data: MotifGraphs, train_idx: np.ndarray, config, key) -> tuple:
    model = MotifGNN(config.hidden)
    n = data.num_nodes
    s, r = jnp.asarray(data.senders), jnp.asarray(data.receivers)
    w = jnp.asarray(data.edge_mask, jnp.float32)
    y = jnp.asarray(data.labels)

    def logits_fn(params, idx):
        return jax.vmap(lambda a, b, c: model.apply(params, a, b, c, n))(s[idx], r[idx], w[idx])

    params = model.init(key, s[0], r[0], w[0], n)
    opt = optax.adam(config.learning_rate)
    idx = jnp.asarray(train_idx)

    def epoch(carry, _):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(
            logits_fn(p, idx), y[idx]).mean())(params)
        updates, opt_state = opt.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.jit(lambda p: jax.lax.scan(epoch, (p, opt.init(p)), None,
                                                         length=config.epochs))(params)
    return model, params, logits_fn, losses


def _seed_run(config, seed: int) -> dict:
    data = ba_2motifs(config.num_graphs, seed=seed)
    perm = np.random.default_rng(seed).permutation(len(data))
    n_train = int(0.8 * len(data))
    train_idx, test_idx = perm[:n_train], perm[n_train:]
    model, params, logits_fn, losses = _train(data, train_idx, config, jax.random.key(seed))
    test_acc = float(jnp.mean(jnp.argmax(logits_fn(params, jnp.asarray(test_idx)), -1)
                              == jnp.asarray(data.labels[test_idx])))
    ev = data.subset(test_idx[:config.eval_graphs])
    n = data.num_nodes
    cells = [(a, rm) for a in config.add_fractions for rm in config.remove_fractions]
    adds = jnp.asarray([c[0] for c in cells], jnp.float32)
    removes = jnp.asarray([c[1] for c in cells], jnp.float32)

    def per_graph(s, r, mask, und, gt, y, key):
        prob_fn = lambda w: jax.nn.softmax(model.apply(params, s, r, w, n))  # noqa: E731
        k_cells, k_fid, k_rand = jax.random.split(key, 3)

        def per_cell(add, remove, k):
            k1, k2 = jax.random.split(k)
            expl, dist = fid.perturb_explanation(gt, mask, und, k1, remove, add)
            classic = fid.fidelity(prob_fn, mask, expl, y)
            robust = fid.robust_fidelity(prob_fn, mask, expl, und, y, k2,
                                         alpha_plus=config.alpha_plus,
                                         alpha_minus=config.alpha_minus,
                                         num_samples=config.num_samples)
            return dist, classic, robust

        grid = jax.vmap(per_cell)(adds, removes, jax.random.split(k_cells, len(cells)))
        size = jnp.sum(gt & mask) // 2
        saliency = jnp.abs(jax.grad(lambda w: prob_fn(w)[y])(mask.astype(jnp.float32)))
        explainers = {
            "ground_truth": gt & mask,
            "saliency": fid.top_k_edges(saliency, mask, und, size),
            "random": fid.top_k_edges(jax.random.uniform(k_rand, mask.shape), mask, und, size),
        }
        scored = {name: (fid.fidelity(prob_fn, mask, e, y),
                         fid.robust_fidelity(prob_fn, mask, e, und, y, k_fid,
                                             alpha_plus=config.alpha_plus,
                                             alpha_minus=config.alpha_minus,
                                             num_samples=config.num_samples))
                  for name, e in explainers.items()}
        return grid, scored

    keys = jax.random.split(jax.random.key(10_000 + seed), len(ev))
    grid, scored = jax.jit(jax.vmap(per_graph))(
        jnp.asarray(ev.senders), jnp.asarray(ev.receivers), jnp.asarray(ev.edge_mask),
        jnp.asarray(ev.undirected_id), jnp.asarray(ev.ground_truth), jnp.asarray(ev.labels), keys)
    dist, classic, robust = grid
    neg_dist = -np.asarray(dist, np.float64).ravel()
    spearman = {f"{kind}_{m}": float(stats.spearmanr(np.asarray(vals[m]).ravel(), neg_dist)[0])
                for kind, vals in (("classic", classic), ("robust", robust)) for m in MEASURES}
    cell_means = {f"{kind}_{m}": np.asarray(vals[m]).mean(0).tolist()
                  for kind, vals in (("classic", classic), ("robust", robust)) for m in MEASURES}
    explainer_scores = {name: {f"{kind}_{m}": float(np.mean(v[i][m]))
                               for i, kind in enumerate(("classic", "robust")) for m in MEASURES}
                        for name, v in scored.items()}
    return {"test_accuracy": test_acc, "final_loss": float(losses[-1]), "spearman": spearman,
            "cells": cells, "cell_means": cell_means, "explainers": explainer_scores}


def run(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    per_seed = {str(seed): _seed_run(config, seed) for seed in config.seeds}
    keys = list(next(iter(per_seed.values()))["spearman"])
    mean_spearman = {k: float(np.mean([r["spearman"][k] for r in per_seed.values()]))
                     for k in keys}
    results = {"per_seed": per_seed, "mean_spearman": mean_spearman,
               "mean_test_accuracy": float(np.mean([r["test_accuracy"]
                                                    for r in per_seed.values()]))}
    first = next(iter(per_seed.values()))
    shape = (len(config.add_fractions), len(config.remove_fractions))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, kind in zip(axes, ("classic", "robust")):
        grid = np.asarray(first["cell_means"][f"{kind}_delta"]).reshape(shape)
        im = ax.imshow(grid, cmap="viridis", origin="lower")
        ax.set_xticks(range(shape[1]), [f"{f:.1f}" for f in config.remove_fractions])
        ax.set_yticks(range(shape[0]), [f"{f:.1f}" for f in config.add_fractions])
        ax.set_xlabel("fraction of motif edges removed")
        ax.set_ylabel("fraction of other edges added")
        ax.set_title(f"{kind} Fid_Δ (Spearman vs −distance "
                     f"{mean_spearman[f'{kind}_delta']:.2f})", fontsize=9)
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(workdir / "fidelity_grid.png", dpi=120)
    plt.close(fig)
    (workdir / "fidelity.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def claim(results: dict) -> Claim:
    sp = results["mean_spearman"]
    passed = sp["robust_delta"] > sp["classic_delta"]
    seeds = results["per_seed"]
    wins = sum(r["spearman"]["robust_delta"] > r["spearman"]["classic_delta"]
               for r in seeds.values())
    expl = {name: np.mean([r["explainers"][name]["robust_delta"] for r in seeds.values()])
            for name in ("ground_truth", "saliency", "random")}
    return Claim(
        passed=passed,
        text=(f"Spearman(measure, −edit distance to the ground-truth motif), mean over "
              f"{len(seeds)} seeds: Fid_Δ robust {sp['robust_delta']:.3f} vs classic "
              f"{sp['classic_delta']:.3f} (robust higher in {wins}/{len(seeds)} seeds); Fid+ "
              f"robust {sp['robust_plus']:.3f} vs classic {sp['classic_plus']:.3f}; Fid− robust "
              f"{sp['robust_minus']:.3f} vs classic {sp['classic_minus']:.3f} (for Fid−, lower "
              f"is better, so a negative correlation is the good direction). GCN test accuracy "
              f"{results['mean_test_accuracy']:.3f}. Robust Fid_Δ of explainers at the motif's "
              f"size: ground truth {expl['ground_truth']:.3f}, saliency {expl['saliency']:.3f}, "
              f"random {expl['random']:.3f}."),
        paper="robust fidelity varies monotonically with the distance to the ground truth and "
              "classic fidelity does not (heat maps on BA-2Motifs / Tree-Cycles; no table)",
        ours=f"Spearman Fid_Δ robust {sp['robust_delta']:.3f} vs classic {sp['classic_delta']:.3f}",
        plot="fidelity_grid.png")
