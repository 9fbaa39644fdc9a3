"""GradSign experiment: a smoke test on a tiny benchmark (and its reuse), the full claim as slow."""
import json

import pytest

from experiments import gradsign
from jaxnets import experiment as experiment_lib

TINY = ["n_archs=8", "train_steps=20", "eval_every=10", "proxy_seeds=2", "proxy_batch=16",
        "width_choices=(4, 8, 16)", "depth_choices=(1, 2)", "proxy_chunk=4"]


def test_quick_gradsign_runs_and_reuses_its_benchmark(tmp_path):
    config = experiment_lib.build_config(gradsign, TINY, quick=True)
    results, claim = experiment_lib.run_experiment(gradsign, config, tmp_path / "run")
    assert len(results["accuracy"]) == 8 and len(results["spearman_gradsign"]) == 2
    for name in gradsign.PROXIES:
        assert all(-1 <= r <= 1 for r in results[f"spearman_{name}"])
        assert all(s > 0 for seed in results[f"scores_{name}"] for s in seed)
    assert 0.0 <= results["accuracy_range"][0] <= results["accuracy_range"][1] <= 1.0
    assert "0.77" in claim.paper and (tmp_path / "run" / "gradsign.png").exists()
    stored = json.loads((tmp_path / "run" / "benchmark.json").read_text())
    assert len(stored["accuracy"]) == 8
    # A rerun with the same benchmark settings reads benchmark.json instead of training again:
    # planting known accuracies there must change the correlations accordingly.
    stored["accuracy"] = [[float(i)] for i in range(8)]
    (tmp_path / "run" / "benchmark.json").write_text(json.dumps(stored))
    rerun = gradsign.run(config, tmp_path / "run")
    assert rerun["accuracy"] == [float(i) for i in range(8)]


@pytest.mark.slow
def test_gradsign_claim_on_the_digits_benchmark(tmp_path):
    config = experiment_lib.build_config(gradsign, [], quick=False)
    results, claim = experiment_lib.run_experiment(gradsign, config, tmp_path / "run")
    assert len(results["accuracy"]) == 96
    assert claim.passed, claim.text
