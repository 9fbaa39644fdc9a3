"""N2N Learning (Ashok et al., ICLR 2018): RL layer removal + shrinkage of a digits MLP teacher.

The paper compresses a teacher in two stages of policy-gradient RL (Sec. 3): a bidirectional LSTM
removes layers, then an autoregressive LSTM shrinks the remaining ones; each sampled student is
re-initialised, trained by distillation on the teacher's logits and scored with
`R = (acc_s / acc_t) * C (2 - C)`, `C = 1 - #params_s / #params_t` (eq. 3). Abstract: "more than
10x compression for ResNet-34 [CIFAR-10] while maintaining similar performance".

CPU scale (our research notes' mini-reproduction): teacher MLP 64 -> [128,128,96,96,64,64] -> 10
on sklearn digits (train / val / test = 60 / 20 / 20 %); the reward uses validation accuracy, the
best student is reported with its test accuracy. Stage 1: `removal_epochs` policy epochs of
`rollouts` students; stage 2 shrinks the best stage-1 student for `shrink_epochs` epochs. Every
student is trained `student_steps` Adam steps of logit MSE. The control is a uniform random
policy with the same number of students in the same two stages. All seeds run at once: one
jitted call per policy epoch trains the RL and random students of every seed under `vmap`
(`jaxnets.supernet.n2n`). After the search the best student of each seed (highest reward; RL and
random alike) is retrained from a fresh init with the same KD loss for `final_steps` steps, and
its test accuracy is the one compared with the teacher's (the search-time accuracy, after only
`student_steps`, is reported too). Claim: in >= 2 of 3 seeds, the mean reward of each stage's
last 5 epochs exceeds its first 5; the best RL student (mean over seeds) has >= 5x fewer
parameters and retrained test accuracy >= teacher - 3 points; and the best RL reward >= the best
random one. CPU-scale choices beyond the notes: student Adam lr 1e-2 with batch 32 (150 steps are
~4.5 digits epochs, like the code's 5 epochs, but lr 5e-4 leaves students far from converged),
an exponential moving-average baseline (decay 0.8) started at the first epoch's mean reward.
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
from jaxnets.supernet import n2n_policy as pol
from jaxnets.supernet.n2n import (N2NArch, N2NStudent, compression_reward, count_params,
                                  make_student_trainer, shrink_widths)
from jaxnets.train import Checkpointer, batch_indices
from jaxnets.train.progress import progress_bar

PAPER = Paper(
    title="N2N Learning: Network to Network Compression via Policy Gradient Reinforcement "
          "Learning",
    authors="Ashok, Rhinehart, Beainy & Kitani",
    venue="ICLR 2018",
)
DESCRIPTION = "N2N: RL layer removal + shrinkage of a digits MLP by KD students, vs random search"
PAPER_TEXT = "ResNet-34 on CIFAR-10: > 10x compression at similar accuracy (abstract)"
MIN_COMPRESSION, MAX_DROP, WINDOW = 5.0, 0.03, 5


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        hidden=(128, 128, 96, 96, 64, 64),   # teacher MLP 64 -> hidden -> 10, ~57k params
        seeds=(0, 1, 2),
        split_seed=0, val_fraction=0.2, test_fraction=0.2,
        teacher_steps=1000, teacher_lr=1e-3,
        batch_size=64,                       # teacher batch
        student_steps=150,                   # Adam steps of logit-MSE KD per student
        student_batch=32,                    # 150 x 32 = 4.5 epochs (code: 5 epochs)
        student_lr=1e-2, student_wd=5e-4,    # code: Adam 5e-4, wd 5e-4 for 5 CIFAR epochs
        final_steps=1500,                    # retraining of the best student after the search
        rollouts=5,                          # N rollouts per policy epoch (paper)
        removal_epochs=25, shrink_epochs=15,
        removal_lr=3e-3, shrink_lr=0.1,      # policy Adam lrs of the released code
        lookup=(0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
        min_width=10,                        # the released code floors out-channels at 10
        baseline_decay=0.8,
        per_rollout=True,                    # paper's R_i - b; False: code's mean(R) - b
        policy_hidden=30,
        checkpoint_every=5,                  # policy epochs between checkpoints (resume)
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "hidden=(16, 12, 8)", "seeds=(0, 1)", "teacher_steps=50", "student_steps=10",
        "final_steps=10", "rollouts=2", "removal_epochs=2", "shrink_epochs=2",
        "policy_hidden=8"])


def _split(config):
    split = digits_split(config.split_seed, config.test_fraction, config.val_fraction)
    return {name: (jnp.asarray(x), jnp.asarray(y)) for name, (x, y) in split.items()}


def _train_teachers(config, model, data, keys_S):
    """Trains one teacher per seed (vmapped, one jitted scan) with cross entropy."""
    x, y = data["train"]
    tx = optax.adam(config.teacher_lr)

    def one(key):
        params = model.init(key, x[:1])

        def step(carry, t):
            p, o = carry
            idx = batch_indices(jax.random.fold_in(key, 1), t, len(y), config.batch_size)
            grads = jax.grad(lambda q: optax.softmax_cross_entropy_with_integer_labels(
                model.apply(q, x[idx]), y[idx]).mean())(p)
            updates, o = tx.update(grads, o, p)
            return (optax.apply_updates(p, updates), o), None

        (params, _), _ = jax.lax.scan(step, (params, tx.init(params)),
                                      jnp.arange(config.teacher_steps))
        accs = {f"{n}/accuracy": jnp.mean(jnp.argmax(model.apply(params, d[0]), -1) == d[1])
                for n, d in data.items()}
        return model.apply(params, x), accs

    return jax.jit(jax.vmap(one))(keys_S)


def _stage_fns(config, stage, policy, desc, sizes, tx):
    """One stage's jitted, seed-vmapped pieces of a policy epoch: `sample` draws N RL and N
    uniform-random rollouts per seed; `update` scores the trained students (eq. 3) and takes one
    REINFORCE step (eq. 2). The student trainer between them is shared by both stages."""
    hidden, n = tuple(config.hidden), config.rollouts
    lookup = jnp.asarray(config.lookup, jnp.float32)
    num_hidden = len(hidden)
    params_t = count_params(N2NArch(jnp.ones(num_hidden, bool), jnp.asarray(hidden, jnp.int32)),
                            *sizes)

    def draw(params, key, base_keep, uniform):
        keys = jax.random.split(key, n)
        if stage == "removal":
            keep_T, _ = jax.vmap(lambda k: pol.sample_removal(
                params, policy, desc, k, uniform))(keys)
            keep = keep_T[:, :num_hidden]
            widths = jnp.broadcast_to(jnp.asarray(hidden, jnp.int32), keep.shape)
            return N2NArch(keep, widths), keep_T.astype(jnp.int32)
        actions, _ = jax.vmap(lambda k: pol.sample_shrink(
            params, policy, desc[:num_hidden], base_keep, k, uniform))(keys)
        widths = jax.vmap(lambda a: shrink_widths(hidden, lookup[a], config.min_width))(actions)
        return N2NArch(jnp.broadcast_to(base_keep, actions.shape), widths), actions

    def sample(params, key, base_keep, base_keep_random):
        arch, actions = draw(params, jax.random.fold_in(key, 0), base_keep, False)
        arch_r, _ = draw(params, jax.random.fold_in(key, 1), base_keep_random, True)
        both = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), arch, arch_r)
        return both, actions

    def log_prob(params, actions, base_keep):
        if stage == "removal":
            return jax.vmap(lambda a: pol.removal_log_prob(params, policy, desc, a == 1))(actions)
        return jax.vmap(lambda a: pol.shrink_log_prob(
            params, policy, desc[:num_hidden], base_keep, a))(actions)

    def update(params, opt_state, baseline, epoch_index, archs, actions, base_keep, val_acc,
               teacher_val):
        num = jax.vmap(lambda a: count_params(a, *sizes))(archs)
        reward = compression_reward(val_acc, teacher_val, num, params_t)
        r_rl = reward[:n]
        b = jnp.where(epoch_index == 0, jnp.mean(r_rl), baseline)  # eq. 2's b: past rewards
        grads = jax.grad(lambda p: pol.reinforce_loss(
            log_prob(p, actions, base_keep), r_rl, b, config.per_rollout))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        baseline = pol.update_baseline(baseline, r_rl, epoch_index, config.baseline_decay)
        return optax.apply_updates(params, updates), opt_state, baseline, reward, num, b

    return (jax.jit(jax.vmap(sample)),
            jax.jit(jax.vmap(update, in_axes=(0, 0, 0, None, 0, 0, 0, 0, 0))))


def _run_stage(config, fns, train, epochs, params, opt_state, keys_S, base, base_r, teacher,
               checkpoint_dir: pathlib.Path):
    """Runs one stage's policy epochs: a Python loop over epochs, each epoch three jitted calls
    (sample rollouts, train all students of all seeds under vmap, score and update).

    After every `checkpoint_every` epochs the policy (params, optimiser state, reward baseline)
    is checkpointed with the epoch records so far, and a rerun resumes from the newest one; each
    epoch's keys are `fold_in(key, epoch)`, so a resumed stage equals an uninterrupted one."""
    sample, update = fns
    baseline = jnp.zeros(len(config.seeds))
    records: list[dict] = []
    checkpointer = Checkpointer(checkpoint_dir, keep=1)
    restored = checkpointer.restore_latest((params, opt_state, baseline))
    if restored is not None:
        (params, opt_state, baseline), meta = restored
        records = [{k: np.asarray(v) for k, v in r.items()} for r in meta["records"]]
    bar = progress_bar(epochs, len(records), f"N2N policy ({checkpoint_dir.name})", True)
    for e in range(len(records), epochs):
        keys = jax.vmap(lambda k: jax.random.fold_in(k, e))(keys_S)
        archs, actions = sample(params, keys, base, base_r)
        student_keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, 2),
                                                           2 * config.rollouts))(keys)
        out = train(student_keys, archs, teacher["logits"])
        params, opt_state, baseline, reward, num, b = update(
            params, opt_state, baseline, e, archs, actions, base, out["val/accuracy"],
            teacher["val"])
        records.append(jax.tree.map(np.asarray, dict(
            reward=reward, params=num, keep=archs.keep, widths=archs.widths,
            val=out["val/accuracy"], test=out["test/accuracy"], baseline=b)))
        if (e + 1) % config.checkpoint_every == 0 and e + 1 < epochs:
            checkpointer.save(e + 1, (params, opt_state, baseline), {"records": [
                {k: v.tolist() for k, v in r.items()} for r in records]})
        bar.update(1)
    bar.close()
    return {k: np.stack([r[k] for r in records], axis=1) for k in records[0]}  # [S, E, 2N...]


def _best(history, n, rl: bool):
    """Per seed, the student with the highest reward among the RL (or random) rollouts."""
    sl = slice(0, n) if rl else slice(n, 2 * n)
    flat = {k: v[:, :, sl].reshape(v.shape[0], -1, *v.shape[3:]) for k, v in history.items()
            if k != "baseline"}
    idx = flat["reward"].argmax(axis=1)
    return {k: v[np.arange(len(idx)), idx] for k, v in flat.items()}


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    data = _split(config)
    hidden, n, num_seeds = tuple(config.hidden), config.rollouts, len(config.seeds)
    sizes = (data["train"][0].shape[1], hidden, 10)
    model = N2NStudent(hidden, 10)
    keys_S = jnp.stack([jax.random.PRNGKey(s) for s in config.seeds])
    logits, accs = _train_teachers(config, model, data, jax.vmap(
        lambda k: jax.random.fold_in(k, 7))(keys_S))
    teacher = {"logits": logits, "val": accs["val/accuracy"]}
    params_t = int(count_params(N2NArch(jnp.ones(len(hidden), bool), jnp.asarray(hidden)),
                                *sizes))
    student_tx = optax.chain(optax.add_decayed_weights(config.student_wd),
                             optax.adam(config.student_lr))
    train = jax.jit(jax.vmap(make_student_trainer(
        model, student_tx, data["train"][0], {"val": data["val"], "test": data["test"]},
        config.student_steps, config.student_batch)))
    desc = pol.layer_descriptors(*sizes)
    removal = pol.RemovalPolicy(config.policy_hidden)
    shrink = pol.ShrinkPolicy(tuple(config.lookup), config.policy_hidden)
    removal_tx, shrink_tx = optax.adam(config.removal_lr), optax.adam(config.shrink_lr)
    all_keep = jnp.ones((num_seeds, len(hidden)), bool)

    histories = {}
    for stage, policy, tx in (("removal", removal, removal_tx), ("shrink", shrink, shrink_tx)):
        cache = workdir / f"stage_{stage}_{config_lib.config_hash(config)[:12]}.npz"
        if cache.exists():  # a finished stage is not rerun; an unfinished one resumes per epoch
            histories[stage] = dict(np.load(cache))
            continue
        init_keys = jax.vmap(lambda k: jax.random.fold_in(k, 11 if stage == "removal" else 13)
                             )(keys_S)
        if stage == "removal":
            params = jax.jit(jax.vmap(lambda k: removal.init(k, desc)))(init_keys)
            base = base_r = all_keep
        else:
            zeros = jnp.zeros(len(hidden), jnp.int32)
            params = jax.jit(jax.vmap(lambda k: shrink.init(k, desc[:len(hidden)], zeros > 0,
                                                            zeros)))(init_keys)
            base = jnp.asarray(_best(histories["removal"], n, True)["keep"])
            base_r = jnp.asarray(_best(histories["removal"], n, False)["keep"])
        fns = _stage_fns(config, stage, policy, desc, sizes, tx)
        opt_state = jax.jit(jax.vmap(tx.init))(params)
        stage_keys = jax.vmap(lambda k: jax.random.fold_in(k, 100 + len(histories)))(keys_S)
        epochs = config.removal_epochs if stage == "removal" else config.shrink_epochs
        histories[stage] = _run_stage(
            config, fns, train, epochs, params, opt_state, stage_keys, base, base_r, teacher,
            workdir / f"checkpoints_{stage}_{config_lib.config_hash(config)[:12]}")
        np.savez(cache, **histories[stage])

    results = _summarise(config, histories, accs, params_t)
    results.update(_final_training(config, model, student_tx, data, keys_S, results, teacher))
    _write_metrics(workdir, histories, n)
    results["plot"] = _plot(workdir, histories, n)
    (workdir / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _final_training(config, model, tx, data, keys_S, results, teacher) -> dict:
    """Retrains each seed's best RL and best random student from a fresh init with the same KD
    loss for `final_steps` steps (the search only trains each student briefly, `student_steps`,
    as the paper's 5-epoch reward training); returns their test accuracies. One jitted call."""
    final = jax.jit(jax.vmap(make_student_trainer(
        model, tx, data["train"][0], {"test": data["test"]}, config.final_steps,
        config.student_batch)))
    archs = N2NArch(
        jnp.asarray(np.stack([results["best_rl_keep"], results["best_random_keep"]], 1), bool),
        jnp.asarray(np.stack([results["best_rl_widths"], results["best_random_widths"]], 1),
                    jnp.int32))
    keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, 999), 2))(keys_S)
    acc = np.asarray(final(keys, archs, teacher["logits"])["test/accuracy"])  # [S, 2]
    return {"best_rl_final_test_accuracy": acc[:, 0].tolist(),
            "best_random_final_test_accuracy": acc[:, 1].tolist()}


def _summarise(config, histories, accs, params_t) -> dict:
    n = config.rollouts
    out: dict = {"seeds": list(config.seeds), "teacher_params": params_t,
                 "teacher_val_accuracy": np.asarray(accs["val/accuracy"]).tolist(),
                 "teacher_test_accuracy": np.asarray(accs["test/accuracy"]).tolist()}
    for stage, h in histories.items():
        rl, rnd = h["reward"][:, :, :n].mean(-1), h["reward"][:, :, n:].mean(-1)  # [S, E]
        w = min(WINDOW, rl.shape[1])
        out[f"{stage}_reward_rl"] = rl.tolist()
        out[f"{stage}_reward_random"] = rnd.tolist()
        out[f"{stage}_first_mean"] = rl[:, :w].mean(1).tolist()
        out[f"{stage}_last_mean"] = rl[:, -w:].mean(1).tolist()
    merged = {k: np.concatenate([histories["removal"][k], histories["shrink"][k]], axis=1)
              for k in histories["removal"] if k != "baseline"}
    for name, rl in (("rl", True), ("random", False)):
        best = _best(merged, n, rl)
        out[f"best_{name}_reward"] = best["reward"].tolist()
        out[f"best_{name}_params"] = best["params"].tolist()
        out[f"best_{name}_compression"] = (params_t / best["params"]).tolist()
        out[f"best_{name}_test_accuracy"] = best["test"].tolist()
        out[f"best_{name}_val_accuracy"] = best["val"].tolist()
        out[f"best_{name}_keep"] = best["keep"].astype(int).tolist()
        out[f"best_{name}_widths"] = best["widths"].tolist()
    out["students_per_method"] = int(merged["reward"].shape[1] * n)
    out["student_steps"] = int(config.student_steps)
    return out


def _write_metrics(workdir, histories, n) -> None:
    with open(workdir / "metrics.jsonl", "w") as f:
        for stage, h in histories.items():
            for e in range(h["reward"].shape[1]):
                f.write(json.dumps({
                    "stage": stage, "epoch": e,
                    "reward_rl": h["reward"][:, e, :n].mean(-1).tolist(),
                    "reward_random": h["reward"][:, e, n:].mean(-1).tolist(),
                    "baseline": h["baseline"][:, e].tolist(),
                    "params_rl": h["params"][:, e, :n].mean(-1).tolist(),
                    "val_accuracy_rl": h["val"][:, e, :n].mean(-1).tolist()}) + "\n")


def _plot(workdir, histories, n) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (stage, h) in zip(axes, histories.items()):
        for label, sl, color in (("RL", slice(0, n), "C0"), ("random", slice(n, 2 * n), "C1")):
            r = h["reward"][:, :, sl].mean(-1)
            epochs = np.arange(r.shape[1])
            for s in range(r.shape[0]):
                ax.plot(epochs, r[s], color=color, linewidth=0.6, alpha=0.4)
            ax.plot(epochs, r.mean(0), color=color, linewidth=2, label=f"{label} (mean of seeds)")
        ax.set_xlabel("policy epoch")
        ax.set_ylabel("mean reward of the epoch's rollouts")
        ax.set_title(f"stage: {stage}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(workdir / "n2n_reward.png", dpi=100)
    plt.close(fig)
    return "n2n_reward.png"


def claim(results: dict) -> Claim:
    rises = {s: int(np.sum(np.asarray(results[f"{s}_last_mean"])
                           > np.asarray(results[f"{s}_first_mean"])))
             for s in ("removal", "shrink")}
    num_seeds = len(results["seeds"])
    need = (2 * num_seeds + 2) // 3
    compression = float(np.mean(results["best_rl_compression"]))
    drop = float(np.mean(np.asarray(results["teacher_test_accuracy"])
                         - np.asarray(results["best_rl_final_test_accuracy"])))
    search_drop = float(np.mean(np.asarray(results["teacher_test_accuracy"])
                                - np.asarray(results["best_rl_test_accuracy"])))
    best_rl, best_rnd = (float(np.mean(results["best_rl_reward"])),
                         float(np.mean(results["best_random_reward"])))
    passed = (all(v >= need for v in rises.values()) and compression >= MIN_COMPRESSION
              and drop <= MAX_DROP and best_rl >= best_rnd)
    text = (f"reward of the last {WINDOW} epochs > first {WINDOW} in {rises['removal']}/"
            f"{num_seeds} seeds (removal) and {rises['shrink']}/{num_seeds} (shrinkage), need "
            f">= {need}; best RL student {compression:.1f}x fewer params (need >= "
            f"{MIN_COMPRESSION:.0f}x) at {100 * drop:.1f} pt below the teacher's test accuracy "
            f"after retraining (need <= {100 * MAX_DROP:.0f}; {100 * search_drop:.1f} pt with "
            f"the search's {results['student_steps']}-step training); best reward RL "
            f"{best_rl:.3f} >= random {best_rnd:.3f} ({results['students_per_method']} "
            f"students each), mean of {num_seeds} seeds")
    return Claim(
        passed=bool(passed), text=text, paper=PAPER_TEXT,
        ours=(f"{plots.mean_std(results['best_rl_compression'])}x compression, test acc "
              f"{plots.mean_std(results['best_rl_final_test_accuracy'], 100)} vs teacher "
              f"{plots.mean_std(results['teacher_test_accuracy'], 100)}"),
        plot=results["plot"])
