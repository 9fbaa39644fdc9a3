"""`jaxnets report`: run the claims and write REPORT.md, reports/report.json and README's table.

Each experiment runs in a fresh folder under `runs/report/<mode>/<name>`; its claim's verdict, the
paper's number and ours are merged into `reports/report.json` (experiments not run this time keep
their previous entry), from which REPORT.md and the paper table in README.md (between the
`paper-table` markers) are rewritten.
"""
from __future__ import annotations

import datetime
import json
import pathlib
import shutil
import traceback
from typing import Sequence

import experiments
from jaxnets import config as config_lib
from jaxnets import experiment as experiment_lib

TABLE_START = "<!-- paper-table:start -->"
TABLE_END = "<!-- paper-table:end -->"


def _run_one(name: str, quick: bool, runs_dir: pathlib.Path, reports_dir: pathlib.Path) -> dict:
    module = experiments.get(name)
    mode = "quick" if quick else "full"
    workdir = runs_dir / mode / name
    if workdir.exists():
        shutil.rmtree(workdir)
    entry = {
        "name": name,
        "paper": module.PAPER.title,
        "mode": mode,
        "date": datetime.date.today().isoformat(),
    }
    try:
        config = experiment_lib.build_config(module, quick=quick)
        _, claim = experiment_lib.run_experiment(module, config, workdir)
    except Exception as err:  # a crashed experiment is reported, not hidden
        entry.update(status="error", claim=f"{type(err).__name__}: {err}", paper_value="", ours="",
                     plot=None, traceback=traceback.format_exc())
        return entry
    plot = None
    if claim.plot and (workdir / claim.plot).exists():
        reports_dir.mkdir(parents=True, exist_ok=True)
        plot = f"{name}{'-quick' if quick else ''}{pathlib.Path(claim.plot).suffix}"
        shutil.copyfile(workdir / claim.plot, reports_dir / plot)
    entry.update(
        status="pass" if claim.passed else "fail",
        claim=claim.text,
        paper_value=claim.paper,
        ours=claim.ours,
        plot=plot,
    )
    return entry


def entry_from_run(name: str, workdir: str | pathlib.Path, reports_dir: pathlib.Path) -> dict:
    """A report entry from a finished run's `results.json`, without running it again.

    A long reproduction run elsewhere (`jaxnets run NAME --workdir W`) enters the report as it
    is. Its mode is "full" when it used the experiment's full config unchanged, "quick" for the
    smoke-test config, and "custom" otherwise (overrides), so the report never passes off a
    changed config as the paper's protocol. The claim is evaluated again from the run's results
    with the experiment's current `claim` (a pure function of them), so a check added or fixed
    after the run applies.

    Raises:
      FileNotFoundError: the run has no results.json (unfinished or wrong folder).
      ValueError: the run belongs to another experiment.
    """
    workdir = pathlib.Path(workdir)
    path = workdir / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the run is unfinished or the folder is wrong")
    record = json.loads(path.read_text())
    module = experiments.get(name)
    if record.get("experiment") != experiments._MODULES[name]:
        raise ValueError(f"{workdir} holds a run of {record.get('experiment')!r}, not {name!r}")
    full = experiment_lib.build_config(module)
    quick = experiment_lib.build_config(module, quick=True)
    mode = {config_lib.config_hash(full): "full",
            config_lib.config_hash(quick): "quick"}.get(record.get("config_hash"), "custom")
    claim = record["claim"]
    if "results" in record:  # the current claim function decides (a check fixed after the run)
        current = module.claim(record["results"])
        claim = {"passed": bool(current.passed), "text": current.text, "paper": current.paper,
                 "ours": current.ours, "plot": current.plot}
    plot = None
    if claim.get("plot") and (workdir / claim["plot"]).exists():
        reports_dir.mkdir(parents=True, exist_ok=True)
        plot = f"{name}{'-quick' if mode == 'quick' else ''}{pathlib.Path(claim['plot']).suffix}"
        shutil.copyfile(workdir / claim["plot"], reports_dir / plot)
    date = datetime.date.fromtimestamp(path.stat().st_mtime).isoformat()
    return {"name": name, "paper": module.PAPER.title, "mode": mode, "date": date,
            "status": "pass" if claim["passed"] else "fail", "claim": claim["text"],
            "paper_value": claim["paper"], "ours": claim["ours"], "plot": plot}


def _status_word(entry: dict | None) -> str:
    if entry is None:
        return "not run yet"
    word = {"pass": "reproduces", "fail": "does not reproduce", "error": "error"}[entry["status"]]
    return f"{word} ({entry['mode']} run, {entry['date']})"


def _markdown_report(entries: dict[str, dict]) -> str:
    lines = [
        "# jaxnets reproduction report",
        "",
        "Written by `jaxnets report`. Each row runs the experiment and checks the paper's central",
        "claim in its shape at CPU scale. *quick* rows ran the smoke-test configuration only and do",
        "not count as reproductions.",
        "",
        "| experiment | paper | claim (ours) | paper's number | ours | result | plot |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in experiments.names():
        entry = entries.get(name)
        if entry is None:
            continue
        result = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[entry["status"]]
        if entry["mode"] == "quick":
            result += " (quick)"
        plot = f"[plot](reports/{entry['plot']})" if entry.get("plot") else ""
        cells = [name, entry["paper"], entry["claim"], entry["paper_value"], entry["ours"], result, plot]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def paper_table(entries: dict[str, dict]) -> str:
    """The README table: one row per registered experiment with its latest status."""
    lines = ["| paper | experiment | status |", "|---|---|---|"]
    for name in experiments.names():
        module = experiments.get(name)
        lines.append(f"| {module.PAPER.title} | `{name}` | {_status_word(entries.get(name))} |")
    for name, (paper, issue) in experiments.PLANNED.items():
        if name not in experiments.names():
            lines.append(f"| {paper} | `{name}` | not implemented yet (issue {issue}) |")
    return "\n".join(lines)


def update_readme(readme: pathlib.Path, entries: dict[str, dict]) -> None:
    """Rewrites the README's paper table between its markers (no-op without the markers)."""
    if not readme.exists():
        return
    text = readme.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        return
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    readme.write_text(f"{head}{TABLE_START}\n{paper_table(entries)}\n{TABLE_END}{tail}")


def build_report(
    names: Sequence[str] | None = None,
    *,
    quick: bool = False,
    root: str | pathlib.Path = ".",
    from_runs: dict[str, str | pathlib.Path] | None = None,
) -> dict[str, dict]:
    """Runs the named experiments (all by default) and rewrites the report files under `root`.

    Args:
      names: experiments to run; None runs all of them unless `from_runs` is given.
      quick: smoke-test configs.
      root: repository root.
      from_runs: experiment name -> folder of a finished run to take as it is (not rerun).

    Returns:
      The merged entries of reports/report.json, by experiment name.
    """
    root = pathlib.Path(root)
    reports_dir = root / "reports"
    store = reports_dir / "report.json"
    entries: dict[str, dict] = json.loads(store.read_text()) if store.exists() else {}
    from_runs = dict(from_runs or {})
    for name, workdir in from_runs.items():
        entries[name] = entry_from_run(name, workdir, reports_dir)
    for name in names if names is not None else ([] if from_runs else experiments.names()):
        entries[name] = _run_one(name, quick, root / "runs" / "report", reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    (root / "REPORT.md").write_text(_markdown_report(entries))
    update_readme(root / "README.md", entries)
    return entries


__all__ = ["build_report", "entry_from_run", "paper_table", "update_readme"]
