"""GAT baseline: a fast smoke test on Cora and on the synthetic default, the full claim as slow."""
import pytest

import experiments
from jaxnets import experiment as experiment_lib


def _run(tmp_path, overrides, quick=True):
    module = experiments.get("gat")
    config = experiment_lib.build_config(module, overrides, quick=quick)
    return experiment_lib.run_experiment(module, config, tmp_path / "run")


def test_quick_gat_on_cora_beats_majority(tmp_path, data_root):
    results, claim = _run(tmp_path, [f"data_root={data_root}"])
    assert results["num_nodes"] == 2708 and len(results["test_accuracy"]) == 2
    assert min(results["test_accuracy"]) > results["majority_rate"] + 0.2
    assert "83.0" in claim.paper and (tmp_path / "run" / "curves.png").exists()


def test_quick_gat_on_synthetic_graph_needs_no_data(tmp_path, monkeypatch):
    monkeypatch.delenv("JAXNETS_DATA", raising=False)
    results, _ = _run(tmp_path, ["dataset=csbm", "csbm_nodes=400"])
    assert min(results["test_accuracy"]) > results["majority_rate"] + 0.2


@pytest.mark.slow
def test_gat_reproduces_velickovic_on_cora(tmp_path, data_root):
    results, claim = _run(tmp_path, [f"data_root={data_root}"], quick=False)
    assert len(results["test_accuracy"]) == 5
    assert claim.passed, claim.text
