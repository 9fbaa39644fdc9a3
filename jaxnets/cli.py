"""The `jaxnets` command: `list`, `run NAME`, `report`.

  jaxnets list
  jaxnets run NAME [--set key=value ...] [--workdir DIR] [--resume] [--quick]
  jaxnets report [--quick] [--only NAME ...]
"""
from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys
from typing import Sequence

import experiments
from jaxnets import config as config_lib
from jaxnets import experiment as experiment_lib
from jaxnets.train import CheckpointError, NonFiniteLossError


def _cmd_list(_: argparse.Namespace) -> int:
    width = max(len(n) for n in experiments.names())
    for name in experiments.names():
        module = experiments.get(name)
        print(f"{name:<{width}}  {module.DESCRIPTION}  [{module.PAPER.title}]")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    module = experiments.get(args.name)
    config = experiment_lib.build_config(module, args.set or (), quick=args.quick)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = pathlib.Path(args.workdir or f"runs/{args.name}-{stamp}")
    print(f"running {args.name} in {workdir}", file=sys.stderr)
    results, claim = experiment_lib.run_experiment(module, config, workdir, resume=args.resume)
    print(json.dumps({"workdir": str(workdir), "claim": claim.text, "passed": claim.passed,
                      "paper": claim.paper, "ours": claim.ours}, indent=2))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from jaxnets import report

    from_runs = {}
    for item in args.from_run or ():
        name, sep, workdir = item.partition("=")
        if not sep or not workdir:
            print(f"--from-run expects NAME=WORKDIR, got {item!r}", file=sys.stderr)
            return 2
        from_runs[name] = workdir
    for name in [*(args.only or ()), *from_runs]:
        experiments.get(name)  # unknown names fail before anything runs
    entries = report.build_report(args.only, quick=args.quick, root=args.root,
                                  from_runs=from_runs)
    ran = [*from_runs, *(args.only or ([] if from_runs else experiments.names()))]
    failed = [n for n in ran if entries[n]["status"] != "pass"]
    for name in ran:
        print(f"{name}: {entries[name]['status']}  {entries[name]['claim']}")
    print(f"wrote {pathlib.Path(args.root) / 'REPORT.md'}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxnets", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments").set_defaults(func=_cmd_list)
    run = sub.add_parser("run", help="run one experiment")
    run.add_argument("name", choices=experiments.names(), metavar="NAME")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    run.add_argument("--workdir", help="run folder (default runs/NAME-TIMESTAMP)")
    run.add_argument("--resume", action="store_true", help="continue the run in --workdir")
    run.add_argument("--quick", action="store_true", help="use the smoke-test config")
    run.set_defaults(func=_cmd_run)
    rep = sub.add_parser("report", help="run the claims and write REPORT.md")
    rep.add_argument("--quick", action="store_true", help="smoke-test configs (not reproductions)")
    rep.add_argument("--only", nargs="+", metavar="NAME", help="only these experiments")
    rep.add_argument("--root", default=".", help="repository root to write REPORT.md into")
    rep.add_argument("--from-run", action="append", metavar="NAME=WORKDIR",
                     help="take a finished run's results.json instead of rerunning NAME")
    rep.set_defaults(func=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (config_lib.ConfigError, FileExistsError, experiments.UnknownExperimentError) as err:
        message = err.args[0] if err.args else err
        print(f"jaxnets: error: {message}", file=sys.stderr)
        return 2
    except (CheckpointError, NonFiniteLossError) as err:
        print(f"jaxnets: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
