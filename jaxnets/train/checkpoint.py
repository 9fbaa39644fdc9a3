"""Orbax checkpoints of a training run: keep the last N and the best, restore or fail loudly.

A checkpoint is one Orbax `Composite` of two items (STYLE.md rule 3):
  * `state`: a `StandardSave` of the whole loop state pytree (train state, best-so-far state,
    early-stopping trackers), so resume is exact;
  * `meta`: a `JsonSave` of the config, library versions and the data cursor (the step).
Restores go into an abstract target built from the freshly initialised state (`eval_shape`-like,
with its shardings), so a checkpoint from a different model is an error naming the mismatching leaf
rather than a silent re-initialisation. A corrupted newest checkpoint falls back to the previous
complete one with a warning; if none can be read the restore raises `CheckpointError`.
"""
from __future__ import annotations

import logging
import pathlib
import time
import warnings
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

PyTree = Any

# Orbax logs every save at INFO level; a training loop with a progress bar does not want that.
logging.getLogger("absl").setLevel(logging.WARNING)


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used (corrupt, incomplete or from another model)."""


def _path_name(path: tuple) -> str:
    """'train/params/Dense_0/kernel' for a key path, whatever the container types (dict, dataclass,
    namedtuple) — Orbax's metadata tree stores every container as a dict or list."""
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


def _leaf_signature(tree: PyTree) -> dict[str, tuple[tuple[int, ...], str]]:
    """Maps each leaf's key path to (shape, dtype) for comparing a checkpoint with a target."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {
        _path_name(path): (tuple(np.shape(leaf)), str(np.dtype(leaf.dtype)))
        for path, leaf in flat
        if hasattr(leaf, "dtype")
    }


def _describe_mismatch(saved: PyTree, target: PyTree) -> str | None:
    """A sentence naming the first leaf whose presence, shape or dtype differs; None if they match."""
    saved_sig, target_sig = _leaf_signature(saved), _leaf_signature(target)
    for name in sorted(set(saved_sig) | set(target_sig)):
        if name not in saved_sig:
            return f"leaf {name} is expected by the model but missing from the checkpoint"
        if name not in target_sig:
            return f"leaf {name} is in the checkpoint but not in the model"
        if saved_sig[name] != target_sig[name]:
            return (
                f"leaf {name} has shape/dtype {saved_sig[name]} in the checkpoint but "
                f"{target_sig[name]} in the model"
            )
    return None


class Checkpointer:
    """Saves and restores a run's loop state under `directory` with one Orbax CheckpointManager.

    Args:
      directory: where step folders are written (created if missing).
      keep: how many of the most recent checkpoints to keep.
      best_metric_fn: optional map from the metrics dict passed to `save` to a float; when given,
        the best checkpoint by it is kept as well as the last `keep`.
      best_mode: "max" or "min" for `best_metric_fn`.
    """

    def __init__(
        self,
        directory: str | pathlib.Path,
        *,
        keep: int = 2,
        best_metric_fn: Callable[[dict], float] | None = None,
        best_mode: str = "max",
    ):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        if best_mode not in ("max", "min"):
            raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}")
        self.directory = pathlib.Path(directory).resolve()
        policies = [checkpoint_managers.LatestN(n=keep)]
        if best_metric_fn is not None:
            policies.append(
                checkpoint_managers.BestN(
                    get_metric_fn=best_metric_fn, reverse=best_mode == "min", n=1
                )
            )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=checkpoint_managers.AnyPreservationPolicy(policies),
            create=True,
            enable_async_checkpointing=False,
        )
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=options,
            item_handlers={
                "state": ocp.StandardCheckpointHandler(),
                "meta": ocp.JsonCheckpointHandler(),
            },
        )

    def all_steps(self) -> list[int]:
        """Steps of the finalised checkpoints on disk, ascending."""
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def save(self, step: int, state: PyTree, meta: dict, metrics: dict | None = None) -> None:
        """Writes a checkpoint for `step` (unless one exists) and blocks until it is on disk."""
        if int(step) in self._manager.all_steps():
            return
        self._manager.save(
            int(step),
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
            metrics=metrics,
            force=True,
        )
        self._manager.wait_until_finished()

    def restore(self, step: int, target: PyTree) -> tuple[PyTree, dict]:
        """Restores checkpoint `step` into the structure, shapes and shardings of `target`.

        Raises:
          CheckpointError: naming the leaf when the checkpoint does not match `target`, or with
            Orbax's own message when the files cannot be read.
        """
        try:
            saved = self._manager.item_metadata(step)["state"]
        except Exception as err:  # orbax raises several types for unreadable metadata
            raise CheckpointError(
                f"checkpoint at step {step} in {self.directory} has unreadable metadata: {err}"
            ) from err
        if saved is not None:
            mismatch = _describe_mismatch(saved, target)
            if mismatch is not None:
                raise CheckpointError(
                    f"checkpoint at step {step} in {self.directory} does not match the model: "
                    f"{mismatch}. Use a fresh --workdir or the config the checkpoint was made with."
                )
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            restored = self._manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
                ),
            )
        except Exception as err:  # corrupted array files surface as assorted errors
            raise CheckpointError(
                f"checkpoint at step {step} in {self.directory} cannot be read: "
                f"{type(err).__name__}: {err}"
            ) from err
        return restored["state"], dict(restored["meta"])

    def restore_latest(self, target: PyTree) -> tuple[PyTree, dict] | None:
        """Restores the newest readable checkpoint; None only if the directory holds none at all.

        A corrupted newest checkpoint is skipped with a warning that names it, and the previous
        complete one is used; a checkpoint that does not match the model is never skipped (that is
        a config error, not corruption). If checkpoints exist but none can be read, raises
        `CheckpointError` — a run is never silently restarted from scratch.
        """
        steps = self.all_steps()
        if not steps:
            return None
        errors: list[tuple[int, str]] = []
        for step in reversed(steps):
            try:
                restored = self.restore(step, target)
            except CheckpointError as err:
                if "does not match the model" in str(err):
                    raise
                errors.append((step, str(err)))
                continue
            for bad_step, message in errors:  # only once a good one is found: keep evidence
                quarantined = self._quarantine(bad_step)
                warnings.warn(
                    f"skipping unreadable checkpoint at step {bad_step} (moved to "
                    f"{quarantined.name}); resuming from step {step}. {message}",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return restored
        raise CheckpointError(
            f"none of the checkpoints in {self.directory} (steps {steps}) can be read:\n  "
            + "\n  ".join(message for _, message in errors)
            + "\nDelete the folder to start over, or restore it from a backup."
        )

    def _quarantine(self, step: int) -> pathlib.Path:
        """Renames an unreadable step folder out of Orbax's way, keeping it for inspection."""
        source = self.directory / str(step)
        target = self.directory / f"unreadable-{step}-{int(time.time())}"
        if source.exists():
            source.rename(target)
        self._manager.reload()
        return target

    def close(self) -> None:
        """Waits for pending writes and releases the manager."""
        self._manager.wait_until_finished()
        self._manager.close()
