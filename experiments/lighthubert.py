"""LightHuBERT (Wang et al., Interspeech 2022): two-stage distillation of a once-for-all
transformer supernet, at CPU scale on a synthetic character corpus ("LightCharBERT").

Task: rows of 32 characters from a hand-written grammar (`jaxnets.data.char_corpus`, with
subject-verb agreement across phrases); span masking (p 0.3, span 3; HuBERT uses 0.65 / 10 on
speech frames). The one-hot characters go through the input projection of an
`ElasticTransformer` (the CNN front end of HuBERT is not needed for characters).
  * Teacher (stands in for HuBERT Base): 4 layers, D=64, 4 heads x 16, FFN 256, trained by
    masked-character prediction; frozen afterwards. It sees the clean input; the target is the
    mean of its top-2 layer outputs, each layer-normalised without affine, held constant
    (`jaxnets.models.lighthubert.distillation_target`).
  * Student supernet, the teacher's shape; space E in {32, 48, 64}, H in {2, 3, 4} per layer,
    FFN ratio r in {3, 3.5, 4} per layer (chunked slicing), depth in {2, 3, 4} (LightHuBERT's
    keep table); the head maps features [0, E) to the teacher's 64 dims. Loss: L1 to the target
    on masked positions. Pre-LN, like the teacher: LightHuBERT is post-LN, but at this scale
    post-LN students stayed at the constant predictor (held-out L1 0.636 after 400 stage-1 steps,
    equal to predicting the per-dimension median of the target) while pre-LN ones learn.
  * Stage 1: the full-size student is distilled (`stage1_steps`). Stage 2 ("ofa"): the supernet
    starts from stage 1 and trains `subnets_per_step` uniformly sampled subnets per step under one
    `vmap`, loss averaged (`stage2_steps`).
  * Controls, each with the same step budget (stage1 + stage2 steps): "standalone", the smallest
    subnet as its own small network, same loss; "scratch", stage 2 from random init;
    "full_budget", the full-size student distilled for the whole budget (stage 1 continued).
The three student seeds are one population under `vmap`; one teacher is shared by all seeds (the
paper distils one HuBERT Base) and seeds differ in init, masks and sampled subnets; data order is
the same for every seed and method. Held-out L1 is measured on a separately generated corpus with
fixed masks.

Claim (issue 5): mean over seeds, OFA smallest subnet L1 <= 1.10 x standalone smallest; OFA
largest subnet <= 1.05 x the stage-1 model, and (since stage 1 is short here and still improving
when it ends) also <= 1.05 x the full-size student distilled for the same total budget; the mean
L1 over 5 fixed subnets is lower with stage 1 than without in >= 2 of 3 seeds.

Finding (default config, 3 seeds, 2026-12-02): the claim FAILS on the fair comparison only.
OFA smallest 0.551 vs standalone 0.569 (0.97x); stage-1 init beats scratch in 3/3 seeds (5-subnet
mean 0.523 vs 0.545); OFA largest 0.501 is 0.71x the 400-step stage-1 model (0.708, still on its
way down when stage 1 ends) but 1.12x the full-size student distilled for all 1000 steps (0.446).
Weight sharing costs the largest subnet at this budget: uniform sampling draws it (E=64, depth 4,
H=4 and r=4 in every layer) with probability 3^-10, and 600 stage-2 steps of smaller subnets do
not let it keep up with a model trained alone; the paper trains stage 2 far longer. Post-LN students (the paper's) did
not learn at all here, see above.
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
from jaxnets import plots
from jaxnets.data import char_corpus as corpus_lib
from jaxnets.experiment import Claim, Paper
from jaxnets.models import lighthubert as lhb
from jaxnets.nn.elastic_transformer import ElasticTransformer
from jaxnets.supernet import (TransformerSpace, extract_subnet, index_arch, num_params,
                              sample_uniform, stack_archs)
from jaxnets.train import TrainState, fit

PAPER = Paper(
    title=("LightHuBERT: Lightweight and Configurable Speech Representation Learning with "
           "Once-for-All Hidden-Unit BERT"),
    authors="Wang, Chen, Wu, Wang, Liu, Wu, Li, Wei, Ren, ... (9 authors)",
    venue="Interspeech 2022",
)
DESCRIPTION = "two-stage distilled once-for-all transformer supernet on a synthetic char corpus"
PAPER_RESULT = ("SUPERB, LightHuBERT Small (~27M) vs teacher HuBERT Base (~95M): PR PER 6.60 vs "
                "5.41, ASR WER 8.34 vs 6.42, KS 96.07 vs 96.30, IC 98.23 vs 98.34, SV EER 5.42 "
                "vs 5.11; 29% fewer params at comparable results, 3.5x compression with slight "
                "loss; dropping stage-1 pre-distillation hurts (stage-1 ablation)")
PASS_SMALLEST, PASS_LARGEST = 1.10, 1.05
SUBNET_NAMES = ("largest", "smallest", "middle", "random_a", "random_b")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        train_sequences=2048,           # ~65k characters of grammar text
        eval_sequences=256,             # held out (corpus_seed + 1)
        seq_len=32,
        corpus_seed=0,
        mask_prob=0.3, mask_span=3,     # notes' mini-repro (HuBERT: 0.65, 10 frames)
        embed_choices=(32, 48, 64),     # LightHuBERT Small: {256, 384, 512} of D=768
        head_choices=(2, 3, 4),
        head_dim=16,
        ffn_ratio_choices=(3.0, 3.5, 4.0),
        depth_choices=(2, 3, 4),
        num_layers=4,
        depth_rule="lighthubert",       # LightHuBERT's keep table (quick: "prefix", 2 layers)
        target_layers=2,                # top-k teacher layers averaged (paper: 8 of 12)
        batch_size=16,
        learning_rate=2e-3,
        warmup_fraction=0.05,
        teacher_steps=1000,
        teacher_pre_norm=True,          # post-LN teachers stayed at the unigram plateau here
        student_pre_norm=True,          # post-LN students stayed at the constant predictor here
        stage1_steps=400,
        stage2_steps=600,
        subnets_per_step=4,
        eval_every=200,
        n_seeds=3,
        seed=0,
        teacher_seed=100,
        subnet_seed=7,                  # draws the 2 random fixed evaluation subnets
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "train_sequences=256", "eval_sequences=32", "seq_len=16", "embed_choices=(16, 24, 32)",
        "head_dim=8", "num_layers=2", "depth_choices=(1, 2)", "depth_rule=prefix",
        "target_layers=1", "teacher_steps=60", "stage1_steps=40", "stage2_steps=40",
        "subnets_per_step=2", "eval_every=20", "n_seeds=2", "learning_rate=3e-3"])


def _space(config) -> TransformerSpace:
    return TransformerSpace(
        embed_choices=tuple(config.embed_choices), head_choices=tuple(config.head_choices),
        ffn_ratio_choices=tuple(config.ffn_ratio_choices),
        depth_choices=tuple(config.depth_choices), num_layers=config.num_layers,
        depth_rule=config.depth_rule)


def fixed_subnets(space: TransformerSpace, seed: int):
    """The 5 evaluation subnets, stacked: largest, smallest, the middle choice of every field,
    and two uniform draws from `seed` (the same for every run and seed)."""
    def middle(choices):
        return sorted(choices)[len(choices) // 2]

    L = space.num_layers
    mid = space._arch(middle(space.embed_choices), jnp.full((L,), middle(space.head_choices)),
                      jnp.full((L,), middle(space.ffn_ratio_choices)),
                      list(space.depth_choices).index(middle(space.depth_choices)))
    drawn = sample_uniform(space, jax.random.PRNGKey(seed), 2)
    return stack_archs([space.largest(), space.smallest(), mid, index_arch(drawn, 0),
                        index_arch(drawn, 1)])


def _per_seed(values) -> list:
    return np.asarray(values, float).tolist()


def _optimizer(config, num_steps: int) -> optax.GradientTransformation:
    warmup = max(1, int(config.warmup_fraction * num_steps))
    schedule = optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, warmup, num_steps,
                                                  0.1 * config.learning_rate)
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))


def _apply(model, use_arch: bool = True):
    if use_arch:
        return lambda params, x, arch: model.apply({"params": params}, x, arch)
    return lambda params, x, arch: model.apply({"params": params}, x)


def _dummy_archs(key, step):
    return jnp.zeros((1,))  # K = 1 for a plain network (its apply ignores the arch)


class _Runner:
    """The data, the frozen teacher's targets and the shared settings of every phase."""

    def __init__(self, config, workdir: pathlib.Path):
        self.config, self.workdir = config, workdir
        self.train = jnp.asarray(corpus_lib.char_corpus(
            config.train_sequences, config.seq_len, config.corpus_seed))
        self.heldout = jnp.asarray(corpus_lib.char_corpus(
            config.eval_sequences, config.seq_len, config.corpus_seed + 1))
        eval_key = jax.random.fold_in(jax.random.PRNGKey(config.corpus_seed), 2)
        self.heldout_mask = lhb.span_mask(eval_key, self.heldout.shape, config.mask_prob,
                                          config.mask_span)
        self.data_key = jax.random.fold_in(jax.random.PRNGKey(config.corpus_seed), 1)
        self.common = dict(mask_id=corpus_lib.MASK_ID, vocab=corpus_lib.VOCAB_SIZE)
        self.train_targets = self.heldout_targets = None

    def x0(self):
        return lhb.encode_inputs(jnp.zeros((1, self.config.seq_len), jnp.int32),
                                 corpus_lib.VOCAB_SIZE)

    def heldout_loss(self, apply_fn, params, archs):
        return lhb.heldout_loss(apply_fn, params, archs, self.heldout, self.heldout_mask,
                                targets_NxTxD=self.heldout_targets, **self.common)

    def fit(self, name, state, apply_fn, sample_archs, num_steps, eval_fn):
        c = self.config
        step = lhb.build_masked_step(
            apply_fn, self.train, _optimizer(c, num_steps), sample_archs,
            batch_size=c.batch_size, mask_prob=c.mask_prob, span=c.mask_span,
            data_key=self.data_key, targets_NxTxD=self.train_targets, **self.common)
        return fit(state, step, num_steps=num_steps, eval_fn=eval_fn, eval_every=c.eval_every,
                   workdir=self.workdir / name, config=config_lib.to_dict(c), resume=True,
                   keep_checkpoints=1, description=name)

    def train_teacher(self, teacher):
        """Masked-character pre-training of the teacher, then its targets (frozen from here)."""
        c = self.config
        key = jax.random.PRNGKey(c.teacher_seed)
        tx = _optimizer(c, c.teacher_steps)
        state = TrainState.create(teacher.init(key, self.x0())["params"], tx, key)
        apply_fn = _apply(teacher, use_arch=False)
        result = self.fit("teacher", state, apply_fn, _dummy_archs, c.teacher_steps, lambda s: {
            "heldout/accuracy": self.heldout_loss(apply_fn, s.params, None)[0]})
        both = lhb.teacher_targets(teacher, {"params": result.state.params},
                                   jnp.concatenate([self.train, self.heldout]), c.target_layers,
                                   corpus_lib.VOCAB_SIZE)
        n = self.train.shape[0]
        self.train_targets, self.heldout_targets = both[:n], both[n:]
        return result

    def population(self, model, seeds, phase: int, num_steps: int, params=None):
        """One TrainState per seed; params from `model.init` unless given ([S, ...])."""
        tx = _optimizer(self.config, num_steps)
        keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, jnp.uint32))

        def one(key, p):
            p = model.init(key, self.x0())["params"] if p is None else p
            return TrainState.create(p, tx, jax.random.fold_in(key, phase))

        if params is None:
            return jax.jit(jax.vmap(lambda k: one(k, None)))(keys)
        return jax.jit(jax.vmap(one))(keys, params)

    def evaluator(self, apply_fn, archs, names):
        def eval_fn(state):
            values = self.heldout_loss(apply_fn, state.params, archs)
            return {f"heldout/l1_{n}": values[i] for i, n in enumerate(names)}
        return eval_fn


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    space = _space(config)
    runner = _Runner(config, workdir)
    teacher = ElasticTransformer(
        embed_dim=space.embed_max, num_heads=(space.heads_max,) * space.num_layers,
        ffn_hidden=(space.ffn_max,) * space.num_layers, head_dim=config.head_dim,
        out_features=corpus_lib.VOCAB_SIZE, max_len=config.seq_len,
        pre_norm=config.teacher_pre_norm)
    teacher_run = runner.train_teacher(teacher)

    # Student supernet: the head maps features [0, E) to the teacher's D target dims.
    student = space.supernet(head_dim=config.head_dim, out_features=space.embed_max,
                             max_len=config.seq_len, pre_norm=config.student_pre_norm)
    archs = fixed_subnets(space, config.subnet_seed)
    largest = stack_archs([space.largest()])
    seeds = np.arange(config.seed, config.seed + config.n_seeds)
    budget = config.stage1_steps + config.stage2_steps
    apply_fn = _apply(student)
    curves = runner.evaluator(apply_fn, archs, SUBNET_NAMES)  # final values = last record

    def sample_k(key, step):
        return sample_uniform(space, key, config.subnets_per_step)

    init = runner.population(student, seeds, 1, config.stage1_steps)
    stage1 = runner.fit("stage1", init, apply_fn, lambda key, step: largest,
                        config.stage1_steps, curves)
    ofa = runner.fit("ofa", runner.population(student, seeds, 2, config.stage2_steps,
                                              stage1.state.params),
                     apply_fn, sample_k, config.stage2_steps, curves)
    full_budget = runner.fit("full_budget", init, apply_fn, lambda key, step: largest, budget,
                             curves)
    scratch = runner.fit("scratch", runner.population(student, seeds, 3, budget, init.params),
                         apply_fn, sample_k, budget, curves)
    first = jax.tree.map(lambda p: p[0], init.params)
    small, _ = extract_subnet(student, first, space.smallest())
    small_apply = _apply(small, use_arch=False)
    standalone = runner.fit("standalone", runner.population(small, seeds, 4, budget),
                            small_apply, _dummy_archs, budget,
                            runner.evaluator(small_apply, None, ("smallest",)))

    l1 = {name: np.stack([result.history[-1][f"heldout/l1_{n}"] for n in SUBNET_NAMES], 1)
          for name, result in (("stage1", stage1), ("ofa", ofa), ("scratch", scratch),
                               ("full_budget", full_budget))}  # [S, 5]
    standalone_l1 = np.asarray(standalone.history[-1]["heldout/l1_smallest"])
    sizes = [num_params(extract_subnet(student, first, index_arch(archs, i))[1])
             for i in range(len(SUBNET_NAMES))]
    histories = {"stage1": stage1.history, "ofa": ofa.history, "scratch": scratch.history,
                 "standalone": standalone.history, "full_budget": full_budget.history}
    plot = "lighthubert.png"
    _plot(histories, config.stage1_steps, l1, standalone_l1, workdir / plot)
    results = {
        "seeds": seeds.tolist(),
        "subnets": list(SUBNET_NAMES),
        "subnet_params": sizes,
        "standalone_params": num_params(jax.tree.map(lambda p: p[0], standalone.state.params)),
        "teacher_heldout_accuracy": float(teacher_run.history[-1]["heldout/accuracy"]),
        "stage1_l1": _per_seed(l1["stage1"][:, 0]),               # the full-size student
        "full_budget_l1": _per_seed(l1["full_budget"][:, 0]),     # ... after stage1 + stage2 steps
        "stage1_subnet_l1": _per_seed(l1["stage1"]),              # [S, 5]
        "ofa_subnet_l1": _per_seed(l1["ofa"]),                    # [S, 5]
        "scratch_subnet_l1": _per_seed(l1["scratch"]),            # [S, 5]
        "standalone_smallest_l1": _per_seed(standalone_l1),
        "first_train_loss": {n: _per_seed(h[0]["train/loss"]) for n, h in histories.items()},
        "last_train_loss": {n: _per_seed(h[-1]["train/loss"]) for n, h in histories.items()},
        "curves": {n: [{k: v for k, v in r.items() if k != "time_s"} for r in h]
                   for n, h in histories.items()},
        "plot": plot,
    }
    (workdir / "summary.json").write_text(json.dumps(
        {k: v for k, v in results.items() if k != "curves"}, indent=2) + "\n")
    return results


def _plot(histories, offset: int, l1: dict, standalone_l1, path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    shifts = {"stage1": 0, "ofa": offset, "scratch": 0, "standalone": 0, "full_budget": 0}
    for ax, which in zip(axes[:2], ("largest", "smallest")):
        for name, history in histories.items():
            key = f"heldout/l1_{which}"
            if key not in history[0]:
                continue
            steps = [r["step"] + shifts[name] for r in history]
            values = np.asarray([r[key] for r in history], float).mean(axis=1)
            ax.plot(steps, values, marker="o", markersize=3, label=name)
        ax.set_title(f"held-out L1, {which} subnet (mean over seeds)")
        ax.set_xlabel("step (ofa: after stage 1)")
        ax.grid(alpha=0.3)
        ax.legend()
    x = np.arange(len(SUBNET_NAMES))
    for i, name in enumerate(("stage1", "ofa", "scratch")):
        axes[2].bar(x + (i - 1) * 0.25, l1[name].mean(0), 0.25, label=name)
    axes[2].scatter([1], [np.mean(standalone_l1)], color="k", zorder=3, label="standalone")
    axes[2].set_xticks(x, SUBNET_NAMES)
    axes[2].set_title("final held-out L1 per fixed subnet")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    ofa = np.asarray(results["ofa_subnet_l1"], float)
    scratch = np.asarray(results["scratch_subnet_l1"], float)
    standalone = np.asarray(results["standalone_smallest_l1"], float)
    stage1 = np.asarray(results["stage1_l1"], float)
    small_ratio = ofa[:, 1].mean() / standalone.mean()
    large_ratio = ofa[:, 0].mean() / stage1.mean()
    full_budget = np.asarray(results["full_budget_l1"], float)
    fair_ratio = ofa[:, 0].mean() / full_budget.mean()
    wins = int(np.sum(ofa.mean(1) < scratch.mean(1)))
    need = int(np.ceil(2 * len(ofa) / 3))
    passed = bool(small_ratio <= PASS_SMALLEST and large_ratio <= PASS_LARGEST
                  and fair_ratio <= PASS_LARGEST and wins >= need)
    return Claim(
        passed=passed,
        text=(f"held-out L1, mean over {len(ofa)} seeds: OFA smallest / standalone smallest = "
              f"{small_ratio:.3f} (<= {PASS_SMALLEST}); OFA largest / stage-1 model = "
              f"{large_ratio:.3f} (<= {PASS_LARGEST}), / full-size student distilled for the "
              f"same total budget = {fair_ratio:.3f} (<= {PASS_LARGEST}); stage-1 init beats scratch on the mean "
              f"over 5 fixed subnets in {wins}/{len(ofa)} seeds (>= {need})"),
        paper=PAPER_RESULT,
        ours=(f"L1 OFA smallest {plots.mean_std(ofa[:, 1], digits=4)} vs standalone "
              f"{plots.mean_std(standalone, digits=4)}; OFA largest "
              f"{plots.mean_std(ofa[:, 0], digits=4)} vs stage 1 "
              f"{plots.mean_std(stage1, digits=4)} and full budget "
              f"{plots.mean_std(full_budget, digits=4)}; 5-subnet mean with stage 1 "
              f"{plots.mean_std(ofa.mean(1), digits=4)} vs scratch "
              f"{plots.mean_std(scratch.mean(1), digits=4)}"),
        plot=results["plot"],
    )
