"""Fidelity measures on hand-computed cases, the robust limits, and BA-2Motifs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments.robust_fidelity as fidelity_experiment
from jaxnets import experiment as experiment_lib
from jaxnets.data.motifs import ba_2motifs
from jaxnets.explain import fidelity as fid

# 3 undirected edges listed in both directions; the 4th undirected id is a padding edge.
MASK = jnp.array([1, 1, 1, 1, 1, 1, 0, 0], bool)
UND = jnp.array([0, 1, 2, 0, 1, 2, 3, 4])
EXPL = jnp.array([1, 0, 0, 1, 0, 0, 0, 0], bool)
COEF = jnp.array([0.2, 0.1, 0.05, 0.2, 0.1, 0.05, 9.0, 9.0])


def _linear_probs(w):
    """p_1 = 0.1 + coef · w (linear in the edge weights), p_0 = 1 - p_1."""
    p1 = 0.1 + jnp.sum(COEF * w)
    return jnp.stack([1.0 - p1, p1])


def test_classic_fidelity_by_hand():
    out = fid.fidelity(_linear_probs, MASK, EXPL, 1)
    # f(G) = 0.1 + 0.7 = 0.8; without explanation 0.1 + 0.3 = 0.4; explanation only 0.1 + 0.4.
    assert float(out["plus"]) == pytest.approx(0.4)
    assert float(out["minus"]) == pytest.approx(0.3)
    assert float(out["delta"]) == pytest.approx(0.1)
    acc = fid.fidelity(_linear_probs, MASK, EXPL, 1, accuracy=True)
    # Without the explanation p_1 = 0.4 (predicts 0); with it only, p_1 = 0.5, a tie that argmax
    # breaks towards class 0: both drop the correct prediction.
    assert float(acc["plus"]) == 1.0 and float(acc["minus"]) == 1.0


def test_robust_fidelity_limits_and_expectation():
    key = jax.random.key(0)
    classic = fid.fidelity(_linear_probs, MASK, EXPL, 1)
    exact = fid.robust_fidelity(_linear_probs, MASK, EXPL, UND, 1, key, alpha_plus=1.0,
                                alpha_minus=0.0, num_samples=4)
    assert float(exact["plus"]) == pytest.approx(float(classic["plus"]))
    assert float(exact["minus"]) == pytest.approx(float(classic["minus"]))
    none = fid.robust_fidelity(_linear_probs, MASK, EXPL, UND, 1, key, alpha_plus=0.0,
                               alpha_minus=1.0, num_samples=4)
    assert float(none["plus"]) == 0.0 and float(none["minus"]) == pytest.approx(0.0, abs=1e-6)
    # Linear model: E[Fid_{α1,+}] = α1 · 0.4 and E[Fid_{α2,-}] = (1 - α2) · 0.3.
    mc = fid.robust_fidelity(_linear_probs, MASK, EXPL, UND, 1, key, alpha_plus=0.3,
                             alpha_minus=0.6, num_samples=20_000)
    assert float(mc["plus"]) == pytest.approx(0.12, abs=0.01)
    assert float(mc["minus"]) == pytest.approx(0.12, abs=0.01)


def test_undirected_edges_are_dropped_together():
    def asymmetry(w):  # probability 1 of class 1 iff both directions agree on every edge
        agree = jnp.all(w[:3] == w[3:6])
        return jnp.stack([1.0 - agree, agree.astype(jnp.float32)])
    out = fid.robust_fidelity(asymmetry, MASK, jnp.array([1, 1, 0, 1, 1, 0, 0, 0], bool), UND,
                              1, jax.random.key(1), alpha_plus=0.5, alpha_minus=0.5,
                              num_samples=64)
    assert float(out["plus"]) == 0.0 and float(out["minus"]) == 0.0


def test_perturbed_explanations_have_exact_edit_distance():
    data = ba_2motifs(4, seed=0)
    for g in range(4):
        mask, und, gt = (jnp.asarray(a[g]) for a in (data.edge_mask, data.undirected_id,
                                                     data.ground_truth))
        n_gt = int(gt.sum()) // 2
        n_other = int(mask.sum()) // 2 - n_gt
        expl, dist = fid.perturb_explanation(gt, mask, und, jax.random.key(g), 0.4, 0.2)
        removed, added = round(0.4 * n_gt), round(0.2 * n_other)
        assert int(dist) == removed + added
        assert int((expl & gt).sum()) // 2 == n_gt - removed
        assert int((expl & ~gt).sum()) // 2 == added
        both = np.zeros(und.shape[0], int)
        np.add.at(both, np.asarray(und)[np.asarray(expl)], 1)
        assert set(both[both > 0]) == {2}  # both directions of every chosen edge
        scores = jnp.where(gt, 1.0, 0.0)
        np.testing.assert_array_equal(fid.top_k_edges(scores, mask, und, n_gt), gt & mask)


def test_ba_2motifs_structure():
    data = ba_2motifs(10, seed=3)
    assert data.num_nodes == 25 and set(data.labels.tolist()) == {0, 1}
    gt_edges = data.ground_truth.sum(1) // 2
    np.testing.assert_array_equal(gt_edges, np.where(data.labels == 0, 6, 5))
    np.testing.assert_array_equal(data.edge_mask.sum(1) // 2, 19 + gt_edges + 1)


def test_quick_robust_fidelity_runs(tmp_path):
    config = experiment_lib.build_config(fidelity_experiment, ["eval_graphs=4", "epochs=30",
                                                               "num_graphs=60"], quick=True)
    results, claim = experiment_lib.run_experiment(fidelity_experiment, config, tmp_path / "run")
    assert set(results["mean_spearman"]) == {f"{k}_{m}" for k in ("classic", "robust")
                                              for m in ("plus", "minus", "delta")}
    assert (tmp_path / "run" / "fidelity_grid.png").exists()
    assert isinstance(claim.passed, bool)
