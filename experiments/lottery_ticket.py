"""The Lottery Ticket Hypothesis (Frankle & Carbin, ICLR 2019) on digits: LeNet-300-100 and Conv-2.

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
The early-stopping iteration is the paper's (Sec. 1, footnote 2): the iteration of minimum
validation loss (not of best validation accuracy, as the issue's wording has it), read from
evaluations every 20 iterations (the paper: every 100).

Small CNN (`architectures` includes "conv"; the verdict needs every condition on both
networks): the paper's Conv-2 shape scaled down to 8x8 digits, two 3x3 ReLU convolutions with
8 channels each, 2x2 max-pooling, FC 64-64, output 10 (the paper: 64-64 channels on 32x32 CIFAR,
FC 256-256), with the paper's Conv-2 rates (conv 10 %, FC 20 %, output 10 % per round;
`lth_rate(conv=...)`; density 19.3 % after 8 rounds, 6.2 % after 14). Shrunk to run on CPU:
500 iterations of batch 60 (~28 epochs; the paper's Conv-2 trains 20k iterations of 60 on 50k
CIFAR images, ~24 epochs), Adam 1.2e-3 kept from LeNet (the paper's Conv-2 uses 2e-4), same
split, seeds, rewind step and evaluation cadence. Convolutions are computed as patches @ kernel
(`PatchConv`, equal to `nn.Conv`), because XLA:CPU runs a vmapped `lax.conv` as a grouped
convolution several times slower (a first full run with 16-16 channels, FC 128-128 and
`nn.Conv` did not finish round 0 in 9 CPU minutes). Not done: the paper's CIFAR-10 runs.

Outcome, Conv-2 (3 seeds, ~54 min wall on a heavily shared 2-core CPU, ~8 CPU-min): all four
conditions PASS. At 19.3 % the ticket keeps 96.56 % vs dense 96.94 % (-0.38 pt) and early-stops
at iteration 467 vs dense 500; at 6.2 % the ticket (96.10 %) beats random reinit (86.16 %) by
9.94 pt and a random mask (82.27 %) by 13.83 pt. Caveat on speed: the dense Conv-2's minimum
validation loss falls on the last evaluation (500) for all three seeds, i.e. it is still
improving when training stops, so "ticket <= dense" is a censored comparison; tickets reach
their minimum earlier at every density (460-493), the reinit and random-mask controls mostly at
487-500.

Outcome, LeNet-300-100 (3 seeds, see the report): FAILS on two of its four conditions, so the
claim as a whole FAILS. With the
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
from collections.abc import Callable

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
ARCHITECTURES = ("mlp", "conv")
ARCHITECTURE_NAMES = {"mlp": "LeNet-300-100 (MLP)", "conv": "Conv-2 (small CNN)"}


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        architectures=("mlp", "conv"),   # the claim is checked on each; the verdict needs all
        hidden=(300, 100),               # "mlp": LeNet-300-100 (paper), output 10
        conv_channels=(8, 8),            # "conv": two 3x3 convolutions, then 2x2 max-pooling
        conv_hidden=(64, 64),            # "conv": its fully connected layers, output 10
        conv_steps=500,                  # ~28 epochs (paper's Conv-2: 20k x 60 on 50k ~ 24)
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
        "hidden=(32, 16)", "conv_channels=(2, 2)", "conv_hidden=(16, 8)", "seeds=(0, 1)",
        "steps=40", "conv_steps=20", "eval_every=10", "rounds=2", "rewind_step=10"])


class PatchConv(nn.Module):
    """A 3x3 SAME convolution computed as patches @ kernel (im2col), equal to `nn.Conv`'s.

    Params `kernel` [3, 3, C, F] and `bias` [F], as `nn.Conv`. Why: under `vmap` over the 12
    networks of a round (seeds x conditions) XLA:CPU turns `lax.conv` with batched kernels into
    a grouped convolution that is several times slower than this batched matmul.
    """
    features: int
    kernel_init: Callable = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
        _, h, w, c = x_BxHxWxC.shape
        kernel = self.param("kernel", self.kernel_init, (3, 3, c, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        xp = jnp.pad(x_BxHxWxC, ((0, 0), (1, 1), (1, 1), (0, 0)))
        patches_BxHxWxPxC = jnp.stack(
            [xp[:, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=3)
        return jnp.einsum("bhwpc,pcf->bhwf", patches_BxHxWxPxC,
                          kernel.reshape(9, c, self.features)) + bias[None, None, None]


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
        for i, channels in enumerate(self.channels):
            x = nn.relu(PatchConv(channels, kernel_init=init, name=f"Conv_{i}")(x))
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
    bad = [a for a in config.architectures if a not in ARCHITECTURES]
    if not config.architectures or bad or len(set(config.architectures)) != len(
            config.architectures):
        raise ValueError(f"architectures must be distinct names from {ARCHITECTURES}, got "
                         f"{tuple(config.architectures)!r}")
    if len(config.seeds) < 1 or config.rounds < 1:
        raise ValueError("need at least one seed and one pruning round")


def _model(config, architecture: str) -> nn.Module:
    if architecture == "mlp":
        return LeNet(tuple(config.hidden))
    return ConvNet(tuple(config.conv_channels), tuple(config.conv_hidden))


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    _check(config)
    workdir = pathlib.Path(workdir)
    data = _split(config)
    keys_S = jnp.stack([jax.random.PRNGKey(s) for s in config.seeds])
    results: dict = {"architectures": list(config.architectures), "seeds": list(config.seeds)}
    with open(workdir / "metrics.jsonl", "w") as log:
        for architecture in config.architectures:
            model = _model(config, architecture)
            x0 = data["train"][0][:1]
            init_fn = lambda key, model=model: model.init(key, x0)
            rate = lth_rate(jax.eval_shape(init_fn, jax.random.PRNGKey(0)), config.hidden_rate,
                            config.output_rate, conv=config.conv_rate)
            steps = config.steps if architecture == "mlp" else config.conv_steps
            trainer = make_round_trainer(
                model.apply, optax.adam(config.learning_rate), data["train"], data["val"],
                data["test"], steps=steps, batch_size=config.batch_size,
                eval_every=config.eval_every, rewind_step=config.rewind_step)

            def on_round(r, m, architecture=architecture):
                record = {"architecture": architecture, "round": r,
                          "density": float(np.mean(m["density"]))}
                if r == 0:
                    record["dense"] = float(np.mean(m["early_stop_test_acc"]))
                else:
                    record.update({c: float(np.mean(m["early_stop_test_acc"][i]))
                                   for i, c in enumerate(CONDITIONS)})
                log.write(json.dumps(record) + "\n")
                log.flush()

            history = run_lottery(init_fn, trainer, rate, keys_S, num_rounds=config.rounds,
                                  rewind_step=config.rewind_step, on_round=on_round)
            results[architecture] = _summarise(config, history, steps)
    results["plot"] = _plot(workdir, results)
    (workdir / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _summarise(config, history, steps: int) -> dict:
    dense, rounds = history["dense"], history["rounds"]
    density_R = rounds["density"][:, 0].mean(axis=-1)   # ticket lineage (same for all seeds)
    match = int(np.argmin(np.abs(density_R - config.match_density)))
    sparse = int(np.argmin(np.abs(density_R - config.sparse_density)))
    results = {
        "seeds": list(config.seeds), "steps": steps, "eval_every": config.eval_every,
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
    """Test accuracy at early stopping and early-stop iteration vs density (paper Figs. 3-4),
    one row per architecture."""
    archs = results["architectures"]
    fig, axes = plt.subplots(len(archs), 2, figsize=(11, 4 * len(archs)), squeeze=False)
    for (ax_acc, ax_es), arch in zip(axes, archs):
        res = results[arch]
        density = np.asarray(res["density"][1:]) * 100
        for name in CONDITIONS:
            for ax, metric, scale in ((ax_acc, "early_stop_test_acc", 100),
                                      (ax_es, "early_stop_step", 1)):
                values = np.asarray(res[f"{name}_{metric}"]) * scale         # [R, S]
                ax.errorbar(density, values.mean(1), yerr=values.std(1), marker="o", ms=3,
                            capsize=2, label=name)
        ax_acc.axhline(100 * res["dense_early_stop_test_acc_mean"], color="k", ls="--",
                       label="dense")
        ax_es.axhline(res["dense_early_stop_step_mean"], color="k", ls="--", label="dense")
        for ax, label in ((ax_acc, "test accuracy at early stop (%)"),
                          (ax_es, "early-stop iteration (min val loss)")):
            ax.set_xscale("log")
            ax.set_xticks([100, 50, 20, 10, 5], ["100", "50", "20", "10", "5"])
            ax.minorticks_off()
            ax.invert_xaxis()
            ax.set_xlabel("weights remaining (%)")
            ax.set_ylabel(label)
            ax.set_title(ARCHITECTURE_NAMES[arch], fontsize=9)
            ax.axvline(100 * PAPER_MATCH_DENSITY, color="gray", ls=":", lw=1)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle(f"Lottery tickets on digits, {len(results['seeds'])} seeds "
                 "(dotted: paper's 3.6 %)")
    fig.tight_layout()
    name = "lottery_ticket.png"
    fig.savefig(pathlib.Path(workdir) / name, dpi=100)
    plt.close(fig)
    return name


def _conditions(res: dict) -> dict[str, bool]:
    return {"match": res["match_drop"] <= MAX_DROP,
            "early_stop": res["match_es_step_ticket"] <= res["match_es_step_dense"],
            "reinit": res["sparse_margin_reinit"] >= MIN_MARGIN,
            "random_mask": res["sparse_margin_random_mask"] >= MIN_MARGIN}


def _arch_text(arch: str, res: dict) -> str:
    ok = _conditions(res)
    mark = lambda key: "ok" if ok[key] else "FAIL"
    d21, d5 = 100 * res["match_density"], 100 * res["sparse_density"]
    return (f"{ARCHITECTURE_NAMES[arch]}: at {d21:.1f} % of the weights the ticket's test "
            f"accuracy {100 * float(np.mean(res['match_ticket_acc'])):.2f} vs dense "
            f"{100 * res['dense_early_stop_test_acc_mean']:.2f} (need >= dense - "
            f"{100 * MAX_DROP:.0f} pt) [{mark('match')}] and it early-stops at iteration "
            f"{res['match_es_step_ticket']:.0f} vs dense {res['match_es_step_dense']:.0f} "
            f"(need <=) [{mark('early_stop')}]; at {d5:.1f} % the ticket beats random reinit by "
            f"{100 * res['sparse_margin_reinit']:.2f} pt [{mark('reinit')}] and a random mask by "
            f"{100 * res['sparse_margin_random_mask']:.2f} pt [{mark('random_mask')}] (need >= "
            f"{100 * MIN_MARGIN:.0f} each)")


def _arch_ours(arch: str, res: dict) -> str:
    d21, d5 = 100 * res["match_density"], 100 * res["sparse_density"]
    return (f"{arch}: ticket {plots.mean_std(res['match_ticket_acc'], 100)} at {d21:.1f} % vs "
            f"dense {plots.mean_std(res['dense_early_stop_test_acc'], 100)}; at {d5:.1f} %: "
            f"ticket {plots.mean_std(res['sparse_ticket_acc'], 100)}, reinit "
            f"{plots.mean_std(res['sparse_reinit_acc'], 100)}, random mask "
            f"{plots.mean_std(res['sparse_random_mask_acc'], 100)}")


def claim(results: dict) -> Claim:
    archs = results["architectures"]
    passed = all(all(_conditions(results[a]).values()) for a in archs)
    text = ("; ".join(_arch_text(a, results[a]) for a in archs)
            + f". Means of {len(results['seeds'])} seeds; the verdict needs every condition on "
            f"every architecture. Paper: tickets hold dense accuracy down to "
            f"{100 * PAPER_MATCH_DENSITY:.1f} % and are fastest near "
            f"{100 * PAPER_FASTEST_DENSITY:.1f} %.")
    return Claim(passed=bool(passed), text=text, paper=PAPER_TEXT,
                 ours="; ".join(_arch_ours(a, results[a]) for a in archs),
                 plot=results["plot"])
