"""Magnitude Invariant Parametrizations (MIP) against the standard hypernetwork — Ortiz, Guttag &
Dalca (ICLR 2024).

Task (a CPU-scale version of the paper's hyperparameter-conditioned models): a hypernetwork
conditioned on gamma in [0, 1] predicts all weights of a 64-32-10 ReLU MLP classifying the
digits; gamma sets the weight-decay coefficient lambda(gamma) = 10^(-4 + 3 gamma), and the
hypernetwork is trained on the amortised objective

    L(phi) = E_{gamma ~ U[0,1]} [ CE(f(x; theta(gamma)), y) + lambda(gamma) ||theta(gamma)||^2 ],

with `gammas_per_step` gammas per minibatch. The standard hypernetwork (raw gamma, Kaiming
fan-in, zero biases) and MIP (cos|sin encoding, residual theta_0, fan-out/block init; see
`jaxnets.hyper`) are trained with the same budget, the same batches and gamma draws, with Adam
on a grid of learning rates; seeds x learning rates form one vmapped population per formulation
(the learning rate is a per-member leaf of `optax.inject_hyperparams`). The metric is the
objective on the whole training set averaged over the gamma grid {0, .25, .5, .75, 1}.

Claim, in the paper's shape (it reports convergence curves, not a single number): MIP reaches
the standard hypernetwork's final loss in fewer steps (the median over the learning-rate grid of
steps_standard / steps_MIP, averaged over seeds, >= 1.5x) and is less sensitive to the learning
rate (the std of the final loss across the grid, averaged over seeds, is lower).
"""
from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxnets import config as config_lib
from jaxnets import data as data_lib
from jaxnets import hyper
from jaxnets import nn as jnn
from jaxnets import plots
from jaxnets.experiment import Claim, Paper
from jaxnets.train import batch_indices, fit

PAPER = Paper(
    title="Magnitude Invariant Parametrizations Improve Hypernetwork Learning",
    authors="Ortiz, Guttag & Dalca",
    venue="ICLR 2024",
)
DESCRIPTION = "MIP vs standard hypernetwork on a weight-decay-conditioned digits MLP (lr grid)"
PAPER_RESULT = ("MIP converges faster and is less sensitive to hyperparameters in every task and "
                "ablation (convergence curves; no single number)")
PASS_SPEEDUP = 1.5
CLAIMED = ("standard", "mip")


def _builders() -> dict:
    """Each formulation as a function of (TargetSpec, hidden sizes). The two ablations, opt-in via
    `config.formulations`, separate MIP's components: "encoding_only" is the standard network
    with the cos|sin input; "residual_only" is MIP (theta_0, fan-out/block init) on raw gamma."""
    return {
        "standard": hyper.standard_hypernetwork,
        "mip": hyper.mip_hypernetwork,
        "encoding_only": lambda spec, hidden_sizes: hyper.standard_hypernetwork(
            spec, hidden_sizes).clone(encoding="cos|sin"),
        "residual_only": lambda spec, hidden_sizes: hyper.mip_hypernetwork(
            spec, hidden_sizes).clone(encoding="identity"),
    }


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        hidden_sizes=(16, 64, 128),      # hypernetwork widths (the paper's code example)
        target_hidden=32,                # the digits MLP 64 -> 32 -> 10 (2442 parameters)
        log10_lambda_min=-4.0,           # lambda(gamma) = 10^(min + (max - min) gamma)
        log10_lambda_max=-1.0,
        learning_rates=(1e-4, 3e-4, 1e-3, 3e-3),
        batch_size=128,
        gammas_per_step=4,
        num_steps=1500,
        eval_every=25,
        eval_gammas=(0.0, 0.25, 0.5, 0.75, 1.0),
        val_fraction=0.2,
        n_seeds=3,
        seed=0,
        formulations=("standard", "mip"),  # add "encoding_only", "residual_only" for ablations
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "num_steps=40", "eval_every=20", "n_seeds=2", "learning_rates=(1e-3, 3e-3)",
        "hidden_sizes=(8, 16)"])


def _split(config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    x, y = data_lib.load_digits()
    order = np.random.default_rng(config.seed).permutation(len(y))
    n_val = int(round(config.val_fraction * len(y)))
    val, train = order[:n_val], order[n_val:]
    return {"x_train": x[train], "y_train": y[train], "x_val": x[val], "y_val": y[val]}


def _weight_decay(config: ml_collections.ConfigDict, gamma: jax.Array) -> jax.Array:
    span = config.log10_lambda_max - config.log10_lambda_min
    return 10.0 ** (config.log10_lambda_min + span * gamma)


def _train_formulation(config, name, spec, target, data, workdir: pathlib.Path) -> dict:
    """Trains one formulation over seeds x learning rates (one population); returns curves."""
    hypernet = _builders()[name](spec, hidden_sizes=tuple(config.hidden_sizes))
    x_train, y_train = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    x_val, y_val = jnp.asarray(data["x_val"]), jnp.asarray(data["y_val"])
    n_train = int(x_train.shape[0])

    def target_loss(theta, gamma_K, batch, key):
        x, y = batch
        logits = target.apply({"params": theta}, x)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        squared_norm = sum(jnp.sum(jnp.square(w)) for w in jax.tree_util.tree_leaves(theta))
        return ce + _weight_decay(config, gamma_K[0]) * squared_norm

    def batch_fn(state):
        data_key = jax.random.split(state.rng)[0]  # a function of the seed only: paired batches
        idx = batch_indices(data_key, state.step, n_train, config.batch_size)
        return x_train[idx], y_train[idx]

    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    task = hyper.hyper_training(hypernet, target_loss, tx, num_inputs=1, batch_fn=batch_fn,
                                gammas_per_step=config.gammas_per_step)
    grid_G = jnp.asarray(config.eval_gammas, jnp.float32).reshape(-1, 1)

    def evaluate(state):
        objective_G = jax.vmap(lambda g: task.loss_at(state.params, g, (x_train, y_train)))(grid_G)
        thetas = hyper.generate_population(hypernet, state.params, grid_G)
        logits_GxNxC = jax.vmap(lambda t: target.apply({"params": t}, x_val))(thetas)
        accuracy_G = jnp.mean(jnp.argmax(logits_GxNxC, -1) == y_val.reshape(1, -1), axis=1)
        return {"train/objective": jnp.mean(objective_G), "val/accuracy": jnp.mean(accuracy_G),
                "val/accuracy_G": accuracy_G}

    def init_member(key, learning_rate):
        state = task.init(key)
        opt = state.opt_state
        hyperparams = {**opt.hyperparams, "learning_rate": learning_rate}
        return state.replace(opt_state=opt._replace(hyperparams=hyperparams))

    seeds = np.arange(config.seed, config.seed + config.n_seeds)
    lrs = np.asarray(config.learning_rates, np.float32)
    member_seeds = np.repeat(seeds, len(lrs)).astype(np.uint32)       # member = seed * L + lr
    member_lrs = np.tile(lrs, len(seeds))
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(member_seeds))
    population = jax.jit(jax.vmap(init_member))(keys, jnp.asarray(member_lrs))
    result = fit(population, task.step, num_steps=config.num_steps, eval_fn=evaluate,
                 eval_every=config.eval_every, workdir=workdir / name,
                 config=config_lib.to_dict(config), resume=True, description=name)
    shape = (len(seeds), len(lrs), -1)
    objective = np.stack([np.asarray(r["train/objective"]) for r in result.history], -1)
    accuracy = np.stack([np.asarray(r["val/accuracy"]) for r in result.history], -1)
    return {
        "steps": [int(r["step"]) for r in result.history],
        "objective": objective.reshape(shape),      # [seeds, lrs, evals]
        "val_accuracy": accuracy.reshape(shape),
        "final_val_accuracy_G": np.asarray(result.history[-1]["val/accuracy_G"]).reshape(
            len(seeds), len(lrs), -1),                  # [seeds, lrs, eval gammas]
        "num_hyper_params": int(sum(np.prod(p.shape[1:]) for p in
                                    jax.tree_util.tree_leaves(population.params))),
    }


def steps_to_reach(steps: list[int], curve: np.ndarray, target: float) -> float:
    """The first evaluated step at which `curve` <= target; inf if it never does."""
    hits = np.nonzero(curve <= target)[0]
    return float(steps[hits[0]]) if hits.size else float("inf")


def _compare(steps: list[int], curves: dict[str, np.ndarray]) -> dict:
    """Per seed and learning rate: the speed-up of MIP (and of any ablation) to the standard's
    final loss, and the spread of the final loss across the learning-rate grid."""
    standard = curves["standard"]
    n_seeds, n_lrs, _ = standard.shape
    speedups = {}
    for name, curve in curves.items():
        if name == "standard":
            continue
        speedup = np.zeros((n_seeds, n_lrs))
        for s in range(n_seeds):
            for j in range(n_lrs):
                target = standard[s, j, -1]
                speedup[s, j] = (steps_to_reach(steps, standard[s, j], target)
                                 / steps_to_reach(steps, curve[s, j], target))
        speedups[name] = speedup
    return {
        "speedup": speedups["mip"].tolist(),                            # [seeds, lrs]
        "speedup_per_seed": np.median(speedups["mip"], axis=1).tolist(),  # median over lrs
        "ablation_speedup_per_seed": {k: np.median(v, axis=1).tolist()
                                      for k, v in speedups.items() if k != "mip"},
        "final_loss": {k: v[:, :, -1].tolist() for k, v in curves.items()},
        "lr_spread": {k: np.std(v[:, :, -1], axis=1).tolist() for k, v in curves.items()},
    }


def _plot(steps, curves, lrs, path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(lrs), figsize=(3.2 * len(lrs), 3.2), sharey=True)
    for ax, j in zip(np.atleast_1d(axes), range(len(lrs))):
        for name, color in zip(curves, ("tab:red", "tab:blue", "tab:green", "tab:orange")):
            values = curves[name][:, j, :]
            ax.plot(steps, values.T, color=color, alpha=0.3, linewidth=0.6)
            ax.plot(steps, values.mean(0), color=color, linewidth=2, label=name)
        ax.set_title(f"Adam lr={lrs[j]:g}")
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("objective over the gamma grid")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    unknown = [f for f in config.formulations if f not in _builders()]
    if unknown or not set(CLAIMED) <= set(config.formulations):
        raise ValueError(f"config.formulations must include {CLAIMED} and be among "
                         f"{sorted(_builders())}, got {tuple(config.formulations)}")
    data = _split(config)
    target = jnn.MLP((config.target_hidden, 10))
    spec = hyper.TargetSpec.from_module(target, jnp.zeros((1, data["x_train"].shape[1])))
    trained = {name: _train_formulation(config, name, spec, target, data, workdir)
               for name in config.formulations}
    steps = trained["standard"]["steps"]
    curves = {name: trained[name]["objective"] for name in config.formulations}
    plot = "curves.png"
    _plot(steps, curves, list(config.learning_rates), workdir / plot)
    results = {
        "learning_rates": list(config.learning_rates),
        "seeds": list(range(config.seed, config.seed + config.n_seeds)),
        "target_params": spec.num_params,
        "hyper_params": {k: v["num_hyper_params"] for k, v in trained.items()},
        "final_val_accuracy": {k: v["val_accuracy"][:, :, -1].tolist()
                               for k, v in trained.items()},
        "final_val_accuracy_per_gamma": {k: v["final_val_accuracy_G"].tolist()
                                         for k, v in trained.items()},
        **_compare(steps, curves),
        "steps": steps,
        "curves": {k: v.tolist() for k, v in curves.items()},
        "plot": plot,
    }
    (workdir / "summary.json").write_text(json.dumps(
        {k: v for k, v in results.items() if k not in ("curves", "steps")}, indent=2) + "\n")
    return results


def claim(results: dict) -> Claim:
    speedup = np.asarray(results["speedup_per_seed"], float)
    spread = {k: np.asarray(v, float) for k, v in results["lr_spread"].items()}
    faster = bool(np.mean(speedup) >= PASS_SPEEDUP)
    steadier = bool(np.mean(spread["mip"]) < np.mean(spread["standard"]))
    return Claim(
        passed=faster and steadier,
        text=(f"MIP reaches the standard hypernetwork's final loss >= {PASS_SPEEDUP}x faster "
              f"(median over lrs {results['learning_rates']}, mean over {speedup.size} seeds: "
              f"{np.mean(speedup):.2f}x) and its final loss spreads less across the lr grid "
              f"(std {np.mean(spread['mip']):.4f} vs {np.mean(spread['standard']):.4f})"),
        paper=PAPER_RESULT,
        ours=(f"speed-up {plots.mean_std(speedup, digits=2)}; lr-spread of final loss "
              f"MIP {plots.mean_std(spread['mip'], digits=4)} vs standard "
              f"{plots.mean_std(spread['standard'], digits=4)}"),
        plot=results["plot"],
    )
