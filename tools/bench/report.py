"""BENCH.md and reports/bench.json from the suite's results dict."""
from __future__ import annotations

import json
import pathlib

SECTIONS = ("gnn_epoch", "propagation", "layer_gap", "populations", "implicit", "fastrp")


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _faults(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def _spread(t: dict, scale: float = 1e3) -> str:
    """'median (min-max)' of a Timing dict in ms."""
    return f"{t['median_s'] * scale:.2f} ({t['min_s'] * scale:.2f}-{t['max_s'] * scale:.2f})"


def _gnn(res: dict) -> list[str]:
    lines = ["## 1. Full-batch GNN training epoch (forward + backward + Adam)", "",
             "Median ms per epoch over interleaved rounds (min-max); compile time of the first "
             "call apart. `jaxnets`: the library's layers, one jitted call per epoch, sparse "
             "(BCOO) features; `jaxnets_csr`: the same layers on `CSRMatrix` features (and, for "
             "GCN, `CSREdges`), i.e. XLA's CPU CSR kernel (`jaxnets.graph.csr`); "
             "`jaxnets_scan`: the BCOO step inside `lax.scan`; `handwritten`: "
             "gathers + `segment_sum` written directly; `pyg`: PyTorch Geometric's example model "
             "(dense features).", ""]
    for g in res["graphs"]:
        lines.append(f"- {g['name']}: {g['nodes']} nodes, {g['arcs']} arcs, {g['features']} "
                     f"features ({100 * g['feature_density']:.2f} % nonzero), "
                     f"{g['train_nodes']} training nodes")
    lines += ["", "| graph | model | variant | ms/epoch (min-max) | compile s |",
              "|---|---|---|---|---|"]
    for r in res["rows"]:
        for name, t in r["timings"].items():
            lines.append(f"| {r['graph']} | {r['model']} | {name} | {_spread(t)} | "
                         f"{_f(t['compile_s'])} |")
    lines += ["", "Ratios of medians (< 1 in the first three columns: the numerator is faster; "
              "`per-call / scan` > 1: scan is faster):", "",
              "| graph | model | jaxnets / PyG | jaxnets_csr / PyG | best JAX / PyG | "
              "jaxnets / handwritten | per-call / scan |", "|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        cells = [r.get(k) for k in ("jaxnets_over_pyg", "csr_over_pyg", "best_jax_over_pyg",
                                     "jaxnets_over_handwritten", "scan_speedup")]
        lines.append(f"| {r['graph']} | {r['model']} | " + " | ".join(
            "-" if c is None else _f(c, 3) for c in cells) + " |")
    goal = res.get("goal_cora")
    lines.append("")
    if goal is None:
        lines.append("Goal (jaxnets <= 0.2x PyG per epoch on Cora): not checked (it needs the PyG "
                     "side and Cora).")
    else:
        per = ", ".join(f"{k} {_f(v)}x" for k, v in goal["per_model"].items())
        lines.append(f"Goal (jaxnets <= {goal['target_jaxnets_over_pyg']}x PyG per epoch on "
                     f"Cora, the library's fastest layout): **{'met' if goal['met'] else 'NOT met'}"
                     f"** ({per}).")
    return lines + [""]


def _layer_gap(res: dict) -> list[str]:
    lines = ["## 1c. Library layers versus hand-written: the pieces that differ", "",
             f"Forward + backward on {res['graph']}-shaped arrays, medians in ms (interleaved). "
             "See `tools/bench/layer_gap.py` for what each pair isolates.", "",
             "| piece | library way | ms | hand-written way | ms | library / hand-written |",
             "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        (a, ma), (b, mb) = r["ms"].items()
        lines.append(f"| {r['piece']} | {a} | {_f(ma, 3)} | {b} | {_f(mb, 3)} | "
                     f"{_f(r['first_over_second'])} |")
    return lines + [""]


def _propagation(res: dict) -> list[str]:
    lines = ["## 1b. `A^ H` formulations by graph size (forward + backward)", "",
             "Random graphs with Cora's average degree, GCN weights; ms (median).", "",
             "| nodes | arcs (with loops) | width | segment_sum | BCOO | CSR | dense | fastest |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        ms = r["ms"]
        cells = [_f(ms[k], 3) if k in ms else "-"
                 for k in ("segment_sum", "bcoo", "csr", "dense")]
        lines.append(f"| {r['nodes']} | {r['arcs_with_loops']} | {r['width']} | "
                     + " | ".join(cells) + f" | {r['fastest']} |")
    return lines + [""]


def _populations(res: dict) -> list[str]:
    s = res["seeds"]
    goal = res["goal_loop_over_vmap"]
    lines = ["## 2. Populations: K models under `vmap` versus a loop of jitted calls", "",
             f"K = {s['k']} GCN seeds on {s['graph']}, one training epoch each (loss checked "
             "equal), interleaved, ms:", "",
             "| layout | vmap | loop | loop / vmap |", "|---|---|---|---|"]
    for name, suffix in (("BCOO features, edge list", ""), ("CSR features and graph", "_csr"),
                         ("CSR, no dropout (shared X: one wide pass)", "_csr_nodrop")):
        if "vmap" + suffix in s["timings"]:
            lines.append(f"| {name} | {_spread(s['timings']['vmap' + suffix])} | "
                         f"{_spread(s['timings']['loop' + suffix])} | "
                         f"{_f(s['ms']['loop' + suffix] / s['ms']['vmap' + suffix])} |")
    best = s.get("loop_over_best_vmap", s["loop_over_vmap"])
    lines += ["", f"**Baseline loop (BCOO) / fastest vmap = {_f(best)}** (goal >= {goal}: "
              f"{'met' if best >= goal else 'not met'}).", ""]
    if res["subnets"]:
        lines += ["Subnets of a transformer supernet (`tools/bench_subnets.py`, medians, ms; "
                  "`chunked`: one call of `lax.map(..., batch_size=c)`, a `vmap` over each chunk "
                  "of c subnets; temp: XLA's temporary buffer of the whole-K vmapped program, "
                  "with its minor page faults per call):", "",
                  "| K | batch x tokens | forward vmap | forward loop | loop / vmap | c | "
                  "forward chunked | loop / chunked | temp MiB (faults/call) | train k | "
                  "separate / vmap step | step temp MiB (faults/call) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in res["subnets"]:
            chunked = (f"{r['chunk']} | {_f(r['chunk_median_ms'])} | {_f(r['loop_over_chunk'])} | "
                       f"{_f(r['vmap_temp_mib'], 1)} ({_faults(r.get('vmap_faults_per_call'))})"
                       if "chunk" in r else "- | - | - | -")
            step_temp = (f"{_f(r['train_vmap_temp_mib'], 1)} "
                         f"({_faults(r.get('train_vmap_faults_per_call'))})"
                         if "train_vmap_temp_mib" in r else "-")
            lines.append(f"| {r['k']} | {r['batch']} x {r['seq']} | {_f(r['vmap_median_ms'])} | "
                         f"{_f(r['loop_median_ms'])} | {_f(r['loop_over_vmap'])} | {chunked} | "
                         f"{r['train_k']} | {_f(r['train_separate_over_vmap'])} | {step_temp} |")
        lines.append("")
    if res.get("clients"):
        lines += ["Clients of a FedAvg round (`tools/bench_fed_round.py`: MLP on digits shards, "
                  "local SGD; the two rounds' global models checked equal), medians, ms:", "",
                  "| K clients | local steps x batch | round vmap | round loop | loop / vmap |",
                  "|---|---|---|---|---|"]
        for r in res["clients"]:
            lines.append(f"| {r['clients']} | {r['local_steps']} x {r['batch']} | "
                         f"{_f(r['vmap_round_ms'])} | {_f(r['loop_round_ms'])} | "
                         f"{_f(r['loop_over_vmap'])} |")
        lines.append("")
        for r in res["clients"]:
            lines.append(f"**Clients, K = {r['clients']}: loop / vmap = {_f(r['loop_over_vmap'])}** "
                         f"(goal >= {goal}: {'met' if r['loop_over_vmap'] >= goal else 'not met'}).")
        lines += ["", "Where `vmap` pays: a population saves the per-call dispatch and per-op "
                  "overhead of K small programs, and shares a pass over data all members read. "
                  "A FedAvg client (a 64-unit MLP on 16-example batches) is almost all overhead, "
                  "so its round is many times faster vmapped. A Cora GCN seed is real sparse "
                  "work (~0.8M multiply-adds for `X W` and as many for its gradient, through "
                  "every member's own dropped-out copy of X): K seeds cost about K times one, "
                  "vmapped or not; without input dropout the K products share one wide pass "
                  "over X and the ratio rises, but not to 4 on a CPU. `vmap` removes only what "
                  "a loop spends beyond the members' own arithmetic, so loop / vmap is at most "
                  "(work + overhead) / work: the K dropped-out products are compute-bound in the "
                  "CSR kernel (one product of all 16 members stacked block-diagonally, tried "
                  "2026-12-03, ran no faster than 16 products: 2.3 vs 2.2 ms forward on one "
                  "core), and forward + backward they are ~4.4 ms of the loop's ~21 ms, so a "
                  "4x ratio would leave ~1 ms for everything else of 16 epochs. A masked subnet "
                  "likewise computes at supernet size: at 1 x 8 tokens `vmap` saves the dispatch "
                  "overhead (about half the loop); at 8 x 32 there is none to save and the vmapped "
                  "forward runs at about the loop's speed. It ran at 0.58x of it before "
                  "2026-12-03: XLA's CPU backend fused the masked LayerNorm's reductions into "
                  "large YNNPACK fusions at K = 16 (not at K <= 14), slower and with temporaries "
                  "past glibc's 32 MiB `mmap` threshold, so every call faulted its pages in anew; "
                  "the masked sums are now products with the mask vector, and the width masks "
                  "come after the activation, which removed a transposed recomputation of the "
                  "activation's derivative from the backward (`jaxnets.nn.elastic`). Mapping "
                  "over chunks (`lax.map(..., batch_size=2)`) bounds a forward's temporaries; a "
                  "training step's still pass 32 MiB at 8 x 32 tokens (its faults/call column). "
                  "The BCOO layout is slower "
                  "vmapped than looped: `vmap` of its gather + `segment_sum` materialises all K "
                  "members' messages at once (`[nnz, K, H]`, 50 MB on Cora against 3 MB for one "
                  "member) and the scatter leaves the caches; the CSR layout keeps one member's "
                  "product at a time inside one program. For populations on a CPU, use the CSR "
                  "layout (`to_csr`, `gcn_preprocess(..., csr=True)`)."]
    return lines + [""]


def _mib(m: dict | None) -> str:
    return "-" if m is None else f"{m['peak_bytes'] / 2**20:.1f}"


def _implicit(res: dict) -> list[str]:
    g = res["graph"]
    lines = ["## 3. Implicit differentiation: CGS fixed point, IFT versus unrolled backprop", "",
             f"Gradient of `sum(z*^2)` on a random graph ({g['nodes']} nodes, {g['arcs']} arcs, "
             f"{g['heads']} heads, gamma {g['gamma']}). `ift_capped` runs exactly K forward and K "
             "adjoint iterations (tol 0); `ift` stops at tol 1e-6. Peak = arguments + outputs + "
             "temporaries from XLA's compiled-memory analysis. The gradients differ at small K "
             "(unrolled differentiates K steps from z = 0, IFT the exact fixed point) and agree as "
             "K grows.",
             "",
             "| K | unrolled ms | ift_capped ms | ift ms | unrolled peak MiB | ift_capped peak MiB "
             "| ift peak MiB | IFT vs unrolled max abs diff (of max) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        ms, mem = r["ms"], r["memory"]
        lines.append(f"| {r['max_iter']} | {_f(ms['unrolled'])} | {_f(ms['ift_capped'])} | "
                     f"{_f(ms['ift'])} | {_mib(mem['unrolled'])} | {_mib(mem['ift_capped'])} | "
                     f"{_mib(mem['ift'])} | {r['ift_vs_unrolled_max_abs_diff']:.1e} "
                     f"({r['gradient_max_abs']:.1e}) |")
    s = res.get("summary")
    if s:
        lines += ["", f"Over a {_f(s['cap_growth'], 0)}x larger iteration cap, peak memory grew "
                  f"{_f(s['unrolled_peak_growth'])}x unrolled, {_f(s['ift_capped_peak_growth'])}x "
                  f"IFT (capped) and {_f(s['ift_peak_growth'])}x IFT."]
    return lines + [""]


def _fastrp(res: dict) -> list[str]:
    r = res["rows"][0]
    return ["## 4. FastRP (`tools/bench_fastrp.py`)", "",
            f"{r['nodes']} nodes, {r['edges']} arcs, dim {r['dim']}, {r['powers']} powers: "
            f"jaxnets {_f(r['jax_s'], 3)} s, SciPy {_f(r['scipy_s'], 3)} s, **jaxnets / SciPy = "
            f"{_f(r['jax_over_scipy'])}** (compile {_f(r['jax_compile_s'])} s apart; max abs diff "
            f"{r['max_abs_diff']:.1e} of {r['max_abs_value']:.0f}). With the CSR kernel "
            f"(`propagation=csr_propagation(...)`): jaxnets {_f(r['jax_csr_s'], 3)} s, **jaxnets_csr "
            f"/ SciPy = {_f(r['jax_csr_over_scipy'])}** (max abs diff "
            f"{r['max_abs_diff_csr']:.1e}). Medians of repeats, not interleaved.", ""]


def headline(results: dict) -> list[tuple[str, float | None]]:
    """The suite's headline ratios (label, value or None when not measured), for the CPU / GPU
    table."""
    rows: list[tuple[str, float | None]] = []
    gnn = results.get("gnn_epoch") or {}
    goal = gnn.get("goal_cora") or {}
    for model in ("gcn", "sage", "gat"):
        rows.append((f"Cora epoch, fastest jaxnets layout / PyG, {model} (< 1: jaxnets faster)",
                     goal.get("per_model", {}).get(model)))
    for r in gnn.get("rows", []):
        if r["graph"] != "cora" and "best_jax_over_pyg" in r:
            rows.append((f"{r['graph']} epoch, fastest jaxnets / PyG, {r['model']}",
                         r["best_jax_over_pyg"]))
    for r in gnn.get("rows", []):
        if "scan_speedup" in r:
            rows.append((f"{r['graph']} {r['model']}: per-call epochs / `lax.scan` (> 1: scan "
                         "faster)", r["scan_speedup"]))
    pops = results.get("populations") or {}
    seeds = pops.get("seeds") or {}
    rows.append((f"K = {seeds.get('k', 16)} GCN seeds: loop (BCOO) / fastest vmap (goal >= 4)",
                 seeds.get("loop_over_best_vmap")))
    for r in pops.get("subnets", [])[:1]:
        rows.append((f"K = {r['k']} subnets, {r['batch']} x {r['seq']} forward: loop / vmap",
                     r["loop_over_vmap"]))
    for r in pops.get("clients", []):
        rows.append((f"K = {r['clients']} FedAvg clients: loop / vmap (goal >= 4)",
                     r["loop_over_vmap"]))
    s = (results.get("implicit") or {}).get("summary") or {}
    if s:
        rows.append((f"CGS peak memory growth over a {_f(s['cap_growth'], 0)}x iteration cap: "
                     "unrolled", s["unrolled_peak_growth"]))
        rows.append(("... and IFT (flat = 1)", s["ift_peak_growth"]))
    fr = (results.get("fastrp") or {}).get("rows") or []
    if fr:
        rows.append(("FastRP, jaxnets (CSR kernel) / SciPy on the CPU (< 1: jaxnets faster)",
                     fr[0]["jax_csr_over_scipy"]))
    return rows


def _device_line(results: dict) -> str:
    meta = results["meta"]
    acc = meta.get("accelerator") or {"jax_backend": "cpu"}
    where = (f"{meta['machine']['cpu_model']}, {meta['machine']['threads']} thread(s)"
             if acc["jax_backend"] == "cpu" else
             f"{acc['device_kind']} (JAX backend {acc['jax_backend']})")
    return f"{where}, {meta['date']}, `{meta['command']}`"


def _gpu_column(cpu: dict, gpu: dict | None) -> list[str]:
    lines = ["## 0. Headline ratios: CPU and GPU columns", ""]
    if gpu is None:
        lines += ["CPU: " + _device_line(cpu) + ". GPU: **not measured** (no GPU was available "
                  "to the session that wrote this file). On a machine with an NVIDIA GPU and a "
                  "CUDA jaxlib, `python -m tools.bench --device gpu` runs the same suite there "
                  "(PyG on CUDA when torch sees the GPU), writes `reports/bench_gpu.md` / "
                  "`reports/bench_gpu.json` and fills this column.", ""]
    else:
        lines += [f"CPU: {_device_line(cpu)}. GPU: {_device_line(gpu)} (its full tables: "
                  "`reports/bench_gpu.md`). Each column's ratios were measured in one run on "
                  "its own device; FastRP's SciPy side is on the host CPU in both.", ""]
    gpu_values = dict(headline(gpu)) if gpu is not None else {}
    lines += ["| measure | CPU | GPU |", "|---|---|---|"]
    for label, value in headline(cpu):
        g = gpu_values.get(label)
        lines.append(f"| {label} | {'-' if value is None else _f(value, 3)} | "
                     f"{'-' if g is None else _f(g, 3)} |")
    return lines + [""]


_WRITERS = {"gnn_epoch": _gnn, "layer_gap": _layer_gap, "propagation": _propagation,
            "populations": _populations, "implicit": _implicit, "fastrp": _fastrp}


def markdown(results: dict, gpu: dict | None = None) -> str:
    """The BENCH.md text of `results`; a CPU run's report gets the GPU column from `gpu` (the
    results of `--device gpu`), or says it was not measured."""
    meta = results["meta"]
    m = meta["machine"]
    acc = meta.get("accelerator") or {"jax_backend": "cpu"}
    on_gpu = acc["jax_backend"] != "cpu"
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    lines = ["# jaxnets benchmarks", "",
             f"Generated by `{meta['command']}` ({meta['mode']} mode) on {meta['date']} in "
             f"{meta['wall_s']:.0f} s. Timings are machine-dependent: compare the ratios within "
             "this file, which were measured in one run, interleaved, on the same arrays.", "",
             f"- CPU: {m['cpu_model']}, {m['cpu_count']} cores, {m['threads']} thread(s) used "
             f"on each side (CPU affinity for XLA; `torch.set_num_threads` for torch)",
             f"- load average at start: {meta['load_at_start']:.2f} (1 min); at end: "
             f"{m['load_average_1min']:.2f} — other processes' load inflates and distorts "
             "timings (PERFORMANCE.md item 7)",
             f"- versions: {versions}; Python {m['python']}",
             f"- PyTorch Geometric: {meta['pyg']['note']}", ""]
    if on_gpu:
        lines[4:4] = [f"- **GPU**: {acc['device_kind']} x {acc['device_count']} (JAX backend "
                      f"{acc['jax_backend']}); JAX and PyG (on CUDA) run there, the CPU below is "
                      "the host (FastRP's SciPy side runs on it)"]
    else:
        lines += _gpu_column(results, gpu)
    # The end-of-run load average includes the run itself (its `threads` busy cores).
    busy = max(meta["load_at_start"], m["load_average_1min"] - m["threads"])
    if busy > 0.5 * m["cpu_count"]:
        lines += [f"**Measured on a loaded machine** (other load {busy:.1f} on {m['cpu_count']} "
                  "cores): "
                  "absolute times are inflated and the ratios distorted (torch's threads suffer "
                  "most). Re-run on an idle machine before quoting these numbers.", ""]
    for name in SECTIONS:
        if name in results:
            lines += _WRITERS[name](results[name])
        else:
            lines += [f"## {name}: not run in this mode", ""]
    return "\n".join(lines)


def write(results: dict, md_path: pathlib.Path, json_path: pathlib.Path,
          gpu: dict | None = None) -> None:
    """Writes BENCH.md and bench.json (parents created); `gpu`: see `markdown`."""
    md_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(markdown(results, gpu))
    json_path.write_text(json.dumps(results, indent=2) + "\n")
