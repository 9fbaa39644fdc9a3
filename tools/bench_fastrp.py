"""FastRP embedding time: jaxnets (jitted segment_sum) versus NumPy/SciPy sparse, as a ratio.

Both compute the same algorithm from the same random projection R (FastRP, Chen et al. CIKM 2019,
Alg. 1, as in the official `fastrp.py`): `M = D^-1 A`, `N_1 = M diag(deg^beta) R`,
`N_k = M N_{k-1}`, the weighted merge of the q powers (optionally row-L2-normalised first) and
column standardisation. The graph is a synthetic power-law (Chung-Lu) graph: node weights
`w_i ~ (i + 1)^(-1/(gamma - 1))`, undirected pairs drawn with endpoint probabilities
proportional to `w`, self-loops and duplicates dropped, both directions stored; the default
size has more than 1M directed edges.

  * jaxnets: `fastrp` (one jitted function of the edge list and R: degrees and the
    normalisation computed inside, each power added into the weighted sum as it is produced;
    edges sorted by receiver and `indices_are_sorted=True`). First call (compile) reported
    apart.
  * jaxnets_csr: the same call given `propagation=csr_propagation(senders, receivers, N)`
    (built once, outside the timing), so the products run through XLA's CPU CSR kernel.
  * scipy: the official formulation on a CSR matrix A (float32): degrees, `D^-1 A`, q sparse x
    dense products, merge and standardisation in NumPy.
The embeddings are compared (max abs difference, float32) before timing; on the default graph
the two differ by ~1e-2 where entries reach ~270 (hubs), and a float64 SciPy run shows that the
difference is SciPy's float32 rounding (jaxnets is within 3e-5 of float64). Reported: the median of
`--repeats` calls of each, and `jax_over_scipy` (< 1: jaxnets faster). Timings are machine-
dependent: compare the ratio within one run, on an idle machine, never in tests.

Usage: python tools/bench_fastrp.py [--nodes 100000] [--edges 1000000] [--gamma 2.5]
       [--dim 128] [--repeats 5] [--normalize] [--out runs/bench_fastrp.json]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from _timing import time_call  # tools/_timing.py (the script folder is on sys.path)
from jaxnets.graph import random_projection as rp
from jaxnets.graph.csr import csr_propagation

WEIGHTS = (1.0, 1.0, 7.81, 45.28)   # official BlogCatalog configuration
BETA = -0.628


def power_law_graph(num_nodes: int, min_edges: int, gamma: float, seed: int = 0):
    """Undirected Chung-Lu graph with >= `min_edges` directed edges, sorted by receiver."""
    rng = np.random.default_rng(seed)
    w = (np.arange(num_nodes) + 1.0) ** (-1.0 / (gamma - 1.0))
    p = w / w.sum()
    keys = np.empty(0, np.int64)
    draw = min_edges // 2
    while 2 * keys.size < min_edges:
        a = rng.choice(num_nodes, size=draw, p=p)
        b = rng.choice(num_nodes, size=draw, p=p)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keep = lo != hi
        keys = np.unique(np.concatenate([keys, lo[keep] * num_nodes + hi[keep]]))
        draw = max(draw // 4, 1000)
    lo, hi = keys // num_nodes, keys % num_nodes
    senders = np.concatenate([lo, hi])
    receivers = np.concatenate([hi, lo])
    order = np.lexsort((senders, receivers))
    return senders[order].astype(np.int32), receivers[order].astype(np.int32)


def scipy_fastrp(a_csr: sp.csr_matrix, r: np.ndarray, weights, beta: float,
                 normalize_powers: bool) -> np.ndarray:
    """The official formulation with SciPy sparse x NumPy dense products (float32)."""
    deg = np.asarray(a_csr.sum(axis=1)).ravel()
    safe = np.where(deg > 0, deg, 1.0)
    inv = np.where(deg > 0, 1.0 / safe, 0.0).astype(np.float32)
    ell = np.where(deg > 0, safe ** beta, 0.0).astype(np.float32)
    m = sp.diags(inv) @ a_csr
    cur = m @ (ell[:, None] * r)
    out = np.zeros_like(cur)
    for k, wk in enumerate(weights):
        if k:
            cur = m @ cur
        term = cur
        if normalize_powers:
            norm = np.sqrt((cur * cur).sum(1, keepdims=True))
            term = cur / np.where(norm > 0, norm, 1.0)
        out += wk * term
    out -= out.mean(0, keepdims=True)
    std = out.std(0, keepdims=True)
    return out / np.where(std > 0, std, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=1_000_000, help="min directed edges")
    parser.add_argument("--gamma", type=float, default=2.5, help="power-law exponent (> 2)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--normalize", action="store_true", help="per-power L2 normalisation")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/bench_fastrp.json"))
    args = parser.parse_args()
    if args.nodes < 2 or args.edges < 1 or args.dim < 1 or args.repeats < 1:
        raise ValueError("--nodes >= 2, --edges, --dim and --repeats >= 1 are required")
    if not args.gamma > 2.0:
        raise ValueError(f"--gamma must be > 2, got {args.gamma}")

    senders, receivers = power_law_graph(args.nodes, args.edges, args.gamma)
    n, e = args.nodes, senders.size
    r = rp.sparse_rp_kernel(jax.random.PRNGKey(0), n, args.dim)
    r_np = np.asarray(r)
    a_csr = sp.csr_matrix((np.ones(e, np.float32), (receivers, senders)), shape=(n, n))

    @jax.jit
    def jax_fastrp(senders_E, receivers_E, r_NxD):
        return rp.fastrp(None, senders_E, receivers_E, n, weights=WEIGHTS, beta=BETA,
                         normalize_powers=args.normalize, projection_NxD=r_NxD,
                         indices_are_sorted=True)

    @jax.jit
    def jax_fastrp_csr(senders_E, receivers_E, r_NxD, propagation):
        return rp.fastrp(None, senders_E, receivers_E, n, weights=WEIGHTS, beta=BETA,
                         normalize_powers=args.normalize, projection_NxD=r_NxD,
                         indices_are_sorted=True, propagation=propagation)

    s_dev, r_dev = jnp.asarray(senders), jnp.asarray(receivers)
    propagation = csr_propagation(senders, receivers, n)
    ours = np.asarray(jax_fastrp(s_dev, r_dev, r))
    ours_csr = np.asarray(jax_fastrp_csr(s_dev, r_dev, r, propagation))
    theirs = scipy_fastrp(a_csr, r_np, WEIGHTS, BETA, args.normalize)
    max_diff = float(np.abs(ours - theirs).max())
    max_diff_csr = float(np.abs(ours_csr - theirs).max())
    max_value = float(np.abs(theirs).max())

    jax_compile_s, jax_s = time_call(lambda: jax_fastrp(s_dev, r_dev, r), args.repeats)
    _, csr_s = time_call(lambda: jax_fastrp_csr(s_dev, r_dev, r, propagation), args.repeats)
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        scipy_fastrp(a_csr, r_np, WEIGHTS, BETA, args.normalize)
        runs.append(time.perf_counter() - start)
    scipy_s = statistics.median(runs)
    degrees = np.bincount(receivers, minlength=n)
    row = {"nodes": n, "edges": int(e), "max_degree": int(degrees.max()),
           "mean_degree": float(degrees.mean()), "gamma": args.gamma, "dim": args.dim,
           "powers": len(WEIGHTS), "normalize_powers": args.normalize,
           "max_abs_diff": max_diff, "max_abs_value": max_value,
           "jax_compile_s": jax_compile_s, "jax_s": jax_s,
           "scipy_s": scipy_s, "jax_over_scipy": jax_s / scipy_s,
           "jax_csr_s": csr_s, "jax_csr_over_scipy": csr_s / scipy_s,
           "max_abs_diff_csr": max_diff_csr}
    print("| nodes | edges | dim | q | jaxnets (s) | jaxnets_csr (s) | scipy (s) | jax / scipy | "
          "csr / scipy | compile (s) | max abs diff (of max abs) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {n} | {e} | {args.dim} | {len(WEIGHTS)} | {jax_s:.3f} | {csr_s:.3f} | "
          f"{scipy_s:.3f} | {row['jax_over_scipy']:.2f} | {row['jax_csr_over_scipy']:.2f} | "
          f"{jax_compile_s:.2f} | {max_diff:.1e} ({max_value:.0f}) |")
    result = {"device": str(jax.devices()[0]), "jax": jax.__version__,
              "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
              "rows": [row]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
