"""Flag Aggregator (Almasi, Mishra, Vamanan & Ravi, ICLR 2024): Byzantine-robust aggregation by
a Beta-likelihood (flag-median) subspace of the workers' normalised gradients, against the mean,
coordinate median, trimmed mean and Multi-Krum, with 3 Byzantine workers of 15.

Setting (the paper's parameter server, at CPU scale): sklearn digits (1,797 8x8 images; 70/10/20
train/validation/test), an MLP 64-64-10 (4,810 parameters), 15 workers each holding an IID
shard of the training set. Every step each worker sends the gradient of a batch of 32 from its
shard (`jaxnets.federated.simulator.fedavg_client_update` with one SGD(1.0) step, so the update
is -gradient); f = 3 Byzantine workers replace theirs; the server aggregates and applies SGD
with momentum 0.9 (the paper's optimiser; no weight decay), 300 steps. Attacks (the paper's
`byzWorker`): "random" = the gradient replaced by U[0, 1) noise, "reverse" = -10 x the
gradient; "none" = all 15 honest. Aggregators: mean (FedAvg with equal weights), coordinate
median, trimmed mean (trim f), Multi-Krum (m = p - f), Flag with the official settings (rank
r = 1, lambda = 0, one IRLS iteration from a seeded random start: "flag") and with 5 IRLS
iterations ("flag_5"; the official code's n_its = 1 gives near-uniform first weights, see
`jaxnets.federated.flag`). Learning rates: each aggregator's rate is chosen from a grid by mean
validation accuracy without attack (FA's output is a sum of projections of unit vectors, so it
needs a smaller rate than the mean); all (seed, rate) pairs train together under `vmap` and the
300 steps are one `lax.scan`.

Claim (issue row): with 3 Byzantine of 15 under the random and reverse attacks, Flag test
accuracy >= mean aggregation + 20 points, within 3 points of Flag without attack, and >=
coordinate median - 1 point (means over 3 seeds).

Deviations: digits and an MLP instead of CIFAR-10/ResNet-18 and MNIST (the paper's scale is
~10^7 parameters and 2,000+ steps); no weight decay; the "little is enough" and "fall of
empires" attacks and Bulyan are not run.

Outcome (full config, 3 seeds; PASSES): test accuracy at each aggregator's no-attack-selected
rate (flag 0.03, flag_5 0.1, multi_krum 0.1, mean/median/trimmed mean 0.3). Random attack: flag
97.3 +- 0.3 vs mean 61.0 +- 10.7, median 48.5 +- 10.0, trimmed mean 47.2 +- 25.3, Multi-Krum
96.7 +- 0.2, flag_5 94.3 +- 0.9. Reverse: flag 97.1 +- 0.5 vs mean 10.1 +- 0.7, median 95.5 +- 0.6,
trimmed mean 91.9 +- 1.0, Multi-Krum 96.7 +- 0.2, flag_5 97.7 +- 0.3. No attack: flag 97.0 +- 0.9.
Caveat: the median's and trimmed mean's collapse under the (all-positive) U[0, 1) attack is
rate-dependent (the attack biases every coordinate's median upwards and a large rate integrates
the bias): at rate 0.03 the median reaches 95.7 under the random attack; Flag still clears
"median - 1" against the median's best rate per attack (95.7 random, 96.2 reverse), and the mean
at its best rate under the random attack (76.6) by 20.7 points. 5 IRLS iterations did not help
here (94.3 vs 97.3 under the random attack). ~50 min wall (~20 min CPU) on the loaded machine.
"""
from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import optax

from experiments._federated import DigitsMLP
from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.data import small
from jaxnets.experiment import Claim, Paper
from jaxnets.federated import aggregators, attacks, simulator
from jaxnets.federated.flag import flag_server_aggregate

PAPER = Paper(
    title=("Flag Aggregator: Scalable Distributed Training under Failures and Augmented Losses "
           "using Convex Optimization"),
    authors="Almasi, Mishra, Vamanan & Ravi",
    venue="ICLR 2024",
)
DESCRIPTION = "Flag Aggregator vs mean/median/trimmed mean/Multi-Krum, 3 Byzantine of 15 workers on digits"
MEAN_MARGIN = 20.0    # Flag >= mean + 20 points under attack (issue row)
NO_ATTACK_GAP = 3.0   # Flag under attack within 3 points of Flag without attack
MEDIAN_SLACK = 1.0    # Flag >= coordinate median - 1 point
GATED_ATTACKS = ("random", "reverse")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        num_workers=15,
        num_byzantine=3,
        attacks="none,random,reverse",
        gars="mean,median,trimmed_mean,multi_krum,flag,flag_5",
        flag_rank=1,
        flag_lambda=0.0,
        reverse_scale=10.0,          # the paper's reverse attack: -10 x the gradient
        hidden=64,
        batch_size=32,
        steps=300,
        eval_every=25,
        momentum=0.9,
        learning_rates="0.003,0.01,0.03,0.1,0.3",
        n_seeds=3,
        seed=0,
        data_seed=0,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "num_workers=5", "num_byzantine=1", "attacks=none,reverse", "gars=mean,flag",
        "hidden=8", "steps=4", "eval_every=2", "learning_rates=0.1", "n_seeds=1"])


def uniform_attack(mask_K: jax.Array):
    """The paper's "random" attack: the attacked rows replaced by U[0, 1) noise."""
    def attack(stacked, key):
        leaves, treedef = jax.tree.flatten(stacked)
        keys = jax.random.split(key, len(leaves))
        noisy = [jnp.where(mask_K.reshape((-1,) + (1,) * (leaf.ndim - 1)),
                           jax.random.uniform(k, leaf.shape, leaf.dtype), leaf)
                 for k, leaf in zip(keys, leaves)]
        return jax.tree.unflatten(treedef, noisy)
    return attack


def with_momentum(aggregate, momentum: float):
    """Server SGD with (torch-style) momentum on the aggregated update: buf = m buf + agg,
    params += server_lr * buf; the buffer is the server state."""
    def server_aggregate(global_params, stacked_updates, weights, buffer, hp):
        zeros = jax.tree.map(jnp.zeros_like, global_params)
        agg, _, metrics = aggregate(zeros, stacked_updates, weights, (), {"server_lr": 1.0})
        buffer = jax.tree.map(lambda b, a: momentum * b + a, buffer, agg)
        new = jax.tree.map(lambda p, b: p + hp["server_lr"] * b, global_params, buffer)
        return new, buffer, {k: v for k, v in metrics.items() if k != "objective"}
    return server_aggregate


def _aggregator(name: str, config: ml_collections.ConfigDict):
    f, p = config.num_byzantine, config.num_workers
    table = {
        "mean": lambda: aggregators.fedavg,
        "median": aggregators.median_aggregate,
        "trimmed_mean": lambda: aggregators.trimmed_mean_aggregate(f),
        "multi_krum": lambda: aggregators.krum_aggregate(f, p - f),
        "flag": lambda: flag_server_aggregate(config.flag_rank, 1, config.flag_lambda),
        "flag_5": lambda: flag_server_aggregate(config.flag_rank, 5, config.flag_lambda),
    }
    if name not in table:
        raise ValueError(f"unknown aggregator {name!r}; choose from {sorted(table)}")
    return with_momentum(table[name](), config.momentum)


def _attack(name: str, config: ml_collections.ConfigDict):
    byzantine = range(config.num_byzantine)
    if name == "none":
        return None
    if name == "random":
        return uniform_attack(attacks.attack_mask(byzantine, config.num_workers))
    if name == "reverse":
        return attacks.make_attack("reverse", byzantine, config.num_workers,
                                   scale=config.reverse_scale)
    raise ValueError(f"unknown attack {name!r}; choose from none, random, reverse")


def _worker_data(x: np.ndarray, y: np.ndarray, num_workers: int, seed: int) -> dict:
    """An IID partition of (x, y) into equal shards, padded to one size with a `mask`."""
    order = np.random.default_rng(seed).permutation(len(y))
    shards = np.array_split(order, num_workers)
    size = max(len(s) for s in shards)
    data = {"x": np.zeros((num_workers, size, x.shape[1]), np.float32),
            "y": np.zeros((num_workers, size), np.int32),
            "mask": np.zeros((num_workers, size), bool)}
    for k, idx in enumerate(shards):
        data["x"][k, :len(idx)], data["y"][k, :len(idx)] = x[idx], y[idx]
        data["mask"][k, :len(idx)] = True
    return jax.tree.map(jnp.asarray, data)


def _train(config, model, client_update, gar, attack, data, split, lrs, seeds) -> dict:
    """All (seed, rate) members at once; returns accuracy curves [evals, P] (test and val)."""
    round_fn = simulator.make_round(client_update, _aggregator(gar, config),
                                    _attack(attack, config), shard=False)
    weights = jnp.ones(config.num_workers)
    x_test, y_test = (jnp.asarray(a) for a in split["test"])
    x_val, y_val = (jnp.asarray(a) for a in split["val"])
    member_seed = jnp.repeat(jnp.asarray(seeds), len(lrs))
    member_lr = jnp.tile(jnp.asarray(lrs, jnp.float32), len(seeds))
    keys = jax.vmap(jax.random.PRNGKey)(member_seed)
    params = jax.vmap(lambda k: model.init(jax.random.fold_in(k, 0), x_test[:1]))(keys)
    buffers = jax.tree.map(jnp.zeros_like, params)

    def accuracy(p, x, y):
        return jnp.mean(jnp.argmax(model.apply(p, x), -1) == y)

    def one_round(carry, step):
        params, buffers = carry
        step_keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, 1), step))(keys)
        params, buffers, _, _ = jax.vmap(
            round_fn, in_axes=(0, 0, None, None, None, 0, 0))(
            params, buffers, (), data, weights, step_keys, {"server_lr": member_lr})
        return (params, buffers), None

    def chunk(carry, first_step):
        carry, _ = jax.lax.scan(one_round, carry, first_step + jnp.arange(config.eval_every))
        evaluate = jax.vmap(accuracy, in_axes=(0, None, None))
        return carry, (evaluate(carry[0], x_test, y_test), evaluate(carry[0], x_val, y_val))

    num_evals = config.steps // config.eval_every
    run = jax.jit(lambda c: jax.lax.scan(chunk, c, config.eval_every * jnp.arange(num_evals)))
    _, (test, val) = run((params, buffers))
    test, val = np.asarray(test) * 100, np.asarray(val) * 100
    if not np.all(np.isfinite(test)):
        raise FloatingPointError(f"{gar}/{attack}: non-finite accuracy")
    shape = (num_evals, len(seeds), len(lrs))
    return {"test": test.reshape(shape), "val": val.reshape(shape)}


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    if not 0 <= 2 * config.num_byzantine < config.num_workers:
        raise ValueError(f"need 0 <= 2 num_byzantine < num_workers, got {config.num_byzantine} "
                         f"of {config.num_workers}")
    if config.steps % config.eval_every:
        raise ValueError(f"steps ({config.steps}) must be a multiple of eval_every "
                         f"({config.eval_every})")
    gars = [g.strip() for g in config.gars.split(",") if g.strip()]
    attack_names = [a.strip() for a in config.attacks.split(",") if a.strip()]
    if "none" not in attack_names:
        raise ValueError("config.attacks must include 'none' (rates are chosen without attack)")
    lrs = [float(v) for v in config.learning_rates.split(",")]
    seeds = list(range(config.seed, config.seed + config.n_seeds))
    split = small.digits_split(config.data_seed, test_fraction=0.2, val_fraction=0.1)
    data = _worker_data(*split["train"], config.num_workers, config.data_seed)
    model = DigitsMLP(config.hidden)

    def loss_fn(params, batch):
        logits = model.apply(params, batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])

    client_update = simulator.fedavg_client_update(loss_fn, optax.sgd(1.0), 1, config.batch_size)
    curves = {g: {a: _train(config, model, client_update, g, a, data, split, lrs, seeds)
                  for a in attack_names} for g in gars}
    results: dict = {"learning_rates": lrs, "seeds": seeds, "gars": {}}
    for g in gars:
        best = int(np.argmax(curves[g]["none"]["val"][-1].mean(axis=0)))
        results["gars"][g] = {
            "learning_rate": lrs[best],
            "test_accuracy": {a: curves[g][a]["test"][-1, :, best].tolist() for a in attack_names},
            "curve": {a: curves[g][a]["test"][:, :, best].mean(axis=1).tolist()
                      for a in attack_names},
            "all_rates_test": {a: curves[g][a]["test"][-1].mean(axis=0).tolist()
                               for a in attack_names},
        }
    results["eval_steps"] = [config.eval_every * (i + 1)
                             for i in range(config.steps // config.eval_every)]
    results["plot"] = "flag_aggregator.png"
    _plot(results, attack_names, workdir / results["plot"])
    (workdir / "flag_summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _plot(results: dict, attack_names: list[str], path: pathlib.Path) -> None:
    gars = list(results["gars"])
    fig, ax = plt.subplots(figsize=(1.2 * len(gars) * len(attack_names) / 2 + 3, 3.5))
    width = 0.8 / len(attack_names)
    for i, a in enumerate(attack_names):
        accs = [results["gars"][g]["test_accuracy"][a] for g in gars]
        ax.bar(np.arange(len(gars)) + width * i, [np.mean(v) for v in accs], width,
               yerr=[np.std(v) for v in accs], label=f"attack: {a}")
    ax.set_xticks(np.arange(len(gars)) + 0.4 - width / 2, gars)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    gars = results["gars"]
    acc = {g: {a: float(np.mean(v)) for a, v in e["test_accuracy"].items()}
           for g, e in gars.items()}
    conditions, ours = [], []
    for a in GATED_ATTACKS:
        if a not in acc.get("flag", {}):
            continue
        flag, mean, median, clean = (acc["flag"][a], acc.get("mean", {}).get(a, np.nan),
                                     acc.get("median", {}).get(a, np.nan), acc["flag"]["none"])
        conditions += [flag >= mean + MEAN_MARGIN, flag >= clean - NO_ATTACK_GAP,
                       flag >= median - MEDIAN_SLACK]
        others = ", ".join(f"{g} {plots.mean_std(gars[g]['test_accuracy'][a])}"
                           for g in gars if g != "flag")
        ours.append(f"{a}: flag {plots.mean_std(gars['flag']['test_accuracy'][a])} ({others})")
    if "flag" in acc:
        ours.append(f"no attack: flag {plots.mean_std(gars['flag']['test_accuracy']['none'])}")
    return Claim(
        passed=bool(conditions) and all(conditions),
        text=(f"with 3 Byzantine of 15 workers under the random and reverse attacks, Flag test "
              f"accuracy >= mean + {MEAN_MARGIN:.0f} points, within {NO_ATTACK_GAP:.0f} points "
              f"of Flag without attack, and >= coordinate median - {MEDIAN_SLACK:.0f}"),
        paper=("FA is more robust than Bulyan / Multi-Krum / median under random, reverse and "
               "other attacks on CIFAR-10 ResNet-18 with 15 workers, f <= 3 (per-table "
               "accuracies in the PDF, not retrieved)"),
        ours="; ".join(ours),
        plot=results["plot"],
    )
