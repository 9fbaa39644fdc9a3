"""FED-PUB (jaxnets.federated.fedpub) against numpy references and hand-computed cases, the padded
client subgraphs of experiments/_federated_graph.py, and a smoke run of experiments/fedpub.py."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import _federated_graph as fg
from jaxnets.federated import fedpub
from jaxnets.graph import gcn_norm


def _dense_gcn_matrix(senders, receivers, num_nodes):
    """D~^-1/2 (A + I) D~^-1/2 in float64, row = receiver."""
    a = np.zeros((num_nodes, num_nodes))
    np.add.at(a, (np.asarray(receivers), np.asarray(senders)), 1.0)
    a += np.eye(num_nodes)
    d = a.sum(1) ** -0.5
    return d[:, None] * a * d[None, :]


def test_proxy_graph_blocks_and_features():
    proxy = fedpub.proxy_graph(num_features=3, seed=1, num_blocks=3, block_size=8, p_in=0.5)
    assert proxy.x.shape == (24, 3) and proxy.x.dtype == np.float32
    assert np.array_equal(np.sort(proxy.senders), np.sort(proxy.receivers))   # both directions
    assert np.all(proxy.senders // 8 == proxy.receivers // 8)                 # p_out = 0
    assert len(proxy.senders) > 0
    again = fedpub.proxy_graph(num_features=3, seed=1, num_blocks=3, block_size=8, p_in=0.5)
    np.testing.assert_array_equal(proxy.x, again.x)
    with pytest.raises(ValueError, match="p_in"):
        fedpub.proxy_graph(3, 0, p_in=1.5)


def test_functional_embedding_equals_numpy_forward_on_proxy_graph():
    proxy = fedpub.proxy_graph(num_features=5, seed=0, num_blocks=2, block_size=6, p_in=0.6)
    n = proxy.x.shape[0]
    senders, receivers, weight = gcn_norm(jnp.asarray(proxy.senders),
                                          jnp.asarray(proxy.receivers), n)
    graph = fg.client_graph(senders, receivers, weight, n)
    model = fg.ClientGCN(hidden=4, num_classes=3)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), graph, jnp.asarray(proxy.x))
    masks = fedpub.init_masks(params)
    rng = np.random.default_rng(0)
    masks = {k: jnp.asarray(rng.uniform(-0.01, 1.0, m.shape), jnp.float32)
             for k, m in masks.items()}

    @jax.jit
    def embed(params, masks):
        pruned = fedpub.apply_masks(params, fedpub.prune_masks(masks, 1e-3))
        return fedpub.functional_embedding(
            model.apply(pruned, graph, jnp.asarray(proxy.x), embed=True))

    got = embed(params, masks)

    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params["params"])
    mask = {k: np.asarray(v, np.float64) for k, v in masks.items()}
    mask = {k: np.where(np.abs(v) < 1e-3, 0.0, v) for k, v in mask.items()}
    a_hat = _dense_gcn_matrix(proxy.senders, proxy.receivers, n)
    w1 = p["conv1"]["Linear_0"]["kernel"] * mask["params/conv1/Linear_0/kernel"]
    w2 = p["conv2"]["Linear_0"]["kernel"] * mask["params/conv2/Linear_0/kernel"]
    h1 = np.maximum(a_hat @ proxy.x.astype(np.float64) @ w1 + p["conv1"]["bias"], 0.0)
    h2 = a_hat @ h1 @ w2 + p["conv2"]["bias"]          # pre-ReLU, eval mode
    assert got.shape == (4,)
    np.testing.assert_allclose(got, h2.mean(0), rtol=1e-5, atol=1e-6)


def test_similarity_weights_hand_case_rows_sum_and_uniform():
    similarity_weights = jax.jit(fedpub.similarity_weights)
    h = jnp.asarray([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    s = np.array([[1, 0, 2 ** -0.5], [0, 1, 2 ** -0.5], [2 ** -0.5, 2 ** -0.5, 1]])
    want = np.exp(3.0 * s) / np.exp(3.0 * s).sum(1, keepdims=True)
    alpha = similarity_weights(h, 3.0)
    np.testing.assert_allclose(alpha, want, rtol=1e-5)
    np.testing.assert_allclose(alpha.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(similarity_weights(h, 0.0), np.full((3, 3), 1 / 3), rtol=1e-6)
    same = similarity_weights(jnp.ones((4, 2)), 10.0)      # identical functions
    np.testing.assert_allclose(same, np.full((4, 4), 0.25), rtol=1e-6)
    excluded = fedpub.similarity_weights(h, 3.0, jnp.asarray([True, True, False]))
    np.testing.assert_allclose(excluded[:, 2], 0.0)
    np.testing.assert_allclose(excluded.sum(1), 1.0, rtol=1e-6)
    sub = np.exp(3.0 * s[:, :2]) / np.exp(3.0 * s[:, :2]).sum(1, keepdims=True)
    np.testing.assert_allclose(excluded[:, :2], sub, rtol=1e-5)
    np.testing.assert_allclose(fedpub.aggregation_weights("local", h, 3.0, jnp.ones(3, bool)),
                               np.eye(3))
    with pytest.raises(ValueError, match="weighting"):
        fedpub.aggregation_weights("cosine", h, 3.0, jnp.ones(3, bool))


def test_personalised_aggregate_and_reduction_to_fedavg():
    rng = np.random.default_rng(1)
    stacked = {"w": jnp.asarray(rng.normal(size=(3, 2, 4)), jnp.float32),
               "b": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)}
    alpha = fedpub.similarity_weights(jnp.asarray(rng.normal(size=(3, 5))), 3.0)
    got = fedpub.personalised_aggregate(stacked, alpha)
    np.testing.assert_allclose(got["w"], np.einsum("ij,jab->iab", alpha, stacked["w"]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["b"], np.asarray(alpha) @ np.asarray(stacked["b"]),
                               rtol=1e-5, atol=1e-6)
    # uniform similarity (tau = 0) with equal client sizes: every client gets FedAvg's model
    uniform = fedpub.personalised_aggregate(stacked, fedpub.similarity_weights(
        jnp.asarray(rng.normal(size=(3, 5))), 0.0))
    fedavg = fedpub.weighted_average(stacked, jnp.ones(3))
    for k in range(3):
        np.testing.assert_allclose(uniform["w"][k], fedavg["w"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(uniform["b"][k], np.asarray(stacked["b"]).mean(0),
                                   rtol=1e-5, atol=1e-6)
    sized = fedpub.weighted_average(stacked, jnp.asarray([1.0, 0.0, 3.0]))
    np.testing.assert_allclose(sized["b"], (stacked["b"][0] + 3 * stacked["b"][2]) / 4,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="leading client axis"):
        fedpub.personalised_aggregate(stacked, jnp.eye(2))


def test_masks_multiply_weights_elementwise():
    params = {"params": {"dense": {"kernel": jnp.arange(6.0).reshape(2, 3),
                                   "bias": jnp.ones(3)}}}
    masks = fedpub.init_masks(params)
    assert list(masks) == ["params/dense/kernel"]            # biases carry no mask
    mu = jnp.asarray([[1.0, 0.5, 0.0], [2.0, -1.0, 0.0005]])
    masked = fedpub.apply_masks(params, {"params/dense/kernel": mu})
    np.testing.assert_allclose(masked["params"]["dense"]["kernel"],
                               np.arange(6.0).reshape(2, 3) * np.asarray(mu))
    np.testing.assert_allclose(masked["params"]["dense"]["bias"], 1.0)
    pruned = fedpub.prune_masks({"m": mu}, 1e-3)["m"]
    np.testing.assert_allclose(pruned, [[1.0, 0.5, 0.0], [2.0, -1.0, 0.0]])
    assert float(fedpub.mask_l1({"m": mu})) == pytest.approx(4.5005)
    assert float(fedpub.mask_sparsity({"m": mu}, 1e-3)) == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="lacks"):
        fedpub.apply_masks(params, {"params/other/kernel": mu})
    with pytest.raises(ValueError, match="shape"):
        fedpub.apply_masks(params, {"params/dense/kernel": jnp.ones((3, 2))})


def _quadratic_client(regularizers_active, l1=0.1, loc_l2=0.2):
    target = jnp.asarray([[1.0, -1.0], [0.5, 2.0]])

    def loss_fn(params, data, key):
        del data, key
        return jnp.sum(jnp.square(params["params"]["d"]["kernel"] - target))

    return target, fedpub.fedpub_client_update(
        loss_fn, lambda p: p["params"]["d"]["kernel"], lambda p, d: {},
        optax.sgd(0.1), local_epochs=1, l1=l1, loc_l2=loc_l2,
        regularizers_active=regularizers_active)


def test_client_update_gradients_by_hand():
    theta = {"params": {"d": {"kernel": jnp.asarray([[2.0, 1.0], [0.0, 1.0]]),
                              "bias": jnp.zeros(2)}}}
    state = fedpub.init_client_state(theta, optax.sgd(0.1))
    mu = jnp.asarray([[1.0, 0.5], [1.0, -0.5]])
    state = state._replace(masks={"params/d/kernel": mu})
    w = np.asarray(theta["params"]["d"]["kernel"])
    for active in (True, False):
        target, update = _quadratic_client(active)
        new_theta, new_state, metrics = update(theta, state, None, jax.random.PRNGKey(0), None)
        residual = 2 * (w * np.asarray(mu) - np.asarray(target))
        grad_mu = residual * w + (0.1 * np.sign(mu) if active else 0.0)
        grad_w = residual * np.asarray(mu)          # the proximal term's gradient is 0 at theta_bar
        np.testing.assert_allclose(new_state.masks["params/d/kernel"], mu - 0.1 * grad_mu,
                                   rtol=1e-6)
        np.testing.assert_allclose(new_theta["params"]["d"]["kernel"], w - 0.1 * grad_w, rtol=1e-6)
        penalty = 0.1 * np.abs(mu).sum()
        assert float(metrics["loss"]) == pytest.approx(float((residual ** 2 / 4).sum()) + penalty,
                                                       rel=1e-6)
        new_mu = np.asarray(new_state.masks["params/d/kernel"])
        kept = np.where(np.abs(new_mu) < 0.1, 0.0, new_mu)       # pruned at |mu| < l1 = 0.1
        assert (kept == 0).any() and (kept != 0).any()
        np.testing.assert_allclose(
            metrics["embedding"], (np.asarray(new_theta["params"]["d"]["kernel"]) * kept).mean(0),
            rtol=1e-6)


def test_personalised_round_aggregates_and_excludes_nan_clients():
    def client_update(params, state, data, key, hp):
        new = {"w": params["w"] + data}
        return new, state, {"embedding": new["w"], "loss": jnp.sum(data)}

    round_fn = fedpub.make_personalised_round(client_update,
                                              fedpub.fedpub_server_aggregate("similarity", None))
    personal = {"w": jnp.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])}
    data = jnp.asarray([[0.5, 0.0], [0.0, 0.5], [jnp.nan, 0.0]])
    global_params, new_personal, _, metrics = round_fn(
        personal, (jnp.zeros(3),), data, jnp.asarray([1.0, 1.0, 1.0]), jax.random.PRNGKey(0),
        {"tau": 2.0})
    assert metrics["finite"].tolist() == [True, True, False] and int(metrics["num_nonfinite"]) == 1
    trained = np.array([[1.5, 0.0], [0.0, 1.5], [1.0, 1.0]])     # client 2 keeps its params
    alpha = np.asarray(metrics["server"]["alpha"])
    np.testing.assert_allclose(alpha[:, 2], 0.0)
    s = np.array([[1.0, 0.0], [0.0, 1.0], [2 ** -0.5, 2 ** -0.5]])
    want_alpha = np.exp(2 * s) / np.exp(2 * s).sum(1, keepdims=True)
    np.testing.assert_allclose(alpha[:, :2], want_alpha, rtol=1e-5)
    np.testing.assert_allclose(new_personal["w"], alpha @ trained, rtol=1e-5)
    np.testing.assert_allclose(global_params["w"], trained[:2].mean(0), rtol=1e-6)


@pytest.fixture(scope="module")
def cora_clients(data_root):
    return fg.federated_node_data("cora", 3, root=str(data_root))


def test_client_subgraphs_padded_with_masks_and_gcn_weights(cora_clients):
    data, info = cora_clients
    assert info["num_nodes"] == 2485 and info["num_classes"] == 7      # Cora's largest component
    assert sum(info["client_nodes"]) == 2485
    node_mask = np.asarray(data.node_mask)
    train, val, test = (np.asarray(m) for m in (data.train_mask, data.val_mask, data.test_mask))
    assert not ((train & val) | (train & test) | (val & test)).any()
    assert not ((train | val | test) & ~node_mask).any()
    assert (train | val | test)[node_mask].all()
    assert abs(train.sum() / node_mask.sum() - 0.2) < 0.01
    row_sums = np.asarray(data.x)[node_mask].sum(1)                  # row-normalised features
    np.testing.assert_allclose(row_sums, 1.0, rtol=1e-4)          # (Cora has no empty row)
    k, n = 1, info["client_nodes"][1]
    w = np.asarray(data.edge_weight[k])
    s, r = np.asarray(data.senders[k]), np.asarray(data.receivers[k])
    dense = np.zeros((node_mask.shape[1],) * 2)
    np.add.at(dense, (r, s), w)
    num_edges = len(s) - node_mask.shape[1]          # then one self-loop per node slot
    real = w[:num_edges] > 0                          # padding edges have weight 0
    want = _dense_gcn_matrix(s[:num_edges][real], r[:num_edges][real], n)
    np.testing.assert_allclose(dense[:n, :n], want, rtol=1e-5, atol=1e-7)


def test_accuracy_at_best_val():
    val = np.array([[[0.5, 0.7]], [[0.9, 0.9]], [[0.8, 0.8]]])      # [R=3, S=1, K=2]
    test = np.array([[[0.1, 0.1]], [[0.6, 0.8]], [[1.0, 1.0]]])
    best = fg.accuracy_at_best_val(val, test)
    assert best["round"] == [2]
    assert best["test"][0] == pytest.approx(70.0) and best["val"][0] == pytest.approx(90.0)


def test_experiment_smoke(tmp_path):
    from experiments import fedpub as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [
        "num_clients=3", "hidden=4", "rounds=2", "n_seeds=1", "methods=fedavg,fedpub,uniform"],
        quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    for method in ("fedavg", "fedpub", "uniform"):
        entry = results["methods"][method]
        assert len(entry["test_accuracy"]) == 1 and len(entry["curve"]) == 2
        assert 0.0 <= entry["test_accuracy"][0] <= 100.0
    alpha = np.asarray(results["methods"]["fedpub"]["alpha_seed0"])
    np.testing.assert_allclose(alpha.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(results["methods"]["uniform"]["alpha_seed0"], 1 / 3, rtol=1e-5)
    assert isinstance(claim.passed, bool) and "fedpub" in claim.ours
    assert (tmp_path / results["plot"]).exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import fedpub as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text + " | " + claim.ours
