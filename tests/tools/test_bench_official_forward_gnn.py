"""tools/bench_official_forward_gnn.py: the parts that are ours, without torch or the checkout.

The official side (torch, a forwardgnn checkout) is not needed: the command line and the
missing-checkout error, the data handed to both sides, the mapping of the official GCN weights
into our parameters (checked against a NumPy ForwardGNN layer), and the layer-wise fit against
the experiment's sequential step. The torch `Data` conversion runs only where torch is installed.
"""
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "bench_official_forward_gnn.py"


@pytest.fixture(scope="module")
def bench():
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tools import bench_official_forward_gnn
    return bench_official_forward_gnn


def _tiny(bench):
    """6 nodes in a ring (both directions), 2 classes, nodes 0-3 for training."""
    s = np.array([0, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 0])
    r = np.array([1, 2, 3, 4, 5, 0, 0, 1, 2, 3, 4, 5])
    x = np.random.default_rng(0).random((6, 5)).astype(np.float32)
    labels = np.array([0, 1, 0, 1, 0, 1])
    train = np.array([1, 1, 1, 1, 0, 0], bool)
    return bench.Arrays(x, labels, s, r, train, ~train, ~train, 2, "tiny")


def test_missing_checkout_names_the_repository(bench, tmp_path):
    with pytest.raises(FileNotFoundError, match="github.com/facebookresearch/forwardgnn"):
        bench.check_official(tmp_path)
    source = tmp_path / bench.OFFICIAL_FILE
    source.parent.mkdir(parents=True)
    source.write_text("")
    assert bench.check_official(tmp_path) == tmp_path / "src"


def test_command_line_fails_early_without_the_checkout(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--official", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "FileNotFoundError" in out.stderr and "facebookresearch/forwardgnn" in out.stderr


def test_arguments_are_checked(bench, tmp_path):
    with pytest.raises(SystemExit):
        bench.parse_args([])                                   # --official is required
    with pytest.raises(SystemExit):
        bench.parse_args(["--official", str(tmp_path), "--epochs", "0"])
    args = bench.parse_args(["--official", str(tmp_path)])
    assert (args.threads, args.epochs, args.weight_decay) == (1, 100, 5e-4)


def test_arrays_are_the_experiments_cora(bench, data_root, monkeypatch):
    monkeypatch.setenv("JAXNETS_DATA", str(data_root))
    arrays = bench.load_arrays(bench.experiment.get_config())
    assert (arrays.num_nodes, arrays.num_classes, arrays.x_NxF.shape[1]) == (2708, 7, 1433)
    assert arrays.labels_N.min() >= 0                  # the official GraphAugmenter needs it
    edges = set(zip(arrays.senders_E.tolist(), arrays.receivers_E.tolist()))
    assert all((b, a) in edges for a, b in edges)      # undirected, as the official loader asserts
    masks = np.stack([arrays.train_N, arrays.val_N, arrays.test_N])
    assert (masks.sum(0) <= 1).all() and masks.sum(1).tolist() == [1733, 433, 542]


def _numpy_forward(arrays, virtual, weights):
    """ForwardGNN layers (row L2 norm -> GCN with self-loops -> ReLU) on the virtual-node graph,
    written out densely."""
    n, c = arrays.num_nodes, arrays.num_classes
    m = n + c
    a = np.zeros((m, m))
    a[arrays.receivers_E, arrays.senders_E] = 1
    train = np.flatnonzero(arrays.train_N)
    a[n + arrays.labels_N[train], train] = a[train, n + arrays.labels_N[train]] = 1
    a += np.eye(m)
    d = 1 / np.sqrt(a.sum(1))
    a_hat = d[:, None] * a * d[None, :]
    h, out = np.concatenate([arrays.x_NxF, virtual]).astype(np.float64), []
    for w, b in weights:
        h = h / (np.linalg.norm(h, axis=1, keepdims=True) + 1e-8)
        h = np.maximum(a_hat @ h @ w + b, 0)
        out.append(h)
    return out


def test_official_weights_map_onto_our_layers(bench):
    arrays = _tiny(bench)
    ours = bench.Ours.build(arrays, (4, 3), 1e-3, 5e-4)
    rng = np.random.default_rng(1)
    weights = [(rng.normal(size=(5, 4)), rng.normal(size=4)),
               (rng.normal(size=(4, 3)), rng.normal(size=3))]
    virtual = rng.normal(size=(2, 5))
    x = ours.input(virtual)
    got = jax.jit(ours.outputs)(bench.params_from_weights(weights), x)
    for g, want in zip(got, _numpy_forward(arrays, virtual, weights)):
        np.testing.assert_allclose(np.asarray(g), want, rtol=1e-4, atol=1e-5)


def test_layerwise_fit_matches_the_sequential_step(bench):
    arrays = _tiny(bench)
    ours = bench.Ours.build(arrays, (4, 4), 1e-2, 5e-4)
    x = ours.input(np.random.default_rng(2).normal(size=(2, 5)))
    rng = np.random.default_rng(3)
    params = bench.params_from_weights([(rng.normal(size=(5, 4)), np.zeros(4)),
                                        (rng.normal(size=(4, 4)), np.zeros(4))])
    sequential = jax.jit(lambda s: bench.run_steps(ours.sequential_step(3), s, 6))(
        ours.state(params, x)).params
    layerwise = jax.jit(lambda p: bench.layerwise_fit(ours, p, x, 3, 0))(params)
    for a, b, p in zip(jax.tree.leaves(sequential), jax.tree.leaves(layerwise),
                       jax.tree.leaves(params)):
        assert float(jnp.abs(a - p).max()) > 1e-3        # both trained
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=5e-5)  # rounding only


def test_official_data_holds_our_arrays(bench):
    pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    arrays = _tiny(bench)
    data = bench.official_data(arrays)
    np.testing.assert_array_equal(data.edge_index.numpy(),
                                  np.stack([arrays.senders_E, arrays.receivers_E]))
    np.testing.assert_array_equal(data.x.numpy(), arrays.x_NxF)
    assert data.train_mask.tolist() == arrays.train_N.tolist() and data.num_classes == 2
