"""The `cgs` experiment: a fast smoke run of the quick config; the full claim is slow."""
import numpy as np
import pytest

from experiments import cgs
from jaxnets import experiment as experiment_lib


def _run(tmp_path, quick=True):
    config = experiment_lib.build_config(cgs, [], quick=quick)
    return experiment_lib.run_experiment(cgs, config, tmp_path / "run")


def test_quick_cgs_runs_end_to_end(tmp_path):
    results, claim = _run(tmp_path)
    for name in cgs.VARIANTS:
        for split in ("test", "large_test"):
            for key in ("policy_acc", "mape", "mse"):
                values = results[name][split][key]
                assert len(values) == 2 and np.all(np.isfinite(values)), (name, split, key)
            assert all(0 <= a <= 100 for a in results[name][split]["policy_acc"])
    # Same initial parameters and a converged forward: IFT and unrolled training agree closely.
    np.testing.assert_allclose(results["ift"]["test"]["mse"], results["unrolled"]["test"]["mse"],
                               rtol=1e-3)
    memory = results["memory_bytes"]
    assert memory["ift"]["20"]["block"] == memory["ift"]["80"]["block"]
    assert memory["unrolled"]["80"]["block"] > 2 * memory["unrolled"]["20"]["block"]
    assert results["ift"]["mean_fixed_point_iterations"] < 50
    assert results["unrolled"]["mean_fixed_point_iterations"] == 50
    assert "n/r" in claim.paper and "ift: acc" in claim.ours
    assert (tmp_path / "run" / "policy_accuracy.png").exists()
    assert (tmp_path / "run" / "results.json").exists()


@pytest.mark.slow
def test_cgs_ift_matches_unrolled_with_constant_memory(tmp_path):
    results, claim = _run(tmp_path, quick=False)
    assert len(results["ift"]["test"]["policy_acc"]) == 3
    assert claim.passed, claim.text
