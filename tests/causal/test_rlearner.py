"""R-learner (jaxnets.causal.rlearner), the network causal simulator, and a smoke run of
experiments/graph_rlearner.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.causal import (
    NodeGCN, cross_fit, fold_assignment, linear_final_stage, r_loss, ridge)
from jaxnets.data.network_causal import simulate_network_causal, stack_graphs


@pytest.fixture(scope="module")
def tiny():
    return simulate_network_causal(0, num_nodes=40, num_features=3)


def test_r_loss_is_minimised_by_the_true_effect():
    # Y~ = tau(x) T~ + noise independent of T~; tau linear in x. The R-loss at the true tau is
    # the noise power, and any other linear tau costs more (checked against a numpy lstsq).
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=(n, 2))
    tau = 1.5 + 0.8 * x[:, 0] - 0.3 * x[:, 1]
    t_res = rng.uniform(-0.5, 0.5, n)
    y_res = tau * t_res + 0.1 * rng.normal(size=n)
    design = np.column_stack([x * t_res[:, None], t_res])
    coef, *_ = np.linalg.lstsq(design, y_res, rcond=None)
    np.testing.assert_allclose(coef, [0.8, -0.3, 1.5], atol=0.05)
    # the R-loss at the true tau is the noise power 0.01; shifted or rescaled tau cost more
    taus = np.stack([tau, tau + 0.2, tau - 0.2, 0.8 * tau])
    losses = np.asarray(jax.jit(jax.vmap(r_loss, in_axes=(0, None, None)))(
        jnp.asarray(taus, jnp.float32), jnp.asarray(y_res, jnp.float32),
        jnp.asarray(t_res, jnp.float32)))
    assert losses[0] == pytest.approx(0.01, rel=0.15)
    assert (losses[1:] > losses[0] + 1e-3).all()
    # The ridge final stage with a T~ column recovers tau; the as-coded one (no T~ column,
    # Ridge intercept added to tau^) cannot represent the constant 1.5.
    f = [jnp.asarray(a, jnp.float32) for a in (x, y_res, t_res)]
    both = jax.jit(lambda x, y, t: (linear_final_stage(x, y, t, alpha=1e-6, treatment_column=True),
                                    linear_final_stage(x, y, t, alpha=1e-6)))
    with_col, as_coded = map(np.asarray, both(*f))
    np.testing.assert_allclose(with_col, tau, atol=0.1)
    assert np.mean((as_coded - tau) ** 2) > 1.5 ** 2 * 0.8


def test_ridge_matches_closed_form_with_unpenalised_intercept():
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(50, 3)), rng.normal(size=50) + 2.0
    w, b = jax.jit(ridge)(jnp.asarray(z), jnp.asarray(y), 0.7)
    zc, yc = z - z.mean(0), y - y.mean()
    w_ref = np.linalg.solve(zc.T @ zc + 0.7 * np.eye(3), zc.T @ yc)
    np.testing.assert_allclose(w, w_ref, rtol=1e-4, atol=1e-5)
    assert float(b) == pytest.approx(y.mean() - z.mean(0) @ w_ref, abs=1e-4)


def test_fold_assignment_is_balanced():
    assign = jax.jit(fold_assignment, static_argnums=(1, 2))
    fold = np.asarray(assign(jax.random.PRNGKey(0), 11, 3))
    assert sorted(np.bincount(fold).tolist()) == [3, 4, 4]


def test_cross_fit_never_uses_a_nodes_own_fold(tiny):
    # Changing the targets of fold-0 nodes must leave their out-of-fold predictions unchanged
    # (and change fold-1 predictions, so the test can fail). A GCN sees every node's features
    # (as in the paper) but must never see a held-out node's label.
    model = NodeGCN(4, 2)
    g, x = tiny.gcn_graph, jnp.asarray(tiny.x_NxD)
    fold = fold_assignment(jax.random.PRNGKey(3), 40, 2)
    t = jnp.asarray(tiny.t_N)
    fit = jax.jit(lambda target: cross_fit(model, g, x, target, fold, 2, jax.random.PRNGKey(0),
                                           loss="bce", epochs=5, learning_rate=0.05))
    a = np.asarray(fit(t))
    b = np.asarray(fit(jnp.where(fold == 0, 1.0 - t, t)))
    in0 = np.asarray(fold) == 0
    np.testing.assert_array_equal(a[in0], b[in0])
    assert np.abs(a[~in0] - b[~in0]).max() > 1e-4
    assert ((a > 0) & (a < 1)).all()


def test_simulator_is_seeded_and_follows_the_dgp(tiny):
    # same sizes as `tiny`, so the jitted random GCN compiles once
    a = simulate_network_causal(3, num_nodes=40, num_features=3)
    b = simulate_network_causal(3, num_nodes=40, num_features=3)
    np.testing.assert_array_equal(a.y_N, b.y_N)
    assert not np.array_equal(a.y_N, tiny.y_N)
    assert set(np.unique(a.t_N)) <= {0.0, 1.0}
    # Y - mu0 - T tau is the outcome noise, sd 0.5
    resid = a.y_N - a.mu0_N - a.t_N * a.tau_N
    assert 0.3 < np.std(resid) < 0.7
    assert a.senders_E.size == 2 * 4 * (40 - 4)  # networkx BA: m (n - m) undirected edges
    # T is the threshold of its logit: treated nodes have the larger true propensity
    assert a.propensity_N[a.t_N == 1].mean() > a.propensity_N[a.t_N == 0].mean() + 0.2
    with pytest.raises(ValueError, match="cate"):
        simulate_network_causal(0, 20, 3, cate="nope")


def test_stack_graphs_pads_with_zero_weight_edges(tiny):
    short = tiny.gcn_graph._replace(senders=tiny.gcn_graph.senders[:7],
                                    receivers=tiny.gcn_graph.receivers[:7],
                                    edges=tiny.gcn_graph.edges[:7], n_edge=np.array([7]))
    stacked = stack_graphs([tiny.gcn_graph, short])
    e = tiny.gcn_graph.senders.size
    assert stacked.senders.shape == stacked.edges.shape == (2, e)
    np.testing.assert_array_equal(stacked.edges[1, 7:], 0.0)
    np.testing.assert_array_equal(stacked.edges[0], tiny.gcn_graph.edges)
    with pytest.raises(ValueError, match="same number of nodes"):
        stack_graphs([tiny.gcn_graph, tiny.gcn_graph._replace(n_node=np.array([20]))])


def test_quick_experiment_runs(tmp_path):
    import jaxnets.experiment as experiment_lib
    from experiments import graph_rlearner as experiment
    config = experiment_lib.build_config(experiment, [
        "num_nodes=30", "num_features=3", "hidden=4", "num_layers=1", "nuisance_epochs=3",
        "cate_epochs=3",
        "n_seeds=2"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert set(experiment.MAIN) | set(experiment.EXTRA) <= set(results["mse"])
    assert all(len(v) == 2 and np.isfinite(v).all() for v in results["mse"].values())
    assert (tmp_path / "graph_rlearner.png").exists() and (tmp_path / "results.json").exists()
    assert "4.0" in claim.paper and "graph_r" in claim.ours


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    import jaxnets.experiment as experiment_lib
    from experiments import graph_rlearner as experiment
    config = experiment_lib.build_config(experiment)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text


def test_claim_checks_both_conditions():
    from experiments import graph_rlearner as experiment
    names = experiment.MAIN + experiment.EXTRA
    mse = {k: [1.0] * 5 for k in names}
    mse.update(baseline=[5.0] * 5, ablation=[4.5] * 5, graph_r=[0.5, 0.5, 0.5, 0.5, 3.0],
               t_learner=[2.0] * 5)
    assert experiment.claim({"mse": mse, "plot": "p.png"}).passed  # 4 of 5 wins, 4.5 > 3 x 1.0
    mse["graph_r"] = [0.5, 0.5, 0.5, 3.0, 3.0]
    assert not experiment.claim({"mse": mse, "plot": "p.png"}).passed  # 3 of 5 wins
    mse.update(graph_r=[0.5] * 5, ablation=[3.9] * 5)
    assert not experiment.claim({"mse": mse, "plot": "p.png"}).passed  # not > 4.0
