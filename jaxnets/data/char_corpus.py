"""A synthetic character corpus from a small hand-written probabilistic grammar (PCFG).

The LightHuBERT mini-reproduction ("LightCharBERT", research notes sec. 1) needs a masked-sequence
task whose targets depend on context, generated locally and deterministically. Sentences come
from the grammar below, with subject-verb number agreement across an optional prepositional
phrase and embedded clauses ("the small dogs near a river chase every cat.", "one robot sees that
two birds sleep."), so recovering a masked span often needs characters far away from it:

    S      -> NP_n VP_n "."                      n in {singular, plural}, drawn uniformly
    NP_n   -> Det_n Adj^k N_n [PP]                k ~ Geometric, [PP] with p_pp
    PP     -> P NP_m                              m drawn uniformly
    VP_n   -> V_n NP_m | V_n Adv | V_n "that" S'  (S' recursion until max_depth)

Sentences are joined by single spaces into one stream, which is cut into rows of `seq_len`
characters. Everything is a function of the `seed` (numpy's `default_rng`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["ALPHABET", "MASK_ID", "VOCAB_SIZE", "char_corpus", "decode", "encode",
           "generate_text"]

ALPHABET = " .abcdefghijklmnopqrstuvwxyz"
MASK_ID = len(ALPHABET)          # the corruption token; never produced by the grammar
VOCAB_SIZE = len(ALPHABET) + 1

_DET = {"sg": ("a", "the", "one", "every", "this"), "pl": ("the", "some", "two", "many", "these")}
_NOUN = {"cat": "cats", "dog": "dogs", "bird": "birds", "child": "children", "robot": "robots",
         "teacher": "teachers", "farmer": "farmers", "mouse": "mice", "fox": "foxes",
         "king": "kings", "river": "rivers", "garden": "gardens", "box": "boxes", "tree": "trees"}
_VERB = {"sees": "see", "likes": "like", "finds": "find", "chases": "chase", "watches": "watch",
         "follows": "follow", "knows": "know", "helps": "help", "sleeps": "sleep",
         "jumps": "jump", "says": "say", "thinks": "think"}
_CLAUSE_VERBS = ("says", "thinks", "knows", "sees")
_ADJ = ("small", "red", "quiet", "old", "happy", "green", "lazy", "brave")
_ADV = ("quickly", "today", "again", "slowly", "often")
_PREP = ("near", "under", "with", "behind", "above")
_CHAR_INDEX = {c: i for i, c in enumerate(ALPHABET)}


class _Grammar:
    """The PCFG of the module docstring, drawing from one numpy Generator."""

    def __init__(self, rng: np.random.Generator, p_adj: float, p_pp: float, p_clause: float,
                 max_depth: int):
        self.rng, self.p_adj, self.p_pp = rng, p_adj, p_pp
        self.p_clause, self.max_depth = p_clause, max_depth

    def _pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def _number(self) -> str:
        return "sg" if self.rng.random() < 0.5 else "pl"

    def noun_phrase(self, number: str, depth: int) -> list[str]:
        words = [self._pick(_DET[number])]
        while self.rng.random() < self.p_adj:
            words.append(self._pick(_ADJ))
        noun = self._pick(tuple(_NOUN))
        words.append(noun if number == "sg" else _NOUN[noun])
        if depth < self.max_depth and self.rng.random() < self.p_pp:
            words += [self._pick(_PREP)] + self.noun_phrase(self._number(), depth + 1)
        return words

    def verb_phrase(self, number: str, depth: int) -> list[str]:
        u = self.rng.random()
        if depth < self.max_depth and u < self.p_clause:
            verb = self._pick(_CLAUSE_VERBS)
            return [verb if number == "sg" else _VERB[verb], "that"] + self.clause(depth + 1)
        verb = self._pick(tuple(_VERB))
        words = [verb if number == "sg" else _VERB[verb]]
        if u < 0.75:
            return words + self.noun_phrase(self._number(), depth + 1)
        return words + [self._pick(_ADV)]

    def clause(self, depth: int = 0) -> list[str]:
        number = self._number()
        return self.noun_phrase(number, depth) + self.verb_phrase(number, depth)

    def sentence(self) -> str:
        return " ".join(self.clause()) + "."


def generate_text(num_chars: int, seed: int, *, p_adj: float = 0.3, p_pp: float = 0.3,
                  p_clause: float = 0.2, max_depth: int = 2) -> str:
    """At least `num_chars` characters of grammar sentences joined by spaces (deterministic).

    Args:
        num_chars: minimum length of the text.
        seed: numpy seed of the draw.
        p_adj: probability of each further adjective (k ~ Geometric).
        p_pp: probability of a prepositional phrase after a noun.
        p_clause: probability of an embedded "that"-clause as the verb phrase.
        max_depth: recursion limit of PPs and clauses.
    """
    if num_chars < 1:
        raise ValueError(f"num_chars must be >= 1, got {num_chars}")
    for name, p in (("p_adj", p_adj), ("p_pp", p_pp), ("p_clause", p_clause)):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {p}")
    grammar = _Grammar(np.random.default_rng(seed), p_adj, p_pp, p_clause, max_depth)
    sentences, total = [], 0
    while total < num_chars:
        sentences.append(grammar.sentence())
        total += len(sentences[-1]) + 1
    return " ".join(sentences)


def encode(text: str) -> np.ndarray:
    """int32 [len(text)] ids into `ALPHABET`; raises on characters outside it."""
    bad = sorted(set(text) - set(_CHAR_INDEX))
    if bad:
        raise ValueError(f"encode: characters {bad} are not in the alphabet {ALPHABET!r}")
    return np.asarray([_CHAR_INDEX[c] for c in text], np.int32)


def decode(ids: np.ndarray) -> str:
    """The text of int ids; `MASK_ID` is shown as '_'."""
    return "".join("_" if int(i) == MASK_ID else ALPHABET[int(i)] for i in np.ravel(ids))


def char_corpus(num_sequences: int, seq_len: int, seed: int, **grammar) -> np.ndarray:
    """int32 [num_sequences, seq_len] character ids: one grammar text stream cut into rows.

    Args:
        num_sequences: N rows.
        seq_len: T characters per row.
        seed: the text's seed; two seeds give different (disjoint-draw) corpora, e.g. a training
            and a held-out set.
        **grammar: forwarded to `generate_text` (p_adj, p_pp, p_clause, max_depth).
    """
    if num_sequences < 1 or seq_len < 1:
        raise ValueError(f"num_sequences and seq_len must be >= 1, got {num_sequences}, "
                         f"{seq_len}")
    n = num_sequences * seq_len
    ids = encode(generate_text(n, seed, **grammar)[:n])
    return ids.reshape(num_sequences, seq_len)
