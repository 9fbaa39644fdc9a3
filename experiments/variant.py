"""VARiant (Chen et al., 2025): scale-depth asymmetry and progressive supernet training, at CPU
scale on next-scale autoregressive generation of sklearn digits.

Task (our research notes' mini-reproduction): every 8x8 digit becomes the token pyramid 1x1, 2x2,
4x4, 8x8 (area pooling, 8 levels, 85 tokens; `jaxnets.data.scale_tokens`), generated scale by
scale by a class-conditional D=8-layer, width-64, 4-head next-scale transformer
(`jaxnets.models.variant`). Its subnets d in {4, 2} keep the equidistant layers I_d = {floor(i
(D-1)/(d-1))} ({0,2,4,7}, {0,7}) for the scales >= k0 = 2, all layers for the first k0 scales
(gate G[t,l] = 1 if scale(t) < k0 or l in I_d). Three runs with the same steps, batches and
initialisations train the weight-sharing supernet; in each step the network is the full one or,
with probability p_sub(t), a subnet of uniformly drawn depth (`sample_progressive`):
  * full_only: p_sub = 0 (plain VAR training);
  * fixed: p_sub = 0.5 throughout (fixed-ratio training, the paper's baseline);
  * progressive: p_sub piecewise constant in 3 stages. The paper goes "from joint optimisation
    (2:8) to subnetwork optimisation (10:0)"; the direction of the ratio is ambiguous in the
    public text. We follow its words: the subnet share grows from 2/10 to 10/10 (default
    p_sub = (0.2, 0.6, 1.0)); `other_reading=True` adds a run with the literal full:subnet
    reading, p_sub = 1 - those values = (0.8, 0.4, 0.0), reported but not claimed.
With `pretrain_fraction` > 0 every run first trains the full net alone for that share of the steps
(the paper fine-tunes a pretrained VAR-d30); the default 0 trains all runs from scratch.
The 3 runs x `n_seeds` seeds train as one vmapped population (each member carries its schedule),
whole chunks of steps in `lax.scan` inside `jaxnets.train.fit`.
Metrics: test NLL (nats per token, teacher forcing) and a fidelity proxy for FID: 200
class-conditional samples (4 scale steps each) classified by a logistic regression fitted on real
(tokenised) digits; fidelity = fraction classified as the conditioning class.
Claims (means over seeds; paper: VAR-d30 FID 1.95, VARiant-d16 2.05, d8 2.12, d2 2.97; cutting
depth on early scales costs > 20 FID, on late scales < 4):
  (i) asymmetry, on the full_only model: running scales 1-2 at d=4 (rest full) lowers fidelity by
      >= 2x the drop from running scales 3-4 at d=4 (rest full), and by more than 0;
  (ii) progressive: full-net test NLL <= 1.02x full_only's, its d=4 NLL <= 1.05x its full NLL,
      and its (full NLL, d=4 NLL) point is not dominated by the fixed-ratio run's.
"""
from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import sklearn.linear_model

from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.data.scale_tokens import ScaleLayout, dequantize, tokenize
from jaxnets.data.small import load_digits
from jaxnets.experiment import Claim, Paper
from jaxnets.models.variant import (NextScaleTransformer, ScaleDepthSpace,
                                   sample_tokens)
from jaxnets.supernet import num_params, sample_progressive, stack_archs
from jaxnets.train import TrainState, batch_indices, fit

PAPER = Paper(
    title="VARiant: Progressive Supernet Training for Efficient Visual Autoregressive Modeling",
    authors="Chen et al.",
    venue="arXiv 2025 / CVPR 2026",
)
DESCRIPTION = "VARiant depth subnets of a next-scale AR digit generator; progressive vs fixed ratio"
PAPER_RESULT = ("ImageNet 256 FID: VAR-d30 1.95, VARiant-d16 2.05, d8 2.12, d2 2.97; halving depth "
                "on early scales costs > 20 FID, on late scales < 4")
EVAL_ARCHS = ("full", "d4", "d2", "early_d4")   # early_d4: scales < k0 at d=4, the rest full
PASS_ASYMMETRY, PASS_FULL, PASS_SUB = 2.0, 1.02, 1.05


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        scales=(1, 2, 4, 8), levels=8,            # 85 tokens per digit
        num_layers=8, embed_dim=64, num_heads=4, ffn_ratio=2,
        depth_choices=(4, 2), k0=2, depth_rule="equidistant",   # or "nested"
        p_fixed=0.5,
        progressive_values=(0.2, 0.6, 1.0),       # p_sub per stage (subnet share grows)
        stage_fractions=(1 / 3, 2 / 3),            # stage boundaries, fractions of the schedule
        pretrain_fraction=0.0,   # > 0: the first steps train the full net in every run (the
                                 # paper fine-tunes a pretrained VAR); the stages share the rest
        other_reading=False,                       # also run p_sub = 1 - progressive_values
        num_steps=300, batch_size=16, learning_rate=3e-3, warmup_steps=30,
        eval_every=100, test_fraction=0.2, split_seed=0,
        fidelity_samples=200, temperature=1.0,
        n_seeds=3, seed=0,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "num_layers=4", "embed_dim=32", "depth_choices=(2,)", "num_steps=20", "eval_every=10",
        "batch_size=8", "fidelity_samples=20", "n_seeds=2", "warmup_steps=5"])


def _schedules(config) -> dict[str, tuple[float, ...]]:
    n = len(config.stage_fractions) + 1
    runs = {"full_only": (0.0,) * n, "fixed": (config.p_fixed,) * n,
            "progressive": tuple(config.progressive_values)}
    if config.other_reading:
        runs["progressive_other_reading"] = tuple(1.0 - p for p in config.progressive_values)
    if any(len(v) != len(config.stage_fractions) + 1 for v in runs.values()):
        raise ValueError(f"progressive_values needs len(stage_fractions) + 1 = "
                         f"{len(config.stage_fractions) + 1} entries, got "
                         f"{config.progressive_values}")
    if not 0.0 <= config.pretrain_fraction < 1.0:
        raise ValueError(f"pretrain_fraction must be in [0, 1), got {config.pretrain_fraction}")
    if config.pretrain_fraction > 0:
        runs = {name: (0.0,) + values for name, values in runs.items()}
    return runs


def _boundaries(config) -> list[int]:
    """Stage boundaries in steps: [pretraining end,] then the stage fractions of the rest."""
    start = round(config.pretrain_fraction * config.num_steps)
    rest = config.num_steps - start
    return ([start] if config.pretrain_fraction > 0 else []) + [start + round(f * rest) for f in config.stage_fractions]


def p_subnet(schedule: dict, step: jax.Array) -> jax.Array:
    """Piecewise-constant p_sub(step) of one member: values[#boundaries <= step] (the rule of
    `jaxnets.supernet.PiecewiseSchedule`, with the stages as arrays so members differ)."""
    stage = jnp.searchsorted(schedule["boundaries"], step, side="right")
    return schedule["values"][stage]


def _data(config, layout):
    x, y = load_digits()
    order = np.random.default_rng(config.split_seed).permutation(len(y))
    n_test = int(round(config.test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    tokens = tokenize(x, layout, config.levels)
    return tokens[train], y[train], tokens[test], y[test]


def _classifier(config, layout, tok_train, y_train, tok_test, y_test):
    """Logistic regression on the dequantised finest map of real digits (the samples' domain)."""
    last = layout.offsets[-1]
    clf = sklearn.linear_model.LogisticRegression(max_iter=2000)
    clf.fit(dequantize(tok_train[:, last:], config.levels), y_train)
    acc = clf.score(dequantize(tok_test[:, last:], config.levels), y_test)
    return jnp.asarray(clf.coef_, jnp.float32), jnp.asarray(clf.intercept_, jnp.float32), acc


def _nll(model, params, arch, tokens, labels):
    """Mean test NLL (nats/token) and its per-scale means [K]."""
    logits = model.apply({"params": params}, tokens, labels, arch)
    ce_BxT = optax.softmax_cross_entropy_with_integer_labels(logits, tokens)
    scale = jnp.asarray(model.layout.scale_of())
    per_scale = jax.ops.segment_sum(jnp.mean(ce_BxT, 0), scale, model.layout.num_scales)
    return jnp.mean(ce_BxT), per_scale / jnp.asarray(model.layout.sizes, jnp.float32)


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    layout = ScaleLayout(tuple(config.scales), image_size=8)
    tok_train, y_train, tok_test, y_test = _data(config, layout)
    coef, intercept, clf_acc = _classifier(config, layout, tok_train, y_train, tok_test, y_test)
    model = NextScaleTransformer(layout, config.levels, 10, config.num_layers, config.embed_dim,
                                 config.num_heads, config.ffn_ratio)
    space = ScaleDepthSpace(config.num_layers, layout.num_scales, tuple(config.depth_choices),
                            config.k0, config.depth_rule)
    archs = {"full": space.largest(), "early_d4": space.subnet(4, early_subnet=True),
             **{f"d{d}": space.subnet(d) for d in (4, 2)}}
    eval_archs = stack_archs([archs[name] for name in EVAL_ARCHS])
    train_archs = stack_archs([archs["full"], archs["d4"]])   # curves during training
    schedules = _schedules(config)
    names, seeds = list(schedules), list(range(config.seed, config.seed + config.n_seeds))
    boundaries = jnp.asarray(_boundaries(config), jnp.int32)
    x_train, l_train = jnp.asarray(tok_train), jnp.asarray(y_train)
    x_test, l_test = jnp.asarray(tok_test), jnp.asarray(y_test)
    lr = optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, config.warmup_steps,
                                            config.num_steps, config.learning_rate * 0.05)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(lr, weight_decay=1e-4))
    data_key = jax.random.PRNGKey(config.split_seed + 1)   # same batches for every member

    def init_member(key, values):
        params = model.init(key, x_train[:2], l_train[:2])["params"]
        schedule = {"boundaries": boundaries, "values": values}
        return TrainState.create(params, tx, key, model_state=schedule)

    def step_fn(state):
        """One optimizer step on the full net or a subnet, drawn with p_sub(step) (VARiant's
        full/subnet ratio); the K=1 arch axis is `vmap`-ed as in `build_supernet_step`."""
        arch_key = state.step_key()
        arch = sample_progressive(space, arch_key, 1, p_subnet(state.model_state, state.step))
        idx = batch_indices(data_key, state.step, x_train.shape[0], config.batch_size)
        tokens, labels = x_train[idx], l_train[idx]

        def objective(params):
            logits = jax.vmap(lambda a: model.apply({"params": params}, tokens, labels, a))(arch)
            targets = jnp.broadcast_to(tokens, logits.shape[:-1])
            return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()

        loss, grads = jax.value_and_grad(objective)(state.params)
        used_subnet = jnp.any(~arch.layers).astype(jnp.float32)
        return state.apply_gradients(tx, grads), {"loss": loss, "subnet_step": used_subnet}

    def evaluate(state):
        nll = jax.vmap(lambda a: _nll(model, state.params, a, x_test, l_test)[0])(train_archs)
        return {f"test/nll_{n}": nll[i] for i, n in enumerate(EVAL_ARCHS[:2])}

    member_values = jnp.asarray([schedules[n] for n in names for _ in seeds], jnp.float32)
    member_seeds = [s for _ in names for s in seeds]
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(member_seeds, jnp.uint32))
    population = jax.jit(jax.vmap(init_member))(keys, member_values)
    result = fit(population, step_fn, num_steps=config.num_steps, eval_fn=evaluate,
                 eval_every=config.eval_every, workdir=workdir / "train",
                 config=config_lib.to_dict(config), resume=True, description="variant")
    final = result.state
    nll, fidelity, per_scale = _final_eval(config, model, final.params, eval_archs, coef,
                                           intercept, x_test, l_test)
    shape = (len(names), len(seeds))
    history = [{"step": r["step"], **{k: np.asarray(r[k]).reshape(shape).tolist()
                                      for k in r if k.startswith(("test/", "train/"))}}
               for r in result.history]
    runs = {}
    for i, name in enumerate(names):
        rows = slice(i * len(seeds), (i + 1) * len(seeds))
        runs[name] = {
            "p_sub": list(schedules[name]),
            "nll": {a: nll[rows, j].tolist() for j, a in enumerate(EVAL_ARCHS)},
            "fidelity": {a: fidelity[rows, j].tolist() for j, a in enumerate(EVAL_ARCHS)},
            "nll_per_scale": {a: per_scale[rows, j].tolist() for j, a in enumerate(EVAL_ARCHS)},
        }
    base = runs["full_only"]
    results = {
        "seeds": seeds, "runs": runs, "history": history,
        "stage_boundaries": boundaries.tolist(),
        "kept_layers": {d: np.flatnonzero(np.asarray(archs[d].layers)[-1]).tolist()
                        for d in ("d4", "d2")},
        "classifier_test_accuracy": float(clf_acc),
        "num_params": num_params(jax.tree.map(lambda p: p[0], final.params)),
        "asymmetry": {
            "fidelity_drop_early": _diff(base["fidelity"]["full"], base["fidelity"]["early_d4"]),
            "fidelity_drop_late": _diff(base["fidelity"]["full"], base["fidelity"]["d4"]),
            "nll_rise_early": _diff(base["nll"]["early_d4"], base["nll"]["full"]),
            "nll_rise_late": _diff(base["nll"]["d4"], base["nll"]["full"]),
        },
        "plot": "variant.png",
    }
    with open(workdir / "metrics.jsonl", "w") as f:   # one line per run: final per-seed numbers
        for name in names:
            f.write(json.dumps({"run": name, **runs[name]}) + "\n")
    _plot(results, workdir / results["plot"])
    return results


def _diff(a, b) -> list[float]:
    return (np.asarray(a) - np.asarray(b)).tolist()


def _final_eval(config, model, params_M, eval_archs, coef, intercept, x_test, l_test):
    """Per member and eval arch: test NLL, fidelity and NLL per scale ([M, A], [M, A], [M, A, K]).
    Members and archs are two nested `vmap`s; the sampling key is shared (common random numbers
    across runs, seeds and archs)."""
    n = config.fidelity_samples
    labels = jnp.arange(n, dtype=jnp.int32) % 10
    key = jax.random.PRNGKey(config.seed + 12345)
    last = model.layout.offsets[-1]

    def one(params, arch):
        nll, per_scale = _nll(model, params, arch, x_test, l_test)
        tokens = sample_tokens(model, params, labels, arch, key, config.temperature)
        image = dequantize(tokens[:, last:].astype(jnp.float32), config.levels)
        predicted = jnp.argmax(image @ coef.T + intercept.reshape(1, -1), axis=-1)
        return nll, jnp.mean(predicted == labels), per_scale

    fn = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))
    return tuple(np.asarray(v) for v in fn(params_M, eval_archs))


def _plot(results: dict, path: pathlib.Path) -> None:
    """NLL curves (full, d=4) per run; the (full, d=4) NLL plane; fidelity per eval arch."""
    import matplotlib.pyplot as plt

    runs, steps = results["runs"], [r["step"] for r in results["history"]]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    colors = dict(zip(runs, ("tab:gray", "tab:blue", "tab:red", "tab:green")))
    for i, name in enumerate(runs):
        for key, style in (("test/nll_full", "-"), ("test/nll_d4", "--")):
            curve = np.mean([np.asarray(r[key])[i] for r in results["history"]], axis=1)
            axes[0].plot(steps, curve, style, color=colors[name], label=f"{name} {key[9:]}")
        full, sub = runs[name]["nll"]["full"], runs[name]["nll"]["d4"]
        axes[1].scatter(full, sub, color=colors[name], alpha=0.4, s=15)
        axes[1].scatter(np.mean(full), np.mean(sub), color=colors[name], s=60, label=name)
        fid = [np.mean(runs[name]["fidelity"][a]) for a in EVAL_ARCHS]
        axes[2].bar(np.arange(len(EVAL_ARCHS)) + 0.2 * i, fid, 0.2, color=colors[name],
                    label=name)
    axes[0].set(xlabel="step", ylabel="test NLL (nats/token)", title="training")
    axes[1].set(xlabel="full-net NLL", ylabel="d=4 (k0=2) NLL", title="Pareto plane")
    axes[2].set_xticks(np.arange(len(EVAL_ARCHS)) + 0.2, EVAL_ARCHS)
    axes[2].set(ylabel="fidelity (classifier agrees)", title="samples")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    runs, asym = results["runs"], results["asymmetry"]
    mean = lambda v: float(np.mean(v))  # noqa: E731
    early, late = mean(asym["fidelity_drop_early"]), mean(asym["fidelity_drop_late"])
    asymmetric = early > 0 and early >= PASS_ASYMMETRY * max(late, 0.0)
    base_full = mean(runs["full_only"]["nll"]["full"])
    pf, ps = mean(runs["progressive"]["nll"]["full"]), mean(runs["progressive"]["nll"]["d4"])
    ff, fs = mean(runs["fixed"]["nll"]["full"]), mean(runs["fixed"]["nll"]["d4"])
    dominated = ff <= pf and fs <= ps and (ff < pf or fs < ps)
    progressive = pf <= PASS_FULL * base_full and ps <= PASS_SUB * pf and not dominated
    n = len(results["seeds"])
    fid = lambda a: plots.mean_std(runs["full_only"]["fidelity"][a], digits=3)  # noqa: E731
    return Claim(
        passed=bool(asymmetric and progressive),
        text=(f"(i) full-only model, fidelity drop from d=4 on scales 1-2 {early:.3f} >= "
              f"{PASS_ASYMMETRY}x the drop from d=4 on scales 3-4 {late:.3f}: {asymmetric} "
              f"(NLL rise {mean(asym['nll_rise_early']):.3f} vs {mean(asym['nll_rise_late']):.3f})"
              f"; (ii) progressive full NLL {pf:.4f} <= {PASS_FULL}x full-only {base_full:.4f}, "
              f"d=4 NLL {ps:.4f} <= {PASS_SUB}x its full NLL, point not dominated by fixed-ratio "
              f"({ff:.4f}, {fs:.4f}): {progressive}; mean of {n} seeds"),
        paper=PAPER_RESULT,
        ours=(f"fidelity of full-only: full {fid('full')}, early-cut {fid('early_d4')}, "
              f"late-cut {fid('d4')}; NLL "
              f"(full, d4): full-only ({base_full:.4f}, "
              f"{mean(runs['full_only']['nll']['d4']):.4f}), fixed ({ff:.4f}, {fs:.4f}), "
              f"progressive ({pf:.4f}, {ps:.4f})"),
        plot=results["plot"],
    )
