"""The benchmark suite (tools/bench) runs end to end on toy sizes and writes its reports.

Runs in-process in `--tiny` mode (numbers meaningless; no timing is asserted). The PyTorch
Geometric side runs if torch and torch_geometric are installed, and is reported as skipped
otherwise, so this passes with or without the `bench` extra.
"""
import json
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _run_all():
    """`tools.bench.run_all`, imported from the repository root (tools/ is not installed)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tools.bench import run_all
    return run_all


# Importing torch / torch_geometric (when the bench extra is installed) warns about their own
# deprecated internals; those are not ours to fix.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.*")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch_geometric.*")
@pytest.mark.filterwarnings("ignore::UserWarning:torch_geometric.*")
def test_tiny_suite_writes_bench_md_and_json(tmp_path, capsys):
    md, js = tmp_path / "BENCH.md", tmp_path / "reports" / "bench.json"
    _run_all().main(["--tiny", "--md", str(md), "--json", str(js)])
    results = json.loads(js.read_text())
    assert set(results) == {"meta", "gnn_epoch", "propagation", "populations", "implicit",
                            "fastrp"}
    meta = results["meta"]
    assert meta["mode"] == "tiny"
    assert {"cpu_model", "cpu_count", "threads", "versions"} <= set(meta["machine"])
    assert {"jax", "jaxlib", "numpy", "torch", "torch_geometric"} <= set(
        meta["machine"]["versions"])
    pyg = meta["pyg"]["available"]
    assert pyg == (meta["machine"]["versions"]["torch"] is not None
                   and meta["machine"]["versions"]["torch_geometric"] is not None)
    (row,) = results["gnn_epoch"]["rows"]
    assert {"jaxnets", "handwritten"} <= set(row["ms_per_epoch"])
    assert ("pyg" in row["ms_per_epoch"]) == pyg
    assert {"compile_s", "median_s", "min_s", "max_s"} <= set(row["timings"]["jaxnets"])
    assert results["propagation"]["rows"][0]["fastest"] in {"segment_sum", "bcoo", "dense"}
    populations = results["populations"]
    assert populations["seeds"]["loop_over_vmap"] > 0
    assert populations["seeds"]["loop_over_vmap_csr_nodrop"] > 0
    (clients,) = populations["clients"]
    assert clients["clients"] == 2 and clients["max_abs_difference"] <= 1e-4
    implicit_rows = results["implicit"]["rows"]
    assert [r["max_iter"] for r in implicit_rows] == [2]
    assert all(r["memory"]["unrolled"] is None or r["memory"]["unrolled"]["peak_bytes"] > 0
               for r in implicit_rows)
    assert results["fastrp"]["rows"][0]["jax_over_scipy"] > 0
    text = md.read_text()
    for heading in ("# jaxnets benchmarks", "## 1.", "## 1b.", "## 2.", "## 3.", "## 4."):
        assert heading in text
    assert ("PyG skipped" in text) != pyg
    assert "Clients of a FedAvg round" in text and "no dropout" in text
