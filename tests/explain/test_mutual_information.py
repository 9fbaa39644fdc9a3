"""kNN mutual information / entropy estimators against closed forms, compressors, and the
information_plane experiment's smoke run."""
import json
import math

import jax
import numpy as np
import pytest
from scipy.special import digamma

from jaxnets.explain import compression
from jaxnets.explain import mutual_information as mi


def _ksg_reference(x, y, k):
    """KSG algorithm 1 in plain numpy (O(N²) loops over points)."""
    n = len(x)
    dx = np.abs(x[:, None] - x[None]).max(-1)
    dy = np.abs(y[:, None] - y[None]).max(-1)
    total = 0.0
    for i in range(n):
        dz = np.maximum(dx[i], dy[i])
        dz[i] = np.inf
        eps = np.sort(dz)[k - 1]
        total += digamma((dx[i] < eps).sum()) + digamma((dy[i] < eps).sum())  # includes self: n+1
    return digamma(k) + digamma(n) - total / n


def test_ksg_matches_numpy_reference_and_blocks():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 2)).astype(np.float32)
    y = (x[:, :1] + 0.5 * rng.normal(size=(150, 1))).astype(np.float32)
    want = _ksg_reference(x, y, 3)
    for block in (7, 150):  # a block size that does not divide N pads and drops rows
        got = float(mi.ksg_mutual_information(x, y, k=3, block_size=block))
        assert got == pytest.approx(want, abs=1e-4)


def test_ksg_independent_near_zero_and_gaussian_closed_form():
    key = jax.random.PRNGKey(0)
    xi, eta = mi.correlated_gaussians(key, 800, 2, 0.0)
    assert abs(float(mi.ksg_mutual_information(xi, eta))) < 0.05
    for target in (0.5, 1.0):  # KSG's small-N bias at 2 nats: checked at N = 5000 in the experiment
        rho = mi.rho_for_mutual_information(target, 2)
        assert mi.gaussian_mutual_information(rho, 2) == pytest.approx(target)
        xi, eta = mi.correlated_gaussians(jax.random.fold_in(key, 1), 800, 2, rho)
        # the tolerance, max(0.15 nats, 10 %); KSG is biased low by ~5 % at N = 800
        assert float(mi.ksg_mutual_information(xi, eta)) == pytest.approx(target, abs=0.15)


def test_kl_entropy_and_discrete_mi():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 2)).astype(np.float32) * np.array([1.0, 3.0], np.float32)
    h_true = 0.5 * 2 * math.log(2 * math.pi * math.e) + math.log(3.0)
    assert float(mi.kl_entropy(x)) == pytest.approx(h_true, abs=0.08)
    # whitening removes log det Σ^{1/2} = log 3 from the entropy
    assert float(mi.kl_entropy(mi.whiten(x))) == pytest.approx(h_true - math.log(3.0), abs=0.08)
    # a label that picks one of 4 well-separated clusters: I(X; Y) = H(Y) = log 4
    labels = rng.integers(0, 4, size=1000).astype(np.int32)
    clusters = x * 0.1 + np.stack([20.0 * labels, np.zeros(1000)], 1).astype(np.float32)
    assert float(mi.kl_mutual_information_discrete(clusters, labels)) == pytest.approx(
        math.log(4), abs=0.05)
    assert abs(float(mi.kl_mutual_information_discrete(x, labels))) < 0.05  # independent label
    assert float(mi.kl_mutual_information(x[:, :1], x[:, 1:])) == pytest.approx(0.0, abs=0.08)


def test_compressors():
    rng = np.random.default_rng(2)
    latent = rng.normal(size=(400, 2)).astype(np.float32)
    x = latent @ rng.normal(size=(2, 10)).astype(np.float32)
    codes = compression.pca_codes(x, 2)
    assert codes.shape == (400, 2)
    # rank-2 data: two principal components reconstruct the centred data exactly
    centred = x - x.mean(0)
    recon = codes @ np.linalg.lstsq(np.asarray(codes), centred, rcond=None)[0]
    np.testing.assert_allclose(recon, centred, atol=1e-3)
    ae, info = compression.autoencoder_codes(jax.random.PRNGKey(0), x, 2, hidden=(8,), steps=200,
                                             batch_size=100, learning_rate=3e-3)
    assert ae.shape == (400, 2) and info["losses"].shape == (200,)
    assert float(info["final_mse"]) < 0.1 * float(info["losses"][0])


def test_bad_input():
    with pytest.raises(ValueError, match="same N"):
        mi.ksg_mutual_information(np.ones((5, 2)), np.ones((6, 2)))
    with pytest.raises(ValueError, match="k must be"):
        mi.ksg_mutual_information(np.ones((5, 2)), np.ones((5, 2)), k=5)
    with pytest.raises(ValueError, match="more than k"):
        mi.kl_mutual_information_discrete(np.ones((8, 2)), np.array([0] * 6 + [1] * 2), k=2)
    with pytest.raises(ValueError, match="blob"):
        mi.embed_latent(jax.random.PRNGKey(0), np.ones((4, 3)), 64, "blob")
    with pytest.raises(ValueError, match="rho"):
        mi.correlated_gaussians(jax.random.PRNGKey(0), 4, 2, 1.0)
    with pytest.raises(ValueError, match="dim must be"):
        compression.pca_codes(np.ones((4, 3)), 4)


def test_experiment_smoke(tmp_path):
    from experiments import information_plane as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [
        "synthetic.n=200", "synthetic.mi_levels=(1.0,)", "synthetic.ae_steps=20",
        "synthetic.out_dim=16", "digits.epochs=4", "digits.every=2", "digits.n_seeds=2",
        "digits.hidden=(8,)",
        "digits.n_samples=200", "digits.batch_size=100"],
        quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert len(results["synthetic"]["autoencoder"]) == 1
    assert np.asarray(results["digits"]["i_xl"]).shape == (2, 2, 1)  # seeds, snapshots, layers
    assert isinstance(claim.passed, bool) and "nats" in claim.ours
    stored = json.loads((tmp_path / "results.json").read_text())["results"]
    assert experiment.claim(stored) == claim
    for plot in results["plots"]:
        assert (tmp_path / plot).exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import information_plane as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text
