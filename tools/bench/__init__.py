"""The benchmark suite: every speed and memory claim of jaxnets, measured side by side in one run.

`python -m tools.bench` (from the repository root) runs all benchmarks and writes `BENCH.md`
and `reports/bench.json`; `--quick` is a fast pass, `--tiny` a smoke run on toy sizes (tests).
Each benchmark is its own module here; `timing` holds the shared interleaved timer and
`machine` the record of the machine. The PyTorch Geometric side runs only when the `bench`
extra (torch, torch-geometric) is installed; without it the JAX-only parts still run and the
report says PyG was skipped.

Nothing here imports jax at package import: `__main__` first pins the thread count (CPU
affinity, read by both XLA's and torch's thread pools) and only then imports the benchmarks.
"""
