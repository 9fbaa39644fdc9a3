"""When does unstructured sparsity pay on CPU? A masked dense layer versus a BCOO layer.

Lottery tickets (jaxnets.prune.lottery) and other masks keep weights dense and multiply by a 0/1
mask, so a 90 %-sparse network costs as much as the dense one. This benchmark times the two ways
of running one D x D layer `y = x W` at a given sparsity, batch B:
  * masked: `x @ (W ⊙ M)` with dense W and M (what `apply_mask` does);
  * bcoo: W stored as `jax.experimental.sparse.BCOO` with only its nonzeros (nse = nnz);
for (1) a forward pass and (2) one training step (squared-error loss, gradient with respect to
the weights, SGD update; masked: the gradient of the dense W, masked; bcoo: the gradient of the
nonzero values only). Compile time is reported separately (first call), then the median of
`--repeats` timed calls. Ratios `bcoo_over_masked` < 1 mean sparsity pays. Timings are
machine-dependent: compare the ratios within one run, on an idle machine, never in tests.

Usage: python tools/bench_sparse.py [--sizes 256 512 1024 2048 4096] [--batch 128]
       [--sparsity 0.9] [--repeats 10] [--out runs/bench_sparse.json]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib

import jax
import jax.numpy as jnp
from jax.experimental import sparse

from _timing import time_call  # tools/_timing.py (the script folder is on sys.path)


def _layer(size: int, batch: int, sparsity: float, key: jax.Array):
    k_w, k_m, k_x, k_t = jax.random.split(key, 4)
    w_DxD = jax.random.normal(k_w, (size, size)) / jnp.sqrt(size)
    m_DxD = (jax.random.uniform(k_m, (size, size)) >= sparsity).astype(jnp.float32)
    x_BxD = jax.random.normal(k_x, (batch, size))
    t_BxD = jax.random.normal(k_t, (batch, size))
    nnz = int(m_DxD.sum())
    w_sparse = sparse.BCOO.fromdense(w_DxD * m_DxD, nse=nnz)
    return w_DxD, m_DxD, x_BxD, t_BxD, w_sparse, nnz


def bench_size(size: int, batch: int, sparsity: float, repeats: int) -> dict:
    """Forward and training-step times of the masked and the BCOO layer for one width."""
    w, m, x, t, w_sp, nnz = _layer(size, batch, sparsity, jax.random.PRNGKey(size))
    shape, lr = w_sp.shape, 1e-2

    masked_fwd = jax.jit(lambda w, m, x: x @ (w * m))
    bcoo_fwd = jax.jit(lambda data, idx, x: x @ sparse.BCOO((data, idx), shape=shape))

    def masked_loss(w, m):
        return jnp.mean((x @ (w * m) - t) ** 2)

    def bcoo_loss(data, idx):
        return jnp.mean((x @ sparse.BCOO((data, idx), shape=shape) - t) ** 2)

    masked_step = jax.jit(lambda w, m: w - lr * m * jax.grad(masked_loss)(w, m))
    bcoo_step = jax.jit(lambda data, idx: data - lr * jax.grad(bcoo_loss)(data, idx))

    out = {"size": size, "batch": batch, "sparsity": sparsity, "nnz": nnz}
    for name, fn in (("masked_forward", lambda: masked_fwd(w, m, x)),
                     ("bcoo_forward", lambda: bcoo_fwd(w_sp.data, w_sp.indices, x)),
                     ("masked_train_step", lambda: masked_step(w, m)),
                     ("bcoo_train_step", lambda: bcoo_step(w_sp.data, w_sp.indices))):
        compile_s, median_s = time_call(fn, repeats)
        out[f"{name}_compile_s"] = compile_s
        out[f"{name}_ms"] = 1e3 * median_s
    out["forward_bcoo_over_masked"] = out["bcoo_forward_ms"] / out["masked_forward_ms"]
    out["train_bcoo_over_masked"] = out["bcoo_train_step_ms"] / out["masked_train_step_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/bench_sparse.json"))
    args = parser.parse_args()
    if not 0.0 <= args.sparsity < 1.0:
        raise ValueError(f"--sparsity must be in [0, 1), got {args.sparsity}")
    if args.batch < 1 or args.repeats < 1 or min(args.sizes) < 1:
        raise ValueError("--batch, --repeats and --sizes must be positive")

    rows = []
    for size in args.sizes:
        row = bench_size(size, args.batch, args.sparsity, args.repeats)
        rows.append(row)
        print(f"D={size:5d}  forward masked {row['masked_forward_ms']:8.2f} ms  bcoo "
              f"{row['bcoo_forward_ms']:8.2f} ms  (x{row['forward_bcoo_over_masked']:.2f})   "
              f"train step masked {row['masked_train_step_ms']:8.2f} ms  bcoo "
              f"{row['bcoo_train_step_ms']:8.2f} ms  (x{row['train_bcoo_over_masked']:.2f})",
              flush=True)
    result = {"device": str(jax.devices()[0]), "jax": jax.__version__,
              "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({r["size"]: {"forward": round(r["forward_bcoo_over_masked"], 3),
                                  "train": round(r["train_bcoo_over_masked"], 3)}
                      for r in rows}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
