"""GradSign (Zhang & Jia, ICLR 2022) against grad_norm and SNIP on a small MLP benchmark.

The paper scores untrained networks by how much per-sample gradients agree in sign (Algorithm 1,
`jaxnets.supernet.gradsign`) and reports the Spearman rank correlation of the score with the
trained accuracy over a NAS benchmark; on NAS-Bench-201 / CIFAR-10 GradSign reaches rho = 0.77,
against 0.58 for grad_norm and 0.58 for SNIP (numbers as in our research notes, from the paper's
comparison table; not re-verified against the PDF).

NAS-Bench-201 is not available offline, so we build a small benchmark here: `n_archs` distinct
MLPs on sklearn digits (1-4 hidden layers, each 8-128 wide, ReLU or tanh), each trained with Adam
for `train_steps` steps from `train_seeds` seeds; its accuracy is the mean test accuracy. All
architectures train at once as one population under `vmap`: each is a masked subnet of a
4 x 128 `ElasticMLP` initialised as its own network would be (PyTorch's default init with the
subnet's fan-ins), and masked weights receive exactly zero gradient. The accuracies are stored in
`benchmark.json` under the workdir and reused by a rerun with the same benchmark settings.
The proxies are computed at `proxy_seeds` random initialisations, each on one random batch of
`proxy_batch` training images (the paper: one batch of 128); we report Spearman and Kendall per
seed, and the Spearman of the parameter count, a strong confound on small spaces.
Claim: mean Spearman(GradSign, accuracy) >= 0.5 and >= that of grad_norm and of SNIP.
"""
from __future__ import annotations

import hashlib
import json
import pathlib

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import optax
import scipy.stats

from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.data.small import digits_split
from jaxnets.experiment import Claim, Paper
from jaxnets.nn.elastic import WidthDepthArch
from jaxnets.supernet import WidthDepthSpace, grad_norm, gradsign, sample_uniform, snip
from jaxnets.train import TrainState, batch_indices, fit

PAPER = Paper(
    title="GradSign: Model Performance Inference with Theoretical Insights",
    authors="Zhang & Jia",
    venue="ICLR 2022",
)
DESCRIPTION = "GradSign vs grad_norm/SNIP zero-cost proxies on a 96-MLP digits benchmark"
PAPER_SPEARMAN = {"gradsign": 0.77, "grad_norm": 0.58, "snip": 0.58}  # NB201, CIFAR-10
PASS_SPEARMAN = 0.5
PROXIES = ("gradsign", "grad_norm", "snip")
BENCHMARK_KEYS = ("n_archs", "width_choices", "depth_choices", "activations", "arch_seed",
                  "test_fraction", "split_seed", "train_steps", "batch_size", "learning_rate",
                  "train_seeds")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        n_archs=96,                       # distinct architectures in the benchmark
        width_choices=(8, 16, 32, 64, 128),
        depth_choices=(1, 2, 3, 4),
        activations=("relu", "tanh"),
        arch_seed=0,
        test_fraction=0.2,                # digits: 1437 train / 360 test images
        split_seed=0,
        train_steps=300,                  # Adam steps per architecture (the "brief" training)
        batch_size=64,
        learning_rate=1e-3,
        train_seeds=2,                    # benchmark accuracy = mean over these seeds
        eval_every=100,
        proxy_batch=128,                  # the paper's one batch of 128 samples
        proxy_seeds=5,                    # independent initialisations + batches
        proxy_chunk=8,                    # architectures per step of the proxy lax.map
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "n_archs=16", "train_steps=40", "eval_every=20", "train_seeds=1", "proxy_seeds=2",
        "proxy_batch=32"])


def _split(config):
    split = digits_split(config.split_seed, config.test_fraction)
    return tuple(jnp.asarray(a) for a in (*split["train"], *split["test"]))


def _space(config) -> WidthDepthSpace:
    return WidthDepthSpace(tuple(config.width_choices), tuple(config.depth_choices),
                           tuple(config.activations))


def _distinct_archs(space: WidthDepthSpace, n: int, seed: int) -> WidthDepthArch:
    """`n` distinct architectures (widths past the depth do not count), uniformly drawn."""
    draws = jax.tree.map(np.asarray, sample_uniform(space, jax.random.PRNGKey(seed), 20 * n))
    seen, keep = set(), []
    for i in range(len(draws.depth)):
        d = int(draws.depth[i])
        key = (tuple(draws.widths[i][:d].tolist()), d, int(draws.activation[i]))
        if key not in seen:
            seen.add(key)
            keep.append(i)
        if len(keep) == n:
            break
    if len(keep) < n:
        raise ValueError(f"n_archs={n} exceeds the distinct architectures found ({len(keep)})")
    return jax.tree.map(lambda a: jnp.asarray(a[np.asarray(keep)]), draws)


def _cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def _train_benchmark(config, workdir, model, archs, data):
    """Trains every (arch, seed) as one population under `fit`; returns accuracy [A, S]."""
    x_train, y_train, x_test, y_test = data
    tx = optax.adam(config.learning_rate)
    n_archs, seeds = len(archs.depth), config.train_seeds
    member_archs = jax.tree.map(lambda a: jnp.repeat(a, seeds, axis=0), archs)
    keys = jax.vmap(lambda i: jax.random.PRNGKey(i))(jnp.arange(n_archs * seeds))

    def init(key, arch):
        params = model.init(key, x_train[:1], arch)
        return TrainState.create(params, tx, key, model_state=arch)

    def step(state):
        # The data order's key is kept apart from the step keys fold_in(rng, step).
        idx = batch_indices(jax.random.fold_in(state.rng, 2**31 - 1), state.step, len(y_train),
                            config.batch_size)
        loss, grads = jax.value_and_grad(lambda p: _cross_entropy(
            model.apply(p, x_train[idx], state.model_state), y_train[idx]))(state.params)
        return state.apply_gradients(tx, grads), {"loss": loss}

    def evaluate(state):
        logits = model.apply(state.params, x_test, state.model_state)
        return {"test/accuracy": jnp.mean(jnp.argmax(logits, -1) == y_test)}

    population = jax.jit(jax.vmap(init))(keys, member_archs)
    result = fit(population, step, num_steps=config.train_steps, eval_fn=evaluate,
                 eval_every=min(config.eval_every, config.train_steps), workdir=workdir / "benchmark", resume=True, description="GradSign benchmark",
                 config={k: config_lib.to_dict(config)[k] for k in BENCHMARK_KEYS})
    accuracy = np.asarray(jax.jit(jax.vmap(evaluate))(result.state)["test/accuracy"])
    return accuracy.reshape(n_archs, seeds), result.history


def _proxy_fn(config, model, x_train, y_train, n_archs: int):
    """A jitted `(key, archs) -> [A, 3]`: GradSign, grad_norm and SNIP of every arch at the
    initialisation and on the batch of `proxy_batch` training images drawn from `key`."""

    def all_scores(key, archs):
        batch = jax.random.permutation(jax.random.fold_in(key, 2**31), len(y_train))
        xb, yb = x_train[batch[:config.proxy_batch]], y_train[batch[:config.proxy_batch]]

        def scores(args):
            index, arch = args
            params = model.init(jax.random.fold_in(key, index), xb[:1], arch)

            def loss_fn(p, x, y):
                return _cross_entropy(model.apply(p, x, arch), y)

            return jnp.stack([gradsign(loss_fn, params, xb, yb),
                              grad_norm(loss_fn, params, xb, yb), snip(loss_fn, params, xb, yb)])

        # Per-sample gradients of every weight are [B, #params] per arch: map over archs in
        # chunks instead of vmapping all of them at once.
        return jax.lax.map(scores, (jnp.arange(n_archs), archs), batch_size=config.proxy_chunk)

    return jax.jit(all_scores)


def _num_params(archs, in_features: int, classes: int) -> np.ndarray:
    counts = []
    for widths, depth in zip(np.asarray(archs.widths), np.asarray(archs.depth)):
        sizes = [in_features] + widths[:depth].tolist() + [classes]
        counts.append(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))
    return np.asarray(counts)


def _rank_correlations(score: np.ndarray, accuracy: np.ndarray) -> tuple[float, float]:
    rho = scipy.stats.spearmanr(score, accuracy).statistic
    tau = scipy.stats.kendalltau(score, accuracy).statistic
    return float(np.nan_to_num(rho)), float(np.nan_to_num(tau))


def _benchmark_key(config) -> str:
    blob = json.dumps({k: config_lib.to_dict(config)[k] for k in BENCHMARK_KEYS}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    data = _split(config)
    space = _space(config)
    model = space.mlp(10, init_per_arch=True)
    archs = _distinct_archs(space, config.n_archs, config.arch_seed)
    cache = workdir / "benchmark.json"
    key = _benchmark_key(config)
    stored = json.loads(cache.read_text()) if cache.exists() else None
    if stored is not None and stored["key"] == key:
        accuracy = np.asarray(stored["accuracy"])
    else:
        accuracy, history = _train_benchmark(config, workdir, model, archs, data)
        plots.plot_curves(history, ["test/accuracy"], workdir / "benchmark_curves.png",
                          title="benchmark MLPs on digits (one line per arch x seed)")
        cache.write_text(json.dumps({
            "key": key, "accuracy": accuracy.tolist(),
            "archs": {k: np.asarray(getattr(archs, k)).tolist()
                      for k in ("widths", "depth", "activation")}}) + "\n")
    mean_accuracy = accuracy.mean(axis=1)

    proxies = _proxy_fn(config, model, data[0], data[1], config.n_archs)
    scores = np.stack([np.asarray(proxies(jax.random.PRNGKey(10_000 + s), archs))
                       for s in range(config.proxy_seeds)])  # [seeds, A, 3]
    params = _num_params(archs, data[0].shape[1], 10)
    results: dict = {"num_archs": int(config.n_archs), "accuracy": mean_accuracy.tolist(),
                     "accuracy_per_seed": accuracy.tolist(), "num_params": params.tolist()}
    for j, name in enumerate(PROXIES):
        pairs = [_rank_correlations(scores[s, :, j], mean_accuracy)
                 for s in range(config.proxy_seeds)]
        results[f"spearman_{name}"] = [p[0] for p in pairs]
        results[f"kendall_{name}"] = [p[1] for p in pairs]
        results[f"scores_{name}"] = scores[:, :, j].tolist()
    results["spearman_num_params"] = _rank_correlations(params, mean_accuracy)[0]
    results["accuracy_range"] = [float(mean_accuracy.min()), float(mean_accuracy.max())]
    results["plot"] = _plot(workdir, scores[0], mean_accuracy, results)
    (workdir / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _plot(workdir: pathlib.Path, scores: np.ndarray, accuracy: np.ndarray, results: dict) -> str:
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for j, name in enumerate(PROXIES):
        axes[j].scatter(scores[:, j], accuracy, s=10)
        axes[j].set_xscale("log")
        axes[j].set_xlabel(f"{name} (proxy seed 0)")
        axes[j].set_ylabel("test accuracy")
        axes[j].set_title(f"Spearman {np.mean(results[f'spearman_{name}']):.2f}")
    means = [np.mean(results[f"spearman_{n}"]) for n in PROXIES]
    stds = [np.std(results[f"spearman_{n}"]) for n in PROXIES]
    axes[3].bar(PROXIES, means, yerr=stds, label="ours")
    axes[3].scatter(PROXIES, [PAPER_SPEARMAN[n] for n in PROXIES], color="k", zorder=3,
                    label="paper (NB201 C10)")
    axes[3].axhline(PASS_SPEARMAN, color="r", linestyle="--", linewidth=1)
    axes[3].set_ylabel("Spearman rho")
    axes[3].legend()
    fig.tight_layout()
    fig.savefig(workdir / "gradsign.png", dpi=100)
    plt.close(fig)
    return "gradsign.png"


def claim(results: dict) -> Claim:
    rho = {n: np.asarray(results[f"spearman_{n}"]) for n in PROXIES}
    means = {n: float(v.mean()) for n, v in rho.items()}
    passed = (means["gradsign"] >= PASS_SPEARMAN and means["gradsign"] >= means["grad_norm"]
              and means["gradsign"] >= means["snip"])
    text = (f"Spearman rho with trained accuracy over {results['num_archs']} MLPs, mean over "
            f"{len(rho['gradsign'])} proxy seeds: GradSign {means['gradsign']:.3f} >= "
            f"{PASS_SPEARMAN} and >= grad_norm {means['grad_norm']:.3f} and >= SNIP "
            f"{means['snip']:.3f} (#params alone: {results['spearman_num_params']:.3f})")
    return Claim(
        passed=bool(passed), text=text,
        paper=", ".join(f"{n} {PAPER_SPEARMAN[n]}" for n in PROXIES) + " (NAS-Bench-201, C10)",
        ours=", ".join(f"{n} {plots.mean_std(rho[n], digits=3)}" for n in PROXIES),
        plot=results["plot"])
