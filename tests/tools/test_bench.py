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
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.*"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:torch_geometric.*"),
              pytest.mark.filterwarnings("ignore::UserWarning:torch_geometric.*")]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One `--tiny` CPU run of the whole suite: (BENCH.md path, bench.json path)."""
    tmp = tmp_path_factory.mktemp("bench")
    md, js = tmp / "BENCH.md", tmp / "reports" / "bench.json"
    _run_all().main(["--tiny", "--md", str(md), "--json", str(js),
                     "--gpu-json", str(tmp / "absent.json")])
    return md, js


def test_tiny_suite_writes_bench_md_and_json(tiny_run):
    md, js = tiny_run
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
    assert results["propagation"]["rows"][0]["fastest"] in {"segment_sum", "bcoo", "csr", "dense"}
    assert "csr" in results["propagation"]["rows"][0]["ms"]
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
    assert meta["accelerator"]["jax_backend"] == "cpu"
    assert "## 0. Headline ratios: CPU and GPU columns" in text
    assert "GPU: **not measured**" in text and "--device gpu" in text


def _as_gpu_run(results: dict, factor: float) -> dict:
    """A copy of CPU results relabelled as a GPU run, every headline ratio scaled by factor."""
    gpu = json.loads(json.dumps(results))
    gpu["meta"]["accelerator"] = {"requested": "gpu", "jax_backend": "gpu",
                                  "device_kind": "Fake GPU", "device_count": 1}
    gpu["meta"]["command"] += " --device gpu"
    seeds = gpu["populations"]["seeds"]
    seeds["loop_over_best_vmap"] *= factor
    gpu["fastrp"]["rows"][0]["jax_csr_over_scipy"] *= factor
    return gpu


def test_gpu_run_fills_the_cpu_reports_gpu_column(tiny_run, tmp_path, monkeypatch):
    """`--device gpu` writes its own report and re-renders the CPU one with the GPU column
    (the run itself is replaced here: no GPU on CI)."""
    run_all = _run_all()
    from tools.bench import report
    _, cpu_json = tiny_run
    cpu = json.loads(cpu_json.read_text())
    gpu = _as_gpu_run(cpu, factor=10.0)
    monkeypatch.setattr(run_all, "run", lambda args: gpu)
    cpu_md, gpu_md, gpu_json = tmp_path / "BENCH.md", tmp_path / "g.md", tmp_path / "g.json"
    run_all.main(["--device", "gpu", "--md", str(gpu_md), "--json", str(gpu_json),
                  "--cpu-json", str(cpu_json), "--cpu-md", str(cpu_md)])
    assert "**GPU**: Fake GPU x 1" in gpu_md.read_text()
    assert json.loads(gpu_json.read_text())["meta"]["accelerator"]["device_kind"] == "Fake GPU"
    text = cpu_md.read_text()
    assert "GPU: Fake GPU (JAX backend gpu)" in text and "not measured" not in text
    rows = {label: value for label, value in report.headline(cpu)}
    label = next(k for k in rows if k.startswith("K = 2 GCN seeds"))
    line = next(x for x in text.splitlines() if x.startswith(f"| {label} |"))
    cpu_cell, gpu_cell = line.split(" | ")[1:3]
    assert float(gpu_cell.rstrip(" |")) == pytest.approx(10 * float(cpu_cell), rel=0.01)
    # A later CPU run picks the GPU results up from --gpu-json.
    assert "Fake GPU" in report.markdown(cpu, gpu=json.loads(gpu_json.read_text()))


def test_gpu_device_without_a_gpu_is_a_clear_error():
    from tools.bench import machine
    import jax
    if jax.default_backend() == "gpu":
        pytest.skip("this machine has a GPU")
    with pytest.raises(SystemExit, match="not a GPU"):
        machine.accelerator("gpu")
    with pytest.raises(ValueError, match="'cpu' or 'gpu'"):
        machine.select_platform("tpu")
