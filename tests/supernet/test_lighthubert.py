"""LightHuBERT pieces (span masking, teacher target, masked L1, corpus) and the experiment:
unit tests against numpy references, a smoke test of the quick config, the full claim as slow."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import lighthubert as experiment
from jaxnets import experiment as experiment_lib
from jaxnets.data import char_corpus as corpus
from jaxnets.models import lighthubert as lhb
from jaxnets.nn.elastic_transformer import ElasticTransformer
from jaxnets.supernet import TransformerSpace, stack_archs
from jaxnets.train import TrainState


def _lexicon():
    from jaxnets.data.char_corpus import (_ADJ, _ADV, _CLAUSE_VERBS, _DET, _NOUN, _PREP, _VERB)
    words = set(_ADJ) | set(_ADV) | set(_PREP) | set(_CLAUSE_VERBS) | {"that"}
    words |= set(_DET["sg"]) | set(_DET["pl"]) | set(_NOUN) | set(_NOUN.values())
    return words | set(_VERB) | set(_VERB.values())


def test_corpus_is_deterministic_in_the_seed_and_uses_the_lexicon():
    a, b = corpus.char_corpus(20, 48, seed=3), corpus.char_corpus(20, 48, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (20, 48) and a.dtype == np.int32
    assert not np.array_equal(a, corpus.char_corpus(20, 48, seed=4))
    assert a.min() >= 0 and a.max() < corpus.MASK_ID          # the mask token never occurs
    text = corpus.generate_text(3000, seed=1)
    sentences = [s.strip() for s in text.split(".") if s.strip()]
    assert len(sentences) > 20 and text.endswith(".")
    lexicon = _lexicon()
    assert {w for s in sentences for w in s.split()} <= lexicon
    assert corpus.decode(corpus.encode(text[:200])) == text[:200]
    with pytest.raises(ValueError, match="not in the alphabet"):
        corpus.encode("Hello!")


def test_corpus_subject_verb_agreement_without_phrases():
    # With no PPs or clauses, "Det Adj* N V ..." : singular nouns take the -s verb form.
    from jaxnets.data.char_corpus import _NOUN, _VERB
    text = corpus.generate_text(4000, seed=2, p_pp=0.0, p_clause=0.0)
    singular_nouns, plural_nouns = set(_NOUN), set(_NOUN.values())
    checked = 0
    for sentence in filter(None, (s.strip() for s in text.split("."))):
        words = sentence.split()
        i = next(j for j, w in enumerate(words) if w in singular_nouns | plural_nouns)
        verb = words[i + 1]
        assert (verb in _VERB) == (words[i] in singular_nouns), sentence
        checked += 1
    assert checked > 50


def test_span_mask_covers_whole_spans_at_the_expected_rate():
    mask = np.asarray(lhb.span_mask(jax.random.PRNGKey(0), (200, 40), 0.3, 3))
    assert mask.shape == (200, 40) and mask.dtype == bool
    num_spans = round(0.3 * 40 / 3)
    for row in mask:
        runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0])))[::2]
        assert runs.min() >= 3 and 3 <= row.sum() <= 3 * num_spans
    assert 0.2 < mask.mean() <= 0.3
    other = np.asarray(lhb.span_mask(jax.random.PRNGKey(1), (200, 40), 0.3, 3))
    assert not np.array_equal(mask, other)
    with pytest.raises(ValueError, match="span"):
        lhb.span_mask(jax.random.PRNGKey(0), (2, 5), 0.3, 6)
    with pytest.raises(ValueError, match="mask_prob"):
        lhb.span_mask(jax.random.PRNGKey(0), (2, 5), 0.0, 2)


def test_corrupt_replaces_exactly_the_masked_positions():
    tokens = jnp.arange(12, dtype=jnp.int32).reshape(2, 6)
    mask = jnp.asarray([[1, 1, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]], bool)
    out = np.asarray(lhb.corrupt(tokens, mask, 99))
    np.testing.assert_array_equal(out, np.where(np.asarray(mask), 99, np.asarray(tokens)))


def test_distillation_target_is_the_mean_of_normalised_top_layers_and_stops_gradient(rng):
    hidden = rng.normal(size=(4, 2, 5, 6)) * rng.uniform(0.5, 3, size=(4, 1, 1, 1)) + 2.0
    got = np.asarray(lhb.distillation_target(jnp.asarray(hidden, jnp.float32), 2))
    top = hidden[2:]
    normed = (top - top.mean(-1, keepdims=True)) / np.sqrt(top.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(got, normed.mean(0), atol=1e-5)
    grad = jax.grad(lambda h: jnp.sum(lhb.distillation_target(h, 2) ** 2))(
        jnp.asarray(hidden, jnp.float32))
    assert not np.asarray(grad).any()
    with pytest.raises(ValueError, match="top_layers"):
        lhb.distillation_target(jnp.asarray(hidden), 5)


def test_masked_l1_reads_masked_positions_only(rng):
    pred, target = rng.normal(size=(2, 7, 3)), rng.normal(size=(2, 7, 3))
    mask = rng.random((2, 7)) < 0.4
    mask[0, 0] = True
    expected = np.abs(pred - target).mean(-1)[mask].mean()
    got = lhb.masked_l1(jnp.asarray(pred), jnp.asarray(target), jnp.asarray(mask))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    pred2 = np.where(mask[..., None], pred, 100.0)      # unmasked positions don't count
    np.testing.assert_allclose(float(lhb.masked_l1(jnp.asarray(pred2), jnp.asarray(target),
                                                   jnp.asarray(mask))), expected, rtol=1e-5)
    g_target = jax.grad(lambda t: lhb.masked_l1(jnp.asarray(pred), t, jnp.asarray(mask)))(
        jnp.asarray(target))
    assert not np.asarray(g_target).any()


def test_masked_cross_entropy_matches_numpy(rng):
    logits, tokens = rng.normal(size=(2, 5, 4)), rng.integers(0, 4, (2, 5))
    mask = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 1, 1]], bool)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.take_along_axis(logp, tokens[..., None], -1)[..., 0][mask].mean()
    got = lhb.masked_cross_entropy(jnp.asarray(logits), jnp.asarray(tokens), jnp.asarray(mask))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def _tiny_transformer(out=5):
    return ElasticTransformer(embed_dim=8, num_heads=(2, 2, 2), ffn_hidden=(16, 16, 16),
                              head_dim=4, out_features=out, max_len=6)


def test_hidden_states_last_layer_feeds_the_head_and_teacher_targets_pad_correctly(rng):
    model = _tiny_transformer()
    tokens = jnp.asarray(rng.integers(0, corpus.VOCAB_SIZE, (5, 6)), jnp.int32)
    x = lhb.encode_inputs(tokens, corpus.VOCAB_SIZE)
    assert x.shape == (5, 6, corpus.VOCAB_SIZE + 6)
    variables = model.init(jax.random.PRNGKey(0), x)
    hidden = lhb.hidden_states(model, variables, x)
    assert hidden.shape == (3, 5, 6, 8)
    head = variables["params"]["head"]
    last = np.asarray(hidden[-1]) @ np.asarray(head["kernel"]) + np.asarray(head["bias"])
    np.testing.assert_allclose(last,
                               np.asarray(model.apply(variables, x)), atol=1e-5)
    assert not np.allclose(hidden[0], hidden[1])
    # chunked precomputation (5 rows, chunks of 2: one padded row) equals the direct target
    targets = lhb.teacher_targets(model, variables, tokens, 2, corpus.VOCAB_SIZE, chunk=2)
    np.testing.assert_allclose(np.asarray(targets),
                               np.asarray(lhb.distillation_target(hidden, 2)), atol=1e-5)


def test_masked_step_averages_subnet_losses_and_trains(rng):
    space = TransformerSpace(embed_choices=(4, 8), head_choices=(1, 2), ffn_ratio_choices=(2.0,),
                             depth_choices=(2, 3), num_layers=3, depth_rule="prefix")
    model = space.supernet(head_dim=4, out_features=8, max_len=6)
    tokens = jnp.asarray(rng.integers(0, 10, (16, 6)), jnp.int32)
    targets = jnp.asarray(rng.normal(size=(16, 6, 8)), jnp.float32)
    archs = stack_archs([space.largest(), space.smallest(), space.largest()])
    tx = optax.adam(1e-2)
    step = jax.jit(lhb.build_masked_step(
        lambda p, x, a: model.apply({"params": p}, x, a), tokens, tx, lambda k, s: archs,
        batch_size=4, mask_prob=0.5, span=2, mask_id=corpus.MASK_ID, vocab=corpus.VOCAB_SIZE,
        data_key=jax.random.PRNGKey(1), targets_NxTxD=targets))
    x0 = lhb.encode_inputs(jnp.zeros((1, 6), jnp.int32), corpus.VOCAB_SIZE)
    state = TrainState.create(model.init(jax.random.PRNGKey(0), x0)["params"], tx,
                              jax.random.PRNGKey(2))
    state, metrics = step(state)
    terms = np.asarray(metrics["subnet_loss"])
    assert terms.shape == (3,)
    np.testing.assert_allclose(terms[0], terms[2], rtol=1e-6)   # same batch and mask for all K
    np.testing.assert_allclose(float(metrics["loss"]), terms.mean(), rtol=1e-6)
    first = float(metrics["loss"])
    for _ in range(30):
        state, metrics = step(state)
    assert int(state.step) == 31
    assert float(metrics["loss"]) < first


def test_fixed_subnets_and_claim_logic():
    config = experiment.get_config()
    space = experiment._space(config)
    archs = experiment.fixed_subnets(space, config.subnet_seed)
    assert archs.embed.shape == (5,)
    assert int(archs.embed[0]) == 64 and int(archs.embed[1]) == 32 and int(archs.embed[2]) == 48
    assert np.asarray(archs.layers[1]).sum() == 2 and np.asarray(archs.layers[0]).all()
    results = {"ofa_subnet_l1": [[1.0, 1.05, 1, 1, 1]] * 3, "scratch_subnet_l1": [[1.1] * 5] * 3,
               "standalone_smallest_l1": [1.0] * 3, "stage1_l1": [1.0] * 3,
               "full_budget_l1": [0.98] * 3, "plot": "p.png"}
    assert experiment.claim(results).passed
    worse = dict(results, ofa_subnet_l1=[[1.0, 1.2, 1, 1, 1]] * 3)   # smallest 1.2 > 1.10x
    assert not experiment.claim(worse).passed
    worse = dict(results, full_budget_l1=[0.9] * 3)                  # largest 1.11x full budget
    assert not experiment.claim(worse).passed
    worse = dict(results, scratch_subnet_l1=[[1.0] * 5] * 3)         # stage 1 never helps
    assert not experiment.claim(worse).passed
    assert "1.050" in experiment.claim(results).text


def test_quick_lighthubert_runs_and_reports(tmp_path):
    config = experiment_lib.build_config(experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path / "run")
    for key in ("ofa_subnet_l1", "scratch_subnet_l1", "stage1_subnet_l1"):
        values = np.asarray(results[key])
        assert values.shape == (2, 5) and np.isfinite(values).all()
    assert np.asarray(results["standalone_smallest_l1"]).shape == (2,)
    sizes = results["subnet_params"]
    assert sizes[0] == max(sizes) and sizes[1] == min(sizes)
    assert results["standalone_params"] == sizes[1]   # the standalone net is the smallest subnet
    assert np.asarray(results["full_budget_l1"]).shape == (2,)
    for name in ("stage1", "scratch", "standalone", "teacher", "full_budget"):
        assert (tmp_path / "run" / name / "metrics.jsonl").exists()
    for name in ("stage1", "scratch", "standalone"):
        first = np.asarray(results["first_train_loss"][name])
        assert np.all(np.asarray(results["last_train_loss"][name]) < first), name
    # stage 1 trains the full student only: its largest subnet beats its (untrained) smallest
    stage1 = np.asarray(results["stage1_subnet_l1"])
    assert np.all(stage1[:, 0] < stage1[:, 1])
    assert (tmp_path / "run" / "lighthubert.png").exists()
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["claim"]["paper"] == experiment.PAPER_RESULT
    assert "seeds" in claim.ours


@pytest.mark.slow
def test_lighthubert_reproduces_the_once_for_all_claim(tmp_path):
    config = experiment_lib.build_config(experiment, [])
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path / "run")
    assert len(results["stage1_l1"]) == 3
    assert claim.passed, claim.text


@pytest.fixture
def rng():
    return np.random.default_rng(0)
