"""The experiment contract and its runner.

An experiment is a module in `experiments/` with
  * `PAPER`: the paper it reproduces (title, authors, venue),
  * `DESCRIPTION`: one line for `jaxnets list`,
  * `get_config() -> ConfigDict`: defaults that reproduce at CPU scale,
  * `quick(config) -> ConfigDict`: a shrunken config for smoke tests and `report --quick`,
  * `run(config, workdir) -> dict`: trains and evaluates, writes metrics.jsonl, plots and
    checkpoints under `workdir`, is resumable, and returns a JSON-able results dict,
  * `claim(results) -> Claim`: the paper's central claim in its shape at CPU scale, with the
    paper's own number beside ours.
`run_experiment` wraps `run` with what every experiment needs: the workdir, `config.json`,
`results.json` (numbers, config hash, versions, wall time) and the claim's verdict.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import platform
import time
from types import ModuleType
from typing import Any, Sequence

import jax
import ml_collections

from jaxnets import __version__
from jaxnets import config as config_lib
from jaxnets.train.progress import to_jsonable


@dataclasses.dataclass(frozen=True)
class Claim:
    """A paper's claim checked on our results.

    Attributes:
      passed: whether our numbers satisfy the claim's condition.
      text: the condition in words, with our numbers.
      paper: the paper's own number(s), as the paper states them.
      ours: our number(s), e.g. "81.2 ± 0.5 (5 seeds)".
      plot: file name of the plot in the workdir that shows it best, if any.
    """

    passed: bool
    text: str
    paper: str
    ours: str
    plot: str | None = None


@dataclasses.dataclass(frozen=True)
class Paper:
    """Citation of the paper an experiment reproduces."""

    title: str
    authors: str
    venue: str


REQUIRED = ("PAPER", "DESCRIPTION", "get_config", "quick", "run", "claim")


def check_module(module: ModuleType) -> None:
    """Raises TypeError naming what an experiment module lacks."""
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if missing:
        raise TypeError(f"experiment {module.__name__} lacks {', '.join(missing)}")


def build_config(
    module: ModuleType, overrides: Sequence[str] = (), quick: bool = False
) -> ml_collections.ConfigDict:
    """The experiment's config, shrunk by `quick` if asked, with `--set` overrides applied last."""
    config = module.get_config()
    if quick:
        config = module.quick(config)
    return config_lib.apply_overrides(config, overrides)


def run_experiment(
    module: ModuleType,
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    *,
    resume: bool = False,
) -> tuple[dict, Claim]:
    """Runs an experiment in `workdir` and checks its claim.

    Writes `config.json` before the run and `results.json` (the results, the claim, the config
    hash, library versions and wall time) after it.

    Args:
      module: the experiment module.
      config: its config (see `build_config`).
      workdir: the run's folder; it must be fresh unless `resume`.
      resume: continue the checkpointed run in `workdir`.
    """
    workdir = pathlib.Path(workdir)
    config_path = workdir / "config.json"
    if config_path.exists() and not resume:
        raise FileExistsError(
            f"{workdir} already holds a run; pass --resume to continue it or choose another "
            "--workdir"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(config_lib.to_dict(config), indent=2) + "\n")
    start = time.perf_counter()
    results = module.run(config, workdir)
    wall = time.perf_counter() - start
    claim = module.claim(results)
    record = {
        "experiment": module.__name__.rsplit(".", 1)[-1],
        "results": to_jsonable(results),
        "claim": dataclasses.asdict(claim),
        "config": config_lib.to_dict(config),
        "config_hash": config_lib.config_hash(config),
        "versions": versions(),
        "wall_time_s": wall,
    }
    (workdir / "results.json").write_text(json.dumps(record, indent=2) + "\n")
    return results, claim


def versions() -> dict[str, Any]:
    """Library and platform versions recorded with every result."""
    import flax
    import optax

    return {
        "jaxnets": __version__,
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "devices": jax.device_count(),
    }
