"""The standard-library documentation corpus: fixed vocabulary, deterministic, disjoint splits."""
import numpy as np
import pytest

from jaxnets.data import text_corpus as tc


def test_vocabulary_is_printable_ascii_and_round_trips():
    assert tc.VOCAB_SIZE == 95 and tc.ALPHABET[0] == " " and tc.ALPHABET[-1] == "~"
    text = "Return the value of x[i], or None."
    np.testing.assert_array_equal(tc.encode(tc.decode(tc.encode(text))), tc.encode(text))
    assert tc.decode(tc.encode(text)) == text
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tc.encode("tab\there")
    assert tc._normalise("a \u201cquoted\u201d\n\n   word\u2014and\u00df") == 'a "quoted" word-and?'


def test_documents_are_normalised_english_and_deterministic():
    docs = tc.text_documents()
    assert len(docs) == len(tc.MODULES) == 168
    assert all(len(d) >= 200 for d in docs)
    text = " ".join(docs)
    assert 700_000 < len(text) < 850_000
    assert set(text) <= set(tc.ALPHABET) and "  " not in text
    # mostly prose: letters and spaces dominate, common English words are frequent
    ids = tc.encode(text)
    letters = np.mean([c.isalpha() or c == " " for c in text[:100_000]])
    assert letters > 0.8 and text.count(" the ") > 2000
    assert tc.fingerprint() == tc.fingerprint() and len(tc.fingerprint()) == 64
    assert ids.dtype == np.int32 and ids.max() < tc.VOCAB_SIZE


def test_rows_are_seeded_subsets_of_disjoint_splits():
    train = tc.text_corpus(50, 32, "train", seed=0)
    assert train.shape == (50, 32) and train.dtype == np.int32
    np.testing.assert_array_equal(train, tc.text_corpus(50, 32, "train", seed=0))
    assert not np.array_equal(train, tc.text_corpus(50, 32, "train", seed=1))
    held = tc.text_corpus(200, 64, "heldout")
    # held-out rows come from other modules; a few docstrings are copied between modules
    # (concurrent.futures' Executor.map, ...): about 5 % of 64-character rows recur verbatim
    train_text = tc.decode(tc._rows("train", 64))
    assert np.mean([tc.decode(row) in train_text for row in held]) < 0.1
    docs = tc.text_documents()
    assert tc.decode(held[0]) in " ".join(docs[tc.HELDOUT_EVERY - 1::tc.HELDOUT_EVERY])
    n_train, n_held = len(tc._rows("train", 32)), len(tc._rows("heldout", 32))
    assert 5 * n_held < n_train < 15 * n_held


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        tc.text_corpus(4, 16, "test")
    with pytest.raises(ValueError, match="seq_len"):
        tc.text_corpus(4, 1)
    with pytest.raises(ValueError, match="rows"):
        tc.text_corpus(10**7, 64)
