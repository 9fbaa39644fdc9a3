"""FedZip (Malekijoo, Fabbri, Kalantidis & Mottaghi, "FEDZIP: A Compression Framework for
Communication-Efficient Federated Learning", arXiv 2102.01593): FedAvg whose client updates are
top-z sparsified, k-means quantised and entropy/position coded (`jaxnets.federated.fedzip`),
against uncompressed FedAvg, with IID and label-skewed clients.

Setting (the paper's pipeline at CPU scale): sklearn digits (1,797 8x8 images, 80/20 split), an
MLP 64-128-10 (9,610 parameters), 10 clients holding either an IID shard of the training set or
two label shards each (label skew: the training set sorted by label, cut into 20 shards, two per
client, McMahan et al.'s pathological non-IID split). 30 rounds; each round every client runs one
local epoch of SGD (lr 0.1, batch 16) from the global model (`jaxnets.federated.simulator`), and
the server applies FedAvg (example-count weights) to the updates. FedZip compresses each client's
update before it is sent with the official settings: keep the top z = 20 % of |Delta w| per
weight matrix (biases kept whole), 1-D k-means with k = 3 centroids initialised at
linspace(min, max) and 4 Lloyd iterations per layer, then encode the cluster symbols losslessly
three ways (Huffman, fixed-width positions, Elias-gamma run lengths; 32 bits per centroid
included). The server uses the quantised update, which is exactly what the bit strings decode to:
`verify_decode` decodes every client's streams in the first and last rounds (seed 0) and stops
the run if one differs. Compression = 32 x #parameters / encoded bits, summed over all clients,
rounds and layers. The 3 seeds (model init and batch order) run together under `vmap`; the
encoders run host-side between rounds (a jitted round, then numpy).

Claim (issue row): FedZip final test accuracy within 2 points of FedAvg with IID clients and
within 4 with label skew, and measured compression >= 10x with Huffman coding and >= 20x with the
best encoding (3 seeds).

Deviations: digits and a 9.6k-parameter MLP instead of EMNIST / CIFAR-10 CNNs and VGG16 (the
paper's 1085x needs millions of parameters per layer, where position addresses and per-layer
headers are amortised differently); a real Huffman code instead of the official [2, 1, 1]
lengths (not a prefix code); Elias-gamma gaps instead of the official uncoded variable-length
gaps (not decodable); addresses of ceil(log2 n) bits instead of a fixed 27; no error feedback.

Outcome (full config, 3 seeds; PASSES): IID FedZip 94.7 +- 0.6 vs FedAvg 95.5 +- 0.5 (-0.8 points);
label skew FedZip 90.0 +- 1.0 vs FedAvg 91.7 +- 1.1 (-1.7); measured compression IID Huffman
25.9x, position 13.1x, run-length 32.3x; label skew 26.3x, 14.6x, 36.5x (the paper: up to 1085x
on far larger layers). Every decode check passed. ~3.5 min wall on the loaded 2-core machine.
"""
from __future__ import annotations

import json
import math
import pathlib

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import optax

from experiments._federated import DigitsMLP
from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.data import small
from jaxnets.experiment import Claim, Paper
from jaxnets.federated import aggregators, fedzip, simulator

PAPER = Paper(
    title="FEDZIP: A Compression Framework for Communication-Efficient Federated Learning",
    authors="Malekijoo, Fabbri, Kalantidis & Mottaghi",
    venue="arXiv 2102.01593 (2021)",
)
DESCRIPTION = "FedZip (top-z + k-means + Huffman/position/run-length codes) vs FedAvg on digits, IID and label skew"
ACCURACY_GAP = {"iid": 2.0, "label_skew": 4.0}   # points FedZip may trail FedAvg (issue row)
MIN_HUFFMAN = 10.0                                # compression floors (issue row)
MIN_BEST = 20.0
METHODS = ("fedavg", "fedzip")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        num_clients=10,
        partitions="iid,label_skew",
        shards_per_client=2,       # label skew: label-sorted shards per client
        hidden=128,
        rounds=30,
        local_epochs=1,
        batch_size=16,
        learning_rate=0.1,
        z=0.2,                     # fraction of each weight matrix's update kept
        num_clusters=3,
        kmeans_iters=4,
        verify_decode=True,
        n_seeds=3,
        seed=0,
        data_seed=0,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "num_clients=4", "partitions=label_skew", "hidden=8", "rounds=2", "n_seeds=1",
        "batch_size=64"])


def partition(y: np.ndarray, num_clients: int, kind: str, shards_per_client: int,
              seed: int) -> list[np.ndarray]:
    """Example indices per client: "iid" (a random equal split) or "label_skew" (label-sorted
    shards, `shards_per_client` random shards each)."""
    rng = np.random.default_rng(seed)
    if kind == "iid":
        return np.array_split(rng.permutation(len(y)), num_clients)
    if kind == "label_skew":
        order = np.argsort(y, kind="stable")
        shards = np.array_split(order, num_clients * shards_per_client)
        pick = rng.permutation(len(shards)).reshape(num_clients, shards_per_client)
        return [np.concatenate([shards[s] for s in row]) for row in pick]
    raise ValueError(f"unknown partition {kind!r}; choose iid or label_skew")


def _stack(x: np.ndarray, y: np.ndarray, parts: list[np.ndarray]) -> dict:
    size = max(len(p) for p in parts)
    data = {"x": np.zeros((len(parts), size, x.shape[1]), np.float32),
            "y": np.zeros((len(parts), size), np.int32),
            "mask": np.zeros((len(parts), size), bool)}
    for k, idx in enumerate(parts):
        data["x"][k, :len(idx)], data["y"][k, :len(idx)], data["mask"][k, :len(idx)] = (
            x[idx], y[idx], True)
    return jax.tree.map(jnp.asarray, data)


def compressing(client_update, z: float, num_clusters: int, iters: int):
    """FedZip's client: the base update compressed (stages 1-2); the symbols and centroids go
    out in the metrics for the host-side encoders."""
    def client_update_fn(global_params, client_state, client_data, key, hp):
        update, client_state, metrics = client_update(global_params, client_state, client_data,
                                                      key, hp)
        comp = fedzip.compress(update, z, num_clusters, iters)
        return comp.values, client_state, {**metrics, "symbols": comp.symbols,
                                           "centroids": comp.centroids}
    return client_update_fn


def _encode_round(metrics: dict, template, config, verify: bool) -> dict[str, np.ndarray]:
    """Encoded bits [S, K] per scheme for one round; optionally decodes seed 0's streams."""
    symbols = jax.tree.map(np.asarray, metrics["symbols"])
    centroids = jax.tree.map(np.asarray, metrics["centroids"])
    num_seeds, num_clients = jax.tree.leaves(symbols)[0].shape[:2]
    bits = {s: np.zeros((num_seeds, num_clients), np.int64) for s in fedzip.SCHEMES}
    for i in range(num_seeds):
        for k in range(num_clients):
            sym = jax.tree.map(lambda a: a[i, k], symbols)
            cen = jax.tree.map(lambda a: a[i, k], centroids)
            for scheme in fedzip.SCHEMES:
                streams = fedzip.encode_update(sym, cen, scheme)
                bits[scheme][i, k] = sum(len(s) for s in streams)
                if verify and i == 0:
                    decoded = fedzip.decode_update(streams, template, config.num_clusters, scheme)
                    sent = jax.tree.map(lambda c, s, t: c[s].reshape(t.shape), cen, sym, template)
                    for got, want in zip(jax.tree.leaves(decoded), jax.tree.leaves(sent)):
                        if not np.array_equal(got, want):
                            raise RuntimeError(f"{scheme}: decode(encode(update)) differs from "
                                               f"the update the server aggregated")
    return bits


def _run_setting(config, kind: str, method: str, split: dict, model) -> dict:
    x_train, y_train = split["train"]
    parts = partition(y_train, config.num_clients, kind, config.shards_per_client,
                      config.data_seed)
    data = _stack(x_train, y_train, parts)
    weights = jnp.asarray([len(p) for p in parts], jnp.float32)
    local_steps = config.local_epochs * math.ceil(max(len(p) for p in parts) / config.batch_size)

    def loss_fn(params, batch):
        return optax.softmax_cross_entropy_with_integer_labels(
            model.apply(params, batch["x"]), batch["y"])

    client_update = simulator.fedavg_client_update(
        loss_fn, optax.sgd(config.learning_rate), local_steps, config.batch_size)
    if method == "fedzip":
        client_update = compressing(client_update, config.z, config.num_clusters,
                                    config.kmeans_iters)
    round_fn = simulator.make_round(client_update, aggregators.fedavg, shard=False)
    seeds = jnp.arange(config.seed, config.seed + config.n_seeds)
    keys = jax.vmap(jax.random.PRNGKey)(seeds)
    x_test, y_test = (jnp.asarray(a) for a in split["test"])
    params = jax.vmap(lambda k: model.init(jax.random.fold_in(k, 0), x_test[:1]))(keys)
    template = jax.tree.map(lambda a: np.zeros(a.shape[1:], np.float32), params)
    step = jax.jit(jax.vmap(round_fn, in_axes=(0, None, None, None, None, 0, None)))
    accuracy = jax.jit(jax.vmap(
        lambda p: jnp.mean(jnp.argmax(model.apply(p, x_test), -1) == y_test)))
    curve, bits = [], {s: [] for s in fedzip.SCHEMES}
    for r in range(config.rounds):
        round_keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, 1), r))(keys)
        params, _, _, metrics = step(params, (), (), data, weights, round_keys,
                                     {"server_lr": 1.0})
        if int(np.max(metrics["num_nonfinite"])) > 0:
            raise FloatingPointError(f"{kind}/{method}: a client update became non-finite in "
                                     f"round {r + 1}")
        curve.append((100 * np.asarray(accuracy(params))).tolist())
        if method == "fedzip":
            verify = config.verify_decode and r in (0, config.rounds - 1)
            for scheme, b in _encode_round(metrics["clients"], template, config, verify).items():
                bits[scheme].append(b)
    out = {"test_accuracy": curve[-1], "curve": np.mean(curve, axis=1).tolist()}
    if method == "fedzip":
        dense = fedzip.dense_bits(template)
        # [S]: all of a seed's bits over rounds and clients vs the same count of dense updates
        out["compression"] = {
            s: (dense * config.rounds * config.num_clients / np.sum(b, axis=(0, 2))).tolist()
            for s, b in ((s, np.stack(v)) for s, v in bits.items())}
        out["num_params"] = dense // 32
    return out


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    kinds = [k.strip() for k in config.partitions.split(",") if k.strip()]
    if not kinds:
        raise ValueError(f"config.partitions names no partition: {config.partitions!r}")
    split = small.digits_split(config.data_seed, test_fraction=0.2)
    model = DigitsMLP(config.hidden)
    results: dict = {"partitions": {}}
    for kind in kinds:
        results["partitions"][kind] = {m: _run_setting(config, kind, m, split, model)
                                       for m in METHODS}
    results["num_params"] = results["partitions"][kinds[0]]["fedzip"]["num_params"]
    results["plot"] = "fedzip.png"
    _plot(results, workdir / results["plot"])
    (workdir / "fedzip_summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _plot(results: dict, path: pathlib.Path) -> None:
    kinds = list(results["partitions"])
    fig, (ax_acc, ax_cr) = plt.subplots(1, 2, figsize=(10, 3.5))
    for color, kind in zip(("C0", "C1", "C2"), kinds):
        for m, style in zip(METHODS, ("-", "--")):
            c = results["partitions"][kind][m]["curve"]
            ax_acc.plot(np.arange(1, len(c) + 1), c, style, color=color, label=f"{kind} {m}")
    ax_acc.set_xlabel("round")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.legend(fontsize=8)
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        cr = results["partitions"][kind]["fedzip"]["compression"]
        ax_cr.bar(np.arange(len(cr)) + width * i, [np.mean(v) for v in cr.values()], width,
                  label=kind)
    ax_cr.set_xticks(np.arange(len(fedzip.SCHEMES)) + 0.4 - width / 2, fedzip.SCHEMES)
    ax_cr.axhline(MIN_HUFFMAN, color="k", linestyle=":", linewidth=1)
    ax_cr.axhline(MIN_BEST, color="k", linestyle="--", linewidth=1)
    ax_cr.set_ylabel("compression (x)")
    ax_cr.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    conditions, ours = [], []
    for kind, entry in results["partitions"].items():
        avg, zipped = entry["fedavg"]["test_accuracy"], entry["fedzip"]["test_accuracy"]
        cr = {s: float(np.mean(v)) for s, v in entry["fedzip"]["compression"].items()}
        best = max(cr, key=cr.get)
        gap = ACCURACY_GAP.get(kind, 2.0)
        conditions += [np.mean(zipped) >= np.mean(avg) - gap, cr["huffman"] >= MIN_HUFFMAN,
                       cr[best] >= MIN_BEST]
        ours.append(f"{kind}: FedZip {plots.mean_std(zipped)} vs FedAvg {plots.mean_std(avg)}; "
                    f"compression " + ", ".join(f"{s} {v:.1f}x" for s, v in cr.items()))
    return Claim(
        passed=all(conditions),
        text=(f"FedZip test accuracy within {ACCURACY_GAP['iid']:.0f} points of FedAvg (IID) and "
              f"{ACCURACY_GAP['label_skew']:.0f} (label skew); compression >= {MIN_HUFFMAN:.0f}x "
              f"(Huffman) and >= {MIN_BEST:.0f}x (best encoding), on a "
              f"{results['num_params']}-parameter MLP"),
        paper=("compression up to 1085x (Huffman/position codes on EMNIST CNN / VGG16, millions "
               "of parameters), up to 99 % of client bandwidth and energy saved, accuracy close "
               "to FedAvg (per-setting accuracies not retrieved)"),
        ours="; ".join(ours),
        plot=results["plot"],
    )
