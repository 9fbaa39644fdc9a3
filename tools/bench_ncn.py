"""NCN training epoch time on Cora: one compiled epoch of cn0 (GAE), NCN and NCNC.

One epoch = the 70 % training edges in mini-batches of ``--batch`` positives (plus as many
uniform negatives), target-link removal, Adam; exactly `experiments/ncn.py`'s step. Compile time
(first call) is reported apart from the median of ``--repeats`` further epochs. Timings depend on
the machine and its load: compare the rows within one run, never in tests.

Usage: python tools/bench_ncn.py [--hidden 64] [--batch 1152] [--repeats 3]
       [--models cn0 ncn ncnc] [--set train_cap=-1 test_cap=-1] [--out runs/bench_ncn.json]
``--set`` overrides the experiment's config (``-1`` caps: every completion candidate, as the
official Cora command; ``completion_route=padded`` times NCNC's max-degree-padded completion
instead of the default, ragged when the batch fits).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import jax

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from _timing import time_call  # noqa: E402  tools/_timing.py

import experiments.ncn as ncn  # noqa: E402
from jaxnets import experiment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1152)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(ncn.MODELS))
    parser.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/bench_ncn.json"))
    args = parser.parse_args()
    if args.repeats < 1 or args.hidden < 1 or args.batch < 1:
        raise ValueError("--repeats, --hidden and --batch must be positive")
    config = experiment.build_config(ncn, [f"hidden={args.hidden}", f"batch_size={args.batch}",
                                                *args.set])
    data = ncn.load_data(config, 0)
    arrays = ncn._arrays(data)
    rows = []
    for kind in args.models:
        init, train, _ = ncn.make_functions(config, kind, data["num_nodes"])
        state = list(init(jax.random.PRNGKey(0), arrays))
        epoch = [0]

        def one_epoch():
            params, opt, loss = train(state[0], state[1], jax.random.PRNGKey(1), epoch[0],
                                      arrays, 1)
            state[0], state[1] = params, opt
            epoch[0] += 1
            return loss

        compile_s, median_s = time_call(one_epoch, args.repeats)
        rows.append({"model": kind, "compile_s": compile_s, "epoch_s": median_s})
    print("| model | compile + first epoch (s) | median epoch (s) |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['compile_s']:.2f} | {r['epoch_s']:.3f} |")
    result = {"device": str(jax.devices()[0]), "jax": jax.__version__,
              "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
              "hidden": args.hidden, "batch": args.batch, "set": args.set, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
