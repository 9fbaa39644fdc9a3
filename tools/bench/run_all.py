"""Runs the benchmark suite and writes BENCH.md and reports/bench.json.

Usage (from the repository root):
    python -m tools.bench [--quick | --tiny] [--threads N] [--only gnn propagation ...]
                          [--no-pyg] [--md BENCH.md] [--json reports/bench.json]
                          [--device cpu | gpu]
    python tools/bench/run_all.py ...   (the same)

`--device gpu` (a CUDA jaxlib on an NVIDIA machine; PyG runs on CUDA when torch sees the GPU)
runs the same suite on the GPU and writes `reports/bench_gpu.md` and `reports/bench_gpu.json`;
then, when the CPU results `reports/bench.json` exist, it re-renders `BENCH.md` from them with the
GPU column filled in (`--cpu-json`, `--cpu-md`). A CPU run fills the column from
`reports/bench_gpu.json` when that exists (`--gpu-json`). `--device cpu` (the default) pins JAX
to the CPU even on a GPU machine.

Modes: default (~5 minutes on an idle 2-core CPU), `--quick` (a fast pass, ~1-2 minutes),
`--tiny` (toy sizes, seconds; for the suite's test, numbers meaningless). The PyTorch Geometric
side runs when torch and torch_geometric import (the `bench` extra) unless `--no-pyg`.
Cora is read by `jaxnets.data.load_planetoid` from $JAXNETS_DATA (or the download cache).
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import sys
import time

if __package__ in (None, ""):  # run as a script: make `tools.bench` importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tools.bench import machine  # noqa: E402  (imports no jax)
from tools.bench.paths import REPO, add_import_paths  # noqa: E402
from tools.bench.settings import SETTINGS  # noqa: E402

BENCHMARKS = ("gnn", "gap", "propagation", "populations", "implicit", "fastrp")
CPU_MD, CPU_JSON = REPO / "BENCH.md", REPO / "reports" / "bench.json"
GPU_MD, GPU_JSON = REPO / "reports" / "bench_gpu.md", REPO / "reports" / "bench_gpu.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fast pass, fewer sizes and rounds")
    mode.add_argument("--tiny", action="store_true", help="toy sizes (tests); numbers meaningless")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per side (default: all usable cores)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--no-pyg", action="store_true", help="skip the PyTorch Geometric side")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="where the JAX (and, with a CUDA torch, the PyG) side runs")
    parser.add_argument("--md", type=pathlib.Path, default=None,
                        help="report (default: BENCH.md; reports/bench_gpu.md with --device gpu)")
    parser.add_argument("--json", type=pathlib.Path, default=None,
                        help="results (default: reports/bench.json; reports/bench_gpu.json with "
                             "--device gpu)")
    parser.add_argument("--gpu-json", type=pathlib.Path, default=GPU_JSON,
                        help="CPU run: GPU results to fill BENCH.md's GPU column from, if present")
    parser.add_argument("--cpu-json", type=pathlib.Path, default=CPU_JSON,
                        help="GPU run: CPU results whose report gets the GPU column, if present")
    parser.add_argument("--cpu-md", type=pathlib.Path, default=CPU_MD,
                        help="GPU run: the CPU report to re-render with the GPU column")
    args = parser.parse_args(argv)
    gpu = args.device == "gpu"
    args.md = args.md or (GPU_MD if gpu else CPU_MD)
    args.json = args.json or (GPU_JSON if gpu else CPU_JSON)
    return args


def _log(message: str) -> None:
    print(message, flush=True)


def _graphs(mode: str, scale: int):
    from tools.bench import gnn_data
    if mode == "tiny":
        return [gnn_data.synthetic(120, 480, 64, 0.05, num_classes=3, train_per_class=5,
                                   name="tiny")]
    cora = gnn_data.cora()
    return [cora] + ([gnn_data.scaled_like(cora, scale)] if scale > 1 else [])


def run(args: argparse.Namespace) -> dict:
    """Runs the selected benchmarks; returns the results dict that `report.write` takes."""
    load_at_start = os.getloadavg()[0]
    threads = args.threads or machine.usable_cores()
    machine.pin_threads(threads)
    machine.select_platform(args.device)
    accelerator = machine.accelerator(args.device)   # imports jax (after pinning)
    add_import_paths()
    mode = "tiny" if args.tiny else "quick" if args.quick else "default"
    cfg = SETTINGS[mode]
    from tools.bench import gnn_pyg
    pyg_device = "cuda" if args.device == "gpu" else "cpu"
    use_pyg, pyg_note = ((False, "PyG skipped: --no-pyg") if args.no_pyg
                         else gnn_pyg.available(pyg_device))
    if use_pyg:
        gnn_pyg.set_threads(threads)
    _log(f"jaxnets benchmarks, {mode} mode, {threads} threads, JAX on "
         f"{accelerator['device_kind']}; {pyg_note}")
    start = time.perf_counter()
    results: dict = {}
    section_s: dict = {}
    graphs = None
    mark = _Stopwatch(section_s)
    if {"gnn", "populations", "gap"} & set(args.only):
        mark.start("load_graphs")
        graphs = _graphs(mode, cfg["gnn"]["synthetic_scale"])
    if "gnn" in args.only:
        mark.start("gnn_epoch")
        from tools.bench import gnn_epoch
        _log("[1] GNN training epoch")
        c = cfg["gnn"]
        results["gnn_epoch"] = gnn_epoch.run(
            graphs, rounds=c["rounds"], scan_epochs=c["scan_epochs"], use_pyg=use_pyg,
            scan_on=(graphs[0].name,), models=c["models"], pyg_device=pyg_device, log=_log)
    if "gap" in args.only and cfg["gap"] is not None:
        mark.start("layer_gap")
        from tools.bench import layer_gap
        _log("[1c] library layers versus hand-written: the pieces that differ")
        results["layer_gap"] = layer_gap.run(graphs[0], rounds=cfg["gap"]["rounds"], log=_log)
    if "propagation" in args.only:
        mark.start("propagation")
        from tools.bench import propagation
        _log("[1b] A^ H formulations by size")
        c = cfg["propagation"]
        results["propagation"] = propagation.run(c["sizes"], width=c["width"],
                                                 rounds=c["rounds"], log=_log)
    if "populations" in args.only:
        mark.start("populations")
        from tools.bench import populations
        _log("[2] populations: vmap versus loop")
        c = cfg["populations"]
        results["populations"] = populations.run(graphs[0], k=c["k"], rounds=c["rounds"],
                                                 subnet_settings=c["subnets"],
                                                 client_settings=c.get("clients", []), log=_log)
    if "implicit" in args.only:
        mark.start("implicit")
        from tools.bench import implicit
        _log("[3] implicit differentiation (CGS)")
        c = cfg["implicit"]
        results["implicit"] = implicit.run(nodes=c["nodes"], arcs=c["arcs"], heads=c["heads"],
                                           caps=c["caps"], rounds=c["rounds"], log=_log)
    if "fastrp" in args.only:
        mark.start("fastrp")
        from tools.bench import fastrp
        _log("[4] FastRP")
        results["fastrp"] = fastrp.run(**cfg["fastrp"], log=_log)
    mark.start(None)
    command = "python -m tools.bench" + {"default": "", "quick": " --quick",
                                         "tiny": " --tiny"}[mode]
    if args.threads:
        command += f" --threads {args.threads}"
    if args.no_pyg:
        command += " --no-pyg"
    if args.device == "gpu":
        command += " --device gpu"
    if list(args.only) != list(BENCHMARKS):
        command += " --only " + " ".join(args.only)
    results["meta"] = {
        "mode": mode, "command": command, "benchmarks": list(args.only),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_s": time.perf_counter() - start, "section_s": section_s,
        "load_at_start": load_at_start,
        "pyg": {"available": use_pyg, "note": pyg_note},
        "machine": machine.describe(threads), "accelerator": accelerator,
        "settings": _jsonable(cfg),
    }
    return results


class _Stopwatch:
    """Wall and CPU seconds of each section (CPU time is less distorted by other processes)."""

    def __init__(self, out: dict):
        self.out, self.name, self.wall, self.cpu = out, None, 0.0, 0.0

    def start(self, name: str | None) -> None:
        now_wall, now_cpu = time.perf_counter(), time.process_time()
        if self.name is not None:
            self.out[self.name] = {"wall_s": now_wall - self.wall, "cpu_s": now_cpu - self.cpu}
        self.name, self.wall, self.cpu = name, now_wall, now_cpu


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _load(path: pathlib.Path) -> dict | None:
    import json
    return json.loads(path.read_text()) if path.exists() else None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results = run(args)
    from tools.bench import report
    if args.device == "gpu":
        report.write(results, args.md, args.json)
        _log(f"wrote {args.md} and {args.json} ({results['meta']['wall_s']:.0f} s)")
        cpu = _load(args.cpu_json)
        if cpu is None:
            _log(f"no CPU results at {args.cpu_json}: run `python -m tools.bench` for the CPU "
                 "column, then this again (or the CPU run picks these GPU results up)")
        else:
            args.cpu_md.write_text(report.markdown(cpu, gpu=results))
            _log(f"re-rendered {args.cpu_md} from {args.cpu_json} with the GPU column")
        return
    report.write(results, args.md, args.json, gpu=_load(args.gpu_json))
    _log(f"wrote {args.md} and {args.json} ({results['meta']['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
