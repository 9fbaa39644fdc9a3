"""AIS forecasting (jaxnets.models.ais_forecast, jaxnets.data.ais_tracks): RPD on hand cases, the
Elman baseline against a plain-NumPy recurrence, the simulator's ITU reporting rule and drop rate,
window slicing, and a smoke run of experiments/ais_forecast.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.data import ais_tracks
from jaxnets.models import ais_forecast as models


def test_rpd_hand_cases():
    y = jnp.array([1.0, 2.0, 0.0, -1.0, 0.0, 4.0])
    y_hat = jnp.array([1.0, 1.0, 0.0, 1.0, 3.0, 2.0])
    # 2|y - y_hat| / (|y| + |y_hat|) * 100: 0, 2/3, 0/0 := 0, 4/2, 6/3, 4/6
    want = np.array([0.0, 200 / 3, 0.0, 200.0, 200.0, 400 / 6])
    np.testing.assert_allclose(models.relative_percentage_difference(y, y_hat), want, rtol=1e-6)
    # symmetric and scale-free
    np.testing.assert_allclose(models.relative_percentage_difference(y_hat, y), want, rtol=1e-6)
    np.testing.assert_allclose(models.relative_percentage_difference(-3 * y, -3 * y_hat), want,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        models.relative_percentage_difference(jnp.ones(3), jnp.ones(4))


def test_elman_baseline_matches_numpy_recurrence():
    x = np.random.default_rng(0).normal(size=(2, 7, 4)).astype(np.float32)
    model = models.RecurrentForecaster("elman", hidden=5, horizon=2, num_targets=3)
    params = model.init(jax.random.PRNGKey(1), jnp.asarray(x))["params"]
    got = model.apply({"params": params}, jnp.asarray(x))
    raw = params["SimpleCell_0"]
    cell = {"wi": np.asarray(raw["i"]["kernel"]), "b": np.asarray(raw["i"]["bias"]),
            "wh": np.asarray(raw["h"]["kernel"])}
    h = np.zeros((2, 5))
    for t in range(7):  # Elman (1990): h_t = tanh(W_i x_t + b + W_h h_{t-1})
        h = np.tanh(x[:, t] @ cell["wi"] + cell["b"] + h @ cell["wh"])
    want = h @ np.asarray(params["readout"]["kernel"]) + np.asarray(params["readout"]["bias"])
    np.testing.assert_allclose(got, want.reshape(2, 2, 3), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="x_BxLxF"):
        model.apply({"params": params}, jnp.ones((7, 4)))
    with pytest.raises(ValueError, match="model must be one of"):
        models.build_model("transformer", 4, 1, 1)


def test_reporting_interval_follows_itu_class_a_table():
    sog = np.array([0.0, 5.0, 10.0, 10.0, 15.0, 15.0, 25.0, 25.0, 2.0, 5.0])
    turning = np.array([0, 0, 0, 1, 0, 1, 0, 1, 0, 0], bool)
    anchored = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], bool)
    want = [180.0, 10.0, 10.0, 10 / 3, 6.0, 2.0, 2.0, 2.0, 10.0, 10.0]
    np.testing.assert_allclose(ais_tracks.reporting_interval(sog, turning, anchored), want)


def _consecutive_gaps(tracks):
    gaps, intervals = [], []
    for v in range(tracks.sent_VxM.shape[0]):
        sent = tracks.sent_VxM[v]
        t, interval = tracks.time_VxM[v][sent], tracks.interval_VxM[v][sent]
        gaps.append(np.diff(t))
        intervals.append(interval[:-1])
    return np.concatenate(gaps), np.concatenate(intervals)


def test_simulator_gaps_follow_transmission_rule():
    kwargs = dict(seed=3, turns_per_hour=30.0, stops_per_hour=3.0)
    tracks = ais_tracks.simulate_tracks(6, 0.3, jitter=0.0, **kwargs)
    gaps, intervals = _consecutive_gaps(tracks)
    np.testing.assert_allclose(gaps, intervals, rtol=1e-9)
    assert len(np.unique(np.round(intervals, 3))) >= 3       # several speed / manoeuvre classes
    # the recorded interval is the rule applied to the recorded transmitter state
    sent = tracks.sent_VxM
    np.testing.assert_allclose(
        tracks.interval_VxM[sent],
        ais_tracks.reporting_interval(tracks.sog_VxM[sent], tracks.turning_VxM[sent],
                                      tracks.anchored_VxM[sent]))
    jittered = ais_tracks.simulate_tracks(6, 0.3, jitter=0.2, **kwargs)
    ratio = np.divide(*_consecutive_gaps(jittered))
    assert ratio.min() >= 0.8 - 1e-9 and ratio.max() <= 1.2 + 1e-9 and ratio.std() > 0.05


def test_simulator_drop_rate_is_respected_and_voyages_are_shared():
    kwargs = dict(seed=5, outage_per_hour=0.0)
    clean = ais_tracks.simulate_tracks(8, 0.4, drop_rate=0.0, **kwargs)
    lossy = ais_tracks.simulate_tracks(8, 0.4, drop_rate=0.3, **kwargs)
    np.testing.assert_array_equal(clean.sent_VxM, lossy.sent_VxM)       # same transmissions
    np.testing.assert_array_equal(clean.time_VxM, lossy.time_VxM)
    np.testing.assert_array_equal(clean.received_VxM, clean.sent_VxM)
    n = lossy.sent_VxM.sum()
    assert not np.any(lossy.received_VxM & ~lossy.sent_VxM)
    lost = 1.0 - lossy.received_VxM.sum() / n
    assert abs(lost - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n), (lost, n)
    with_outages = ais_tracks.simulate_tracks(8, 0.4, drop_rate=0.3, seed=5, outage_per_hour=6.0)
    assert with_outages.received_VxM.sum() < lossy.received_VxM.sum()
    with pytest.raises(ValueError, match="drop_rate"):
        ais_tracks.simulate_tracks(2, 0.1, drop_rate=1.5)


def test_features_use_gaps_between_received_messages_and_windows_slice():
    tracks = ais_tracks.simulate_tracks(2, 0.2, seed=1, drop_rate=0.5, outage_per_hour=0.0)
    feats = ais_tracks.message_features(tracks, 0)
    keep = tracks.received_VxM[0]
    np.testing.assert_allclose(feats[:, 0], np.diff(tracks.time_VxM[0][keep]))
    assert feats.shape == (keep.sum() - 1, len(ais_tracks.FEATURES))
    f = np.arange(10 * 6, dtype=float).reshape(10, 6)
    x, y = ais_tracks.make_windows(f, length=3, horizon=2, stride=2)
    assert x.shape == (3, 3, 6) and y.shape == (3, 2, 4)        # starts 0, 2, 4 (4 + 3 + 2 <= 10)
    np.testing.assert_array_equal(x[1], f[2:5])
    np.testing.assert_array_equal(y[1], f[5:7, :4])
    assert ais_tracks.make_windows(f[:4], 3, 2, 1)[0].shape == (0, 3, 6)


def test_experiment_smoke(tmp_path):
    from experiments import ais_forecast as experiment
    import jaxnets.experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [
        "models=proposed,gru", "seq_lengths=(4,)", "drop_rates=(0.1, 0.4)", "num_vessels=4",
        "hours=0.15", "hidden=4", "epochs=1", "n_seeds=2", "max_train_windows=32",
        "batch_size=16", "max_test_windows=16", "eval_chunk=16"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    for name in ("proposed", "gru"):
        rpd = np.asarray(results["rpd"][name]["4"])
        assert rpd.shape == (2, 2) and np.all((rpd >= 0) & (rpd <= 200))
    assert len(results["persistence"]["4"]) == 2
    assert isinstance(claim.passed, bool) and "36/37/38" in claim.paper
    assert (tmp_path / results["plot"]).exists() and (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import ais_forecast as experiment
    import jaxnets.experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text


def test_build_data_keeps_inputs_paired_with_their_targets():
    from experiments import ais_forecast as experiment
    import jaxnets.experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [
        "num_vessels=4", "hours=0.1", "drop_rates=(0.2,)", "max_train_windows=40",
        "max_test_windows=16", "eval_chunk=16", "batch_size=8"], quick=True)
    data = experiment.build_data(config, 4)
    train_vessels, _ = experiment._split_vessels(config)
    tracks = ais_tracks.simulate_tracks(4, 0.1, seed=config.data_seed, drop_rate=0.2,
                                        jitter=config.jitter,
                                        outage_per_hour=config.outage_per_hour,
                                        outlier_rate=config.outlier_rate)
    x_raw, y_raw = experiment._windows(tracks, train_vessels, 4, config)
    x = data["x_train"][0] * data["x_std"][0] + data["x_mean"][0]
    y = data["y_train"][0] * data["y_std"][0] + data["y_mean"][0]
    for xi, yi in zip(x, y):  # each (input, target) pair is one window of the raw data
        row = np.argmin(np.abs(x_raw - xi).sum((1, 2)))
        np.testing.assert_allclose(x_raw[row], xi, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(y_raw[row], yi, rtol=1e-4, atol=1e-5)
