"""Benchmark 4: FastRP, jaxnets versus SciPy, by running `tools/bench_fastrp.py` itself.

The script's `main` is called with the suite's sizes and writes its JSON to a temporary file,
which is read back; nothing of the script is duplicated here.
"""
from __future__ import annotations

import contextlib
import io
import json
import pathlib
import sys
import tempfile
from unittest import mock


def run(*, nodes: int, edges: int, dim: int, repeats: int, log=print) -> dict:
    """`bench_fastrp.main` with these arguments; returns its result dict (one row)."""
    import bench_fastrp  # tools/ is on sys.path (tools.bench.paths)
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "fastrp.json"
        argv = ["bench_fastrp.py", "--nodes", str(nodes), "--edges", str(edges), "--dim",
                str(dim), "--repeats", str(repeats), "--out", str(out)]
        with mock.patch.object(sys, "argv", argv), contextlib.redirect_stdout(io.StringIO()):
            bench_fastrp.main()
        result = json.loads(out.read_text())
    row = result["rows"][0]
    log(f"  FastRP N={row['nodes']} E={row['edges']}: jaxnets {row['jax_s']:.3f} s, scipy "
        f"{row['scipy_s']:.3f} s, jax/scipy {row['jax_over_scipy']:.2f}, csr/scipy "
        f"{row['jax_csr_over_scipy']:.2f}")
    return result
