"""Host-side run records: `metrics.jsonl` lines and the progress bar.

Everything here runs between jitted chunks of steps, never inside one.
"""
from __future__ import annotations

import json
import os
import pathlib
import sys
from typing import Any

import numpy as np
import tqdm


def to_jsonable(value: Any) -> Any:
    """Numpy/JAX scalars and arrays to plain Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "dtype") or isinstance(value, np.generic):
        array = np.asarray(value)
        return array.item() if array.ndim == 0 else array.tolist()
    return value


class MetricsLog:
    """Appends one JSON object per line to `path`; `truncate_after(step)` drops lines past a resume point."""

    def __init__(self, path: str | pathlib.Path):
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def truncate_after(self, step: int) -> None:
        """Removes records with `step > step`, written after the checkpoint a run resumes from."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill mid-write
                continue
            if record.get("step", 0) <= step:
                kept.append(line)
        self.path.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(to_jsonable(record)) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def progress_enabled(requested: bool) -> bool:
    """Progress bars are on unless requested off or `JAXNETS_PROGRESS=0` is set."""
    return requested and os.environ.get("JAXNETS_PROGRESS", "1") != "0"


def progress_bar(total: int, initial: int, description: str | None, enabled: bool) -> tqdm.tqdm:
    """A tqdm bar over optimizer steps, on stderr."""
    return tqdm.tqdm(
        total=total,
        initial=initial,
        desc=description,
        unit="step",
        disable=not progress_enabled(enabled),
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )


def summarize(value: Any) -> float:
    """A scalar for display: the mean over a population axis."""
    return float(np.mean(np.asarray(value)))
