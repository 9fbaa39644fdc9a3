"""Plots written next to results.json (matplotlib, no display needed)."""
from __future__ import annotations

import pathlib
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_curves(
    history: Sequence[dict],
    keys: Sequence[str],
    path: str | pathlib.Path,
    *,
    title: str,
    reference: float | None = None,
    reference_label: str = "paper",
) -> pathlib.Path:
    """Plots `keys` from a `fit` history against the step; population metrics get one line per
    seed (thin) and their mean (thick). A horizontal `reference` line marks the paper's number."""
    path = pathlib.Path(path)
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = [record["step"] for record in history]
    for key in keys:
        values = np.asarray([record[key] for record in history], dtype=float)
        if values.ndim == 2:
            ax.plot(steps, values, linewidth=0.6, alpha=0.4)
            values = values.mean(axis=1)
        ax.plot(steps, values, linewidth=2, label=key)
    if reference is not None:
        ax.axhline(reference, color="k", linestyle="--", linewidth=1, label=reference_label)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_histories(
    histories: dict[str, Sequence[dict]], key: str, path: str | pathlib.Path, *, title: str
) -> pathlib.Path:
    """One curve of metric `key` per named run (e.g. {"ift": history, "unrolled": history}), the
    histories sharing their evaluation steps."""
    names = list(histories)
    first = histories[names[0]]
    merged = [{"step": record["step"], **{f"{n}: {key}": histories[n][i][key] for n in names}}
              for i, record in enumerate(first)]
    return plot_curves(merged, [f"{n}: {key}" for n in names], path, title=title)


def mean_std(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> str:
    """'81.2 ± 0.5 (5 seeds)' for a list of per-seed values."""
    array = np.asarray(values, dtype=float) * scale
    return f"{array.mean():.{digits}f} ± {array.std():.{digits}f} ({array.size} seeds)"
