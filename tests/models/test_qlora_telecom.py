"""TSLAM-Mini / QLoRA: the digital twin's Q/A, exact match, QLoRA with B = 0, the experiment."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import qlora_telecom as experiment
from jaxnets import experiment as experiment_lib
from jaxnets.data import telecom_twin as tt
from jaxnets.data.text_corpus import VOCAB_SIZE, decode, encode
from jaxnets.nn import lora
from jaxnets.nn import quantize as qz
from jaxnets.nn.char_lm import CharLM


def test_alarm_rule_by_hand():
    assert tt.alarm_name(-115, 5, 95, True) == "CELL_DOWN"
    assert tt.alarm_name(-115, -3, 95, False) == "HIGH_LOAD"     # priority over the others
    assert tt.alarm_name(-115, -3, 89, False) == "LOW_SINR"
    assert tt.alarm_name(-115, 0, 89, False) == "WEAK_COVERAGE"
    assert tt.alarm_name(-110, 0, 89, False) == "NONE"


def test_hand_built_twin_renders_answers_of_its_state():
    shape = (1, 24, 3)
    twin = tt.TelecomTwin(rsrp=np.full(shape, -100, np.int32), sinr=np.full(shape, 10, np.int32),
                          prb=np.full(shape, 50, np.int32), dl=np.full(shape, 40, np.int32),
                          down=np.zeros(shape, bool))
    twin.prb[0, :, 1] = 93                    # Cell-02 is the busiest at every hour ...
    twin.prb[0, :, 2] = np.arange(24)         # ... Cell-03's load grows through the day
    twin.sinr[0, :, 0] = -4                   # Cell-01 has the worst SINR
    rng = np.random.default_rng(0)
    days = np.array([0])
    prompt, answer = tt.render_question(twin, "busiest", rng, days)
    assert answer == "Cell-02" and "Cell-02 93%" in prompt
    assert tt.render_question(twin, "worst_sinr", rng, days)[1] == "Cell-01"
    prompt, answer = tt.render_question(twin, "peak_hour", rng, days)
    if prompt.startswith("Cell-03"):          # rising PRB: the last of the 4 listed hours
        assert answer == re.findall(r"(\d\d:00) \d+%", prompt)[-1]
    for _ in range(6):
        prompt, answer = tt.render_question(twin, "alarm", rng, days)
        cell = int(prompt[5:7]) - 1
        assert answer == {0: "LOW_SINR", 1: "HIGH_LOAD", 2: "NONE"}[cell], prompt
        prompt, answer = tt.render_question(twin, "congested", rng, days)
        assert answer == ("YES" if prompt.startswith("Cell-02") else "NO"), prompt
    with pytest.raises(ValueError, match="unknown template"):
        tt.render_question(twin, "weather", rng, days)


def _answer_from_prompt(template, prompt):
    """Recomputes the answer from the prompt's text alone (independent of the renderer)."""
    if template in ("alarm", "congested", "throughput"):
        if "n/a" in prompt:
            return {"alarm": "CELL_DOWN", "congested": "NO", "throughput": "0 Mbps"}[template]
        rsrp, sinr, prb, dl = map(int, re.search(
            r"RSRP (-?\d+) dBm SINR (-?\d+) dB PRB (\d+)% DL (\d+) Mbps", prompt).groups())
        return {"alarm": tt.alarm_name(rsrp, sinr, prb, False),
                "congested": "YES" if prb >= 80 else "NO", "throughput": f"{dl} Mbps"}[template]
    if template == "peak_hour":
        pairs = re.findall(r"(\d\d:00) (\d+)%", prompt)
        return max(pairs, key=lambda p: int(p[1]))[0]
    pairs = re.findall(r"(Cell-\d\d) (-?\d+)", prompt)
    pick = max if template == "busiest" else min
    return pick(pairs, key=lambda p: int(p[1]))[0]


def test_simulated_instructions_are_consistent_and_encoded():
    qa = tt.telecom_qa(60, 12, seed=3)
    assert len(qa["train"]) == 60 and len(qa["test"]) == 12
    for template, prompt, answer in qa["train"] + qa["test"]:
        assert answer == _answer_from_prompt(template, prompt), (template, prompt, answer)
    tokens, mask, kinds = tt.encode_qa(qa["test"], 96)
    for i, (template, prompt, answer) in enumerate(qa["test"]):
        assert decode(tokens[i][mask[i]]) == answer + tt.EOS
        assert decode(tokens[i, :len(prompt)]) == prompt and tt.TEMPLATES[kinds[i]] == template
    with pytest.raises(ValueError, match="seq_len"):
        tt.encode_qa(qa["test"], 20)


def _tiny_lm():
    model = CharLM(vocab_size=VOCAB_SIZE, max_len=24, d_model=16, num_heads=2, num_layers=1,
                   d_ff=32)
    return model, jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 24), jnp.int32))


def test_teacher_forced_exact_match_equals_greedy_decoding():
    model, params = _tiny_lm()
    apply = jax.jit(model.apply)
    prompts = ["RSRP -99 A: ", "Q: Alarm? A: "]
    greedy = experiment.greedy_decode(model, params, prompts, max_new=5, apply=apply)
    rows, masks = np.zeros((4, 24), np.int32), np.zeros((4, 24), bool)
    for i, (prompt, answer) in enumerate(zip(prompts, greedy)):
        for j, ans in enumerate((answer, answer[:-1] + chr(ord(answer[-1]) ^ 1))):
            text = encode(prompt + ans)
            rows[2 * i + j, :len(text)] = text
            masks[2 * i + j, len(prompt):len(text)] = True
    rows, masks = jnp.asarray(rows), jnp.asarray(masks)
    em = experiment.exact_match(apply(params, rows), rows, masks)
    assert em.tolist() == [True, False, True, False]     # the greedy answer, then one char off
    # answer_nll is the masked mean of -log p(next char) (numpy reference).
    logits = np.asarray(apply(params, rows), np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    m = np.asarray(masks)[:, 1:]
    nll = -np.take_along_axis(logp[:, :-1], np.asarray(rows)[:, 1:, None], -1)[..., 0]
    np.testing.assert_allclose(experiment.answer_nll(jnp.asarray(logits, jnp.float32), rows,
                                                     masks), (nll * m).sum() / m.sum(), rtol=1e-5)


def test_qlora_with_zero_b_is_the_quantised_base_and_trains_only_adapters():
    model, params = _tiny_lm()
    target = experiment.block_linear_target()
    storage = qz.quantize_params(params, target)
    tokens = jnp.asarray(encode("Cell-07 PRB 93% A: HIGH_")[None])
    adapters = lora.init_lora(jax.random.PRNGKey(1), params, 2, target)
    assert "params/head/kernel" not in adapters and len(adapters) == 7

    def logits(storage, ad):
        base = jax.lax.stop_gradient(qz.dequantize_params(storage))
        return model.apply(lora.merge_lora(base, ad, 4.0), tokens)

    base_logits = jax.jit(lambda s: model.apply(qz.dequantize_params(s), tokens))(storage)
    np.testing.assert_allclose(jax.jit(logits)(storage, adapters), base_logits, rtol=1e-6,
                               atol=1e-6)
    grads = jax.jit(jax.grad(lambda ad: jnp.sum(logits(storage, ad) ** 2)))(adapters)
    assert float(jnp.abs(grads["params/block_0/ffn/w_down"]["b"]).sum()) > 0


def test_quick_experiment_runs(tmp_path):
    config = experiment_lib.build_config(experiment, [
        "gauss_size=4096", "d_model=16", "d_ff=32", "pretrain_sequences=8", "heldout_sequences=2",
        "pretrain_steps=2", "pretrain_batch=4", "num_train=12", "num_test=6", "steps=2",
        "batch_size=4"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    quant = results["quantization"]
    assert quant["mse_nf4"] < quant["mse_fp4"] and quant["mse_nf4"] < quant["mse_int4"]
    assert all(quant[f"zeros_exact_{k}"] and quant[f"idempotent_codes_{k}"]
               for k in ("nf4", "nf4_dq", "fp4", "int4_dq"))
    assert len(results["qlora_nf4_exact_match"]) == len(results["lora16_exact_match"]) == 2
    assert 0.0 < results["trainable_fraction"] < 1.0
    assert len(results["examples"]) == len(tt.TEMPLATES)
    assert isinstance(claim.passed, bool) and "QLoRA" in claim.text
    assert (tmp_path / results["plot"]).exists() and (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text
