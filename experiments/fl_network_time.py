"""FL over 5G, WiFi and Ethernet (Hayek, Chung, Comer, Murthy, Kettimuthu & Kadota, "Federated
Learning over 5G, WiFi, and Ethernet: Measurements and Evaluation", arXiv 2504.04678, 2025): the
paper's round accounting, T_round = max_k (T_down,k + T_train,k + T_up,k) + T_agg, on a real
FedAvg run with emulated links.

What runs: FedAvg (`jaxnets.federated`) on sklearn's digits split over `num_clients` clients by
Dirichlet label skew, with an MLP of SqueezeNet 1.0's size (64-1024-1152-10, 1.26 M parameters,
5.04 MB per float32 update; the paper trains SqueezeNet on CIFAR-10 on Raspberry Pis). Each round
is two jitted calls (clients under vmap; server aggregation), each timed on the host: this gives
measured bytes (from the update pytrees), measured per-client compute time (the vmapped clients'
wall time / K) and measured aggregation time. `jaxnets.federated.network` then emulates, for each
interface, every client's downlink and uplink transfer (latency + exponential jitter + lognormal
throughput variation + retransmissions, see its docstring) and composes the round time with the
max over clients (stragglers).

What is calibrated (so the ratio and share conditions are a *consistency check of the
accounting*, not an independent measurement): the paper reports ratios, not link parameters, so
  * the 5G profile is assumed (OpenAirInterface 5G-NR SA cell with an SDR: 20 Mbit/s uplink,
    80 down, 10 ms one-way latency + 10 ms mean jitter, 1 % residual loss, lognormal sigma 0.35);
    WiFi and Ethernet latency/jitter/loss are assumed typical values (`network.PROFILES`);
  * the WiFi and Ethernet *uplink bandwidths* are solved from the paper's ratios (33.3x, 17.8x)
    for this payload (`network.calibrate_bandwidth`, on expected times);
  * the Raspberry Pi's training time is the measured JAX compute time times a slow-down factor
    solved so that, in expectation and without stragglers, the 5G uplink is 23 % of a round.
What the check tests: that the emulated, noisy rounds (per-client sampling, retransmissions, the
max over clients, measured compute and aggregation times that vary round to round) reproduce the
paper's ratios within 10 % and the share within 3 points, and whether round-time variation is
larger on 5G (the paper's straggler claim; here it follows from 5G's assumed link variability,
which the paper measured and we cannot). Real radio behaviour needs the testbed.

Claim (issue row): uplink(5G)/uplink(Ethernet) = 33.3 +- 10 %, uplink(5G)/uplink(WiFi) =
17.8 +- 10 %, 5G uplink share of a round 23 +- 3 %, and a larger coefficient of variation of the
round time on 5G than on Ethernet and WiFi (3 seeds). Uplink time = mean over clients and rounds;
share = mean uplink time / mean round time (the paper's definition: per-round averages over nodes,
round duration = the slowest node).

Deviations: digits + an MLP of SqueezeNet's size instead of CIFAR-10 + SqueezeNet (the bytes, not
the task, drive the accounting); a fixed number of local steps for every client (vmap) instead of
E |D_c| / B per client; evaluation times (the paper's t_ts, t_v) are not modelled separately; one
process emulates all clients (a shared clock), where the paper synchronises Pis over the network.

Pi training time: the median measured per-client compute time of the run (x the calibrated
slow-down) with a per-client lognormal variation (`train_time_sigma`, an assumption). The
per-round wall times of this shared, loaded 2-core host vary by ~15 % round to round (load
spikes, identical for all interfaces), which is not a Raspberry Pi's behaviour; with
`train_time_source="per_round"` they are used as measured.

Outcome (full config, 3 seeds, 10 clients, 10 rounds, 5.04 MB updates; FAILS on the share):
uplink(5G)/uplink(Ethernet) 33.0 +- 0.9 (paper 33.3), uplink(5G)/uplink(WiFi) 17.5 +- 0.5 (paper
17.8) -- consistency checks, since the bandwidths are calibrated; round-time CV 7.2 % on 5G vs
3.0 % WiFi and 2.3 % Ethernet, mean straggler excess 1.49 s vs 0.49 / 0.41 s per round (larger
on 5G, as the paper reports -- a consequence of the assumed 5G variability); 5G uplink share
19.8 +- 0.7 % against the paper's 23 +- 3 %: the Pi slow-down (x46) was calibrated for 23 % in
expectation *without* stragglers, and the max over 10 clients adds ~1.5 s per 5G round, diluting
the share by ~3 points. The paper's 23 % includes its own stragglers, with a client count and
per-client link variability we do not know; calibrating through the max would make the share
condition true by construction, so we did not. FedAvg test accuracy on digits 85.7 +- 1.5 %
after 10 rounds (sanity). A first full run with `train_time_source="per_round"` gave the same
ratios (33.0, 17.5), a share of 18.7 +- 1.2 % and round-time CVs of 14.3 / 16.0 / 16.2 %
(5G / WiFi / Ethernet): the host's load noise drowned the link effects, which is why the median
is the default. Runtime ~1.5 min on the loaded 2-core machine.
"""
from __future__ import annotations

import json
import pathlib
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import optax

from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.data.small import digits_split
from jaxnets.experiment import Claim, Paper
from jaxnets.federated import aggregators, network, partition, simulator
from jaxnets.nn.linear import MLP
from jaxnets.train.progress import progress_bar

PAPER = Paper(
    title="Federated Learning over 5G, WiFi, and Ethernet: Measurements and Evaluation",
    authors="Hayek, Chung, Comer, Murthy, Kettimuthu & Kadota",
    venue="arXiv 2504.04678, 2025",
)
DESCRIPTION = ("FL round-time accounting (downlink/train/uplink/aggregation, stragglers) over "
               "emulated 5G, WiFi and Ethernet links on a real FedAvg run")
PAPER_RESULT = ("5G uplink ~23 % of an average round; 5G uplink time 33.3x Ethernet's and 17.8x "
                "WiFi's; 5G exacerbates stragglers")
INTERFACES = ("5g", "wifi", "ethernet")
RATIO_TOLERANCE = 0.10   # relative, on the two uplink ratios (issue row)
SHARE_TOLERANCE = 0.03   # absolute, on the 5G uplink share (issue row)


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        num_clients=10,
        dirichlet_alpha=1.0,
        hidden="1024,1152",          # 64-1024-1152-10 = 1.26 M params (SqueezeNet 1.0's count)
        rounds=10,
        local_epochs=1,
        batch_size=32,
        learning_rate=0.05,
        test_fraction=0.2,
        ratio_ethernet=33.3,         # the paper's uplink(5G)/uplink(Ethernet)
        ratio_wifi=17.8,             # the paper's uplink(5G)/uplink(WiFi)
        uplink_share_5g=0.23,        # the paper's 5G uplink share of a round
        calibrate=True,              # solve WiFi/Ethernet uplink bandwidths and the Pi slow-down
        device_slowdown=50.0,        # used only when calibrate=False
        train_time_sigma=0.05,       # per-client lognormal variation of the Pi's training time
        train_time_source="median",  # "median" measured compute, or "per_round" wall times
        n_seeds=3,
        seed=0,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "num_clients=4", "hidden=512", "rounds=2", "n_seeds=2", "batch_size=64"])


def _hidden(config: ml_collections.ConfigDict) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in str(config.hidden).split(",") if w.strip())
    except ValueError as err:
        raise ValueError(f"config.hidden must be comma-separated ints, got {config.hidden!r}") \
            from err
    if not widths or min(widths) < 1:
        raise ValueError(f"config.hidden must name positive widths, got {config.hidden!r}")
    return widths


def _build(config: ml_collections.ConfigDict, num_train: int) -> dict:
    """Model, jitted client/server phases and accuracy, shared by all seeds (one compile)."""
    model = MLP(_hidden(config) + (10,))

    def loss_fn(params, batch):
        logits = model.apply(params, batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])

    local_steps = max(1, round(config.local_epochs * num_train / config.num_clients
                               / config.batch_size))
    client = simulator.fedavg_client_update(loss_fn, optax.sgd(config.learning_rate),
                                            local_steps, config.batch_size)
    clients_fn, server_fn = simulator.make_phases(client, aggregators.fedavg)
    accuracy = jax.jit(lambda p, x, y: jnp.mean(jnp.argmax(model.apply(p, x), -1) == y))
    return {"init": jax.jit(model.init), "clients_fn": clients_fn, "server_fn": server_fn,
            "accuracy": accuracy, "local_steps": local_steps}


def _train_seed(config: ml_collections.ConfigDict, built: dict, seed: int,
                progress_label: str) -> dict:
    """One FedAvg run on digits with per-round timing of the client and server phases."""
    split = digits_split(seed, config.test_fraction)
    (x_train, y_train), (x_test, y_test) = split["train"], split["test"]
    clients = partition.dirichlet_label_partition(
        y_train, config.num_clients, config.dirichlet_alpha, seed, min_size=1)
    # every client padded to the whole training set: one shape (one compile) for all seeds
    data = {k: jnp.asarray(v) for k, v in partition.stack_clients(
        {"x": x_train, "y": y_train}, clients, capacity=len(y_train)).items()}
    weights = jnp.asarray([len(c) for c in clients], jnp.float32)
    clients_fn, server_fn = built["clients_fn"], built["server_fn"]
    key = jax.random.PRNGKey(seed)
    params = built["init"](jax.random.fold_in(key, 10**6), x_train[:1])

    # compile both phases outside the timed rounds
    updates, _, metrics = clients_fn(params, (), data, weights, key, {})
    jax.block_until_ready(server_fn(params, (), updates, metrics["weights"], {}))
    compute_s, aggregate_s, losses = [], [], []
    up_bytes = down_bytes = 0
    bar = progress_bar(config.rounds, 0, progress_label, True)
    for r in range(config.rounds):
        round_key = jax.random.fold_in(key, r)
        start = time.perf_counter()
        updates, _, metrics = clients_fn(params, (), data, weights, round_key, {})
        jax.block_until_ready(updates)
        middle = time.perf_counter()
        params, _, _ = server_fn(params, (), updates, metrics["weights"], {})
        jax.block_until_ready(params)
        end = time.perf_counter()
        compute_s.append(middle - start)
        aggregate_s.append(end - middle)
        down_bytes = network.pytree_bytes(params)
        up_bytes = network.client_row_bytes(updates)
        used = np.asarray(metrics["weights"]) > 0
        losses.append(float(np.asarray(metrics["clients"]["loss_last"])[used].mean()))
        if int(metrics["num_nonfinite"]):
            raise FloatingPointError(f"seed {seed} round {r + 1}: "
                                     f"{int(metrics['num_nonfinite'])} clients sent NaN updates")
        bar.update(1)
    bar.close()
    return {"seed": seed, "compute_s": compute_s, "aggregate_s": aggregate_s, "loss": losses,
            "test_accuracy": float(built["accuracy"](params, x_test, y_test)),
            "bytes_down": down_bytes, "bytes_up": up_bytes, "local_steps": built["local_steps"],
            "num_params": sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(params))}


def _profiles(config: ml_collections.ConfigDict, payload: int) -> dict:
    """The three interfaces; WiFi/Ethernet uplink bandwidths solved from the paper's ratios."""
    profiles = dict(network.PROFILES)
    if config.calibrate:
        up_5g = float(network.expected_link_time(profiles["5g"].uplink, payload))
        for name, ratio in (("ethernet", config.ratio_ethernet), ("wifi", config.ratio_wifi)):
            uplink = network.calibrate_bandwidth(profiles[name].uplink, payload, up_5g / ratio)
            profiles[name] = profiles[name]._replace(uplink=uplink)
    for name, interface in profiles.items():
        network.check_profile(interface.uplink, f"{name}.uplink")
        network.check_profile(interface.downlink, f"{name}.downlink")
    return profiles


def _slowdown(config: ml_collections.ConfigDict, profiles: dict, payload: int,
              client_compute_s: float, aggregate_s: float) -> float:
    """Pi slow-down so that E[T_up] / (E[T_down] + T_train + E[T_up] + T_agg) = share on 5G."""
    if not config.calibrate:
        return float(config.device_slowdown)
    up = float(network.expected_link_time(profiles["5g"].uplink, payload))
    down = float(network.expected_link_time(profiles["5g"].downlink, payload))
    train = up / config.uplink_share_5g - up - down - aggregate_s
    if train <= 0:
        raise ValueError(f"uplink_share_5g={config.uplink_share_5g} leaves no time for training "
                         f"(uplink {up:.3f} s, downlink {down:.3f} s)")
    return train / client_compute_s


def _emulate(config: ml_collections.ConfigDict, run: dict, interface: network.InterfaceProfile,
             slowdown: float, key: jax.Array, rng: np.random.Generator) -> dict:
    """All rounds of one run over one interface (`network.simulate_rounds`, one jitted call)."""
    k = config.num_clients
    compute = np.asarray(run["compute_s"]) / k                            # [R] per client
    if config.train_time_source == "median":
        compute = np.full_like(compute, np.median(compute))
    sigma = config.train_time_sigma
    noise = np.exp(sigma * rng.standard_normal((len(compute), k)) - 0.5 * sigma ** 2)
    t_train = slowdown * compute[:, None] * noise                          # [R, K]
    out = network.simulate_rounds(
        key, interface, jnp.full((k,), run["bytes_down"], jnp.float32),
        jnp.full((k,), run["bytes_up"], jnp.float32), jnp.asarray(t_train, jnp.float32),
        jnp.asarray(run["aggregate_s"], jnp.float32))
    out = {name: np.asarray(value, np.float64) for name, value in out.items()}
    round_s = out["round_s"]
    return {"downlink_s": float(out["down_s"].mean()), "train_s": float(t_train.mean()),
            "uplink_s": float(out["up_s"].mean()),
            "aggregate_s": float(np.mean(run["aggregate_s"])),
            "round_s": float(round_s.mean()),
            "round_cv": float(round_s.std() / round_s.mean()),
            "straggler_excess_s": float(out["straggler_excess_s"].mean()),
            "uplink_share": float(out["up_s"].mean() / round_s.mean()),
            "round_series_s": round_s.tolist()}


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    if config.num_clients < 1 or config.rounds < 1 or config.n_seeds < 1:
        raise ValueError("num_clients, rounds and n_seeds must be >= 1")
    if config.train_time_source not in ("median", "per_round"):
        raise ValueError(f"train_time_source must be 'median' or 'per_round', got "
                         f"{config.train_time_source!r}")
    num_train = len(digits_split(config.seed, config.test_fraction)["train"][1])
    built = _build(config, num_train)
    runs = [_train_seed(config, built, config.seed + s, f"seed {s + 1}/{config.n_seeds}")
            for s in range(config.n_seeds)]
    payload = runs[0]["bytes_up"]
    profiles = _profiles(config, payload)
    # per-client compute and aggregation: medians over all timed rounds (robust to load spikes)
    client_compute = float(np.median(np.concatenate(
        [np.asarray(r["compute_s"]) / config.num_clients for r in runs])))
    aggregate = float(np.median(np.concatenate([r["aggregate_s"] for r in runs])))
    slowdown = _slowdown(config, profiles, payload, client_compute, aggregate)
    seeds = []
    for run_record in runs:
        key = jax.random.PRNGKey(10_000 + run_record["seed"])
        rng = np.random.default_rng(10_000 + run_record["seed"])
        per_interface = {name: _emulate(config, run_record, profiles[name], slowdown,
                                        jax.random.fold_in(key, i), rng)
                         for i, name in enumerate(INTERFACES)}
        seeds.append({**run_record, "interfaces": per_interface,
                      "ratio_ethernet": per_interface["5g"]["uplink_s"]
                      / per_interface["ethernet"]["uplink_s"],
                      "ratio_wifi": per_interface["5g"]["uplink_s"]
                      / per_interface["wifi"]["uplink_s"]})
    summary = {name: {field: float(np.mean([s["interfaces"][name][field] for s in seeds]))
                      for field in ("downlink_s", "train_s", "uplink_s", "aggregate_s",
                                    "round_s", "round_cv", "straggler_excess_s", "uplink_share")}
               for name in INTERFACES}
    results = {
        "seeds": seeds, "summary": summary,
        "ratio_ethernet": [s["ratio_ethernet"] for s in seeds],
        "ratio_wifi": [s["ratio_wifi"] for s in seeds],
        "uplink_share_5g": [s["interfaces"]["5g"]["uplink_share"] for s in seeds],
        "round_cv": {name: [s["interfaces"][name]["round_cv"] for s in seeds]
                     for name in INTERFACES},
        "model_bytes": runs[0]["bytes_down"], "bytes_per_client_up": payload,
        "num_params": runs[0]["num_params"],
        "client_compute_s": client_compute, "aggregate_s": aggregate,
        "device_slowdown": slowdown,
        "profiles": {name: {"uplink": p.uplink._asdict(), "downlink": p.downlink._asdict()}
                     for name, p in profiles.items()},
        "test_accuracy": [r["test_accuracy"] for r in runs],
        "plot": "fl_network_time.png",
    }
    _plot(results, workdir / results["plot"])
    (workdir / "fl_network_time_summary.json").write_text(
        json.dumps({k: v for k, v in results.items() if k != "seeds"}, indent=2) + "\n")
    return results


def _plot(results: dict, path: pathlib.Path) -> None:
    fig, (ax_bar, ax_series) = plt.subplots(1, 2, figsize=(10, 3.8))
    bottom = np.zeros(len(INTERFACES))
    parts = (("downlink_s", "downlink"), ("train_s", "training"), ("uplink_s", "uplink"),
             ("straggler_excess_s", "straggler excess"), ("aggregate_s", "aggregation"))
    for field, label in parts:
        values = np.array([results["summary"][n][field] for n in INTERFACES])
        ax_bar.bar(INTERFACES, values, bottom=bottom, label=label)
        bottom += values
    ax_bar.set_ylabel("seconds per round (mean)")
    ax_bar.set_title("round accounting")
    ax_bar.legend(fontsize=8)
    for name in INTERFACES:
        series = results["seeds"][0]["interfaces"][name]["round_series_s"]
        ax_series.plot(np.arange(1, len(series) + 1), series, marker="o", label=name)
    ax_series.set_xlabel("round (seed 0)")
    ax_series.set_ylabel("round time (s)")
    ax_series.set_title("round time, max over clients + aggregation")
    ax_series.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    eth, wifi = np.mean(results["ratio_ethernet"]), np.mean(results["ratio_wifi"])
    share = np.mean(results["uplink_share_5g"])
    cv = {name: float(np.mean(values)) for name, values in results["round_cv"].items()}
    conditions = {
        "ethernet ratio": abs(eth / 33.3 - 1) <= RATIO_TOLERANCE,
        "wifi ratio": abs(wifi / 17.8 - 1) <= RATIO_TOLERANCE,
        "5G share": abs(share - 0.23) <= SHARE_TOLERANCE,
        "5G round-time CV largest": cv["5g"] > cv["ethernet"] and cv["5g"] > cv["wifi"],
    }
    failed = [name for name, ok in conditions.items() if not ok]
    return Claim(
        passed=not failed,
        text=(f"uplink(5G)/uplink(Ethernet) = 33.3 ± 10 %, uplink(5G)/uplink(WiFi) = 17.8 ± 10 %, "
              f"5G uplink share 23 ± 3 %, round-time CV larger on 5G "
              f"({'all hold' if not failed else 'fails: ' + ', '.join(failed)}). A consistency "
              f"check of the accounting: WiFi/Ethernet uplink bandwidths and the device slow-down "
              f"(x{results['device_slowdown']:.0f}) are calibrated from the paper's own numbers "
              f"and the link profiles are assumptions; real radio needs a testbed."),
        paper="5G uplink 33.3x Ethernet, 17.8x WiFi; 5G uplink ≈ 23 % of a round; "
              "5G exacerbates stragglers",
        ours=(f"Ethernet ratio {plots.mean_std(results['ratio_ethernet'])}, WiFi ratio "
              f"{plots.mean_std(results['ratio_wifi'])}, 5G uplink share "
              f"{plots.mean_std(results['uplink_share_5g'], scale=100)} %, round-time CV "
              + ", ".join(f"{n} {100 * v:.1f} %" for n, v in cv.items())
              + f"; FedAvg test accuracy {plots.mean_std(results['test_accuracy'], scale=100)} %"),
        plot=results["plot"],
    )

