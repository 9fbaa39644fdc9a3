"""Benchmark 2: a population of K models under `vmap` versus a Python loop of jitted calls.

* seeds: K = 16 independently initialised GCNs (jaxnets.nn.GCN, Cora, sparse features), one
  training epoch each. `vmap`: one jitted call that runs the epoch step vmapped over the K
  params/optimizer states and dropout keys. `loop`: K calls of the jitted one-model step.
  Timed with PyG's dropout 0.5 before both layers, and without dropout: input dropout gives
  every seed its own sparse values `X * M_k`, so the K first-layer products cannot share one wide
  pass over X; without it they do (`jaxnets.graph.csr`'s population rule).
* subnets: `tools/bench_subnets.py` (imported, run with its own arguments): K sampled subnets of
  a transformer supernet, forward, and one training step over `train_k` vmapped subnets against
  `train_k` one-subnet steps.
* clients: `tools/bench_fed_round.py` (imported likewise): one FedAvg round of K clients (an MLP
  on digits shards, 5 local SGD steps each), the vmapped round against a loop of jitted client
  updates; the two new global models are checked equal.

The issue's goal on CPU is `loop / vmap >= 4` at K = 16.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np

from tools.bench import gnn_data, gnn_jax
from tools.bench.timing import time_interleaved

GOAL_LOOP_OVER_VMAP = 4.0


def _population(inputs: gnn_jax.JaxInputs, num_classes: int, k: int, csr: bool,
                dropout_rate: float = 0.5):
    """(vmapped call, looped call) for one epoch of K GCN seeds on one input layout."""
    tx = gnn_jax.optimizer("gcn")
    forward, init = gnn_jax.library_forward("gcn", num_classes, csr=csr,
                                            dropout_rate=dropout_rate)
    _, step = gnn_jax.epoch_step(forward, tx)
    init_keys = jax.random.split(jax.random.PRNGKey(0), k)
    opt_init = jax.jit(tx.init)
    singles = []
    for key in init_keys:
        p = init(key, inputs)
        singles.append((p, opt_init(p)))
    params, opt = jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *singles)
    batched = jax.jit(jax.vmap(step, in_axes=(0, 0, None, 0)))
    single = jax.jit(step)
    epoch_keys = jax.random.split(jax.random.PRNGKey(1), k)
    loop_keys = [epoch_keys[i] for i in range(k)]  # sliced once, outside the timed loop

    def vmapped():
        return batched(params, opt, inputs, epoch_keys)[2]

    def looped():
        return [single(p, o, inputs, key)[2] for (p, o), key in zip(singles, loop_keys)]

    return vmapped, looped


def seeds(data: gnn_data.GraphArrays, k: int, *, rounds: int) -> dict:
    """K GCN seeds: one vmapped epoch versus K jitted one-seed epochs (same work).

    Timed on both feature/graph layouts: BCOO features + edge list (`propagate`), and
    `CSRMatrix` features + `CSREdges` (`jaxnets.graph.csr`, whose `vmap` rule lays the K
    models' features side by side as one wide CSR product).
    """
    inputs = gnn_jax.jax_inputs(data)
    calls = {}
    for layout, csr, rate in (("", False, 0.5), ("_csr", True, 0.5), ("_csr_nodrop", True, 0.0)):
        vmapped, looped = _population(inputs, data.num_classes, k, csr, rate)
        losses = jnp.stack(looped())
        assert jnp.allclose(vmapped(), losses, rtol=1e-4, atol=1e-5), "vmap and loop disagree"
        calls["vmap" + layout], calls["loop" + layout] = vmapped, looped
    t = time_interleaved(calls, rounds)
    ms = {name: 1e3 * x.median_s for name, x in t.items()}
    return {"k": k, "graph": data.name, "model": "gcn", "ms": ms,
            "timings": {name: x.as_dict() for name, x in t.items()},
            "loop_over_vmap": ms["loop"] / ms["vmap"],
            "loop_over_vmap_csr": ms["loop_csr"] / ms["vmap_csr"],
            "loop_over_vmap_csr_nodrop": ms["loop_csr_nodrop"] / ms["vmap_csr_nodrop"],
            "loop_over_best_vmap": ms["loop"] / min(ms["vmap"], ms["vmap_csr"])}


def subnets(k: int, train_k: int, batch: int, seq: int, repeats: int) -> dict:
    """Runs `tools/bench_subnets.py`'s `main` with these arguments; returns its JSON result."""
    import bench_subnets  # tools/ is on sys.path (tools.bench.paths)
    argv = ["bench_subnets.py", "--k", str(k), "--train-k", str(train_k), "--batch", str(batch),
            "--seq", str(seq), "--repeats", str(repeats)]
    out = io.StringIO()
    with mock.patch.object(sys, "argv", argv), contextlib.redirect_stdout(out):
        bench_subnets.main()
    return json.loads(out.getvalue())


def clients(clients: int, local_steps: int, batch: int, hidden: int, repeats: int) -> dict:
    """Runs `tools/bench_fed_round.py`'s `main` with these arguments; returns its JSON result."""
    import bench_fed_round  # tools/ is on sys.path (tools.bench.paths)
    argv = ["bench_fed_round.py", "--clients", str(clients), "--local-steps", str(local_steps),
            "--batch", str(batch), "--hidden", str(hidden), "--repeats", str(repeats)]
    out = io.StringIO()
    with mock.patch.object(sys, "argv", argv), contextlib.redirect_stdout(out):
        bench_fed_round.main()
    return json.loads(out.getvalue())


def run(data: gnn_data.GraphArrays, *, k: int, rounds: int, subnet_settings: list[dict],
        client_settings: list[dict] = (), log=print) -> dict:
    """Seeds on `data`, then `bench_subnets` once per entry of `subnet_settings`, then
    `bench_fed_round` once per entry of `client_settings`."""
    result = {"goal_loop_over_vmap": GOAL_LOOP_OVER_VMAP, "seeds": seeds(data, k, rounds=rounds),
              "subnets": [], "clients": []}
    s = result["seeds"]
    log(f"  seeds K={k}: vmap {s['ms']['vmap']:.2f} ms, loop {s['ms']['loop']:.2f} ms, "
        f"loop/vmap {s['loop_over_vmap']:.2f}; CSR layout: vmap {s['ms']['vmap_csr']:.2f} ms, "
        f"loop {s['ms']['loop_csr']:.2f} ms, loop/vmap {s['loop_over_vmap_csr']:.2f}; "
        f"without dropout: loop/vmap {s['loop_over_vmap_csr_nodrop']:.2f}")
    for settings in subnet_settings:
        r = subnets(**settings)
        result["subnets"].append(r)
        log(f"  subnets K={r['k']} batch {r['batch']}x{r['seq']}: forward loop/vmap "
            f"{r['loop_over_vmap']:.2f}, training separate/vmap "
            f"{r['train_separate_over_vmap']:.2f}")
    for settings in client_settings:
        r = clients(**settings)
        result["clients"].append(r)
        log(f"  clients K={r['clients']}: round vmap {r['vmap_round_ms']:.2f} ms, loop "
            f"{r['loop_round_ms']:.2f} ms, loop/vmap {r['loop_over_vmap']:.2f}")
    return result
