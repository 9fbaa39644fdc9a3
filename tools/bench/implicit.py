"""Benchmark 3: CGS fixed points, implicit (IFT) gradients versus backprop through the iterations.

`jaxnets.models.cgs.cgs_fixed_point` solves H per-head linear systems z = gamma A z + b on a
random graph (N nodes, E arcs, H heads, gamma 0.5). The gradient of `sum(z*^2)` with respect to
the encoder outputs (edge values and b) is computed three ways as the iteration cap K grows:

* `unrolled`: `solver="unrolled"`, exactly K applications under `lax.scan`, plain backprop
  (stores every iterate: memory grows with K);
* `ift_capped`: `solver="ift"` with `tol=0`, so the forward and the adjoint solve both run the full
  K iterations (same iteration count as unrolled; memory should be flat in K);
* `ift`: `solver="ift"` with CGS's `tol=1e-6`, stopping when converged (time flat once K exceeds
  the iterations needed).

Time: interleaved medians of the compiled gradient (compiled once, ahead of time, which
also gives the memory analysis; `compile_s` then times only the first call). Memory: XLA's
compiled-memory analysis of the
jitted gradient (`jit(f).lower(...).compile().memory_analysis()`): `temp_bytes` (scratch the
program allocates, where saved iterates live) and `peak_bytes` = arguments + outputs + temps,
which does not depend on process RSS or on the allocator.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnets.models.cgs import cgs_fixed_point
from tools.bench import gnn_data
from tools.bench.timing import time_interleaved

SOLVERS = {"unrolled": ("unrolled", 1e-6), "ift_capped": ("ift", 0.0), "ift": ("ift", 1e-6)}


def _memory(compiled) -> dict | None:
    """Compiled-memory analysis of a compiled function in bytes, or None where unavailable."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # noqa: BLE001  backends without the analysis
        return None
    if stats is None:
        return None
    temp = int(stats.temp_size_in_bytes)
    args_b = int(stats.argument_size_in_bytes)
    out_b = int(stats.output_size_in_bytes)
    alias = int(getattr(stats, "alias_size_in_bytes", 0))
    return {"temp_bytes": temp, "argument_bytes": args_b, "output_bytes": out_b,
            "peak_bytes": temp + args_b + out_b - alias}


def _gradient(solver: str, tol: float, max_iter: int, senders, receivers):
    def loss(raw_ExH, b_NxH):
        z, _ = cgs_fixed_point(raw_ExH, b_NxH, senders, receivers, gamma=0.5, solver=solver,
                               tol=tol, max_iter=max_iter)
        return jnp.sum(z ** 2)

    return jax.jit(jax.grad(loss, argnums=(0, 1)))


def run(*, nodes: int, arcs: int, heads: int, caps: tuple[int, ...], rounds: int,
        log=print) -> dict:
    """Time and compiled memory of the three gradients at each iteration cap."""
    g = gnn_data.synthetic(nodes, arcs, 4, 0.5)
    senders, receivers = jnp.asarray(g.senders), jnp.asarray(g.receivers)
    k_raw, k_b = jax.random.split(jax.random.PRNGKey(0))
    raw = jax.random.uniform(k_raw, (g.num_edges, heads))
    b = jax.random.normal(k_b, (nodes, heads))
    rows = []
    for cap in caps:
        grads = {name: _gradient(solver, tol, cap, senders, receivers).lower(raw, b).compile()
                 for name, (solver, tol) in SOLVERS.items()}
        memory = {name: _memory(f) for name, f in grads.items()}
        timings = time_interleaved({k: (lambda f=f: f(raw, b)) for k, f in grads.items()}, rounds)
        ref = grads["unrolled"](raw, b)
        capped = grads["ift_capped"](raw, b)
        diff = max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(ref, capped))
        scale = max(float(jnp.max(jnp.abs(x))) for x in ref)
        row = {"max_iter": cap, "ms": {k: 1e3 * t.median_s for k, t in timings.items()},
               "memory": memory, "timings": {k: t.as_dict() for k, t in timings.items()},
               "ift_vs_unrolled_max_abs_diff": diff, "gradient_max_abs": scale}
        rows.append(row)
        mem = "  ".join(f"{k} {m['peak_bytes'] / 2**20:7.1f} MiB" for k, m in memory.items()
                        if m is not None)
        log(f"  K={cap:5d} " + "  ".join(f"{k} {v:8.2f} ms" for k, v in row["ms"].items())
            + f"   peak {mem}")
    summary = {}
    first, last = rows[0]["memory"], rows[-1]["memory"]
    if len(rows) > 1 and all(first[k] and last[k] for k in SOLVERS):
        span = rows[-1]["max_iter"] / rows[0]["max_iter"]
        summary = {f"{k}_peak_growth": last[k]["peak_bytes"] / first[k]["peak_bytes"]
                   for k in SOLVERS}
        summary["cap_growth"] = span
    return {"graph": {"nodes": nodes, "arcs": g.num_edges, "heads": heads, "gamma": 0.5},
            "rows": rows, "summary": summary}
