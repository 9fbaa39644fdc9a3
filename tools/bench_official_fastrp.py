"""FastRP side by side with the official code (GTmac/FastRP), imported from a checkout.

Issue 12, item 5: the paper's own implementation and ours on the same graph and the same random
projection. The official `fastrp.py` is imported from `--official PATH` (a checkout of
https://github.com/GTmac/FastRP; nothing of it is copied here). Its module imports gensim,
pandas, matplotlib and tqdm at the top for its notebook helpers; `fastrp_wrapper` uses none of
them, so absent ones are replaced by empty stand-in modules during the import only (reported).
Current scikit-learn rejects the `np.matrix` the official merge hands to `scale`; a one-line shim
converts it with `np.asarray` (the arithmetic is the official code's).

Protocol: the official `fastrp_wrapper(A, conf)` with the BlogCatalog configuration (sparse
projection, `trans`, alpha -0.628, weights [1, 1, 7.81, 45.28], no normalisation) draws its
projection with scikit-learn (`random_state=42`); the same matrix (`components_.T`) is handed to
`jaxnets.graph.fastrp` as `projection_NxD`, so the embeddings must agree (max abs difference
reported, float32 vs the official float64). Times: median of `--repeats` calls of each, after one
warm-up call (jaxnets' compile reported apart), the process pinned to `--threads` cores
(`tools/bench/machine.pin_threads`, before jax is imported; NumPy/SciPy's threads are bounded by
the same affinity): official; jaxnets with `segment_sum`; jaxnets
through the CSR kernel (`propagation=csr_propagation(...)`, built once outside the timing).
Graphs: BlogCatalog from the checkout's `example_graphs/blogcatalog.mat` (when present) and the
synthetic power-law graph of `bench_fastrp.py`.

Usage: python tools/bench_official_fastrp.py --official /path/to/FastRP [--nodes 100000]
       [--edges 1000000] [--dim 128] [--repeats 3] [--threads 1]
       [--out runs/bench_official_fastrp.json]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import sys
import time
import types

import numpy as np
import scipy.io
import scipy.sparse as sp

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `tools.bench` importable
    sys.path.insert(0, str(REPO))

from tools.bench import machine  # noqa: E402  (imports no jax, so threads can be pinned first)

CONF = {"projection_method": "sparse", "input_matrix": "trans", "weights": [1.0, 1.0, 7.81, 45.28],
        "normalization": False, "dim": 128, "alpha": -0.628, "C": 0.1}
NOTEBOOK_ONLY = ("gensim", "pandas", "matplotlib", "tqdm")


def import_official(path: pathlib.Path) -> tuple[types.ModuleType, list[str]]:
    """Imports `fastrp.py` from a checkout; returns it and the stand-in modules it needed."""
    source = path / "fastrp.py"
    if not source.is_file():
        raise FileNotFoundError(f"{source} not found: pass --official <checkout of "
                                "https://github.com/GTmac/FastRP>")
    stand_ins = []
    for name in NOTEBOOK_ONLY:
        if importlib.util.find_spec(name) is None:
            sys.modules[name] = types.ModuleType(name)
            stand_ins.append(name)
    if "tqdm" in stand_ins:
        sys.modules["tqdm"].tqdm_notebook = lambda x, *a, **k: x
    spec = importlib.util.spec_from_file_location("official_fastrp", source)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:  # other libraries (scikit-learn via narwhals) probe sys.modules for pandas
        for name in stand_ins:
            del sys.modules[name]
    # scikit-learn >= 1.2 rejects np.matrix, which the official merge passes to `scale` (from
    # `U.todense()`); the shim converts it, the computation is unchanged.
    sklearn_scale = module.scale
    module.scale = lambda x, *a, **k: sklearn_scale(np.asarray(x), *a, **k)
    return module, stand_ins


def _median_s(fn, repeats: int) -> float:
    fn()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def compare(official: types.ModuleType, name: str, a_csr: sp.csr_matrix, dim: int,
            repeats: int) -> dict:
    """One graph: official vs jaxnets (segment_sum and CSR) on the official projection."""
    import jax
    import jax.numpy as jnp

    from _timing import time_call  # tools/_timing.py (the script folder is on sys.path)
    from jaxnets.graph import random_projection as rp
    from jaxnets.graph.csr import csr_propagation

    conf = dict(CONF, dim=dim)
    a_csr = sp.csr_matrix(a_csr, dtype=np.float64)
    n = a_csr.shape[0]
    theirs = np.asarray(official.fastrp_wrapper(a_csr, conf))
    transformer = official.random_projection.SparseRandomProjection(n_components=dim,
                                                                    random_state=42)
    projection = np.asarray(transformer.fit(a_csr).components_.T.todense(), np.float32)
    coo = a_csr.tocoo()
    senders, receivers = coo.col.astype(np.int32), coo.row.astype(np.int32)
    weights = coo.data.astype(np.float32)
    order = np.lexsort((senders, receivers))
    senders, receivers, weights = senders[order], receivers[order], weights[order]
    s_dev, r_dev, w_dev = map(jnp.asarray, (senders, receivers, weights))
    r_dev_proj = jnp.asarray(projection)
    propagation = csr_propagation(senders, receivers, n)

    @jax.jit
    def ours(s, r, w, projection_NxD, propagation=None):
        return rp.fastrp(None, s, r, n, weights=conf["weights"], input_matrix="trans",
                         beta=conf["alpha"], edge_weight_E=w, projection_NxD=projection_NxD,
                         indices_are_sorted=True, propagation=propagation)

    plain = np.asarray(ours(s_dev, r_dev, w_dev, r_dev_proj))
    fast = np.asarray(ours(s_dev, r_dev, w_dev, r_dev_proj, propagation))
    compile_s, jax_s = time_call(lambda: ours(s_dev, r_dev, w_dev, r_dev_proj), repeats)
    _, csr_s = time_call(lambda: ours(s_dev, r_dev, w_dev, r_dev_proj, propagation), repeats)
    official_s = _median_s(lambda: official.fastrp_wrapper(a_csr, conf), repeats)
    return {"graph": name, "nodes": n, "arcs": int(a_csr.nnz), "dim": dim,
            "max_abs_diff": float(np.abs(plain - theirs).max()),
            "max_abs_diff_csr": float(np.abs(fast - theirs).max()),
            "max_abs_value": float(np.abs(theirs).max()),
            "official_s": official_s, "jax_s": jax_s, "jax_csr_s": csr_s,
            "jax_compile_s": compile_s, "official_over_jax": official_s / jax_s,
            "official_over_jax_csr": official_s / csr_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", type=pathlib.Path, required=True)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads on each side (CPU affinity; XLA's pool and NumPy/SciPy)")
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path("runs/bench_official_fastrp.json"))
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    cores = machine.pin_threads(args.threads)     # before jax is imported
    import jax

    from bench_fastrp import power_law_graph
    print(f"FastRP, official vs jaxnets: {args.threads} thread(s) each (cores {cores}), "
          f"jax {jax.__version__}, load {load_at_start:.2f}", flush=True)
    official, stand_ins = import_official(args.official)
    graphs = []
    mat = args.official / "example_graphs" / "blogcatalog.mat"
    if mat.is_file():
        graphs.append(("blogcatalog", sp.csr_matrix(scipy.io.loadmat(mat)["network"])))
    s, r = power_law_graph(args.nodes, args.edges, 2.5)
    graphs.append((f"power-law {args.nodes}",
                   sp.csr_matrix((np.ones(s.size), (r, s)), shape=(args.nodes, args.nodes))))
    rows = [compare(official, name, a, args.dim, args.repeats) for name, a in graphs]
    print("| graph | nodes | arcs | official (s) | jaxnets (s) | jaxnets_csr (s) | "
          "official / jaxnets | official / jaxnets_csr | max abs diff (of max) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['graph']} | {row['nodes']} | {row['arcs']} | {row['official_s']:.3f} | "
              f"{row['jax_s']:.3f} | {row['jax_csr_s']:.3f} | {row['official_over_jax']:.2f} | "
              f"{row['official_over_jax_csr']:.2f} | {row['max_abs_diff']:.1e} "
              f"({row['max_abs_value']:.0f}) |")
    result = {"machine": machine.describe(args.threads),
              "load_average_1min_at_start": load_at_start,
              "device": str(jax.devices()[0]), "jax": jax.__version__,
              "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
              "official_commit_path": str(args.official), "stand_in_modules": stand_ins,
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
