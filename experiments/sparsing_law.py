"""Sparsing Law (Luo, Song, Han et al., ICML 2025): activation sparsity of ReLU vs SiLU LMs.

The paper measures activation sparsity with PPL-p% sparsity (Sec. 3): per-neuron contribution
norms `|h_i| · ||W_down[i, :]||`, layer thresholds set by a shared CETT value (cumulative error of
tail truncation, Eq. 3), and an outer search on CETT so that truncation raises perplexity by p %
(`jaxnets.explain.activation_sparsity`). Over training tokens the activation ratio (1 - sparsity)
of ReLU models *decreases* (a logspace power law) while that of SiLU models *increases* to a limit
(a convergent power law), and at the limit ReLU is far sparser: A_0 = 0.061-0.078 for ReLU vs
0.382-0.409 for SiLU across 0.1B-2.4B models (Sec. 4.1, fitted-law table), at comparable
performance.

CPU scale (our research notes' mini-reproduction): the shared causal `CharLM` (2 layers, d = 64,
4 heads, gated FFN d_ff = 256, context 64), ReLU vs SiLU gate (`GatedFFN`'s traced per-layer
`relu` flag, so both train side by side in one program), AdamW with a short warmup then a
constant rate (the stable phase of the paper's WSD schedule). Parameters are kept every
`checkpoint_every` steps as the outputs of a `lax.scan` over training chunks; all seeds train at
once under `vmap`, one jitted run per activation. For every checkpoint the PPL-1% activation
ratio is measured on `eval_sequences` held-out rows (inner search over 4 096 candidate
thresholds per layer, outer bisection on CETT to 1e-3), all checkpoints and seeds in one jitted
call. Claim (issue text and notes' gate): the final ReLU ratio (mean over seeds) <= 0.5 x the
final SiLU ratio; the final validation PPLs of the two within 5 %; and opposite trends over
training, Spearman(tokens, ratio) of the seed-mean curve over the last `trend_window` checkpoints
< 0 for ReLU and > 0 for SiLU (the notes call the trend exploratory; the issue includes it in the
claim, so it is gated and also reported separately). Two seeds (the notes' {0, 1}).

Corpora (`corpus`): "stdlib" (default), ~776 k characters of English documentation from 168
standard-library modules (`jaxnets.data.text_corpus`; held-out text from other modules, 95
printable-ASCII characters), 2 400 steps of batch 16 (2.5 M characters, ~3.8 epochs of its
640 k training characters); "grammar", the local PCFG character corpus
(`jaxnets.data.char_corpus`, held-out text from another seed), the first setting, run with
`corpus=grammar steps=1200 checkpoint_every=120 train_sequences=8192`.

Deviations from the released code: thresholds are searched once on the pooled evaluation tokens
rather than per batch of 10; 4 096 instead of 65 536 candidates; far fewer training tokens than
the paper (millions of characters, not billions of tokens), so "limit" ratios are not reached
and no power law is fitted.

Outcome, grammar corpus (2 seeds, 1 200 steps): the claim FAILS. Final ratio ReLU 0.092 (0.096,
0.087) vs SiLU 0.151 (0.137, 0.165), i.e. 0.61 x (gate 0.5); ReLU is sparser at every
checkpoint; validation PPL 1.815 vs 1.810 (0.2 % apart, passes); trend over the last 6
checkpoints: ReLU falls (Spearman -0.60) as in the paper but SiLU falls too (-0.94) instead of
rising. Per layer the gap is all in layer 0 (0.114 vs 0.193); layer 1 is equally sparse (0.079
vs 0.081). Our reading: the PCFG character task has very low entropy (PPL 1.8 per character)
and a 2-layer d = 64 model needs few features per token, so even the SiLU model becomes very
sparse (0.15 vs the paper's ~0.39), and 1.2 M characters sit in the early, still-converging
part of training where both ratios drop with the loss.

Outcome, stdlib corpus (the default; 2 seeds, 2 400 steps, 15 min on the shared 2-core CPU,
2026-12-02): the claim FAILS on the trend only. Final PPL-1% activation ratio ReLU 0.165
(0.167, 0.162) vs SiLU 0.384 (0.398, 0.370): 0.43 x, under the 0.5 gate, and SiLU's level now
sits inside the paper's 0.38-0.41 (ReLU stays above its 0.06-0.08); validation PPL 5.607 vs
5.575 (0.6 % apart). Over the last 6 checkpoints ReLU's ratio falls (Spearman -0.66) as in the
paper, but SiLU's falls too (-0.66; per seed +0.03 and -0.66) instead of rising. Real text made
the levels paper-like; the opposite trends need, in the paper, far more tokens per parameter
than the few million characters this CPU run sees (their curves span billions of tokens).
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
import scipy.stats

from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.data.char_corpus import VOCAB_SIZE as GRAMMAR_VOCAB_SIZE
from jaxnets.data.char_corpus import char_corpus
from jaxnets.data.text_corpus import VOCAB_SIZE as STDLIB_VOCAB_SIZE
from jaxnets.data.text_corpus import fingerprint, text_corpus
from jaxnets.experiment import Claim, Paper
from jaxnets.explain.activation_sparsity import char_lm_probe, ppl_p_sparsity
from jaxnets.nn.char_lm import CharLM, next_token_nll
from jaxnets.train import batch_indices

PAPER = Paper(
    title="Sparsing Law: Towards Large Language Models with Greater Activation Sparsity",
    authors="Luo, Song, Han, Zhang, Wang, Liu, Sun, Xiao, Zhao & Sun",
    venue="ICML 2025",
)
DESCRIPTION = "Sparsing Law: PPL-1% activation ratio of ReLU vs SiLU char LMs over training"
# Limit activation ratios A_0 of the fitted laws, 0.1B-2.4B models (paper's Table of fitted
# parameters, as in our research notes sec. 6; ReLU 2.4B 0.071, SiLU has no 2.4B model).
PAPER_A0 = {"relu": (0.061, 0.067, 0.069, 0.072, 0.078, 0.071),
            "silu": (0.409, 0.390, 0.385, 0.383, 0.382)}
PAPER_TEXT = ("PPL-1% limit activation ratio A_0: ReLU 0.061-0.078 vs SiLU 0.382-0.409 "
              "(0.1B-2.4B); ReLU ratio decreases with training tokens, SiLU increases")
MAX_RATIO, MAX_PPL_GAP = 0.5, 0.05   # notes' gate: A_relu <= 0.5 A_silu; PPLs within 5 %
ACTIVATIONS = ("relu", "silu")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        corpus="stdlib",            # "stdlib": English docstrings (text_corpus); "grammar": PCFG
        seeds=(0, 1),
        train_sequences=10000,      # of the stdlib corpus's 10 755 rows of 64 (grammar: any)
        eval_sequences=32, val_sequences=256,
        seq_len=64, d_model=64, num_heads=4, num_layers=2, d_ff=256,
        steps=2400, checkpoint_every=200, batch_size=16,   # 2.5 M characters, ~3.8 epochs
        learning_rate=3e-3, warmup_steps=100, weight_decay=0.1,
        p=1.0,                      # PPL-p%: tolerated perplexity increase in percent
        num_candidates=4096,        # per-layer threshold candidates (notes; code: 65 536)
        quantile=0.99, tolerance=1e-3,
        trend_window=6,             # last checkpoints for Spearman(tokens, ratio)
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "train_sequences=256", "eval_sequences=4", "val_sequences=8", "seq_len=16",
        "d_model=16", "num_heads=2", "num_layers=1", "d_ff=32", "steps=40", "checkpoint_every=10",
        "warmup_steps=5", "batch_size=8", "num_candidates=64", "tolerance=0.01",
        "trend_window=3"])


CORPORA = ("stdlib", "grammar")


def _check(config) -> None:
    if config.corpus not in CORPORA:
        raise ValueError(f"corpus must be one of {CORPORA}, got {config.corpus!r}")
    if config.steps % config.checkpoint_every:
        raise ValueError(f"steps ({config.steps}) must be a multiple of checkpoint_every "
                         f"({config.checkpoint_every})")
    if config.steps // config.checkpoint_every < 2:
        raise ValueError("need at least 2 checkpoints")
    if not 2 <= config.trend_window <= config.steps // config.checkpoint_every:
        raise ValueError(f"trend_window must be in [2, number of checkpoints], got "
                         f"{config.trend_window}")


def _data(config):
    """(train [N, T], evaluation [B, T] for the PPL-p% search, validation [V, T], vocab size)."""
    n_heldout = config.eval_sequences + config.val_sequences
    if config.corpus == "grammar":   # held-out text from another grammar seed
        train = char_corpus(config.train_sequences, config.seq_len, seed=0)
        heldout = char_corpus(n_heldout, config.seq_len, seed=1)
        vocab = GRAMMAR_VOCAB_SIZE
    else:                            # held-out text from other modules' documentation
        train = text_corpus(config.train_sequences, config.seq_len, "train")
        heldout = text_corpus(n_heldout, config.seq_len, "heldout")
        vocab = STDLIB_VOCAB_SIZE
    heldout = jnp.asarray(heldout)
    return (jnp.asarray(train), heldout[:config.eval_sequences],
            heldout[config.eval_sequences:], vocab)


def _model(config, vocab_size: int) -> CharLM:
    return CharLM(vocab_size=vocab_size, max_len=config.seq_len, d_model=config.d_model,
                  num_heads=config.num_heads, num_layers=config.num_layers, d_ff=config.d_ff,
                  activation="silu")   # a per-layer `relu` flag switches the gate to ReLU


def _flags(config, relu) -> dict:
    """GatedFFN's per-layer `relu` keyword: true for the ReLU model, false for SiLU."""
    return {"relu": jnp.full((config.num_layers,), relu)}


def _optimizer(config) -> optax.GradientTransformation:
    schedule = optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps)
    return optax.adamw(schedule, weight_decay=config.weight_decay)


def _make_trainer(config, model, train_NxT):
    """(key, relu flag) -> (params at each checkpoint [C, ...], training loss per step).

    One `lax.scan` over C chunks of `checkpoint_every` steps, each an inner scan of AdamW steps;
    the chunk outputs are the checkpoints. Data order: `batch_indices(fold_in(key, 1), step)`."""
    tx = _optimizer(config)
    num_chunks = config.steps // config.checkpoint_every

    def train(key, relu):
        flags = _flags(config, relu)
        params = model.init(jax.random.fold_in(key, 0), train_NxT[:1], ffn_kwargs_L=flags)
        data_key = jax.random.fold_in(key, 1)

        def step(carry, t):
            p, o = carry
            batch = train_NxT[batch_indices(data_key, t, train_NxT.shape[0], config.batch_size)]
            loss, grads = jax.value_and_grad(
                lambda q: next_token_nll(model.apply(q, batch, ffn_kwargs_L=flags), batch))(p)
            updates, o = tx.update(grads, o, p)
            return (optax.apply_updates(p, updates), o), loss

        def chunk(carry, c):
            steps = c * config.checkpoint_every + jnp.arange(config.checkpoint_every)
            carry, losses = jax.lax.scan(step, carry, steps)
            return carry, (carry[0], losses)

        _, (ckpts, losses) = jax.lax.scan(chunk, (params, tx.init(params)),
                                          jnp.arange(num_chunks))
        return ckpts, losses.reshape(-1)

    return train


def _make_evaluator(config, model, eval_BxT, val_BxT):
    """(params, relu flag) -> (PPL-p% SparsityResult, dense validation NLL), one checkpoint."""
    def evaluate(params, relu):
        flags = _flags(config, relu)
        fn, w_down = char_lm_probe(model, params, eval_BxT, flags)
        result = ppl_p_sparsity(fn, w_down, config.p, num_candidates=config.num_candidates,
                                quantile=config.quantile, tolerance=config.tolerance)
        val_nll = next_token_nll(model.apply(params, val_BxT, ffn_kwargs_L=flags), val_BxT)
        return result, val_nll
    return evaluate


def _spearman(x, y) -> float:
    if np.ptp(np.asarray(y)) == 0:
        return 0.0
    return float(scipy.stats.spearmanr(x, y)[0])


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    _check(config)
    workdir = pathlib.Path(workdir)
    train_NxT, eval_BxT, val_BxT, vocab_size = _data(config)
    num_seeds = len(config.seeds)
    # M = 2 S models, activation-major: (relu, seed 0), (relu, seed 1), ..., (silu, seed 0), ...
    keys_M = jnp.stack([jax.random.PRNGKey(s) for s in config.seeds] * len(ACTIVATIONS))
    relu_M = jnp.repeat(jnp.asarray([a == "relu" for a in ACTIVATIONS]), num_seeds)
    num_ckpts = config.steps // config.checkpoint_every
    steps_C = (np.arange(num_ckpts) + 1) * config.checkpoint_every
    tokens_C = steps_C * config.batch_size * config.seq_len

    model = _model(config, vocab_size)
    ckpts, losses = jax.jit(jax.vmap(_make_trainer(config, model, train_NxT)))(keys_M, relu_M)
    evaluate = _make_evaluator(config, model, eval_BxT, val_BxT)
    # [M, C] problems: vmap over models, lax.map over checkpoints (bounded memory).
    res, val_nll = jax.jit(jax.vmap(lambda p, r: jax.lax.map(lambda q: evaluate(q, r), p)))(
        ckpts, relu_M)

    def per_act(x, a):  # [M, ...] -> this activation's [S, ...]
        return np.asarray(x)[a * num_seeds:(a + 1) * num_seeds]

    results: dict = {"seeds": list(config.seeds), "steps": steps_C.tolist(),
                     "tokens": tokens_C.tolist(), "corpus": config.corpus,
                     "corpus_sha256": fingerprint() if config.corpus == "stdlib" else None,
                     "paper_a0": {k: list(v) for k, v in PAPER_A0.items()}}
    w = config.trend_window
    for a, act in enumerate(ACTIVATIONS):
        ratio_SxC = per_act(res.activation_ratio, a)
        ppl_SxC = np.exp(per_act(val_nll, a))
        results[act] = {
            "activation_ratio": ratio_SxC.tolist(),                      # [seed][checkpoint]
            "activation_ratio_layers": per_act(res.activation_ratio_L, a).tolist(),
            "cett": per_act(res.cett, a).tolist(),
            "ppl_ratio": per_act(res.ppl_ratio, a).tolist(),
            "val_ppl": ppl_SxC.tolist(),
            "final_ratio": ratio_SxC[:, -1].tolist(),
            "final_ratio_mean": float(ratio_SxC[:, -1].mean()),
            "final_val_ppl": ppl_SxC[:, -1].tolist(),
            "final_val_ppl_mean": float(ppl_SxC[:, -1].mean()),
            "final_train_loss": per_act(losses, a)[:, -config.checkpoint_every:].mean(1).tolist(),
            "trend_spearman": [_spearman(tokens_C[-w:], r[-w:]) for r in ratio_SxC],
            "trend_spearman_mean_curve": _spearman(tokens_C[-w:], ratio_SxC.mean(0)[-w:]),
        }
    results["ratio_relu_over_silu"] = (results["relu"]["final_ratio_mean"]
                                       / results["silu"]["final_ratio_mean"])
    results["ppl_gap"] = abs(results["relu"]["final_val_ppl_mean"]
                             / results["silu"]["final_val_ppl_mean"] - 1.0)
    results["trend_window"] = int(w)
    results["p"] = float(config.p)
    results["plot"] = _plot(workdir, results)
    _write_metrics(workdir, results)
    return results


def _write_metrics(workdir, results) -> None:
    with open(workdir / "metrics.jsonl", "w") as f:
        for c, (step, tokens) in enumerate(zip(results["steps"], results["tokens"])):
            row = {"step": step, "tokens": tokens}
            for act in ACTIVATIONS:
                for key in ("activation_ratio", "cett", "ppl_ratio", "val_ppl"):
                    row[f"{act}/{key}"] = [v[c] for v in results[act][key]]
            f.write(json.dumps(row) + "\n")


def _plot(workdir, results) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    tokens = np.asarray(results["tokens"]) / 1e6
    for act, color in zip(ACTIVATIONS, ("C0", "C3")):
        ratio = np.asarray(results[act]["activation_ratio"])
        ppl = np.asarray(results[act]["val_ppl"])
        for s in range(ratio.shape[0]):
            axes[0].plot(tokens, ratio[s], color=color, linewidth=0.6, alpha=0.4)
            axes[1].plot(tokens, ppl[s], color=color, linewidth=0.6, alpha=0.4)
        axes[0].plot(tokens, ratio.mean(0), color=color, linewidth=2, marker="o",
                     label=f"{act} (mean of seeds)")
        axes[1].plot(tokens, ppl.mean(0), color=color, linewidth=2, label=act)
        lo, hi = min(PAPER_A0[act]), max(PAPER_A0[act])
        axes[0].axhspan(lo, hi, color=color, alpha=0.15, label=f"paper A_0 {act}")
    axes[0].set_ylabel(f"PPL-{results['p']:g}% activation ratio")
    axes[0].set_ylim(0, 1)
    axes[1].set_ylabel("validation PPL (per char)")
    for ax in axes:
        ax.set_xlabel("training tokens (millions of characters)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(workdir / "sparsing_law_ratio.png", dpi=100)
    plt.close(fig)
    return "sparsing_law_ratio.png"


def claim(results: dict) -> Claim:
    relu, silu = results["relu"], results["silu"]
    ratio_ok = relu["final_ratio_mean"] <= MAX_RATIO * silu["final_ratio_mean"]
    ppl_ok = results["ppl_gap"] <= MAX_PPL_GAP
    rho_relu, rho_silu = relu["trend_spearman_mean_curve"], silu["trend_spearman_mean_curve"]
    trend_ok = rho_relu < 0 < rho_silu
    w = results["trend_window"]
    text = (f"final PPL-{results['p']:g}% activation ratio ReLU {relu['final_ratio_mean']:.3f} "
            f"(seeds {', '.join(f'{v:.3f}' for v in relu['final_ratio'])}) vs SiLU "
            f"{silu['final_ratio_mean']:.3f} (seeds "
            f"{', '.join(f'{v:.3f}' for v in silu['final_ratio'])}): ratio "
            f"{results['ratio_relu_over_silu']:.2f} (need <= {MAX_RATIO}) "
            f"[{'ok' if ratio_ok else 'FAIL'}]; validation PPL ReLU "
            f"{relu['final_val_ppl_mean']:.3f} vs SiLU {silu['final_val_ppl_mean']:.3f}, gap "
            f"{100 * results['ppl_gap']:.1f}% (need <= {100 * MAX_PPL_GAP:.0f}%) "
            f"[{'ok' if ppl_ok else 'FAIL'}]; trend over the last {w} checkpoints, "
            f"Spearman(tokens, ratio) of the seed-mean curve ReLU {rho_relu:+.2f} (need < 0), "
            f"SiLU {rho_silu:+.2f} (need > 0), per seed ReLU "
            f"{', '.join(f'{v:+.2f}' for v in relu['trend_spearman'])}, SiLU "
            f"{', '.join(f'{v:+.2f}' for v in silu['trend_spearman'])} "
            f"[{'ok' if trend_ok else 'FAIL'}]; paper A_0 ReLU {min(PAPER_A0['relu'])}-"
            f"{max(PAPER_A0['relu'])} vs SiLU {min(PAPER_A0['silu'])}-{max(PAPER_A0['silu'])}")
    return Claim(
        passed=bool(ratio_ok and ppl_ok and trend_ok), text=text, paper=PAPER_TEXT,
        ours=(f"activation ratio ReLU {plots.mean_std(relu['final_ratio'], digits=3)} vs SiLU "
              f"{plots.mean_std(silu['final_ratio'], digits=3)}"),
        plot=results["plot"])
