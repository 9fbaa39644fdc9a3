"""The Lottery Ticket Hypothesis (Frankle & Carbin, ICLR 2019) on a digits LeNet-300-100.

Claim of the paper (Sec. 2, Figures 3-4, LeNet-300-100 on MNIST): iterative magnitude pruning
with reset to the original initialisation θ0 finds "winning tickets" that match or beat the
dense network's test accuracy down to ~3.6 % of the weights and early-stop sooner (the
iteration of minimum validation loss), whereas the same masks randomly reinitialised, or random
masks of the same layer-wise sparsity, lose accuracy much earlier; abstract: tickets "less than
10-20 % of the size" of the original networks.

CPU scale (research notes' mini-reproduction): an MLP 64 -> 300 -> 100 -> 10 (the paper's
LeNet-300-100 on 8x8 digits) with ReLU and Gaussian Glorot init (paper, Appendix), sklearn
digits split train / val / test = 60 / 20 / 20 % (the paper holds out 5k MNIST training images
as its validation set for early stopping). Adam 1.2e-3, batch 60 (paper), `steps` = 1000
iterations (~56 epochs, as the paper's 50k iterations are ~55 MNIST epochs; the notes said 800
steps of batch 64); validation every 20 steps. Each round prunes 20 % of each hidden layer's
survivors and 10 % of the output layer's (paper), for 14 rounds (density 21.5 % after 7 rounds,
4.8 % after 14). Conditions per round, 3 seeds, all under vmap (`jaxnets.prune.lottery`): ticket
(reset to θ0), rewind (late resetting to the dense θk, k = 20 iterations = 2.5 % of training,
its own pruning lineage; Frankle et al. 2019), reinit (ticket mask, fresh init), random_mask
(random mask with the ticket's layer-wise sparsity, from θ0). Accuracy is test accuracy at the
early-stopping iteration (the paper's Figure 3/4 measure); final-iteration accuracy is reported
too.

Claim checked (issue thresholds, means over seeds): at the round closest to 21 % of the weights
the ticket's accuracy >= dense - 1 pt and its early-stopping iteration <= dense's; at the round
closest to 5 % the ticket beats reinit by >= 2 pt and random_mask by >= 2 pt.
`architecture=conv` trains a small Conv-2 (two 3x3 convolutions, 2x2 max-pooling, FC layers;
the paper's rates: conv 10 %, FC 20 %, output 10 %; `lth_rate(conv=...)`); its smoke run works,
but a full run (16-16 channels, FC 128-128, 12 vmapped members) did not finish round 0 in
9 CPU-minutes, so no conv result is reported yet. Not done: the paper's CIFAR-10 experiments.

Outcome (3 seeds, see the report): the claim FAILS on two of its four conditions. With the
default 1000 steps: at 21.5 % the ticket matches dense (97.68 vs 97.68 %, passes) but early-stops
at iteration 467 vs dense 367 (fails); at 4.8 % it beats a random mask by 2.23 pt (passes) but
random reinit by only 0.65 pt (fails). What we tried: the notes' 800 steps first (same split,
seeds, rates): 97.68 vs 97.68 %, early stop 467 vs 400, +1.58 pt over reinit, +2.88 pt over a
random mask; then 1000 steps to match the paper's ~55 epochs, which lets the slowly training
reinit networks converge further and narrows that gap. Why we think it misses: digits is small
and easy (1078 training images, 64 inputs, dense 97.7 %), so accuracy gaps are a few test images
(1 image = 0.28 pt of 359); the dense network overfits its validation loss after ~350
iterations, earlier than MNIST's LeNet, and sparser tickets, with less capacity, reach their
minimum later. The paper's shape does reproduce: tickets stay within 1 pt of dense down to
4.8 % (97.21 vs 97.68 %), early-stop at dense's iteration from 64 % to 41 % of the weights
(360-367 vs 367), and far sooner than both controls at every density; below ~20 % the reinit
and random-mask networks reach their minimum validation loss only at the end of training.
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

from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.data.small import digits_split
from jaxnets.experiment import Claim, Paper
from jaxnets.prune.lottery import CONDITIONS, lth_rate, make_round_trainer, run_lottery

PAPER = Paper(
    title="The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural Networks",
    authors="Frankle & Carbin",
    venue="ICLR 2019",
)
DESCRIPTION = "Lottery tickets: iterative magnitude pruning of a digits LeNet-300-100 vs controls"
# Sec. 2 (LeNet-300-100, MNIST): tickets keep the dense accuracy down to Pm = 3.6 % of the
# weights and learn fastest around Pm = 21.1 %; abstract: tickets < 10-20 % of the size.
PAPER_MATCH_DENSITY = 0.036
PAPER_FASTEST_DENSITY = 0.211
PAPER_TEXT = ("LeNet-300-100 / MNIST: winning tickets match or beat the dense test accuracy "
              "down to 3.6 % of the weights and early-stop sooner (fastest near 21.1 %); "
              "randomly reinitialised tickets lose accuracy much earlier (Sec. 2, Figs. 3-4)")
MAX_DROP, MIN_MARGIN = 0.01, 0.02   # issue: ticket >= dense - 1 pt at ~21 %; +2 pt at ~5 %


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        architecture="mlp",              # "mlp": LeNet-300-100; "conv": a small Conv-2
        hidden=(300, 100),               # LeNet-300-100 (paper), output 10; FC widths of conv
        conv_channels=(32, 32),          # "conv": two 3x3 convolutions, then 2x2 max-pooling
        conv_rate=0.1,                   # paper's Conv-2/4/6 rate for convolutions
        seeds=(0, 1, 2),
        split_seed=0, val_fraction=0.2, test_fraction=0.2,
        steps=1000, batch_size=60,       # ~55 epochs, as the paper: 50k x 60 on 55k MNIST
        learning_rate=1.2e-3,            # paper: Adam 1.2e-3 for LeNet
        eval_every=20,
        rounds=14,                       # 0.8^14 of the hidden weights survive
        hidden_rate=0.2, output_rate=0.1,  # paper's per-round layer-wise rates
        rewind_step=20,                  # late resetting to θk, 2.5 % of training
        match_density=0.21, sparse_density=0.05,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "hidden=(32, 16)", "seeds=(0, 1)", "steps=40", "eval_every=10", "rounds=2",
        "rewind_step=10"])


class ConvNet(nn.Module):
    """The paper's Conv-2 shape scaled to 8x8 digits: two 3x3 ReLU convolutions (SAME), 2x2
    max-pooling, ReLU fully connected layers, linear output; Gaussian Glorot init."""
    channels: tuple[int, ...]
    hidden: tuple[int, ...]
    num_classes: int = 10

    @nn.compact
    def __call__(self, x_BxF: jax.Array) -> jax.Array:
        init = nn.initializers.variance_scaling(1.0, "fan_avg", "normal")
        side = int(round(x_BxF.shape[-1] ** 0.5))
        x = x_BxF.reshape(x_BxF.shape[0], side, side, 1)
        for channels in self.channels:
            x = nn.relu(nn.Conv(channels, (3, 3), padding="SAME", kernel_init=init)(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2)).reshape(x.shape[0], -1)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width, kernel_init=init)(x))
        return nn.Dense(self.num_classes, kernel_init=init)(x)


class LeNet(nn.Module):
    """Fully connected ReLU network with Gaussian Glorot init (the paper's LeNet-300-100)."""
    hidden: tuple[int, ...]
    num_classes: int = 10

    @nn.compact
    def __call__(self, x_BxF: jax.Array) -> jax.Array:
        init = nn.initializers.variance_scaling(1.0, "fan_avg", "normal")
        for width in self.hidden:
            x_BxF = nn.relu(nn.Dense(width, kernel_init=init)(x_BxF))
        return nn.Dense(self.num_classes, kernel_init=init)(x_BxF)


def _split(config):
    split = digits_split(config.split_seed, config.test_fraction, config.val_fraction)
    return {name: (jnp.asarray(x), jnp.asarray(y)) for name, (x, y) in split.items()}


def _check(config):
    if not 0 < config.match_density <= 1 or not 0 < config.sparse_density <= 1:
        raise ValueError("match_density and sparse_density must be in (0, 1]")
    if config.architecture not in ("mlp", "conv"):
        raise ValueError(f"architecture must be 'mlp' or 'conv', got {config.architecture!r}")
    if len(config.seeds) < 1 or config.rounds < 1:
        raise ValueError("need at least one seed and one pruning round")


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    _check(config)
    workdir = pathlib.Path(workdir)
    data = _split(config)
    model = (LeNet(tuple(config.hidden)) if config.architecture == "mlp"
             else ConvNet(tuple(config.conv_channels), tuple(config.hidden)))
    x0 = data["train"][0][:1]
    init_fn = lambda key: model.init(key, x0)
    rate = lth_rate(jax.eval_shape(init_fn, jax.random.PRNGKey(0)), config.hidden_rate,
                    config.output_rate, conv=config.conv_rate)
    trainer = make_round_trainer(
        model.apply, optax.adam(config.learning_rate), data["train"], data["val"],
        data["test"], steps=config.steps, batch_size=config.batch_size,
        eval_every=config.eval_every, rewind_step=config.rewind_step)
    keys_S = jnp.stack([jax.random.PRNGKey(s) for s in config.seeds])

    with open(workdir / "metrics.jsonl", "w") as log:
        def on_round(r, m):
            record = {"round": r, "density": float(np.mean(m["density"]))}
            if r == 0:
                record["dense"] = float(np.mean(m["early_stop_test_acc"]))
            else:
                record.update({c: float(np.mean(m["early_stop_test_acc"][i]))
                               for i, c in enumerate(CONDITIONS)})
            log.write(json.dumps(record) + "\n")
            log.flush()

        history = run_lottery(init_fn, trainer, rate, keys_S, num_rounds=config.rounds,
                              rewind_step=config.rewind_step, on_round=on_round)
    results = _summarise(config, history)
    results["plot"] = _plot(workdir, results)
    (workdir / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _summarise(config, history) -> dict:
    dense, rounds = history["dense"], history["rounds"]
    density_R = rounds["density"][:, 0].mean(axis=-1)   # ticket lineage (same for all seeds)
    match = int(np.argmin(np.abs(density_R - config.match_density)))
    sparse = int(np.argmin(np.abs(density_R - config.sparse_density)))
    results = {
        "seeds": list(config.seeds), "steps": config.steps, "eval_every": config.eval_every,
        "density": [1.0] + density_R.tolist(),
        "rewind_density": [1.0] + rounds["density"][:, 1].mean(axis=-1).tolist(),
        "match_round": match + 1, "sparse_round": sparse + 1,
        "match_density": float(density_R[match]), "sparse_density": float(density_R[sparse]),
        "paper_match_density": PAPER_MATCH_DENSITY,
        "paper_fastest_density": PAPER_FASTEST_DENSITY,
    }
    for metric in ("early_stop_test_acc", "early_stop_step", "final_test_acc"):
        results[f"dense_{metric}"] = dense[metric].tolist()               # [S]
        results[f"dense_{metric}_mean"] = float(dense[metric].mean())
        for c, name in enumerate(CONDITIONS):
            values = rounds[metric][:, c]                                   # [R, S]
            results[f"{name}_{metric}"] = values.tolist()
            results[f"{name}_{metric}_mean"] = values.mean(axis=-1).tolist()
    results["dense_val_loss"] = dense["val_loss_E"].mean(axis=0).tolist()
    for c, name in enumerate(CONDITIONS):
        results[f"{name}_val_loss"] = rounds["val_loss_E"][:, c].mean(axis=1).tolist()  # [R, E]
    at = lambda name, metric, r: results[f"{name}_{metric}"][r]
    results.update({
        "match_ticket_acc": at("ticket", "early_stop_test_acc", match),
        "match_rewind_acc": at("rewind", "early_stop_test_acc", match),
        "match_ticket_es_step": at("ticket", "early_stop_step", match),
        "sparse_ticket_acc": at("ticket", "early_stop_test_acc", sparse),
        "sparse_rewind_acc": at("rewind", "early_stop_test_acc", sparse),
        "sparse_reinit_acc": at("reinit", "early_stop_test_acc", sparse),
        "sparse_random_mask_acc": at("random_mask", "early_stop_test_acc", sparse),
    })
    mean = lambda key: float(np.mean(results[key]))
    results.update({
        "match_drop": results["dense_early_stop_test_acc_mean"] - mean("match_ticket_acc"),
        "match_es_step_ticket": mean("match_ticket_es_step"),
        "match_es_step_dense": results["dense_early_stop_step_mean"],
        "sparse_margin_reinit": mean("sparse_ticket_acc") - mean("sparse_reinit_acc"),
        "sparse_margin_random_mask": (mean("sparse_ticket_acc")
                                      - mean("sparse_random_mask_acc")),
    })
    return results


def _plot(workdir, results) -> str:
    """Test accuracy at early stopping and early-stop iteration vs density (paper Figs. 3-4)."""
    density = np.asarray(results["density"][1:]) * 100
    fig, (ax_acc, ax_es) = plt.subplots(1, 2, figsize=(11, 4))
    for name in CONDITIONS:
        for ax, metric, scale in ((ax_acc, "early_stop_test_acc", 100),
                                  (ax_es, "early_stop_step", 1)):
            values = np.asarray(results[f"{name}_{metric}"]) * scale       # [R, S]
            ax.errorbar(density, values.mean(1), yerr=values.std(1), marker="o", ms=3,
                        capsize=2, label=name)
    ax_acc.axhline(100 * results["dense_early_stop_test_acc_mean"], color="k", ls="--",
                   label="dense")
    ax_es.axhline(results["dense_early_stop_step_mean"], color="k", ls="--", label="dense")
    for ax, label in ((ax_acc, "test accuracy at early stop (%)"),
                      (ax_es, "early-stop iteration (min val loss)")):
        ax.set_xscale("log")
        ax.set_xticks([100, 50, 20, 10, 5], ["100", "50", "20", "10", "5"])
        ax.minorticks_off()
        ax.invert_xaxis()
        ax.set_xlabel("weights remaining (%)")
        ax.set_ylabel(label)
        ax.axvline(100 * PAPER_MATCH_DENSITY, color="gray", ls=":", lw=1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Lottery tickets, digits LeNet-300-100, {len(results['seeds'])} seeds "
                 "(dotted: paper's 3.6 %)")
    fig.tight_layout()
    name = "lottery_ticket.png"
    fig.savefig(pathlib.Path(workdir) / name, dpi=100)
    plt.close(fig)
    return name


def claim(results: dict) -> Claim:
    dense = results["dense_early_stop_test_acc_mean"]
    ticket_21 = float(np.mean(results["match_ticket_acc"]))
    es_ticket, es_dense = results["match_es_step_ticket"], results["match_es_step_dense"]
    m_reinit, m_random = results["sparse_margin_reinit"], results["sparse_margin_random_mask"]
    passed = (results["match_drop"] <= MAX_DROP and es_ticket <= es_dense
              and m_reinit >= MIN_MARGIN and m_random >= MIN_MARGIN)
    d21, d5 = 100 * results["match_density"], 100 * results["sparse_density"]
    text = (f"at {d21:.1f} % of the weights the ticket's test accuracy {100 * ticket_21:.2f} "
            f"vs dense {100 * dense:.2f} (need >= dense - {100 * MAX_DROP:.0f} pt) and it "
            f"early-stops at iteration {es_ticket:.0f} vs dense {es_dense:.0f} (need <=); at "
            f"{d5:.1f} % the ticket beats random reinit by {100 * m_reinit:.2f} pt and a random "
            f"mask by {100 * m_random:.2f} pt (need >= {100 * MIN_MARGIN:.0f} each); means of "
            f"{len(results['seeds'])} seeds. Paper: tickets hold dense accuracy down to "
            f"{100 * PAPER_MATCH_DENSITY:.1f} % and are fastest near "
            f"{100 * PAPER_FASTEST_DENSITY:.1f} %.")
    return Claim(
        passed=bool(passed), text=text, paper=PAPER_TEXT,
        ours=(f"ticket {plots.mean_std(results['match_ticket_acc'], 100)} at {d21:.1f} % vs "
              f"dense {plots.mean_std(results['dense_early_stop_test_acc'], 100)}; at "
              f"{d5:.1f} %: ticket {plots.mean_std(results['sparse_ticket_acc'], 100)}, reinit "
              f"{plots.mean_std(results['sparse_reinit_acc'], 100)}, random mask "
              f"{plots.mean_std(results['sparse_random_mask_acc'], 100)}"),
        plot=results["plot"])
