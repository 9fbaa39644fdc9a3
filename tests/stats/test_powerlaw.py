"""Discrete power-law MLE: score equation, x_min selection, sampling, bootstrap, GOF, and the
`powerlaw` package (Alstott et al. 2014) as an independent reference."""
import warnings

import numpy as np
import pytest
from scipy import special

import experiments.powerlaw_degrees as powerlaw_experiment
from jaxnets import experiment as experiment_lib
from jaxnets.data import degree_graphs
from jaxnets.stats import powerlaw


def test_mle_solves_the_score_equation():
    # d/dα [-n ln ζ(α, x_min) - α Σ ln x] = 0 at the MLE (CSN eq. 3.5).
    x = powerlaw.sample(2.3, 3, 5000, np.random.default_rng(0))
    f = powerlaw.fit_fixed_xmin(x, 3)
    h = 1e-5
    dlogzeta = (np.log(special.zeta(f.alpha + h, 3)) - np.log(special.zeta(f.alpha - h, 3))) / (2 * h)
    score = -x.size * dlogzeta - np.sum(np.log(x))
    assert abs(score) / x.size < 1e-4
    # CSN eq. (3.7)'s closed-form approximation is close for x_min >= 6.
    y = powerlaw.sample(2.5, 8, 20000, np.random.default_rng(1))
    assert powerlaw.fit_fixed_xmin(y, 8).alpha == pytest.approx(
        powerlaw.approximate_alpha(y, 8), abs=0.02)


def test_sample_follows_the_pmf():
    rng = np.random.default_rng(0)
    x = powerlaw.sample(2.5, 2, 200_000, rng)
    assert x.min() == 2
    pmf = np.arange(2, 7, dtype=float) ** -2.5 / special.zeta(2.5, 2)
    freq = np.array([(x == k).mean() for k in range(2, 7)])
    np.testing.assert_allclose(freq, pmf, atol=4e-3)


def test_xmin_selection_finds_the_planted_cutoff():
    rng = np.random.default_rng(0)
    tail = powerlaw.sample(2.5, 15, 3000, rng)
    body = rng.integers(1, 15, 3000)  # not a power law below x_min
    f = powerlaw.fit(np.concatenate([body, tail]))
    assert 12 <= f.xmin <= 18
    assert f.alpha == pytest.approx(2.5, abs=0.15)


def test_bootstrap_and_goodness_of_fit():
    rng = np.random.default_rng(0)
    x = powerlaw.sample(2.2, 1, 3000, rng)
    boot = powerlaw.bootstrap(x, num_resamples=20, seed=0)
    assert boot["ci_low"] < boot["alpha"] < boot["ci_high"]
    assert powerlaw.goodness_of_fit(x, num_sims=10, seed=0, min_tail=200) >= 0.1
    geometric = rng.geometric(0.2, 3000)  # exponential tail: a power law must be rejected
    assert powerlaw.goodness_of_fit(geometric, num_sims=10, seed=0, min_tail=200) < 0.1


def test_bad_input_is_an_error():
    with pytest.raises(ValueError, match="integer"):
        powerlaw.fit(np.array([1.5, 2.0, 3.0]))
    with pytest.raises(ValueError, match="1-d"):
        powerlaw.fit(np.ones((3, 3)))
    with pytest.raises(ValueError, match="alpha must exceed 1"):
        powerlaw.sample(1.0, 1, 10, np.random.default_rng(0))


def test_configuration_multigraph_keeps_drawn_degrees():
    s, r, d_in, d_out = degree_graphs.directed_configuration_multigraph(500, 2.5, 2.2, seed=0)
    n = 500
    np.testing.assert_array_equal(np.bincount(r, minlength=n + 1)[:n], d_in)
    np.testing.assert_array_equal(np.bincount(s, minlength=n + 1)[:n], d_out)
    fs, fr = degree_graphs.ownership_forest(2000, seed=0, p_extra=0.2)
    assert np.all(fs != fr)  # no self-ownership
    in_degree = np.bincount(fr, minlength=2000)
    assert np.all(in_degree[1:] >= 1)  # every entity after the first has an owner
    extra = fs.size - 1999  # links beyond the spanning tree: about p_extra per arrival
    assert 0.15 * 1999 < extra < 0.25 * 1999
    tree_s, tree_r = degree_graphs.ownership_forest(2000, seed=0, p_extra=0.0)
    assert tree_s.size == 1999 and np.all(tree_s < tree_r)  # a tree grown from older owners


def test_agrees_with_the_powerlaw_package():
    pl = pytest.importorskip("powerlaw")
    x = np.random.default_rng(3).zipf(2.4, 5000)
    with warnings.catch_warnings():  # the package warns about its own internals (2.0)
        warnings.simplefilter("ignore")
        ref = pl.Fit(x, discrete=True, estimate_discrete=False, verbose=False)
        ref_alpha, ref_xmin = ref.power_law.alpha, ref.xmin
        fixed_alpha = pl.Fit(x, discrete=True, estimate_discrete=False, xmin=4,
                             verbose=False).power_law.alpha
    ours = powerlaw.fit(x, min_tail=1, max_candidates=10_000)
    assert ours.xmin == ref_xmin
    assert ours.alpha == pytest.approx(ref_alpha, abs=2e-3)
    assert powerlaw.fit(x, xmin=4).alpha == pytest.approx(fixed_alpha, abs=2e-3)


def test_quick_experiment_runs(tmp_path):
    config = experiment_lib.build_config(powerlaw_experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(powerlaw_experiment, config, tmp_path / "run")
    assert (tmp_path / "run" / "ccdf.png").exists()
    assert set(results["graph"]) == {"in_degree", "out_degree"}
    assert isinstance(claim.passed, bool)
