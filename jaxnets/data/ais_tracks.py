"""A seeded simulator of AIS-like vessel tracks with irregular transmission (host-side NumPy).

No real AIS data is available offline, so the `ais_forecast` experiment (Spadon, Ferreira, Soares &
Matwin, "Unfolding AIS transmission behavior for vessel movement modeling on noisy data leveraging
machine learning", IEEE Access 2023, arXiv 2202.13867) runs on tracks from this simulator.

Three layers, each from its own random stream so that one can change while the others stay fixed
(the same voyages under several drop rates):

1. Kinematics (`seed`): every vessel integrates at `dt` = 1 s a speed-over-ground (SOG)
   Ornstein-Uhlenbeck walk around its cruise speed, a course-over-ground (COG) random walk with
   Poisson turn manoeuvres (rate of turn 0.5-3 deg/s for 10-60 s) and Poisson port stops (speed
   driven to 0, then "at anchor" for 10-40 min).
2. Transmission: a Class A transponder reports at the ITU-R M.1371 nominal interval of its current
   state (`reporting_interval`: 3 min at anchor, 10 s / 3 1/3 s below 14 kn straight / turning,
   6 s / 2 s at 14-23 kn, 2 s above 23 kn), each interval multiplied by (1 + U(-jitter, jitter)).
3. Reception (`seed + 1`): each message is lost i.i.d. with probability `drop_rate`, coverage
   outages (Poisson, `outage_per_hour`, 1-10 min each) lose every message inside them, received
   positions get GPS noise and, with probability `outlier_rate`, a 1-5 km jump (a position
   outlier).

`message_features` and `make_windows` turn the received messages into the forecasting task:
inputs are windows of L messages, targets the next H messages.
"""
from __future__ import annotations

import dataclasses

import numpy as np

KNOT_DEG_PER_S = 1.0 / 3600.0 / 60.0   # 1 kn = 1 nmi/h and 1 nmi = 1/60 degree of latitude
FEATURES = ("dt_s", "dlat_deg", "dlon_deg", "sog_kn", "sin_cog", "cos_cog")
TARGETS = ("dt_s", "dlat_deg", "dlon_deg", "sog_kn")


def reporting_interval(sog_kn: np.ndarray, turning: np.ndarray, anchored: np.ndarray) -> np.ndarray:
    """Nominal Class A reporting interval in seconds (ITU-R M.1371-5, Annex 1, Table 1).

    Args:
      sog_kn: speed over ground in knots, any shape.
      turning: bool, same shape: the ship is changing course.
      anchored: bool, same shape: the ship is at anchor or moored.

    Returns:
      Seconds until the next report, same shape.
    """
    sog_kn = np.asarray(sog_kn, float)
    turning = np.asarray(turning, bool)
    underway = np.where(sog_kn > 23.0, 2.0,
                        np.where(sog_kn > 14.0, np.where(turning, 2.0, 6.0),
                                 np.where(turning, 10.0 / 3.0, 10.0)))
    at_anchor = np.where(sog_kn > 3.0, 10.0, 180.0)
    return np.where(np.asarray(anchored, bool), at_anchor, underway)


@dataclasses.dataclass(frozen=True)
class AISTracks:
    """Messages of V vessels, padded to M per vessel (the i-th transmitted message of vessel v at
    [v, i]; `sent` marks real entries, `received` those that reached the receiver).

    Attributes:
      time_VxM: transmission time in seconds since the start.
      lat_VxM, lon_VxM: reported position in degrees (noise and outliers on received messages).
      sog_VxM: reported speed over ground, knots.
      cog_VxM: reported course over ground, degrees in [0, 360).
      turning_VxM, anchored_VxM: the transmitter's state that set the interval after the message.
      interval_VxM: the nominal interval (s) chosen after this message (`reporting_interval`).
      sent_VxM: bool, a message was transmitted.
      received_VxM: bool, it was received (not dropped, not in an outage).
      outlier_VxM: bool, its position carries an outlier jump.
    """

    time_VxM: np.ndarray
    lat_VxM: np.ndarray
    lon_VxM: np.ndarray
    sog_VxM: np.ndarray
    cog_VxM: np.ndarray
    turning_VxM: np.ndarray
    anchored_VxM: np.ndarray
    interval_VxM: np.ndarray
    sent_VxM: np.ndarray
    received_VxM: np.ndarray
    outlier_VxM: np.ndarray


def _check(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def simulate_tracks(
    num_vessels: int,
    hours: float,
    *,
    seed: int = 0,
    drop_rate: float = 0.1,
    jitter: float = 0.1,
    outage_per_hour: float = 0.5,
    outlier_rate: float = 0.005,
    gps_noise_deg: float = 3e-5,
    turns_per_hour: float = 4.0,
    stops_per_hour: float = 0.3,
) -> AISTracks:
    """Simulates AIS transmissions of `num_vessels` vessels for `hours` hours (module docstring).

    Args:
      num_vessels: V >= 1.
      hours: simulated time per vessel, > 0.
      seed: kinematics and transmission use `seed`, reception uses `seed + 1`, so the same seed
        with another `drop_rate` gives the same voyages and transmissions.
      drop_rate: probability in [0, 1) that a message is lost independently of the others.
      jitter: relative jitter of each reporting interval, in [0, 0.5].
      outage_per_hour: rate of coverage outages (every message inside one is lost).
      outlier_rate: probability that a received position carries a 1-5 km jump.
      gps_noise_deg: standard deviation of the position noise, degrees.
      turns_per_hour, stops_per_hour: rates of turn manoeuvres and port stops per vessel.

    Returns:
      `AISTracks`.
    """
    if num_vessels < 1 or hours <= 0:
        raise ValueError(f"need num_vessels >= 1 and hours > 0, got {num_vessels}, {hours}")
    _check("drop_rate", drop_rate, 0.0, 0.999)
    _check("jitter", jitter, 0.0, 0.5)
    _check("outlier_rate", outlier_rate, 0.0, 1.0)
    rng = np.random.default_rng(seed)
    v, steps = num_vessels, int(round(hours * 3600))
    cruise = rng.uniform(5.0, 26.0, v)
    lat, lon = rng.uniform(44.0, 48.0, v), rng.uniform(-66.0, -60.0, v)
    sog, cog = cruise * rng.uniform(0.8, 1.0, v), rng.uniform(0.0, 360.0, v)
    rot = np.zeros(v)                       # rate of turn, deg/s (0 when not turning)
    turn_left = np.zeros(v)                 # seconds left in the current manoeuvre
    stop_left = np.zeros(v)                 # seconds left in the current port stop
    next_time = rng.uniform(0.0, 10.0, v)   # first report
    max_messages = steps + 2               # the shortest interval is 2 s * (1 - jitter) >= 1 s
    fields = {name: np.zeros((v, max_messages)) for name in ("time", "lat", "lon", "sog", "cog",
                                                             "interval")}
    flags = {name: np.zeros((v, max_messages), bool) for name in ("turning", "anchored", "sent")}
    count = np.zeros(v, int)
    for step in range(steps):
        t = float(step)
        # Manoeuvres and stops start as Poisson events.
        start_turn = (turn_left <= 0) & (rng.random(v) < turns_per_hour / 3600.0)
        rot = np.where(start_turn, rng.choice([-1.0, 1.0], v) * rng.uniform(0.5, 3.0, v), rot)
        turn_left = np.where(start_turn, rng.uniform(10.0, 60.0, v), turn_left - 1.0)
        rot = np.where(turn_left > 0, rot, 0.0)
        start_stop = (stop_left <= 0) & (rng.random(v) < stops_per_hour / 3600.0)
        stop_left = np.where(start_stop, rng.uniform(600.0, 2400.0, v), stop_left - 1.0)
        stopping = stop_left > 0
        target = np.where(stopping, 0.0, cruise)
        sog = np.clip(sog + 0.01 * (target - sog) + 0.05 * rng.normal(size=v), 0.0, 30.0)
        sog = np.where(stopping & (sog < 0.3), 0.0, sog)
        cog = np.mod(cog + rot + 0.05 * rng.normal(size=v), 360.0)
        rad = np.deg2rad(cog)
        lat = lat + sog * np.cos(rad) * KNOT_DEG_PER_S
        lon = lon + sog * np.sin(rad) * KNOT_DEG_PER_S / np.cos(np.deg2rad(lat))
        turning, anchored = turn_left > 0, stopping & (sog < 0.5)
        due = np.nonzero(next_time <= t + 1.0)[0]  # the report falls inside this 1 s step
        if due.size:
            interval = reporting_interval(sog[due], turning[due], anchored[due])
            i = count[due]
            for name, value in (("time", next_time[due]), ("lat", lat[due]), ("lon", lon[due]),
                                ("sog", sog[due]), ("cog", cog[due]), ("interval", interval)):
                fields[name][due, i] = value
            for name, value in (("turning", turning[due]), ("anchored", anchored[due]),
                                ("sent", True)):
                flags[name][due, i] = value
            count[due] += 1
            next_time[due] += interval * (1.0 + rng.uniform(-jitter, jitter, due.size))
    m = int(count.max())
    fields = {k: a[:, :m] for k, a in fields.items()}
    flags = {k: a[:, :m] for k, a in flags.items()}
    sent = flags["sent"]

    # Reception: i.i.d. loss, coverage outages, GPS noise and outliers (own random stream).
    rx = np.random.default_rng(seed + 1)
    received = sent & (rx.random(sent.shape) >= drop_rate)
    num_outages = rx.poisson(outage_per_hour * hours, v)
    for vessel in range(v):  # host-side data generation, once per run
        for _ in range(num_outages[vessel]):
            start = rx.uniform(0.0, hours * 3600.0)
            end = start + rx.uniform(60.0, 600.0)
            inside = (fields["time"][vessel] >= start) & (fields["time"][vessel] < end)
            received[vessel] &= ~inside
    outlier = received & (rx.random(sent.shape) < outlier_rate)
    jump = rx.uniform(0.01, 0.05, (2,) + sent.shape) * rx.choice([-1.0, 1.0], (2,) + sent.shape)
    noise = gps_noise_deg * rx.normal(size=(2,) + sent.shape)
    lat_out = fields["lat"] + np.where(received, noise[0] + outlier * jump[0], 0.0)
    lon_out = fields["lon"] + np.where(received, noise[1] + outlier * jump[1], 0.0)
    return AISTracks(
        time_VxM=fields["time"], lat_VxM=lat_out, lon_VxM=lon_out, sog_VxM=fields["sog"],
        cog_VxM=fields["cog"], turning_VxM=flags["turning"], anchored_VxM=flags["anchored"],
        interval_VxM=fields["interval"], sent_VxM=sent, received_VxM=received,
        outlier_VxM=outlier)


def message_features(tracks: AISTracks, vessel: int) -> np.ndarray:
    """Per received message of one vessel, the model's input features `FEATURES`: the time gap and
    the latitude/longitude deltas to the previous *received* message (so drops and outages show up
    as longer gaps), SOG, and COG as sin/cos.

    Returns:
      [K-1, 6] float array for the vessel's K received messages (the first has no predecessor).
    """
    keep = tracks.received_VxM[vessel]
    t, lat, lon = (a[vessel][keep] for a in (tracks.time_VxM, tracks.lat_VxM, tracks.lon_VxM))
    sog, cog = tracks.sog_VxM[vessel][keep], np.deg2rad(tracks.cog_VxM[vessel][keep])
    return np.stack([np.diff(t), np.diff(lat), np.diff(lon), sog[1:], np.sin(cog[1:]),
                     np.cos(cog[1:])], axis=1)


def make_windows(
    features_KxF: np.ndarray, length: int, horizon: int, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows: L messages in, the next H messages' `TARGETS` (the first four features) out.

    Args:
      features_KxF: one vessel's `message_features`.
      length: L >= 1, input messages per window.
      horizon: H >= 1, messages to forecast.
      stride: messages between the starts of consecutive windows.

    Returns:
      inputs [W, L, F] and targets [W, H, 4]; W = 0 when the vessel has fewer than L + H messages.
    """
    if length < 1 or horizon < 1 or stride < 1:
        raise ValueError(f"length, horizon, stride must be >= 1, got {length}, {horizon}, {stride}")
    k, f = features_KxF.shape
    starts = np.arange(0, max(k - length - horizon + 1, 0), stride)
    inputs = features_KxF[starts[:, None] + np.arange(length)]
    targets = features_KxF[starts[:, None] + length + np.arange(horizon)][..., :len(TARGETS)]
    return inputs.reshape(len(starts), length, f), targets.reshape(len(starts), horizon,
                                                                   len(TARGETS))
