"""GCN and GAT baselines: fast smoke tests on Cora and on the synthetic default; the full claims
(Kipf & Welling 81.5%, Veličković et al. 83.0% on Cora) as slow tests."""
import pytest

import experiments
from jaxnets import experiment as experiment_lib

PAPER_NUMBER = {"gcn": "81.5", "gat": "83.0"}


def _run(tmp_path, name, overrides, quick=True):
    module = experiments.get(name)
    config = experiment_lib.build_config(module, overrides, quick=quick)
    return experiment_lib.run_experiment(module, config, tmp_path / "run")


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_quick_run_on_cora_beats_majority(tmp_path, data_root, name):
    results, claim = _run(tmp_path, name, [f"data_root={data_root}"])
    assert results["num_nodes"] == 2708 and len(results["test_accuracy"]) == 2
    assert min(results["test_accuracy"]) > results["majority_rate"] + 0.2
    assert PAPER_NUMBER[name] in claim.paper and (tmp_path / "run" / "curves.png").exists()


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_quick_run_on_synthetic_graph_needs_no_data(tmp_path, monkeypatch, name):
    monkeypatch.delenv("JAXNETS_DATA", raising=False)
    results, _ = _run(tmp_path, name, ["dataset=csbm", "csbm_nodes=400"])
    assert min(results["test_accuracy"]) > results["majority_rate"] + 0.2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_full_claim_reproduces_on_cora(tmp_path, data_root, name):
    results, claim = _run(tmp_path, name, [f"data_root={data_root}"], quick=False)
    assert len(results["test_accuracy"]) == 5
    assert claim.passed, claim.text
