"""Import paths for the suite: the repository root and `tools/` (the older bench scripts).

The scripts in `tools/` import their timer as `from _timing import time_call` (their folder on
`sys.path`), so the suite puts `tools/` on `sys.path` before importing them.
"""
from __future__ import annotations

import pathlib
import sys

TOOLS = pathlib.Path(__file__).resolve().parents[1]
REPO = TOOLS.parent


def add_import_paths() -> None:
    """Makes `tools.bench.*`, `_timing`, `bench_fastrp` and `bench_subnets` importable."""
    for path in (str(REPO), str(TOOLS)):
        if path not in sys.path:
            sys.path.insert(0, path)
