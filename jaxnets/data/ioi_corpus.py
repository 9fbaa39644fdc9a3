"""A synthetic indirect-object-identification (IOI) corpus over a small word vocabulary.

The IOI task of Wang et al. (2023), as used by RelP (Rezaei Jafari et al. 2025, Sec. 4.1) and the
official demo (`lrp_patching.ipynb`): in "When John and Mary went to the shops, John gave the bag
to" the model should predict the indirect object (IO) "Mary", not the repeated subject (S)
"John". Every prompt here has the same 15-word template, so a (layer, position) node means the
same thing in every prompt:

    <bos> INTRO A and B MOTION to the PLACE , S VERB the OBJECT to | IO

with A != B names drawn uniformly, S one of them (so both the ABB and the ABA order occur),
IO the other, and the slot words drawn uniformly. The corrupted prompt of a pair replaces the
second subject S by IO (the demo's "swap" of which name repeats), which turns the right answer
into S: the metric logit(IO) - logit(S) at the last position flips sign from clean to
corrupted. Everything is a deterministic function of `seed` (numpy's `default_rng`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["IOIPairs", "NAMES", "PROMPT_LEN", "SEQ_LEN", "VOCAB", "VOCAB_SIZE", "decode",
           "ioi_pairs", "ioi_sequences", "name_positions"]

NAMES = ("john", "mary", "tom", "james", "dan", "sid", "martin", "amy", "anna", "paul",
         "lisa", "mark", "kate", "ben", "eva", "omar", "nina", "leo", "sara", "ivan",
         "rosa", "hugo", "lena", "max")
_INTRO = ("when", "after", "while")
_MOTION = ("went", "walked", "ran", "drove")
_PLACE = ("shops", "park", "school", "station", "office", "garden")
_VERB = ("gave", "handed", "passed", "sent", "threw")
_OBJECT = ("bag", "ball", "apple", "drink", "book", "key")
VOCAB = ("<bos>", "and", "to", "the", ",", *_INTRO, *_MOTION, *_PLACE, *_VERB, *_OBJECT, *NAMES)
VOCAB_SIZE = len(VOCAB)
_ID = {w: i for i, w in enumerate(VOCAB)}
PROMPT_LEN = 15     # tokens of a prompt; the answer is predicted at position PROMPT_LEN - 1
SEQ_LEN = PROMPT_LEN + 1
A_POS, B_POS, S2_POS = 2, 4, 10   # name slots of the template


class IOIPairs(NamedTuple):
    """Clean/corrupted prompt pairs: tokens [N, PROMPT_LEN] and answers [N, 2] = (IO, S) ids."""
    clean: np.ndarray
    corrupt: np.ndarray
    answers: np.ndarray


def _ids(words: tuple[str, ...]) -> np.ndarray:
    return np.asarray([_ID[w] for w in words], np.int32)


def _sample(num: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prompts [num, PROMPT_LEN], IO ids [num], S ids [num]) drawn from the template."""
    names = _ids(NAMES)
    first = rng.integers(0, len(NAMES), num)
    second = (first + rng.integers(1, len(NAMES), num)) % len(NAMES)   # distinct from first
    a, b = names[first], names[second]
    s_is_a = rng.random(num) < 0.5
    s, io = np.where(s_is_a, a, b), np.where(s_is_a, b, a)

    def pick(words):
        return _ids(words)[rng.integers(0, len(words), num)]

    const = {w: np.full(num, _ID[w], np.int32) for w in ("<bos>", "and", "to", "the", ",")}
    columns = [const["<bos>"], pick(_INTRO), a, const["and"], b, pick(_MOTION), const["to"],
               const["the"], pick(_PLACE), const[","], s, pick(_VERB), const["the"],
               pick(_OBJECT), const["to"]]
    return np.stack(columns, axis=1).astype(np.int32), io.astype(np.int32), s.astype(np.int32)


def ioi_sequences(num: int, seed: int) -> np.ndarray:
    """Training sequences [num, SEQ_LEN]: prompt followed by its IO answer."""
    if num < 1:
        raise ValueError(f"num must be positive, got {num}")
    prompts, io, _ = _sample(num, np.random.default_rng(seed))
    return np.concatenate([prompts, io[:, None]], axis=1)


def ioi_pairs(num: int, seed: int) -> IOIPairs:
    """`num` clean/corrupted pairs; corrupted = clean with the second subject replaced by IO."""
    if num < 1:
        raise ValueError(f"num must be positive, got {num}")
    clean, io, s = _sample(num, np.random.default_rng(seed))
    corrupt = clean.copy()
    corrupt[:, S2_POS] = io
    return IOIPairs(clean, corrupt, np.stack([io, s], axis=1))


def name_positions() -> dict[str, int]:
    """The template's name slots: {"A": 2, "B": 4, "S2": 10}."""
    return {"A": A_POS, "B": B_POS, "S2": S2_POS}


def decode(ids: np.ndarray) -> str:
    """Words of a 1-D id array joined by spaces."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size and (ids.min() < 0 or ids.max() >= VOCAB_SIZE):
        raise ValueError(f"ids must be a 1-D array of ids in [0, {VOCAB_SIZE})")
    return " ".join(VOCAB[i] for i in ids)
