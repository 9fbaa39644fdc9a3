"""FedZip (jaxnets.federated.fedzip): top-z sparsification and k-means against numpy references,
Huffman codes (prefix-free, optimal lengths on hand cases, canonical), decode(encode(x)) == x for
every scheme, bit and byte counts equal to the encoded lengths, and a smoke run of
experiments/fedzip.py."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.federated.fedzip import (SCHEMES, canonical_codes, compress, decode_layer,
                                      decode_update, dense_bits, encode_layer, encode_update,
                                      huffman_lengths, kmeans_1d, num_kept, to_bytes,
                                      top_z_sparsify)


def test_top_z_keeps_the_largest_magnitudes():
    x = np.array([[0.1, -3.0, 0.5], [2.0, -0.2, 0.05]], np.float32)
    got = np.asarray(top_z_sparsify(jnp.asarray(x), 1 / 3))
    np.testing.assert_array_equal(got, [[0, -3.0, 0], [2.0, 0, 0]])
    assert num_kept(10_000, 0.2) == 2000 and num_kept(3, 0.01) == 1
    with pytest.raises(ValueError, match="z"):
        num_kept(10, 0.0)


def _numpy_kmeans(x, k, iters):
    c = np.linspace(x.min(), x.max(), k)
    for _ in range(iters):
        a = np.argmin(np.abs(x[:, None] - c[None]), axis=1)
        c = np.array([x[a == j].mean() if np.any(a == j) else c[j] for j in range(k)])
    return np.argmin(np.abs(x[:, None] - c[None]), axis=1), c


def test_kmeans_matches_numpy_lloyd():
    x = np.random.default_rng(0).normal(size=300).astype(np.float32)
    x[:200] = 0.0                                    # a sparsified layer: many exact zeros
    symbols, centroids = jax.jit(kmeans_1d, static_argnums=(1, 2))(jnp.asarray(x), 3, 4)
    want_s, want_c = _numpy_kmeans(x.astype(np.float64), 3, 4)
    np.testing.assert_allclose(centroids, want_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(symbols, want_s)
    assert np.bincount(np.asarray(symbols))[1] >= 200  # the zeros share the middle cluster


def _is_prefix_free(codes, lengths):
    words = [format(int(c), f"0{int(n)}b") for c, n in zip(codes, lengths) if n > 0]
    return not any(a != b and b.startswith(a) for a in words for b in words)


def test_huffman_hand_cases_and_prefix_property():
    # three clusters, the zero cluster dominant: a real Huffman code is [2, 1, 2] (not [2, 1, 1])
    assert huffman_lengths([10, 80, 10]).tolist() == [2, 1, 2]
    assert huffman_lengths([5, 0, 7]).tolist() == [1, 0, 1]
    assert huffman_lengths([0, 4, 0]).tolist() == [0, 1, 0]
    # dyadic probabilities: lengths are -log2 p
    assert huffman_lengths([8, 4, 2, 1, 1]).tolist() == [1, 2, 3, 4, 4]
    rng = np.random.default_rng(1)
    for _ in range(20):
        counts = rng.integers(0, 50, size=rng.integers(2, 9))
        counts[0] += 1
        lengths = huffman_lengths(counts)
        codes = canonical_codes(lengths)
        used = counts > 0
        assert _is_prefix_free(codes, lengths)
        assert np.all((lengths > 0) == used)
        if used.sum() > 1:     # a full binary tree: Kraft's sum is exactly 1
            assert math.isclose(sum(2.0 ** -lengths[used]), 1.0)
    np.testing.assert_array_equal(canonical_codes([2, 1, 2]), [0b10, 0b0, 0b11])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_round_trip_and_bit_counts(scheme):
    rng = np.random.default_rng(2)
    n = 1000
    symbols = rng.choice(3, size=n, p=[0.07, 0.85, 0.08]).astype(np.int32)
    centroids = np.array([-0.31, 1e-4, 0.27], np.float32)
    bits = encode_layer(symbols, centroids, scheme)
    assert bits.dtype == np.uint8 and set(np.unique(bits).tolist()) <= {0, 1}
    got_s, got_c = decode_layer(bits, n, 3, scheme)
    np.testing.assert_array_equal(got_s, symbols)
    np.testing.assert_array_equal(got_c.view(np.uint32), centroids.view(np.uint32))
    assert len(to_bytes(bits)) == math.ceil(len(bits) / 8)
    counts = np.bincount(symbols, minlength=3)
    if scheme == "huffman":   # centroids + 5-bit lengths + 2/1/2 bits per symbol
        want = 3 * 32 + 3 * 5 + 2 * counts[0] + counts[1] + 2 * counts[2]
    elif scheme == "position":  # + dominant id (2 bits) + two 10-bit counts + 10-bit positions
        want = 3 * 32 + 2 + 2 * 10 + 10 * (counts[0] + counts[2])
    else:                       # + Elias-gamma gaps: 2 floor(log2 g) + 1 bits each
        gaps = np.concatenate([np.diff(np.flatnonzero(symbols == s), prepend=-1) for s in (0, 2)])
        want = 3 * 32 + 2 + 2 * 10 + int(np.sum(2 * np.floor(np.log2(gaps)) + 1))
    assert len(bits) == want
    with pytest.raises(ValueError):
        decode_layer(bits[:-1], n, 3, scheme)          # truncated
    with pytest.raises(ValueError, match="left over"):
        decode_layer(np.concatenate([bits, np.zeros(40, np.uint8)]), n, 3, scheme)


def test_edge_layers_round_trip():
    for symbols in (np.zeros(7, np.int32), np.array([2], np.int32), np.array([0, 2, 2, 0])):
        for scheme in SCHEMES:
            bits = encode_layer(symbols, np.array([0.0, 1.0, 2.0], np.float32), scheme)
            np.testing.assert_array_equal(decode_layer(bits, len(symbols), 3, scheme)[0], symbols)
    with pytest.raises(ValueError, match="symbols must lie"):
        encode_layer(np.array([0, 3]), np.zeros(3, np.float32), "huffman")
    with pytest.raises(ValueError, match="scheme"):
        encode_layer(np.array([0]), np.zeros(3, np.float32), "zip")


def test_compress_pipeline_round_trips_and_compresses():
    rng = np.random.default_rng(3)
    update = {"dense": {"kernel": jnp.asarray(rng.normal(size=(64, 32)), jnp.float32),
                        "bias": jnp.asarray(rng.normal(size=32), jnp.float32)}}
    comp = jax.jit(compress, static_argnums=(1, 2, 3))(update, 0.2, 3, 4)
    kernel = np.asarray(comp.values["dense"]["kernel"])
    assert len(np.unique(kernel)) <= 3 and len(np.unique(comp.values["dense"]["bias"])) <= 3
    # the dominant (near-zero) cluster holds at least the 80 % sparsified entries
    zeros = kernel.size - num_kept(kernel.size, 0.2)
    assert np.bincount(np.asarray(comp.symbols["dense"]["kernel"])).max() >= zeros
    for scheme in SCHEMES:
        streams = encode_update(comp.symbols, comp.centroids, scheme)
        decoded = decode_update(streams, update, 3, scheme)
        jax.tree.map(np.testing.assert_array_equal, decoded, jax.tree.map(np.asarray, comp.values))
        ratio = dense_bits(update) / sum(len(s) for s in streams)
        assert ratio > 8.0, (scheme, ratio)


def test_partitions():
    from experiments.fedzip import partition
    y = np.repeat(np.arange(10), 20)
    iid = partition(y, 4, "iid", 2, 0)
    assert sorted(np.concatenate(iid).tolist()) == list(range(200))
    skew = partition(y, 10, "label_skew", 2, 0)
    assert sorted(np.concatenate(skew).tolist()) == list(range(200))
    assert all(len(np.unique(y[p])) <= 2 for p in skew)
    with pytest.raises(ValueError, match="unknown partition"):
        partition(y, 4, "dirichlet", 2, 0)


def test_experiment_smoke(tmp_path):
    from experiments import fedzip as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(
        experiment, ["num_clients=2", "rounds=1", "hidden=4", "batch_size=256"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    entry = results["partitions"]["label_skew"]
    assert len(entry["fedzip"]["test_accuracy"]) == len(entry["fedavg"]["test_accuracy"]) == 1
    assert set(entry["fedzip"]["compression"]) == set(SCHEMES)
    assert all(v[0] > 1.0 for v in entry["fedzip"]["compression"].values())
    assert isinstance(claim.passed, bool) and "label_skew" in claim.ours
    assert (tmp_path / results["plot"]).exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import fedzip as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text + " | " + claim.ours
