"""Sparsing Law (Luo et al., ICML 2025): CETT, the threshold searches, PPL-p% and the experiment."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import sparsing_law as sparsing_experiment
from jaxnets import experiment as experiment_lib
from jaxnets.data.char_corpus import VOCAB_SIZE, char_corpus
from jaxnets.explain.activation_sparsity import (activation_ratio, cett, cett_threshold,
                                                 char_lm_probe, ppl_p_sparsity)
from jaxnets.nn.char_lm import CharLM, next_token_nll


def _layer(seed=0, n=40, f=24, d=8, relu=True):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, f)).astype(np.float32)
    if relu:
        h = np.maximum(h, 0.0) * rng.normal(size=(n, f)).astype(np.float32)
    return h, rng.normal(size=(f, d)).astype(np.float32)


def _numpy_cett(h, w, t):
    """Eq. 3 by an explicit loop over tokens, in float64."""
    h, w = h.astype(np.float64), w.astype(np.float64)
    norms = np.linalg.norm(w, axis=1)
    out = []
    for row in h:
        tail = sum(row[i] * w[i] for i in range(len(row)) if abs(row[i]) * norms[i] <= t)
        out.append(np.linalg.norm(tail + 0 * w[0]) / np.linalg.norm(row @ w))
    return float(np.mean(out))


def test_cett_endpoints_and_reference():
    h, w = _layer()
    assert float(cett(h, w, 0.0)) == 0.0          # only exact zeros are in the tail
    assert float(cett(h, w, jnp.inf)) == 1.0      # the tail is the whole output
    for t in (0.3, 1.0, 2.5):
        assert float(cett(h, w, t)) == pytest.approx(_numpy_cett(h, w, t), rel=1e-5)
    with pytest.raises(ValueError, match="matching F"):
        cett(h, w.T, 0.1)


def test_threshold_search_is_monotone_and_respects_the_target():
    h, w = _layer(1, relu=False)
    targets = jnp.linspace(0.0, 1.0, 21)
    t = jax.jit(jax.vmap(lambda c: cett_threshold(h, w, c, num_candidates=256)))(targets)
    assert bool(jnp.all(jnp.isfinite(t)))
    assert bool(jnp.all(jnp.diff(t) >= 0)), t            # monotone in the target
    got = np.asarray([_numpy_cett(h, w, float(x)) for x in t])
    assert np.all(got <= np.asarray(targets) + 1e-6)
    assert float(t[0]) == 0.0 and float(t[-1]) > 0.0     # c = 0 keeps the dense layer
    assert float(activation_ratio(h, w, t[-1])) < float(activation_ratio(h, w, t[5])) <= 1.0


def test_ppl_p_search_on_a_char_lm():
    model = CharLM(vocab_size=VOCAB_SIZE, max_len=16, d_model=16, num_heads=2, num_layers=2,
                   d_ff=32, activation="relu")
    tokens = jnp.asarray(char_corpus(8, 16, seed=3))
    params = model.init(jax.random.PRNGKey(0), tokens)
    fn, w_down = char_lm_probe(model, params, tokens)
    nll0, h = fn(jnp.zeros(2))                    # t = 0: the dense model, PPL ratio exactly 1
    assert float(nll0) == float(next_token_nll(model.apply(params, tokens), tokens))
    assert h.shape == (2, 8 * 16, 32) and w_down.shape == (2, 32, 16)
    search = jax.jit(jax.vmap(lambda p: ppl_p_sparsity(fn, w_down, p, num_candidates=128)))
    res = search(jnp.asarray([1.0, 3.0, 50.0]))
    assert bool(jnp.all(jnp.diff(res.cett) >= 0))                 # monotone, and it terminated
    assert bool(jnp.all(jnp.diff(res.activation_ratio) <= 0))
    assert 0 < float(res.cett[0]) < float(res.cett[1]) < 1
    np.testing.assert_allclose(res.ppl_ratio[:2], [1.01, 1.03], atol=0.006)
    # Thresholds stop at the 99th percentile of r, so +50 % is out of reach: c saturates at 1.
    assert float(res.cett[2]) > 0.99 and float(res.ppl_ratio[2]) < 1.5
    np.testing.assert_allclose(res.activation_ratio, res.activation_ratio_L.mean(-1))
    with pytest.raises(ValueError, match="p must be > 0"):
        ppl_p_sparsity(fn, w_down, 0.0)


def test_quick_sparsing_law_runs_end_to_end(tmp_path):
    config = experiment_lib.build_config(sparsing_experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(sparsing_experiment, config, tmp_path / "run")
    num_ckpts = config.steps // config.checkpoint_every
    for act in ("relu", "silu"):
        ratio = np.asarray(results[act]["activation_ratio"])
        assert ratio.shape == (len(config.seeds), num_ckpts)
        assert np.all((ratio > 0) & (ratio <= 1))
        # 64 evaluation characters: PPL moves in jumps, so only roughly at the 1 % target.
        assert np.all(np.abs(np.asarray(results[act]["ppl_ratio"]) - 1.01) < 0.03)
    assert (tmp_path / "run" / "sparsing_law_ratio.png").exists()
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == num_ckpts
    assert "0.061" in claim.text and isinstance(claim.passed, bool)
    assert results["corpus"] == "stdlib" and len(results["corpus_sha256"]) == 64
    with pytest.raises(ValueError, match="corpus must be one of"):
        sparsing_experiment.run(experiment_lib.build_config(
            sparsing_experiment, ["corpus=wiki"], quick=True), tmp_path / "bad")
    with pytest.raises(ValueError, match="multiple of checkpoint_every"):
        sparsing_experiment.run(experiment_lib.build_config(
            sparsing_experiment, ["steps=45"], quick=True), tmp_path / "bad")


@pytest.mark.slow
def test_sparsing_law_claim(tmp_path):
    config = experiment_lib.build_config(sparsing_experiment, [])
    results, claim = experiment_lib.run_experiment(sparsing_experiment, config, tmp_path / "run")
    assert len(results["seeds"]) == 2
    assert claim.passed, claim.text
