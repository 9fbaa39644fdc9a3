"""Tests of `fit`: learning, populations, sharding, early stopping, NaN guard, exact resume."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toy_problem
from jaxnets.train import (
    CheckpointError,
    Checkpointer,
    EarlyStopping,
    NonFiniteLossError,
    batch_indices,
    fit,
    init_population,
)

HERE = pathlib.Path(__file__).parent


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def _assert_identical(a, b):
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def _run(workdir=None, num_steps=40, **kw):
    init_fn, step_fn, eval_fn = toy_problem.make_problem(**kw.pop("problem", {}))
    state = kw.pop("state", None) or init_fn(jax.random.PRNGKey(0))
    return fit(
        state, step_fn, num_steps=num_steps, eval_fn=eval_fn, eval_every=5,
        early_stopping=kw.pop("early_stopping", EarlyStopping("val/neg_mse", "max")),
        workdir=workdir, config={"problem": "toy"}, progress=False, **kw,
    )


def test_fit_learns_and_logs(tmp_path):
    result = _run(tmp_path, num_steps=60)
    losses = [r["train/loss"] for r in result.history]
    assert len(result.history) == 12 and result.history[-1]["step"] == 60
    assert losses[-1] < 0.5 * losses[0]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(5, 61, 5))
    assert int(result.state.step) == 60
    assert result.best_score <= 0 and result.best_step % 5 == 0


def test_batch_indices_are_a_permutation_per_epoch():
    key = jax.random.PRNGKey(3)
    epoch = jnp.concatenate([batch_indices(key, jnp.int32(s), 96, 16) for s in range(6)])
    assert sorted(np.asarray(epoch).tolist()) == list(range(96))
    next_epoch = jnp.concatenate([batch_indices(key, jnp.int32(s), 96, 16) for s in range(6, 12)])
    assert not np.array_equal(epoch, next_epoch)
    with pytest.raises(ValueError, match="batch_size"):
        batch_indices(key, jnp.int32(0), 10, 11)


def test_population_equals_separate_runs():
    init_fn, step_fn, eval_fn = toy_problem.make_problem()
    population = init_population(init_fn, [0, 1, 2])
    together = fit(population, step_fn, num_steps=20, eval_every=5, progress=False)
    for i, seed in enumerate([0, 1, 2]):
        alone = fit(init_fn(jax.random.PRNGKey(seed)), step_fn, num_steps=20, eval_every=5,
                    progress=False)
        for a, b in zip(_leaves(alone.state.params), _leaves(together.state.params), strict=True):
            np.testing.assert_allclose(a, b[i], rtol=2e-5, atol=2e-6)


def test_population_is_sharded_over_devices():
    assert jax.device_count() == 8, "conftest asks for 8 fake CPU devices"
    init_fn, step_fn, eval_fn = toy_problem.make_problem()
    result = fit(init_population(init_fn, list(range(8))), step_fn, num_steps=10, eval_fn=eval_fn,
                 eval_every=5, early_stopping=EarlyStopping("val/neg_mse"), progress=False)
    leaf = jax.tree.leaves(result.state.params)[0]
    assert len(leaf.sharding.device_set) == 8
    assert result.best_score.shape == (8,)


def test_step_is_traced_once_per_chunk_length():
    init_fn, step_fn, eval_fn = toy_problem.make_problem()
    counted = chex.assert_max_traces(step_fn, n=1)
    fit(init_fn(jax.random.PRNGKey(0)), counted, num_steps=30, eval_every=5, progress=False)


def test_early_stopping_stops_and_keeps_best():
    result = _run(None, num_steps=2000, problem={"learning_rate": 0.05},
                  early_stopping=EarlyStopping("val/neg_mse", "max", patience=3))
    assert result.stop_reason == "early_stopping"
    assert int(result.state.step) < 2000
    scores = [r["val/neg_mse"] for r in result.history]
    assert result.best_score == pytest.approx(max(scores), rel=1e-6)
    assert int(result.best_step) == result.history[int(np.argmax(scores))]["step"]


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError, match="at step 12"):
        _run(tmp_path, num_steps=40, problem={"poison_step": 12}, steps_per_call=5)
    steps = Checkpointer(tmp_path / "checkpoints").all_steps()
    assert max(steps) == 10
    init_fn, _, _ = toy_problem.make_problem()
    restored = _run(tmp_path, num_steps=10, resume=True)
    assert restored.resumed_from == 10
    assert all(np.isfinite(x).all() for x in _leaves(restored.state.params))


def test_resume_in_process_is_bit_identical(tmp_path):
    straight = _run(tmp_path / "a", num_steps=40)
    first = _run(tmp_path / "b", num_steps=40, stop_after_steps=20)
    assert int(first.state.step) == 20
    second = _run(tmp_path / "b", num_steps=40, resume=True)
    assert second.resumed_from == 20
    _assert_identical(straight.state, second.state)
    _assert_identical(straight.best_state, second.best_state)
    assert [r["step"] for r in second.history] == list(range(5, 41, 5))


def test_existing_checkpoints_without_resume_is_an_error(tmp_path):
    _run(tmp_path, num_steps=10)
    with pytest.raises(CheckpointError, match="resume"):
        _run(tmp_path, num_steps=10)


def test_resume_with_another_model_names_the_leaf(tmp_path):
    _run(tmp_path, num_steps=10)
    init_fn, step_fn, eval_fn = toy_problem.make_problem()
    state = init_fn(jax.random.PRNGKey(0))
    params = jax.tree.map(lambda x: x, state.params)
    params["Dense_0"]["kernel"] = jnp.zeros((8, 32))
    other = state.replace(params=params, opt_state=state.opt_state)
    with pytest.raises(CheckpointError, match=r"Dense_0.*kernel"):
        fit(other, step_fn, num_steps=20, eval_fn=eval_fn, eval_every=5,
            early_stopping=EarlyStopping("val/neg_mse"), workdir=tmp_path,
            config={"problem": "toy"}, resume=True, progress=False)


def test_resume_with_another_config_is_an_error(tmp_path):
    _run(tmp_path, num_steps=10)
    init_fn, step_fn, eval_fn = toy_problem.make_problem()
    with pytest.raises(CheckpointError, match="different config"):
        fit(init_fn(jax.random.PRNGKey(0)), step_fn, num_steps=20, eval_fn=eval_fn, eval_every=5,
            early_stopping=EarlyStopping("val/neg_mse"), workdir=tmp_path,
            config={"problem": "other"}, resume=True, progress=False)


def _corrupt(step_dir: pathlib.Path) -> None:
    """Truncates every array data file of a checkpoint and garbles its metadata."""
    files = [p for p in step_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3] + b"\x00garbage")


def test_corrupted_newest_checkpoint_falls_back_to_previous(tmp_path):
    straight = _run(tmp_path / "a", num_steps=40)
    _run(tmp_path / "b", num_steps=40, stop_after_steps=20, steps_per_call=5, checkpoint_every=5)
    assert Checkpointer(tmp_path / "b" / "checkpoints").all_steps()[-2:] == [15, 20]
    _corrupt(tmp_path / "b" / "checkpoints" / "20")
    with pytest.warns(RuntimeWarning, match="skipping unreadable checkpoint at step 20"):
        resumed = _run(tmp_path / "b", num_steps=40, resume=True, steps_per_call=5,
                       checkpoint_every=5)
    assert resumed.resumed_from == 15
    _assert_identical(straight.state, resumed.state)


def test_all_checkpoints_corrupted_is_an_error_not_a_restart(tmp_path):
    _run(tmp_path, num_steps=10, steps_per_call=5, checkpoint_every=5)
    for step_dir in (tmp_path / "checkpoints").iterdir():
        if step_dir.name.isdigit():
            _corrupt(step_dir)
    with pytest.raises(CheckpointError, match="none of the checkpoints"):
        _run(tmp_path, num_steps=20, resume=True)
    # The unreadable checkpoints stay where they are: asking again gives the same error.
    with pytest.raises(CheckpointError, match="none of the checkpoints"):
        _run(tmp_path, num_steps=20, resume=True)


def _subprocess_env():
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env["JAX_PLATFORMS"] = "cpu"
    return env


def test_sigkill_mid_training_then_resume_is_bit_identical(tmp_path):
    script = HERE / "resumable_run.py"
    env = _subprocess_env()
    subprocess.run([sys.executable, str(script), str(tmp_path / "a"), "200", str(tmp_path / "a.npz")],
                   check=True, env=env, timeout=300)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "b"), "200", str(tmp_path / "b.npz"), "--slow"],
        env=env,
    )
    checkpoints = tmp_path / "b" / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline:
        steps = [int(p.name) for p in checkpoints.glob("*") if p.name.isdigit()] if checkpoints.exists() else []
        if steps and max(steps) >= 40:
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (tmp_path / "b.npz").exists(), "the run finished before it was killed"
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "b"), "200", str(tmp_path / "b.npz"), "--resume"],
        check=True, env=env, timeout=300,
    )
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert a.files == b.files
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])


def test_many_periods_per_call_equal_one_call_per_period():
    """Evaluation and early stopping inside a scanned call change nothing but the speed."""
    kw = dict(num_steps=2000, problem={"learning_rate": 0.05},
              early_stopping=EarlyStopping("val/neg_mse", "max", patience=3))
    one = _run(None, steps_per_call=5, **dict(kw))
    many = _run(None, steps_per_call=200, **dict(kw))
    assert one.stop_reason == many.stop_reason == "early_stopping"
    assert int(one.state.step) == int(many.state.step)
    assert [r["step"] for r in one.history] == [r["step"] for r in many.history]
    _assert_identical(one.state, many.state)
    _assert_identical(one.best_state, many.best_state)


def test_data_argument_equals_closing_over_the_arrays_and_is_not_baked_in():
    """`fit(..., data=)` passes the arrays as arguments of the jitted call: the same result as a
    step that closes over them, and new data of the same shapes needs no recompilation."""
    import optax

    from jaxnets.train import TrainState

    x = jax.random.normal(jax.random.PRNGKey(1), (64, 3))
    y = x @ jnp.array([1.0, -2.0, 0.5])
    tx = optax.sgd(0.1)

    def loss(params, data):
        return jnp.mean((data["x"] @ params - data["y"]) ** 2)

    def step(state, data):
        value, grads = jax.value_and_grad(loss)(state.params, data)
        return state.apply_gradients(tx, grads), {"loss": value}

    def evaluate(state, data):
        return {"val/neg_mse": -loss(state.params, data)}

    def run(**kw):
        state = TrainState.create(jnp.zeros(3), tx, jax.random.PRNGKey(0))
        return fit(state, num_steps=20, eval_every=5, progress=False, **kw)

    data = {"x": x, "y": y}
    closed = run(step_fn=lambda s: step(s, data), eval_fn=lambda s: evaluate(s, data))
    passed = run(step_fn=step, eval_fn=evaluate, data=data)
    _assert_identical(closed.state.params, passed.state.params)
    assert closed.history == [dict(r, time_s=c["time_s"]) for r, c in
                              zip(passed.history, closed.history)]
    # the compiled chunk holds no copy of the arrays when they are passed as data
    from jaxnets.train.loop import _build_chunk_fn, _initial_loop_state

    big = {"x": jax.random.normal(jax.random.PRNGKey(2), (4096, 3)),
           "y": jax.random.normal(jax.random.PRNGKey(3), (4096,))}
    loop = _initial_loop_state(TrainState.create(jnp.zeros(3), tx, jax.random.PRNGKey(0)), None)
    as_data = _build_chunk_fn(step, None, None, False, with_data=True)
    closed_over = _build_chunk_fn(lambda s: step(s, big), None, None, False)
    text_data = as_data.lower(loop, big, 5, 1, 0).as_text()
    text_closed = closed_over.lower(loop, None, 5, 1, 0).as_text()
    assert len(text_closed) > len(text_data) + 4096 * 3 * 4
