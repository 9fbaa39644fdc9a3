"""The one training loop of jaxnets: `fit`.

A method supplies a pure `step_fn(state) -> (state, metrics)` (it reads its batch from
`state.step`, see `jaxnets.train.data`) and optionally a pure `eval_fn(state) -> metrics`.
`fit` owns everything else:
  * several steps per jitted call with `lax.scan`, followed in the same call by the evaluation and
    the best-so-far bookkeeping (so there is one host round-trip per chunk, none per step);
  * populations: a state with a leading seed axis (`init_population`) is trained with the step
    `vmap`-ed (the step counter, shared by all members, unbatched), and its seed axis is sharded
    over the devices when there are several;
  * a progress bar, `metrics.jsonl`, early stopping on an evaluation metric;
  * a NaN guard: a non-finite loss stops the run with `NonFiniteLossError` naming the step and
    the seed, and the last good checkpoint stays on disk;
  * Orbax checkpoints (last N and best) and exact resume: checkpoints are written only at chunk
    boundaries and hold the whole loop state, so a resumed run is bit-identical to one never
    interrupted.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
import time
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.train import checkpoint as checkpoint_lib
from jaxnets.train import progress as progress_lib
from jaxnets.train.state import TrainState, population_size

StepFn = Callable[[TrainState], tuple[TrainState, dict[str, jax.Array]]]
EvalFn = Callable[[TrainState], dict[str, jax.Array]]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """Track the best evaluation and optionally stop when it stops improving.

    Attributes:
      metric: key of the metric in `eval_fn`'s output, e.g. "val/accuracy".
      mode: "max" or "min".
      patience: evaluations without improvement (in every seed of a population) before stopping;
        None keeps the best state without ever stopping early.
    """

    metric: str
    mode: str = "max"
    patience: int | None = None

    def __post_init__(self):
        if self.mode not in ("max", "min"):
            raise ValueError(f"EarlyStopping.mode must be 'max' or 'min', got {self.mode!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"EarlyStopping.patience must be >= 1 or None, got {self.patience}")


@flax.struct.dataclass
class LoopState:
    """Everything `fit` carries between chunks; checkpointed whole for exact resume.

    Shapes: scalars for one run, [S] for a population of S seeds.
    """

    train: TrainState
    best: TrainState | None
    best_score: jax.Array
    best_step: jax.Array
    evals_since_best: jax.Array


@dataclasses.dataclass
class FitResult:
    """What `fit` returns.

    Attributes:
      state: the final train state.
      best_state: the train state at the best evaluation (per seed), if early stopping was set.
      best_score: [S] or scalar best evaluation metric; None without early stopping.
      best_step: the step at which each seed's best evaluation was seen.
      history: one dict per chunk: "step", "train/<name>" (mean over the chunk) and eval metrics.
      stop_reason: "completed" or "early_stopping".
      resumed_from: the checkpoint step the run resumed from, if any.
    """

    state: TrainState
    best_state: TrainState | None
    best_score: np.ndarray | None
    best_step: np.ndarray | None
    history: list[dict]
    stop_reason: str
    resumed_from: int | None


def _where_tree(mask: jax.Array, new: Any, old: Any) -> Any:
    """Per-seed select between two pytrees whose leaves have a leading axis matching `mask`."""

    def select(n, o):
        m = jnp.reshape(mask, mask.shape + (1,) * (jnp.ndim(n) - mask.ndim))
        return jnp.where(m, n, o)

    return jax.tree.map(select, new, old)


def _shard_population(tree: Any, size: int | None) -> Any:
    """Places a population's leading seed axis across all devices when it divides evenly."""
    devices = jax.devices()
    if size is None or len(devices) == 1 or size % len(devices) != 0:
        return tree
    mesh = jax.sharding.Mesh(np.array(devices), ("seeds",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))
    return jax.device_put(tree, sharding)


def _initial_loop_state(state: TrainState, early_stopping: EarlyStopping | None) -> LoopState:
    shape = jnp.shape(state.step)
    worst = -jnp.inf if early_stopping is None or early_stopping.mode == "max" else jnp.inf
    return LoopState(
        train=state,
        best=state if early_stopping is not None else None,
        best_score=jnp.full(shape, worst, jnp.float32),
        best_step=jnp.zeros(shape, jnp.int32),
        evals_since_best=jnp.zeros(shape, jnp.int32),
    )


def _stopped(loop: LoopState, early_stopping: EarlyStopping | None) -> jax.Array:
    """Scalar bool: every member of the run has run out of patience."""
    if early_stopping is None or early_stopping.patience is None:
        return jnp.asarray(False)
    return jnp.all(loop.evals_since_best >= early_stopping.patience)


def _build_chunk_fn(
    step_fn: StepFn,
    eval_fn: EvalFn | None,
    early_stopping: EarlyStopping | None,
    population: bool,
    with_data: bool = False,
) -> Callable:
    """The jitted unit of work: `periods` x (`period` steps under `lax.scan`, then evaluation and
    best tracking), itself under `lax.scan`, plus an optional shorter `tail` period.

    Once early stopping triggers inside a call, the remaining periods of that call leave the loop
    state untouched, so a run stops at exactly the evaluation it would stop at with one call per
    period.
    """
    def bind(fn: Callable | None, data: Any) -> Callable | None:
        """`fn(state, data)` as `fn(state)`, vmapped over a population (data is shared)."""
        if fn is None:
            return None
        one = (lambda state: fn(state, data)) if with_data else fn
        if not population:
            return one

        def lockstep(state: TrainState):
            # Members advance in lockstep (`fit` checks they start level), so the step counter is
            # passed unbatched: step-dependent control flow (a `lax.switch` on a schedule's
            # phase, as the sequential local-loss schedule) stays a branch instead of a select
            # over every branch.
            step = state.step[0]
            return jax.vmap(lambda member: one(member.replace(step=step)))(state)

        return lockstep

    def run_chunk(loop: LoopState, data: Any, period: int, periods: int, tail: int):
        step, evaluate = bind(step_fn, data), bind(eval_fn, data)
        train_period = functools.partial(_train_period, step, evaluate, early_stopping)
        return _run_periods(train_period, early_stopping, loop, period, periods, tail)

    return jax.jit(run_chunk, static_argnums=(2, 3, 4))


def _train_period(step: Callable, evaluate: Callable | None,
                  early_stopping: EarlyStopping | None, loop: LoopState, length: int):
    """`length` steps under `lax.scan`, then evaluation and best tracking."""
    def body(train, _):
        return step(train)

    train, train_metrics = jax.lax.scan(body, loop.train, None, length=length)
    eval_metrics = evaluate(train) if evaluate is not None else {}
    loop = loop.replace(train=train)
    if early_stopping is not None:
        if early_stopping.metric not in eval_metrics:
            raise KeyError(
                f"early-stopping metric {early_stopping.metric!r} is not among the "
                f"evaluation metrics {sorted(eval_metrics)}"
            )
        score = eval_metrics[early_stopping.metric].astype(jnp.float32)
        improved = (
            score > loop.best_score if early_stopping.mode == "max" else score < loop.best_score
        )
        loop = loop.replace(
            best=_where_tree(improved, train, loop.best),
            best_score=jnp.where(improved, score, loop.best_score),
            best_step=jnp.where(improved, train.step, loop.best_step),
            evals_since_best=jnp.where(improved, 0, loop.evals_since_best + 1),
        )
    return loop, (train_metrics, eval_metrics)


def _run_periods(train_period: Callable, early_stopping: EarlyStopping | None, loop: LoopState,
                 period: int, periods: int, tail: int):
    """`periods` x `train_period(period)` under `lax.scan`, then an optional `tail` period."""
    def guarded_period(loop: LoopState, length: int):
        # A period after early stopping has triggered is computed but discarded (a select, not a
        # `lax.cond`, so the step function is traced exactly once); this costs at most one
        # call's worth of steps at the very end of a run.
        active = ~_stopped(loop, early_stopping)
        new_loop, outputs = train_period(loop, length)
        loop = jax.tree.map(lambda n, o: jnp.where(active, n, o), new_loop, loop)
        return loop, (outputs, active, jnp.max(loop.train.step))

    outputs = []
    if periods:
        loop, stacked = jax.lax.scan(
            lambda l, _: guarded_period(l, period), loop, None, length=periods
        )
        outputs.append(stacked)
    if tail:
        loop, single = guarded_period(loop, tail)
        outputs.append(jax.tree.map(lambda x: x[None], single))
    return loop, outputs


def _check_finite(train_metrics: dict, loss_key: str, first_step: int, population: bool) -> None:
    """Raises NonFiniteLossError naming the first step (and seed) whose loss is not finite."""
    if loss_key not in train_metrics:
        return
    loss = np.asarray(train_metrics[loss_key])  # [length] or [length, S]
    bad = ~np.isfinite(loss)
    if not bad.any():
        return
    where = np.argwhere(bad)[0]
    step = first_step + int(where[0]) + 1
    seed = f" in population member {int(where[1])}" if population and len(where) > 1 else ""
    raise NonFiniteLossError(
        f"{loss_key} became {loss[tuple(where)]} at step {step}{seed}; training stopped. "
        "The last good checkpoint (if a workdir was given) is kept; lower the learning rate or "
        "check the inputs for NaN/inf."
    )


def _period_records(
    outputs: list, first_step: int, loss_key: str, population: bool, t0: float
) -> list[dict]:
    """History records of the periods that ran (early-stopped ones are dropped), after checking
    each period's loss in order."""
    records = []
    step = first_step
    for (train_metrics, eval_metrics), active, steps_done in outputs:
        for i in np.flatnonzero(np.asarray(active)):
            train_i = {k: np.asarray(v)[i] for k, v in train_metrics.items()}
            eval_i = {k: np.asarray(v)[i] for k, v in eval_metrics.items()}
            _check_finite(train_i, loss_key, step, population)
            step = int(np.asarray(steps_done)[i])
            records.append(_history_record(step, train_i, eval_i, time.perf_counter() - t0))
    return records


def _history_record(step: int, train_metrics: dict, eval_metrics: dict, elapsed: float) -> dict:
    record: dict[str, Any] = {"step": step}
    for name, values in train_metrics.items():
        record[f"train/{name}"] = np.mean(np.asarray(values), axis=0)
    for name, value in eval_metrics.items():
        record[name] = np.asarray(value)
    record["time_s"] = elapsed
    return progress_lib.to_jsonable(record)


def _config_differences(saved: dict | None, current: dict | None) -> list[str]:
    saved, current = saved or {}, current or {}
    return sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))


def fit(
    state: TrainState,
    step_fn: StepFn,
    *,
    num_steps: int,
    eval_fn: EvalFn | None = None,
    eval_every: int | None = None,
    steps_per_call: int | None = None,
    early_stopping: EarlyStopping | None = None,
    workdir: str | pathlib.Path | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 2,
    config: dict | None = None,
    resume: bool = False,
    progress: bool = True,
    description: str | None = None,
    loss_key: str = "loss",
    stop_after_steps: int | None = None,
    data: Any = None,
) -> FitResult:
    """Trains `state` for `num_steps` optimizer steps of `step_fn`.

    Args:
      state: initial `TrainState` (a population if its `step` has a leading axis).
      step_fn: pure `state -> (state, metrics)`; must increment `state.step` by one and read its
        batch and randomness from `state.step` (`state.step_key()`), never from the host.
      num_steps: total optimizer steps of the run (a resumed run continues up to it).
      eval_fn: pure `state -> metrics` run after every `eval_every` steps (inside the same jitted
        call as the steps).
      eval_every: steps between evaluations (default: min(num_steps, 100)).
      steps_per_call: steps per jitted call, a multiple of `eval_every` (default: about 100);
        evaluations inside a call run on the device under `lax.scan`, and the host sees the
        metrics once per call.
      early_stopping: tracks the best evaluation per seed (its state is returned) and stops when
        no seed improved for `patience` evaluations.
      workdir: where `metrics.jsonl` and `checkpoints/` are written; None keeps nothing on disk.
      checkpoint_every: steps between checkpoints, a multiple of `steps_per_call` (default:
        every call). A checkpoint is also written at the end of the run.
      keep_checkpoints: how many recent checkpoints to keep (the best is kept in addition).
      config: JSON-able run config, stored in each checkpoint and checked on resume.
      resume: continue from the newest readable checkpoint in `workdir`. Without it, a workdir that
        already holds checkpoints is an error (nothing is overwritten silently).
      progress: show a progress bar (also off when `JAXNETS_PROGRESS=0`).
      description: progress bar label.
      loss_key: the train metric watched by the NaN guard.
      stop_after_steps: stop (as if interrupted) once this many steps are done in total, a
        multiple of `eval_every`; for tests and for splitting a long run across jobs.
      data: optional pytree of arrays (features, graph, labels, masks) shared by every step;
        when given, `step_fn(state, data)` and `eval_fn(state, data)` receive it as an argument
        of the jitted call. Pass large arrays this way rather than closing over them: a
        closed-over array becomes a constant baked into the compiled program, which XLA then
        spends seconds constant-folding and copies into every executable.

    Returns:
      A `FitResult`.

    Raises:
      NonFiniteLossError: when the loss becomes NaN/inf.
      CheckpointError: when `workdir` holds checkpoints that cannot be used.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if early_stopping is not None and eval_fn is None:
        raise ValueError("early_stopping needs an eval_fn to read its metric from")
    period = eval_every or min(num_steps, 100)
    if period < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    steps_per_call = steps_per_call or period * max(1, 100 // period)
    if steps_per_call % period:
        raise ValueError(
            f"steps_per_call ({steps_per_call}) must be a multiple of eval_every ({period})"
        )
    checkpoint_every = checkpoint_every or steps_per_call
    if checkpoint_every % steps_per_call:
        raise ValueError(
            f"checkpoint_every ({checkpoint_every}) must be a multiple of steps_per_call "
            f"({steps_per_call})"
        )
    if stop_after_steps is not None and stop_after_steps % period:
        raise ValueError(
            f"stop_after_steps ({stop_after_steps}) must be a multiple of eval_every ({period})"
        )

    size = population_size(state)
    population = size is not None
    if population and np.unique(np.asarray(jax.device_get(state.step))).size > 1:
        raise ValueError("the members of a population must share their step counter (a "
                         "population advances in lockstep); got steps "
                         f"{np.asarray(jax.device_get(state.step)).tolist()}")
    loop = _shard_population(_initial_loop_state(state, early_stopping), size)
    chunk_fn = _build_chunk_fn(step_fn, eval_fn, early_stopping, population,
                               with_data=data is not None)

    checkpointer = log = None
    resumed_from = None
    history: list[dict] = []
    if workdir is not None:
        workdir = pathlib.Path(workdir)
        log = progress_lib.MetricsLog(workdir / "metrics.jsonl")
        checkpointer = checkpoint_lib.Checkpointer(
            workdir / "checkpoints",
            keep=keep_checkpoints,
            best_metric_fn=(lambda m: m["score"]) if early_stopping is not None else None,
            best_mode=early_stopping.mode if early_stopping is not None else "max",
        )
        existing = checkpointer.all_steps()
        if existing and not resume:
            checkpointer.close()
            raise checkpoint_lib.CheckpointError(
                f"{workdir} already holds checkpoints (steps {existing}); resume them with "
                "resume=True (`--resume`) or choose a fresh workdir"
            )
        if existing:
            restored = checkpointer.restore_latest(loop)
            loop, meta = restored
            differences = _config_differences(meta.get("config"), config)
            if differences:
                checkpointer.close()
                raise checkpoint_lib.CheckpointError(
                    f"the checkpoint in {workdir} was made with a different config "
                    f"(keys {differences}); resume with the same config or use a fresh workdir"
                )
            resumed_from = int(meta["step"])
            log.truncate_after(resumed_from)
            history = log.read()
        elif not resume:
            log.truncate_after(-1)

    start = int(np.max(np.asarray(loop.train.step)))
    end = min(num_steps, stop_after_steps) if stop_after_steps is not None else num_steps
    bar = progress_lib.progress_bar(num_steps, start, description, progress)
    stop_reason = "completed"
    step = start
    last_saved = resumed_from
    t0 = time.perf_counter()
    try:
        while step < end:
            periods, tail = divmod(min(steps_per_call, end - step), period)
            previous = loop
            loop, outputs = chunk_fn(loop, data, period, periods, tail)
            try:
                records = _period_records(jax.device_get(outputs), step, loss_key, population, t0)
            except NonFiniteLossError:
                loop = previous
                raise
            done = int(np.max(np.asarray(loop.train.step)))
            bar.update(done - step)
            step = done
            history.extend(records)
            for record in records:
                if log is not None:
                    log.write(record)
            if records:
                bar.set_postfix(
                    {k: f"{progress_lib.summarize(v):.4g}" for k, v in records[-1].items()
                     if k not in ("step", "time_s")}, refresh=False
                )
            patience_out = bool(_stopped(loop, early_stopping))
            if checkpointer is not None and (
                step % checkpoint_every == 0 or step == end or patience_out
            ):
                score = (
                    progress_lib.summarize(records[-1][early_stopping.metric])
                    if early_stopping is not None and records else None
                )
                _save(checkpointer, loop, step, config, score)
                last_saved = step
            if patience_out:
                stop_reason = "early_stopping"
                break
    finally:
        bar.close()
        if checkpointer is not None:
            if last_saved != step and step > start and not _nan_pending(loop, step):
                _save(checkpointer, loop, step, config, None)
            checkpointer.close()

    return FitResult(
        state=loop.train,
        best_state=loop.best,
        best_score=None if early_stopping is None else np.asarray(loop.best_score),
        best_step=None if early_stopping is None else np.asarray(loop.best_step),
        history=history,
        stop_reason=stop_reason,
        resumed_from=resumed_from,
    )


def _nan_pending(loop: LoopState, step: int) -> bool:
    """True when the in-memory loop is older than `step` (a NaN chunk was rolled back)."""
    return int(np.max(np.asarray(loop.train.step))) != step


def _save(
    checkpointer: checkpoint_lib.Checkpointer,
    loop: LoopState,
    step: int,
    config: dict | None,
    score: float | None,
) -> None:
    """Writes the loop state with the run's metadata; `score` ranks it for keep-best."""
    meta = {
        "step": step,
        "config": config or {},
        "versions": {"jax": jax.__version__, "jaxnets": _version()},
    }
    metrics = None
    if score is not None and math.isfinite(score):
        metrics = {"score": score}
    checkpointer.save(step, loop, meta, metrics)


def _version() -> str:
    from jaxnets import __version__

    return __version__
