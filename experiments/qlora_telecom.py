"""TSLAM-Mini (NetoAI): QLoRA fine-tuning on digital-twin telecom data, at CPU scale.

TSLAM-Mini fine-tunes Phi-4-mini-instruct (3.8 B parameters) with QLoRA (Dettmers et al.,
NeurIPS 2023) on 100 k DigiTwin-generated telecom instructions and reports LLM-judge scores. The
algorithmic core reproduced here is QLoRA itself (`jaxnets.nn.quantize`, `jaxnets.nn.lora`):

(a) Quantisation on Gaussian weights (QLoRA Sec. 3): blockwise (64) absmax round-trip MSE of the
    NF4, FP4 (E2M1) and INT4 codebooks, with and without double quantisation; exact zeros and
    idempotence; storage bits per parameter measured on the packed arrays against
    4 + 8/64 + 32/(64 * 256) ≈ 4.127 (DQ) and 4.5 (no DQ).
(b) QLoRA vs 16-bit LoRA (research notes sec. 12): a 2-layer character transformer
    (`jaxnets.nn.CharLM`, d 128) pre-trained on generic English (standard-library docstrings,
    `jaxnets.data.text_corpus`) is the base model. It is adapted on templated Q/A from a simulated
    RAN (`jaxnets.data.telecom_twin`: 2 000 train / 200 test pairs from disjoint days) with
    LoRA adapters (rank r, every linear layer of the blocks; QLoRA Sec. 4) on a frozen base held
      * in bfloat16 ("16-bit LoRA"), or
      * in NF4 with double quantisation (QLoRA), dequantised inside every training step, the
        4-bit codes a non-differentiated argument;
    the token embedding, positions, LayerNorms and output head stay 16-bit and frozen in both
    (QLoRA keeps `lm_head` out of the 4-bit and LoRA layers). The loss is the next-character NLL
    of the answer and its terminator only (QLoRA's default `train_on_source=False`). All seeds
    (adapter init and data order) of one condition train in one jitted, vmapped `lax.scan`.
    Exact match: the greedy answer equals the reference string; computed with one
    teacher-forced forward pass (greedy decoding reproduces the reference iff every
    teacher-forced argmax on the answer and terminator does; `greedy_decode` is the explicit
    loop, checked against it in the tests).
Claim (3 seeds): NF4 MSE < FP4 and < INT4; DQ storage ≈ 4.127 bits/param; mean QLoRA exact
match within 2 points of 16-bit LoRA and >= base + 20 points; trainable parameters < 5 %.

Deviations: QLoRA's LoRA dropout (0.1) acts on activations and is absent in the weight-space
LoRA of `jaxnets.nn.lora`; r = 4 instead of 64 so that adapters stay < 5 % of a 0.5 M-parameter
model (r = 64 would be 67 %); a larger constant learning rate than QLoRA's 2e-4 (tiny model,
minutes of training); the second quantisation uses E4M3 8-bit floats (the paper's "8-bit
Floats") rather than bitsandbytes' dynamic map; compute in float32 on CPU (bf16 storage).

Outcome of the default run (2026-12-02, 33 min on a heavily shared 2-core CPU): PASS, but the
QLoRA-vs-LoRA part only at its floor. (a) Round-trip MSE on 2^20 N(0, 1) weights: NF4 0.00834,
FP4 0.01103, INT4 0.01139 (with DQ 0.00836 / 0.01105 / 0.01141); storage measured on the packed
arrays 4.1270 bits/param with DQ (formula 4.1270) vs 4.500; zeros exact, codes idempotent.
The pre-trained base's held-out bits/char: fp32 2.748, bf16 2.748, NF4+DQ 2.776, INT4+DQ 2.779,
FP4+DQ 2.785 (NF4 is also the best 4-bit storage of a trained model). (b) Test exact match
(200 questions): base 0.0 % (bf16 and NF4), 16-bit LoRA 48.2 % (50.0, 52.0, 42.5), QLoRA
46.2 % (46.5, 51.5, 40.5): gap -2.0 points, exactly at the 2-point limit, with QLoRA lower in all
3 seeds (-3.5, -0.5, -2.0) while its training answer NLL is no worse (0.22-0.28 vs 0.22-0.30
nats/char); the seed spread (4 points) exceeds the gap, so read it as "matches within seed
noise", not as a margin. Trainable 23 552 of 563 295 parameters (4.18 %). Per template
(LoRA / QLoRA): alarm 79 / 73, congested 76 / 75, throughput 23 / 34, busiest 41 / 37,
worst SINR 36 / 27, peak hour 30 / 29: rules are learned, copying and 3-way comparisons only
partly in 400 rank-4 steps, so both stay far from 100 % (more steps were not affordable here).

What needs large pretrained models and is NOT reproduced: TSLAM's own claim — a 3.8 B instruct
model gaining telecom competence (LLM-judge scores) from 100 k DigiTwin samples — needs
Phi-4-mini weights, NetoAI's data and an LLM judge, none available offline. Also beyond this
scale: QLoRA's finding that NF4 + DQ matches 16-bit quality on 7-65 B models (MMLU, Vicuna),
where outlier features and the memory savings (a 65 B model on one 48 GB GPU) matter. What is
reproduced is the mechanism: the quantiser's properties exactly, and that adapting a frozen NF4
base with LoRA recovers 16-bit LoRA's task accuracy on a small model.
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
from jaxnets.data import telecom_twin as twin_lib
from jaxnets.data.text_corpus import VOCAB_SIZE, decode, encode, text_corpus
from jaxnets.experiment import Claim, Paper
from jaxnets.nn import lora
from jaxnets.nn import quantize as qz
from jaxnets.nn.char_lm import CharLM, bits_per_char
from jaxnets.train import batch_indices
from jaxnets.train.lm import pretrain_lm

PAPER = Paper(
    title="TSLAM-Mini: Efficient Telecom Specific LLM with QLoRA and Digital Twin Data "
          "(method: QLoRA, Dettmers et al., NeurIPS 2023)",
    authors="NetoAI; Dettmers, Pagnoni, Holtzman & Zettlemoyer",
    venue="NetoAI model card (TSLAM-Mini); NeurIPS 2023 (QLoRA)",
)
DESCRIPTION = "TSLAM-Mini / QLoRA: NF4+DQ quantiser, LoRA on a frozen 4-bit char LM, telecom Q/A"
PAPER_TEXT = ("QLoRA: NF4 beats FP4/Int4 (Table 2), DQ ≈ 4.127 bits/param, NF4+DQ QLoRA matches "
              "16-bit LoRA / full fine-tuning; TSLAM-Mini: LLM-judge scores only (n/r)")
DQ_BITS = 4 + 8 / 64 + 32 / (64 * 256)      # QLoRA Sec. 3: 4.127 bits/param
MAX_GAP = 2.0                               # points: QLoRA within 2 of 16-bit LoRA
MIN_GAIN = 20.0                             # points over the base model
MAX_TRAINABLE = 0.05
CODEBOOKS = {"nf4": qz.nf4_codebook, "fp4": qz.fp4_codebook, "int4": qz.int4_codebook}
CONDITIONS = ("lora16", "qlora_nf4")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        gauss_size=1 << 20, gauss_seed=0, block_size=64, dq_block_size=256,
        seq_len=96, d_model=128, num_heads=4, num_layers=2, d_ff=512,
        pretrain_sequences=6000, heldout_sequences=128, base_seed=0,
        pretrain_steps=400, pretrain_batch=32, pretrain_lr=3e-3,
        num_train=2000, num_test=200, twin_seed=0,
        seeds=(0, 1, 2), rank=4, alpha=8.0,
        steps=400, batch_size=16, lr=3e-3, grad_clip=0.3,    # QLoRA: batch 16, clip 0.3, const lr
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "gauss_size=16384", "d_model=32", "num_heads=2", "num_layers=1", "d_ff=64",
        "pretrain_sequences=64", "heldout_sequences=8", "pretrain_steps=10",
        "pretrain_batch=8", "num_train=48", "num_test=24", "seeds=(0, 1)", "steps=10",
        "batch_size=8"])


def _check(config) -> None:
    if not config.seeds:
        raise ValueError("seeds must not be empty")
    if config.rank < 1 or config.steps < 1 or config.pretrain_steps < 1:
        raise ValueError("rank, steps and pretrain_steps must be >= 1")


def block_linear_target() -> lora.Target:
    """QLoRA's layers: every linear map of the transformer blocks (attention q/k/v/out and the
    gated FFN); embeddings, positions, LayerNorms and the LM head stay 16-bit and frozen."""
    return lora.path_target(r"block_\d+/attn/(query|key|value|out)/kernel$",
                            r"block_\d+/ffn/w_(gate|up|down)$")


# ----------------------------------------------------------------------------- part (a)

def quantization_table(config) -> dict:
    """Round-trip MSE of each codebook on N(0, 1) weights, storage bits, identities."""

    @jax.jit
    def measure(w):
        zeros = w == 0
        out = {}
        for name, book in CODEBOOKS.items():
            for dq in (False, True):
                q = qz.quantize(w, book(), config.block_size, dq, config.dq_block_size)
                w_hat = qz.dequantize(q)
                q2 = qz.quantize(w_hat, book(), config.block_size, dq, config.dq_block_size)
                key = f"{name}{'_dq' if dq else ''}"
                out[key] = (jnp.mean((w_hat - w) ** 2), jnp.all(jnp.where(zeros, w_hat, 0) == 0),
                            jnp.all(q2.packed == q.packed), q)
        return out

    w = jax.random.normal(jax.random.PRNGKey(config.gauss_seed), (config.gauss_size,))
    w = w.at[::97].set(0.0)                       # exact zeros must round-trip exactly
    out: dict = {}
    for key, (mse, zeros_ok, idempotent, q) in measure(w).items():
        out[f"mse_{key}"] = float(mse)
        out[f"bits_{key}"] = qz.storage_bits(q) / w.size
        out[f"zeros_exact_{key}"] = bool(zeros_ok)
        out[f"idempotent_codes_{key}"] = bool(idempotent)
    out["bits_formula_dq"] = qz.bits_per_param(config.block_size, True, config.dq_block_size)
    out["bits_formula_no_dq"] = qz.bits_per_param(config.block_size, False)
    return out


# ----------------------------------------------------------------------------- part (b)

def _model(config) -> CharLM:
    return CharLM(vocab_size=VOCAB_SIZE, max_len=config.seq_len, d_model=config.d_model,
                  num_heads=config.num_heads, num_layers=config.num_layers, d_ff=config.d_ff)


def _pretrain(config, model, train_NxT):
    """The generic base model: AdamW + warm-up cosine on docstring text, one jitted scan."""
    return pretrain_lm(model, train_NxT, key=jax.random.PRNGKey(config.base_seed),
                       steps=config.pretrain_steps, batch_size=config.pretrain_batch,
                       learning_rate=config.pretrain_lr)


def _storages_and_bpc(config, model, base, held_NxT):
    """One jitted call: the bf16 storage, the NF4 + DQ storage of the block linear layers, and
    the base LM's held-out bits/char in fp32, bf16 and after NF4 / FP4 / INT4 (+ DQ) storage."""
    target = block_linear_target()

    @jax.jit
    def build(base):
        bf16 = jax.tree.map(lambda x: x.astype(jnp.bfloat16), base)
        bpc = {"fp32": bits_per_char(model.apply(base, held_NxT), held_NxT),
               "bf16": bits_per_char(model.apply(jax.tree.map(
                   lambda x: x.astype(jnp.float32), bf16), held_NxT), held_NxT)}
        stores = {}
        for name, book in CODEBOOKS.items():
            stores[name] = qz.quantize_params(bf16, target, codebook=book(),
                                              block_size=config.block_size, double_quant=True,
                                              dq_block_size=config.dq_block_size)
            bpc[f"{name}_dq"] = bits_per_char(
                model.apply(qz.dequantize_params(stores[name]), held_NxT), held_NxT)
        return bf16, stores["nf4"], bpc

    bf16, nf4, bpc = build(base)
    return bf16, nf4, {k: float(v) for k, v in bpc.items()}


def answer_nll(logits_BxTxV: jax.Array, tokens_BxT: jax.Array, mask_BxT: jax.Array) -> jax.Array:
    """Mean NLL of the answer characters (mask[:, t] True) given everything before them."""
    logp = jax.nn.log_softmax(logits_BxTxV[:, :-1].astype(jnp.float32))
    nll = -jnp.take_along_axis(logp, tokens_BxT[:, 1:, None], axis=-1)[..., 0]
    m = mask_BxT[:, 1:].astype(jnp.float32)
    return jnp.sum(nll * m) / jnp.maximum(jnp.sum(m), 1.0)


def exact_match(logits_BxTxV: jax.Array, tokens_BxT: jax.Array, mask_BxT: jax.Array
                ) -> jax.Array:
    """[B] bool: greedy decoding would produce exactly the answer and its terminator.

    Greedy decoding follows the reference as long as each argmax equals the next reference
    character, so it reproduces the whole answer iff every teacher-forced argmax does.
    """
    pred = jnp.argmax(logits_BxTxV[:, :-1], axis=-1)
    ok = (pred == tokens_BxT[:, 1:]) | ~mask_BxT[:, 1:]
    return jnp.all(ok, axis=1)


def greedy_decode(model: CharLM, params, prompts: list[str], max_new: int = 16,
                  apply=None) -> list[str]:
    """The explicit greedy answers to prompts (each stops at `telecom_twin.EOS`).

    One compiled forward of a fixed [1, max_len] buffer (causal, so what lies after the current
    position does not matter); `apply` may pass an already jitted `model.apply`.
    """
    apply = apply or jax.jit(model.apply)
    eos = int(encode(twin_lib.EOS)[0])
    answers = []
    for prompt in prompts:
        ids = list(encode(prompt))
        start = len(ids)
        while len(ids) < min(model.max_len, start + max_new):
            buf = np.zeros((1, model.max_len), np.int32)
            buf[0, :len(ids)] = ids
            ids.append(int(jnp.argmax(apply(params, jnp.asarray(buf))[0, len(ids) - 1])))
            if ids[-1] == eos:
                break
        answers.append(decode(np.asarray(ids[start:])))
    return answers


def _make_adapt(config, model, to_float, train_NxT, mask_NxT, template_params):
    """Jitted: (frozen base storage, seed keys [S]) -> (adapters [S, ...], loss curves [S, steps]).

    `to_float` turns the frozen storage (bf16 arrays or NF4 `QuantizedTensor`s) into float32
    params inside every step, as QLoRA dequantises on the fly; gradients reach only A and B.
    """
    target = block_linear_target()
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip),
                     optax.adamw(config.lr, weight_decay=0.0))

    def one(storage, key):
        adapters = lora.init_lora(jax.random.fold_in(key, 0), template_params, config.rank,
                                  target)

        def step(carry, t):
            ad, o = carry
            idx = batch_indices(jax.random.fold_in(key, 1), t, len(train_NxT),
                                config.batch_size)
            x, m = train_NxT[idx], mask_NxT[idx]

            def loss_fn(a):
                base = jax.lax.stop_gradient(to_float(storage))
                return answer_nll(model.apply(lora.merge_lora(base, a, config.alpha), x), x, m)

            loss, g = jax.value_and_grad(loss_fn)(ad)
            u, o = tx.update(g, o, ad)
            return (optax.apply_updates(ad, u), o), loss

        (adapters, _), losses = jax.lax.scan(step, (adapters, tx.init(adapters)),
                                             jnp.arange(config.steps))
        return adapters, losses

    return jax.jit(jax.vmap(one, in_axes=(None, 0)))


def _make_eval(config, model, test_NxT, mask_NxT):
    """Jitted: (float base params, adapters [S, ...] or None) -> exact match [S, N]."""

    @jax.jit
    def with_adapters(base, adapters_S):
        def one(ad):
            return exact_match(model.apply(lora.merge_lora(base, ad, config.alpha), test_NxT),
                               test_NxT, mask_NxT)
        return jax.vmap(one)(adapters_S)

    @jax.jit
    def plain(base):
        return exact_match(model.apply(base, test_NxT), test_NxT, mask_NxT)

    return with_adapters, plain


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    _check(config)
    workdir = pathlib.Path(workdir)
    results: dict = {"seeds": list(config.seeds), "conditions": list(CONDITIONS)}
    results["quantization"] = quantization_table(config)

    # Data: generic pre-training text and the digital-twin instruction set.
    pre_NxT = jnp.asarray(text_corpus(config.pretrain_sequences, config.seq_len, "train"))
    held_NxT = jnp.asarray(text_corpus(config.heldout_sequences, config.seq_len, "heldout"))
    qa = twin_lib.telecom_qa(config.num_train, config.num_test, config.twin_seed)
    train_NxT, train_mask, _ = map(jnp.asarray, twin_lib.encode_qa(qa["train"], config.seq_len))
    test_NxT, test_mask, kinds = map(jnp.asarray, twin_lib.encode_qa(qa["test"], config.seq_len))
    kinds = np.asarray(kinds)

    # Base model, then its two frozen storages.
    model = _model(config)
    base, pre_losses = _pretrain(config, model, pre_NxT)
    target = block_linear_target()
    bf16, q_store, bpc = _storages_and_bpc(config, model, base, held_NxT)
    results["base_heldout_bpc"] = bpc
    to_f32 = lambda s: jax.tree.map(lambda x: x.astype(jnp.float32), s)
    storages = {"lora16": (bf16, to_f32), "qlora_nf4": (q_store, qz.dequantize_params)}

    adapters_template = lora.init_lora(jax.random.PRNGKey(0), base, config.rank, target)
    results["trainable_params"] = lora.count_params(adapters_template)
    results["base_params"] = lora.count_params(base)
    results["trainable_fraction"] = results["trainable_params"] / results["base_params"]
    q_leaves = [x for x in jax.tree.leaves(q_store, is_leaf=lambda x: isinstance(
        x, qz.QuantizedTensor)) if isinstance(x, qz.QuantizedTensor)]
    results["quantized_params"] = int(sum(x.size for x in q_leaves))
    results["quantized_bits_per_param"] = sum(qz.storage_bits(x) for x in q_leaves) / max(
        1, results["quantized_params"])

    # Adaptation: each condition one jitted vmapped scan over the seeds.
    keys_S = jnp.stack([jax.random.PRNGKey(1000 + s) for s in config.seeds])
    shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), base)
    with_adapters, plain = _make_eval(config, model, test_NxT, test_mask)
    em, curves, adapted = {}, {}, {}
    for cond in CONDITIONS:
        storage, to_float = storages[cond]
        adapt = _make_adapt(config, model, to_float, train_NxT, train_mask, shapes)
        adapted[cond], curves[cond] = adapt(storage, keys_S)
        em[cond] = np.asarray(with_adapters(to_float(storage), adapted[cond]))   # [S, N]
        curves[cond] = np.asarray(curves[cond])
    em["base"] = np.asarray(plain(base))[None]
    em["base_nf4"] = np.asarray(plain(jax.jit(qz.dequantize_params)(q_store)))[None]

    for name, hits in em.items():
        per_seed = 100.0 * hits.mean(1)
        results[f"{name}_exact_match"] = per_seed.tolist()
        results[f"{name}_exact_match_mean"] = float(per_seed.mean())
        results[f"{name}_exact_match_by_template"] = {
            t: float(100.0 * hits[:, kinds == i].mean()) for i, t in enumerate(twin_lib.TEMPLATES)
            if np.any(kinds == i)}
    results["gap_points"] = results["qlora_nf4_exact_match_mean"] - results[
        "lora16_exact_match_mean"]
    results["pretrain_final_nll"] = float(np.asarray(pre_losses)[-20:].mean())
    for cond in CONDITIONS:
        results[f"{cond}_final_train_nll"] = curves[cond][:, -20:].mean(1).tolist()
    # A few explicit greedy answers of the first QLoRA seed, for the reader.
    first = jax.tree.map(lambda x: x[0], adapted["qlora_nf4"])
    merged = jax.jit(lambda s, a: lora.merge_lora(qz.dequantize_params(s), a, config.alpha))(
        q_store, first)
    shown = qa["test"][:len(twin_lib.TEMPLATES)]
    answers = greedy_decode(model, merged, [p for _, p, _ in shown],
                            max(len(a) for _, _, a in shown) + 2)
    results["examples"] = [{"prompt": p, "reference": a, "qlora": g}
                           for (_, p, a), g in zip(shown, answers)]

    _write_metrics(workdir, curves)
    results["plot"] = _plot(workdir, results, curves)
    (workdir / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _write_metrics(workdir, curves) -> None:
    with open(workdir / "metrics.jsonl", "w") as f:
        for t in range(curves[CONDITIONS[0]].shape[1]):
            f.write(json.dumps({"step": t, **{f"{c}/answer_nll": curves[c][:, t].tolist()
                                              for c in CONDITIONS}}) + "\n")


def _plot(workdir, results, curves) -> str:
    quant = results["quantization"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    for i, name in enumerate(CODEBOOKS):
        ax.bar(i - 0.2, quant[f"mse_{name}"], 0.4, color="C0", label="no DQ" if i == 0 else None)
        ax.bar(i + 0.2, quant[f"mse_{name}_dq"], 0.4, color="C1",
               label="double quant" if i == 0 else None)
    ax.set_xticks(range(len(CODEBOOKS)), [n.upper() for n in CODEBOOKS])
    ax.set_ylabel("round-trip MSE, N(0,1) weights, block 64")
    ax.set_title(f"bits/param: {quant['bits_nf4_dq']:.4f} (DQ) vs {quant['bits_nf4']:.3f}")
    ax.legend()
    ax = axes[1]
    names = ["base", "base_nf4", "lora16", "qlora_nf4"]
    for i, name in enumerate(names):
        vals = results[f"{name}_exact_match"]
        ax.bar(i, np.mean(vals), color=f"C{i}", alpha=0.6)
        ax.scatter(np.full(len(vals), i), vals, color="k", s=12, zorder=3)
    ax.set_xticks(range(len(names)), ["base", "base NF4", "16-bit LoRA", "QLoRA (NF4+DQ)"],
                  rotation=15)
    ax.set_ylabel("test exact match (%)")
    ax.set_title(f"trainable {100 * results['trainable_fraction']:.2f}% of params")
    ax = axes[2]
    for i, cond in enumerate(CONDITIONS):
        ax.plot(curves[cond].mean(0), color=f"C{i + 2}", label=cond)
    ax.set_xlabel("adaptation step")
    ax.set_ylabel("answer NLL (nats/char, mean of seeds)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(workdir / "qlora_telecom.png", dpi=100)
    plt.close(fig)
    return "qlora_telecom.png"


def claim(results: dict) -> Claim:
    quant = results["quantization"]
    mse_ok = quant["mse_nf4"] < min(quant["mse_fp4"], quant["mse_int4"]) and \
        quant["mse_nf4_dq"] < min(quant["mse_fp4_dq"], quant["mse_int4_dq"])
    bits_ok = abs(quant["bits_formula_dq"] - DQ_BITS) < 1e-12 and \
        abs(quant["bits_nf4_dq"] - DQ_BITS) < 1e-3
    lora_em, qlora_em = results["lora16_exact_match_mean"], results["qlora_nf4_exact_match_mean"]
    base_em = results["base_exact_match_mean"]
    gap, gain = qlora_em - lora_em, qlora_em - base_em
    paired = np.asarray(results["qlora_nf4_exact_match"]) - np.asarray(
        results["lora16_exact_match"])
    frac = results["trainable_fraction"]
    passed = (mse_ok and bits_ok and abs(gap) <= MAX_GAP and gain >= MIN_GAIN
              and frac < MAX_TRAINABLE)
    text = (f"round-trip MSE on N(0,1), block 64: NF4 {quant['mse_nf4']:.5f} vs FP4 "
            f"{quant['mse_fp4']:.5f}, INT4 {quant['mse_int4']:.5f} (with DQ "
            f"{quant['mse_nf4_dq']:.5f} / {quant['mse_fp4_dq']:.5f} / {quant['mse_int4_dq']:.5f}); "
            f"storage "
            f"{quant['bits_nf4_dq']:.4f} bits/param with DQ (formula {DQ_BITS:.4f}) vs "
            f"{quant['bits_nf4']:.3f}; telecom test exact match: QLoRA {qlora_em:.1f}%, 16-bit "
            f"LoRA {lora_em:.1f}% (gap {gap:+.1f}, need |gap| <= {MAX_GAP}; per seed "
            f"{', '.join(f'{g:+.1f}' for g in paired)}), base {base_em:.1f}% "
            f"(gain {gain:+.1f}, need >= {MIN_GAIN}); trainable {100 * frac:.2f}% of params "
            f"(need < {100 * MAX_TRAINABLE:.0f}%)")
    return Claim(
        passed=bool(passed), text=text, paper=PAPER_TEXT,
        ours=(f"QLoRA EM {plots.mean_std(results['qlora_nf4_exact_match'])} vs 16-bit LoRA "
              f"{plots.mean_std(results['lora16_exact_match'])}, base {base_em:.1f}; NF4 MSE "
              f"{quant['mse_nf4']:.4f} < FP4 {quant['mse_fp4']:.4f}, INT4 {quant['mse_int4']:.4f};"
              f" {quant['bits_nf4_dq']:.3f} bits/param"),
        plot=results["plot"])
