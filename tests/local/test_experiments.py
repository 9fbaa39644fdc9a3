"""Smoke tests of the two local-learning experiments (quick configs) and their full claims (slow)."""
import importlib

import pytest

from jaxnets import experiment as experiment_lib


def _run(tmp_path, slug, quick=True):
    module = importlib.import_module(f"experiments.{slug}")
    config = experiment_lib.build_config(module, [], quick=quick)
    return experiment_lib.run_experiment(module, config, tmp_path / slug)


def test_quick_forward_algorithms_runs_and_learns(tmp_path):
    results, claim = _run(tmp_path, "forward_algorithms")
    for method in ("bp", "mf", "ff", "cafo_rand", "cafo_dfa"):
        assert len(results[method]) == 2
        assert min(results[method]) > 0.3, (method, results[method])   # chance is 0.1
    assert set(results["step_temp_bytes"]["64"]) == {"bp", "mf", "ff"}
    assert all(v is not None and v > 0 for v in results["train_time_s"].values())
    assert "+0.09" in claim.paper and (tmp_path / "forward_algorithms" / "accuracy.png").exists()


def test_quick_counter_current_runs_and_learns(tmp_path):
    results, claim = _run(tmp_path, "counter_current")
    assert len(results["ccl"]) == 2 and len(results["prototype_readout"]) == 2
    assert min(results["ccl"]) > 0.3 and min(results["bp"]) > 0.3
    assert min(results["prototype_readout"]) > 0.2
    assert "comparable" in claim.paper and (tmp_path / "counter_current" / "sweep.png").exists()


@pytest.mark.slow
def test_forward_algorithms_reproduces_the_claims(tmp_path):
    results, claim = _run(tmp_path, "forward_algorithms", quick=False)
    assert len(results["mf"]) == 3
    assert claim.passed, claim.text


@pytest.mark.slow
def test_counter_current_reproduces_the_claims(tmp_path):
    results, claim = _run(tmp_path, "counter_current", quick=False)
    assert len(results["ccl"]) == 3
    assert claim.passed, claim.text
