"""A character corpus of real English technical prose shipped with Python's standard library.

Sparsing Law's mini-reproduction needs natural-language text richer than the PCFG corpus of
`jaxnets.data.char_corpus` (1.8 PPL per character), generated locally with no download. This
module builds one from the docstrings of a FIXED list of standard-library modules (`MODULES`):
each module's docstring and those of its public functions, classes and their methods
(`inspect.getdoc`, members in sorted name order, only those defined in that module). The text
is English prose about programming, with some code fragments.

Normalisation: typographic quotes and dashes become ASCII, any run of whitespace becomes one
space (indentation and line breaks would otherwise make a large share of very predictable
characters), characters outside printable ASCII become "?"; the vocabulary is the 95
printable ASCII characters (`ALPHABET`, ids 0..94), fixed whatever the text.

Documents (one per module) are split deterministically: every `HELDOUT_EVERY`-th module in
`MODULES` order is held out. Each split's documents are joined by single spaces and cut into
non-overlapping rows of `seq_len` characters; `text_corpus` returns a seeded random subset of
those rows. Some docstrings are copied between modules (e.g. concurrent.futures'
`Executor.map`), so ~5 % of held-out 64-character rows also occur verbatim in the train split.

Stability: `MODULES` keeps only modules whose normalised text is identical in CPython 3.11.2
(Debian) and 3.11.7 (pyenv), 168 of 191 candidates, ~776 k characters; 23 candidates whose
docstrings were edited between those patch releases (typing, enum, tarfile, ...) were dropped.
`fingerprint()` gives the sha256 of the normalised text, recorded by the experiments that use
it; another minor version (3.12, ...) gives a somewhat different text. The Python Language
Reference in `pydoc_data.topics` (465 k characters of prose) was considered and rejected: it is
regenerated at every release and differs between patch versions.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import warnings

import numpy as np

__all__ = ["ALPHABET", "HELDOUT_EVERY", "MODULES", "VOCAB_SIZE", "decode", "encode",
           "fingerprint", "text_corpus", "text_documents"]

ALPHABET = "".join(chr(c) for c in range(32, 127))   # printable ASCII; " " is id 0
VOCAB_SIZE = len(ALPHABET)
HELDOUT_EVERY = 10
# Standard-library modules with at least 200 characters of documentation whose normalised text
# is identical in CPython 3.11.2 and 3.11.7 (of 191 candidates: no Tk, no sqlite, nothing
# deprecated by PEP 594), in a fixed order that decides the train / held-out split.
MODULES = (
    "argparse", "ast", "asyncio.locks", "asyncio.queues", "asyncio.subprocess",
    "asyncio.tasks", "base64", "bdb", "bz2", "calendar", "cmd", "code", "codecs", "codeop",
    "collections", "collections.abc", "colorsys", "compileall", "concurrent.futures._base",
    "concurrent.futures.process", "concurrent.futures.thread", "contextlib", "copy",
    "copyreg", "csv", "ctypes", "dataclasses", "datetime", "decimal", "difflib", "dis",
    "doctest", "email.charset", "email.feedparser", "email.generator", "email.header",
    "email.headerregistry", "email.message", "email.parser", "encodings", "filecmp",
    "fileinput", "fnmatch", "fractions", "ftplib", "functools", "gc", "getopt", "getpass",
    "gettext", "glob", "graphlib", "hashlib", "heapq", "hmac", "html", "html.parser",
    "http", "http.cookiejar", "http.cookies", "http.server", "imaplib", "importlib",
    "importlib.abc", "importlib.metadata", "importlib.util", "inspect", "io", "ipaddress",
    "itertools", "json", "json.decoder", "json.encoder", "keyword", "linecache", "locale",
    "logging", "lzma", "mailbox", "mimetypes", "modulefinder", "multiprocessing.connection",
    "multiprocessing.context", "multiprocessing.managers", "multiprocessing.pool",
    "multiprocessing.process", "multiprocessing.shared_memory", "ntpath", "numbers",
    "operator", "optparse", "os", "pathlib", "pdb", "pickle", "pickletools", "platform",
    "poplib", "posixpath", "pprint", "profile", "pstats", "pty", "py_compile", "pyclbr",
    "queue", "quopri", "random", "re", "rlcompleter", "runpy", "sched", "secrets",
    "selectors", "shelve", "shlex", "signal", "smtplib", "socket", "socketserver", "ssl",
    "statistics", "string", "struct", "subprocess", "symtable", "sysconfig", "tabnanny",
    "textwrap", "threading", "tokenize", "trace", "tracemalloc", "types",
    "unittest.async_case", "unittest.case", "unittest.loader", "unittest.mock",
    "unittest.result", "unittest.runner", "unittest.suite", "urllib.error", "urllib.parse",
    "urllib.request", "urllib.response", "urllib.robotparser", "uuid", "venv", "warnings",
    "wave", "weakref", "webbrowser", "wsgiref.handlers", "wsgiref.headers",
    "wsgiref.simple_server", "wsgiref.util", "wsgiref.validate", "xml.dom.minidom",
    "xml.dom.pulldom", "xml.etree.ElementTree", "xml.sax", "xml.sax.handler",
    "xml.sax.saxutils", "xml.sax.xmlreader", "xmlrpc.client", "xmlrpc.server", "zipapp",
    "zipimport",
)
_ASCII = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
          "\u2014": "-", "\u2026": "..."}
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


def _normalise(text: str) -> str:
    text = "".join(_ASCII.get(c, c) for c in text)
    text = " ".join(text.split())
    return "".join(c if c in _INDEX else "?" for c in text)


def _module_text(name: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module(name)
    parts = [inspect.getdoc(module) or ""]
    for attr, obj in sorted(vars(module).items()):
        if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        parts.append(inspect.getdoc(obj) or "")
        if inspect.isclass(obj):
            for method_name, method in sorted(vars(obj).items()):
                if not method_name.startswith("_") and inspect.isfunction(method):
                    parts.append(inspect.getdoc(method) or "")
    return _normalise(" ".join(p for p in parts if p))


@functools.lru_cache(maxsize=1)
def text_documents() -> tuple[str, ...]:
    """The normalised text of each module in `MODULES`, in that order."""
    return tuple(_module_text(name) for name in MODULES)


def fingerprint() -> str:
    """sha256 (hex) of the normalised documents joined by newlines: the corpus's identity."""
    return hashlib.sha256("\n".join(text_documents()).encode()).hexdigest()


def encode(text: str) -> np.ndarray:
    """Characters -> int32 ids (every character must be in `ALPHABET`)."""
    bad = sorted(set(text) - set(ALPHABET))
    if bad:
        raise ValueError(f"characters outside the vocabulary: {bad[:5]}")
    return np.asarray([_INDEX[c] for c in text], np.int32)


def decode(ids) -> str:
    """int ids -> characters."""
    return "".join(ALPHABET[int(i)] for i in np.asarray(ids).reshape(-1))


@functools.lru_cache(maxsize=8)
def _rows(split: str, seq_len: int) -> np.ndarray:
    docs = text_documents()
    keep = [d for i, d in enumerate(docs) if (i % HELDOUT_EVERY == HELDOUT_EVERY - 1)
            == (split == "heldout")]
    ids = encode(" ".join(keep))
    n = len(ids) // seq_len
    return ids[:n * seq_len].reshape(n, seq_len)


def text_corpus(num_sequences: int, seq_len: int, split: str = "train", seed: int = 0
                ) -> np.ndarray:
    """`num_sequences` rows of `seq_len` character ids from one split.

    Args:
        num_sequences: rows to return (at most the split's number of rows).
        seq_len: characters per row.
        split: "train" or "heldout" (every `HELDOUT_EVERY`-th module).
        seed: which random subset of the split's non-overlapping rows, in which order.
    Returns:
        int32 array [num_sequences, seq_len], ids < `VOCAB_SIZE`.
    """
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    if seq_len < 2 or num_sequences < 1:
        raise ValueError(f"need seq_len >= 2 and num_sequences >= 1, got {seq_len}, "
                         f"{num_sequences}")
    rows = _rows(split, int(seq_len))
    if num_sequences > len(rows):
        raise ValueError(f"the {split} split has {len(rows)} rows of {seq_len} characters, "
                         f"asked for {num_sequences}")
    order = np.random.default_rng(seed).permutation(len(rows))[:num_sequences]
    return rows[order].copy()
