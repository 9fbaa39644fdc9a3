"""TAS: network pruning via transformable architecture search (Dong & Yang, NeurIPS 2019).

CPU-scale protocol on sklearn digits (1437 train / 360 test images), all seeds as one vmapped
population per stage, each stage one `fit` run (whole chunks under `lax.scan` in one jit):
  1. teacher: the unpruned residual MLP 64 -> stem 64 -> 4 residual blocks (two Linear 64 -> 64
     each) -> 10, trained with cross-entropy (SGD, Nesterov 0.9, wd 5e-4, cosine lr).
  2. search (`jaxnets.supernet.tas`): width logits per Linear over {19, ..., 64}, depth logits
     over {1, 3, 4}; every step updates the weights by SGD on a batch of the train half and then
     the logits by Adam (betas 0.5/0.999, wd 1e-3) on CE + lambda * flop_loss over a batch of the
     validation half (TAS's alternating update); tau cosine-annealed 5 -> 0.1; target 50 % FLOPs,
     lambda 2, tolerance 0.05. The genotype is the argmax at the last step.
  3. retrain from scratch at equal budget: the genotype with KD ((1 - a) CE + a T^2 KL, a 0.9,
     T 4, from the step-1 teacher) and with CE only; a uniform-width network (every Linear the
     same width, full depth, the width whose FLOPs are closest to the genotype's; TAS's 'fix'
     mode) with KD and with CE; a random genotype with FLOPs closest to the genotype's, with KD.
     Per seed, every variant starts from the same initial weights and sees the same batches.
FLOPs = sum of in * out over the Linears. Scale changes from the paper: 300 search steps instead
of 600 epochs x ~100 steps, so the architecture learning rate is raised from 1e-3 to 0.05
(`arch_learning_rate`; 0.01 left the logits almost uniform, 0.1 and 1000 steps gave the same
oscillation as 0.05); the weights' SGD learning rate is 0.05, not 0.1 (at 0.1 the LayerNorm
residual MLP, unlike the BatchNorm ResNet, spikes early: 93-97 % teacher vs ~98 % at 0.05).
Claim: genotype FLOPs within 50 % +- 10 % of dense (every seed); mean TAS+KD test accuracy >=
the uniform network's (same KD recipe) and >= dense - 1.5 points. KD vs CE and the random
genotype are reported beside it.
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

from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.data.small import digits_split
from jaxnets.experiment import Claim, Paper
from jaxnets.supernet import tas
from jaxnets.train import TrainState, batch_indices, fit
from jaxnets.train.distill import kd_loss

PAPER = Paper(title="Network Pruning via Transformable Architecture Search",
              authors="Dong & Yang", venue="NeurIPS 2019")
DESCRIPTION = "TAS width/depth search + KD vs uniform/random shapes at 50% FLOPs (digits MLP)"
PAPER_RESULT = ("CIFAR-10 ResNet-56: TAS 93.69% at 52.7% FLOPs pruned vs FPGM 93.26% at 52.6% "
                "(numbers from the research notes, quoted from memory, not re-verified)")
VARIANTS = ("tas_kd", "tas_ce", "uniform_kd", "uniform_ce", "random_kd")
FLOP_BAND = 0.10
DENSE_GAP = 0.015


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        seeds=(0, 1, 2),
        test_fraction=0.2, split_seed=0,
        width=64, num_blocks=4, depth_step=2,
        batch_size=128, learning_rate=0.05, momentum=0.9, weight_decay=5e-4,
        teacher_steps=400,
        search_steps=300, search_batch=64,
        arch_learning_rate=0.05, arch_b1=0.5, arch_weight_decay=1e-3,
        tau_max=5.0, tau_min=0.1,
        flop_ratio=0.5, flop_weight=2.0, flop_tolerance=0.05,
        retrain_steps=400, kd_alpha=0.9, kd_temperature=4.0,
        random_draws=4000,
        eval_every=50,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "seeds=(0,)", "teacher_steps=40", "search_steps=40", "retrain_steps=40",
        "eval_every=20", "random_draws=200"])


def _data(config):
    split = digits_split(config.split_seed, config.test_fraction)
    (x, y), (x_test, y_test) = split["train"], split["test"]
    return {"x": jnp.asarray(x), "y": jnp.asarray(y), "x_test": jnp.asarray(x_test),
            "y_test": jnp.asarray(y_test)}


def _weights_tx(config, steps: int) -> optax.GradientTransformation:
    """TAS's weight optimizer: SGD, Nesterov momentum, L2 weight decay, cosine learning rate."""
    return optax.chain(optax.add_decayed_weights(config.weight_decay),
                       optax.sgd(optax.cosine_decay_schedule(config.learning_rate, steps),
                                 momentum=config.momentum, nesterov=True))


def _data_key(rng: jax.Array, stream: int) -> jax.Array:
    # Far from the step keys fold_in(rng, step), which never reach 2**31.
    return jax.random.fold_in(jax.random.fold_in(rng, 2**31 - 1), stream)


def _accuracy(logits, labels):
    return jnp.mean(jnp.argmax(logits, -1) == labels)


def _train_population(config, space, data, workdir, archs: dict, steps: int, name: str):
    """Trains fixed networks (one member per row of `archs`: widths [M, L], depth [M],
    kd_alpha [M], teacher_logits [M, N, 10], seed [M]) with the KD loss; returns (state, hist)."""
    tx = _weights_tx(config, steps)
    n = len(data["y"])

    def init(seed, member):
        key = jax.random.PRNGKey(seed)
        return TrainState.create(tas.init_weights(space, key), tx, key, model_state=member)

    def step(state):
        ms = state.model_state
        idx = batch_indices(_data_key(state.rng, 0), state.step, n, config.batch_size)

        def loss_fn(w):
            logits = tas.fixed_forward(space, w, ms["widths"], ms["depth"], data["x"][idx])
            return kd_loss(logits, ms["teacher_logits"][idx], data["y"][idx], ms["kd_alpha"],
                           config.kd_temperature)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(tx, grads), {"loss": loss}

    def evaluate(state):
        ms = state.model_state
        logits = tas.fixed_forward(space, state.params, ms["widths"], ms["depth"], data["x_test"])
        return {"test/accuracy": _accuracy(logits, data["y_test"])}

    seeds = archs.pop("seed")
    population = jax.jit(jax.vmap(init))(jnp.asarray(seeds, jnp.uint32), archs)
    result = fit(population, step, num_steps=steps, eval_fn=evaluate,
                 eval_every=min(config.eval_every, steps), workdir=workdir / name, resume=True,
                 description=f"TAS {name}", config=config_lib.to_dict(config))
    # num_steps is a multiple of eval_every, so the last record is the final evaluation.
    return result.state, result.history, result.history[-1]


def _search(config, space, data, workdir):
    """TAS's alternating search for every seed at once; returns (alpha per seed, history)."""
    wtx = _weights_tx(config, config.search_steps)
    atx = optax.chain(optax.add_decayed_weights(config.arch_weight_decay),
                      optax.adam(config.arch_learning_rate, b1=config.arch_b1, b2=0.999))
    table = tas.interpolation_table(space.choices, space.width)
    dense = space.dense_flops()
    half = len(data["y"]) // 2  # TAS's 50/50 split of the training set: train half / valid half
    xt, yt, xv, yv = data["x"][:half], data["y"][:half], data["x"][half:], data["y"][half:]

    def init(key):
        kw, ka = jax.random.split(key)
        params = {"weights": tas.init_weights(space, kw, len(space.choices)),
                  "alpha": tas.init_alpha(space, ka)}
        opt = (wtx.init(params["weights"]), atx.init(params["alpha"]))
        return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt, rng=key)

    def step(state):
        w, alpha = state.params["weights"], state.params["alpha"]
        k_w, k_a = jax.random.split(state.step_key())
        tau = tas.tau_at(state.step, config.search_steps, config.tau_max, config.tau_min)
        ti = batch_indices(_data_key(state.rng, 0), state.step, len(yt), config.search_batch)
        vi = batch_indices(_data_key(state.rng, 1), state.step, len(yv), config.search_batch)

        def w_loss(w):  # 1) weights on the train half, architecture fixed
            logits = tas.search_forward(space, w, alpha, xt[ti], k_w, tau, table)
            return optax.softmax_cross_entropy_with_integer_labels(logits, yt[ti]).mean()

        loss, g = jax.value_and_grad(w_loss)(w)
        updates, w_opt = wtx.update(g, state.opt_state[0], w)
        w = optax.apply_updates(w, updates)
        arg_ratio = tas.arch_flops(space, *tas.genotype(space, alpha["width"],
                                                        alpha["depth"])) / dense

        def a_loss(alpha):  # 2) architecture on the valid half: CE + lambda * cost loss
            logits = tas.search_forward(space, w, alpha, xv[vi], k_a, tau, table)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, yv[vi]).mean()
            expected = tas.expected_flops(space, alpha["width"], alpha["depth"]) / dense
            cost = tas.flop_loss(expected, arg_ratio, config.flop_ratio, config.flop_tolerance)
            return ce + config.flop_weight * cost, (ce, cost, expected)

        (_, (ce, cost, expected)), ga = jax.value_and_grad(a_loss, has_aux=True)(alpha)
        updates, a_opt = atx.update(ga, state.opt_state[1], alpha)
        alpha = optax.apply_updates(alpha, updates)
        state = state.replace(step=state.step + 1, params={"weights": w, "alpha": alpha},
                              opt_state=(w_opt, a_opt))
        return state, {"loss": loss, "arch_ce": ce, "flop_loss": cost,
                       "expected_flops": expected, "argmax_flops": arg_ratio, "tau": tau}

    def evaluate(state):
        alpha = state.params["alpha"]
        widths, depth = tas.genotype(space, alpha["width"], alpha["depth"])
        return {"search/argmax_flops": tas.arch_flops(space, widths, depth) / dense,
                "search/depth": depth}

    population = jax.jit(jax.vmap(init))(jax.vmap(jax.random.PRNGKey)(
        jnp.asarray(config.seeds, jnp.uint32) + 1000))
    result = fit(population, step, num_steps=config.search_steps, eval_fn=evaluate,
                 eval_every=min(config.eval_every, config.search_steps), workdir=workdir / "search",
                 resume=True, description="TAS search", config=config_lib.to_dict(config))
    return result.state.params["alpha"], result.history


def _controls(config, space, geno_flops: np.ndarray):
    """Per seed: the uniform width with FLOPs closest to the genotype's, and the random
    genotype (uniform widths over the choices, uniform depth) with the closest FLOPs."""
    flops = jax.jit(jax.vmap(lambda w, d: tas.arch_flops(space, w, d)))
    widths = np.arange(1, space.width + 1)
    uniform_flops = np.asarray(flops(jnp.repeat(jnp.asarray(widths)[:, None], space.num_layers, 1),
                                     jnp.full(len(widths), space.num_blocks)))
    uniform, random_w, random_d = [], [], []
    for s, target in zip(config.seeds, geno_flops):
        uniform.append(int(widths[np.argmin(np.abs(uniform_flops - target))]))
        rng = np.random.default_rng(10_000 + s)
        w = np.asarray(space.choices)[rng.integers(0, len(space.choices),
                                                   (config.random_draws, space.num_layers))]
        d = np.asarray(space.depths)[rng.integers(0, len(space.depths), config.random_draws)]
        best = int(np.argmin(np.abs(np.asarray(flops(jnp.asarray(w), jnp.asarray(d))) - target)))
        random_w.append(w[best])
        random_d.append(int(d[best]))
    return uniform, np.stack(random_w), np.asarray(random_d)


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    for name in ("teacher_steps", "search_steps", "retrain_steps"):
        if config[name] % min(config.eval_every, config[name]):
            raise ValueError(f"{name}={config[name]} must be a multiple of eval_every="
                             f"{config.eval_every} (the last evaluation is the final one)")
    data = _data(config)
    space = tas.TASSpace(in_features=data["x"].shape[1], num_classes=10, width=config.width,
                         num_blocks=config.num_blocks, depth_step=config.depth_step)
    seeds, n_seeds, n = list(config.seeds), len(config.seeds), len(data["y"])
    dense = space.dense_flops()

    # 1. The unpruned teacher (CE only: kd_alpha 0, dummy teacher logits).
    full = np.tile(np.asarray(space.full_widths()), (n_seeds, 1))
    teacher_state, teacher_hist, teacher_eval = _train_population(
        config, space, data, workdir, {
            "widths": jnp.asarray(full), "depth": jnp.full(n_seeds, space.num_blocks),
            "kd_alpha": jnp.zeros(n_seeds), "teacher_logits": jnp.zeros((n_seeds, n, 10)),
            "seed": seeds}, config.teacher_steps, "teacher")
    teacher_logits = jax.jit(jax.vmap(lambda w: tas.fixed_forward(
        space, w, space.full_widths(), space.num_blocks, data["x"])))(teacher_state.params)

    # 2. Search; genotype = argmax at the last step.
    alpha, search_hist = _search(config, space, data, workdir)
    geno_w, geno_d, geno_flops = jax.jit(jax.vmap(lambda a: (
        *tas.genotype(space, a["width"], a["depth"]),
        tas.arch_flops(space, *tas.genotype(space, a["width"], a["depth"])))))(alpha)
    geno_flops = np.asarray(geno_flops)
    uniform, random_w, random_d = _controls(config, space, geno_flops)

    # 3. Retrain every variant x seed as one population.
    per_variant = {
        "tas_kd": (np.asarray(geno_w), np.asarray(geno_d), config.kd_alpha),
        "tas_ce": (np.asarray(geno_w), np.asarray(geno_d), 0.0),
        "uniform_kd": (np.repeat(np.asarray(uniform)[:, None], space.num_layers, 1),
                       np.full(n_seeds, space.num_blocks), config.kd_alpha),
        "uniform_ce": (np.repeat(np.asarray(uniform)[:, None], space.num_layers, 1),
                       np.full(n_seeds, space.num_blocks), 0.0),
        "random_kd": (random_w, random_d, config.kd_alpha)}
    members = {
        "widths": jnp.asarray(np.concatenate([per_variant[v][0] for v in VARIANTS]), jnp.int32),
        "depth": jnp.asarray(np.concatenate([per_variant[v][1] for v in VARIANTS]), jnp.int32),
        "kd_alpha": jnp.asarray(np.repeat([per_variant[v][2] for v in VARIANTS], n_seeds),
                                jnp.float32),
        "teacher_logits": jnp.tile(teacher_logits, (len(VARIANTS), 1, 1)),
        "seed": seeds * len(VARIANTS)}
    flops_of = jax.jit(jax.vmap(lambda w, d: tas.arch_flops(space, w, d)))(members["widths"],
                                                                           members["depth"])
    _, retrain_hist, retrain_eval = _train_population(config, space, data, workdir, members,
                                                      config.retrain_steps, "retrain")
    acc = np.asarray(retrain_eval["test/accuracy"]).reshape(len(VARIANTS), n_seeds)
    ratio = np.asarray(flops_of).reshape(len(VARIANTS), n_seeds) / dense

    results: dict = {
        "seeds": seeds, "dense_flops": dense, "target_ratio": config.flop_ratio,
        "dense_accuracy": np.asarray(teacher_eval["test/accuracy"]).tolist(),
        "genotype_widths": np.asarray(geno_w).tolist(), "genotype_depth": np.asarray(geno_d).tolist(),
        "genotype_flop_ratio": (geno_flops / dense).tolist(), "uniform_width": uniform,
        "random_widths": random_w.tolist(), "random_depth": random_d.tolist(),
        "width_probs": np.asarray(jax.nn.softmax(alpha["width"], -1)).tolist(),
        "depth_probs": np.asarray(jax.nn.softmax(alpha["depth"], -1)).tolist()}
    for i, v in enumerate(VARIANTS):
        results[f"accuracy_{v}"] = acc[i].tolist()
        results[f"flop_ratio_{v}"] = ratio[i].tolist()
    _write_metrics(workdir, {"teacher": teacher_hist, "search": search_hist,
                             "retrain": retrain_hist})
    results["plot"] = _plot(workdir, search_hist, results, config)
    (workdir / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _write_metrics(workdir: pathlib.Path, histories: dict) -> None:
    """One metrics.jsonl in the workdir with every stage's records, tagged by stage."""
    with open(workdir / "metrics.jsonl", "w") as f:
        for stage, history in histories.items():
            for record in history:
                f.write(json.dumps({"stage": stage, **record}) + "\n")


def _plot(workdir: pathlib.Path, search_hist, results: dict, config) -> str:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    steps = [r["step"] for r in search_hist]
    for key, colour, label in (("search/argmax_flops", "C0", "argmax arch (at eval)"),
                               ("train/argmax_flops", "C2", "argmax arch (chunk mean)"),
                               ("train/expected_flops", "C1", "expected (chunk mean)")):
        values = np.asarray([r[key] for r in search_hist], float)
        axes[0].plot(steps, values, color=colour, linewidth=0.6, alpha=0.5)
        axes[0].plot(steps, values.mean(1), color=colour, linewidth=2, label=label)
    axes[0].axhspan(config.flop_ratio - config.flop_tolerance, config.flop_ratio, color="g",
                    alpha=0.15, label="target band")
    axes[0].set(xlabel="search step", ylabel="FLOPs / dense", title="TAS search cost")
    axes[0].legend()
    means = [100 * np.mean(results[f"accuracy_{v}"]) for v in VARIANTS]
    axes[1].bar(VARIANTS, means, color=["C0", "C0", "C2", "C2", "C3"])
    for i, v in enumerate(VARIANTS):
        axes[1].scatter([i] * len(results["seeds"]), 100 * np.asarray(results[f"accuracy_{v}"]),
                        color="k", s=10, zorder=3)
    dense = 100 * np.mean(results["dense_accuracy"])
    axes[1].axhline(dense, color="k", linestyle="--", label=f"dense {dense:.1f}")
    axes[1].set_ylim(min(means + [dense]) - 4, 100)
    axes[1].set(ylabel="test accuracy (%)", title="retrained at ~equal FLOPs")
    axes[1].legend()
    for v in VARIANTS:
        axes[2].scatter(results[f"flop_ratio_{v}"], 100 * np.asarray(results[f"accuracy_{v}"]),
                        label=v)
    axes[2].set(xlabel="FLOPs / dense", ylabel="test accuracy (%)", title="per seed")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(workdir / "tas.png", dpi=100)
    plt.close(fig)
    return "tas.png"


def claim(results: dict) -> Claim:
    ratios = np.asarray(results["genotype_flop_ratio"])
    acc = {v: np.asarray(results[f"accuracy_{v}"]) for v in VARIANTS}
    dense = np.asarray(results["dense_accuracy"])
    target = results["target_ratio"]
    in_band = bool(np.all(np.abs(ratios - target) <= FLOP_BAND))
    beats_uniform = bool(acc["tas_kd"].mean() >= acc["uniform_kd"].mean())
    near_dense = bool(acc["tas_kd"].mean() >= dense.mean() - DENSE_GAP)
    m = {v: 100 * a.mean() for v, a in acc.items()}
    text = (f"genotype FLOPs/dense {', '.join(f'{r:.3f}' for r in ratios)} all within "
            f"{target:.2f} +- {FLOP_BAND:.2f} ({in_band}); mean test acc over {len(dense)} seeds: "
            f"TAS+KD {m['tas_kd']:.2f} >= uniform+KD {m['uniform_kd']:.2f} ({beats_uniform}) and "
            f">= dense {100 * dense.mean():.2f} - 1.5 ({near_dense}); also TAS CE-only "
            f"{m['tas_ce']:.2f}, uniform CE-only {m['uniform_ce']:.2f}, random genotype+KD "
            f"{m['random_kd']:.2f}")
    return Claim(passed=in_band and beats_uniform and near_dense, text=text, paper=PAPER_RESULT,
                 ours=(f"TAS+KD {plots.mean_std(acc['tas_kd'], 100, 2)} at "
                       f"{100 * (1 - ratios.mean()):.1f}% FLOPs pruned; uniform+KD "
                       f"{plots.mean_std(acc['uniform_kd'], 100, 2)}; dense "
                       f"{plots.mean_std(dense, 100, 2)}"),
                 plot=results["plot"])
