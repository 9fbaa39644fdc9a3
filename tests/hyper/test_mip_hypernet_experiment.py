"""The mip_hypernet experiment: a fast smoke test of the quick config; the full claim as slow."""
import json

import numpy as np
import pytest

from experiments import mip_hypernet
from jaxnets import experiment as experiment_lib


def _run(tmp_path, overrides=(), quick=True):
    config = experiment_lib.build_config(mip_hypernet, list(overrides), quick=quick)
    return experiment_lib.run_experiment(mip_hypernet, config, tmp_path / "run")


def test_quick_mip_hypernet_runs_and_reports(tmp_path):
    results, claim = _run(tmp_path)
    curves = {k: np.asarray(v) for k, v in results["curves"].items()}
    assert set(curves) == {"standard", "mip"}
    assert curves["mip"].shape == (2, 2, 2)            # seeds x learning rates x evaluations
    assert results["steps"] == [20, 40]
    assert all(np.isfinite(c).all() for c in curves.values())
    # the two formulations train the same target: same parameter count up to the input layer
    assert results["target_params"] == 64 * 32 + 32 + 32 * 10 + 10
    diff = results["hyper_params"]["mip"] - results["hyper_params"]["standard"]
    assert diff == 8  # one more input (cos and sin) into the first hidden layer of width 8
    assert np.asarray(results["speedup"]).shape == (2, 2)
    # the standard network starts with weights ~ gamma-proportional and far too large; after 40
    # steps it is still well above MIP at every learning rate and seed
    assert np.all(curves["mip"][:, :, -1] < curves["standard"][:, :, -1])
    assert (tmp_path / "run" / "curves.png").exists()
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["claim"]["paper"] == mip_hypernet.PAPER_RESULT
    assert "seeds" in claim.ours


def test_steps_to_reach_and_bad_formulations(tmp_path):
    assert mip_hypernet.steps_to_reach([10, 20, 30], np.array([3.0, 1.0, 0.5]), 1.0) == 20
    assert mip_hypernet.steps_to_reach([10, 20], np.array([3.0, 2.0]), 1.0) == float("inf")
    with pytest.raises(ValueError, match="formulations must include"):
        _run(tmp_path, ["formulations=('mip',)"])


@pytest.mark.slow
def test_mip_hypernet_reproduces_faster_and_steadier_training(tmp_path):
    results, claim = _run(tmp_path, quick=False)
    assert len(results["speedup_per_seed"]) == 3
    assert claim.passed, claim.text
