"""GAE link predictor (jaxnets.models.gae): encoder/decoders against dense references, the
jitted trainer learns on a block model, graph updates run inside the scan, bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.data.links import link_split
from jaxnets.data.synthetic import stochastic_block_model
from jaxnets.models import gae


@pytest.fixture(scope="module")
def sbm_split():
    ds = stochastic_block_model((40, 40, 40), 0.25, 0.01, seed=0, num_features=8)
    split = link_split(ds.senders, ds.receivers, 120, val_fraction=0.1, test_fraction=0.2,
                       seed=0)
    return np.abs(ds.features).astype(np.float32), split


def _dense_gcn_matrix(s, r, n):
    a = np.zeros((n, n))
    a[r, s] = 1.0
    a += np.eye(n)
    d = a.sum(1) ** -0.5
    return d[:, None] * a * d[None, :]


@pytest.mark.parametrize("decoder", ["dot", "mlp"])
def test_encoder_and_decoders_match_dense_reference(sbm_split, decoder):
    x, split = sbm_split
    s, r = split.message_passing_senders, split.message_passing_receivers
    graph = gae.encoder_graph(s, r, 120)
    model = gae.GAE(16, 8, decoder=decoder, decoder_hidden=(12,))
    params = model.init(jax.random.PRNGKey(0), graph, x, split.val_pos[:2])
    h = np.asarray(model.apply(params, graph, x, method=gae.GAE.encode))
    p = params["params"]
    a_hat = _dense_gcn_matrix(s, r, 120)
    h1 = np.maximum(a_hat @ (x @ np.asarray(p["convs_0"]["Linear_0"]["kernel"]))
                    + np.asarray(p["convs_0"]["bias"]), 0)
    h2 = a_hat @ (h1 @ np.asarray(p["convs_1"]["Linear_0"]["kernel"])) + np.asarray(
        p["convs_1"]["bias"])
    np.testing.assert_allclose(h, h2, rtol=1e-4, atol=1e-5)
    pairs = split.test_pos[:5]
    logits = np.asarray(model.apply(params, graph, x, pairs))
    prod = h2[pairs[:, 0]] * h2[pairs[:, 1]]
    if decoder == "dot":
        expect = prod.sum(1)
    else:
        m = p["mlp"]
        hid = np.maximum(prod @ np.asarray(m["Linear_0"]["kernel"]) + np.asarray(
            m["Linear_0"]["bias"]), 0)
        expect = (hid @ np.asarray(m["Linear_1"]["kernel"]) + np.asarray(
            m["Linear_1"]["bias"]))[:, 0]
    np.testing.assert_allclose(logits, expect, rtol=1e-4, atol=1e-5)


def test_trainer_learns_and_selects_best(sbm_split):
    _, split = sbm_split
    x = np.eye(120, dtype=np.float32)  # identity features: the GCN learns node embeddings
    model = gae.GAE(16, 16, decoder="dot")
    # K = 50 of 125 test negatives: above the ~40 same-block negatives, which a structure-only
    # model cannot tell from positives.
    cfg = gae.LinkTrainConfig(epochs=60, batch_size=None, learning_rate=1e-2, eval_every=20,
                              hits_k=50)
    out = gae.train_link_predictor(model, x, split, jax.random.PRNGKey(0), cfg)
    assert out.val_curve.shape == (3,) and out.loss_curve.shape == (60,)
    assert float(out.loss_curve[-1]) < float(out.loss_curve[0]) - 0.2
    assert float(out.best_val_hits) == pytest.approx(float(jnp.max(out.val_curve)))
    assert float(out.test_hits) == pytest.approx(
        float(out.test_curve[int(jnp.argmax(out.val_curve))]))
    # Block structure is learnable: far above the Hits@50 of random scores (~0.4).
    assert float(out.test_hits) > 0.7, out.test_curve


def test_graph_update_runs_in_scan_and_is_returned(sbm_split):
    x, split = sbm_split
    model = gae.GAE(8, 8, decoder="mlp", decoder_hidden=(8,))
    cfg = gae.LinkTrainConfig(epochs=4, batch_size=64, eval_every=2, hits_k=10)
    calls = []

    def update(params, graph, base_edges, epoch):
        calls.append(1)  # traced once
        return base_edges * 2.0

    out = gae.train_link_predictor(model, x, split, jax.random.PRNGKey(1), cfg,
                                   graph_update=update)
    base = gae.encoder_graph(split.message_passing_senders, split.message_passing_receivers,
                             120).edges
    np.testing.assert_allclose(np.asarray(out.graph_edges), 2 * np.asarray(base), rtol=1e-6)
    assert len(calls) == 1


def test_bad_input(sbm_split):
    x, split = sbm_split
    with pytest.raises(ValueError, match="decoder"):
        gae.GAE(decoder="bilinear").init(jax.random.PRNGKey(0), gae.encoder_graph(
            split.message_passing_senders, split.message_passing_receivers, 120), x,
            split.val_pos[:1])
    with pytest.raises(ValueError, match="multiple of eval_every"):
        gae.make_link_trainer(gae.GAE(), x, 120, gae.LinkTrainConfig(epochs=5, eval_every=2))
    with pytest.raises(ValueError, match="rows"):
        gae.make_link_trainer(gae.GAE(), x, 99)
    with pytest.raises(ValueError, match="edge_weight_E"):
        gae.link_data(split, np.ones(3))
    model = gae.GAE(4, 4)
    graph = gae.encoder_graph(split.message_passing_senders, split.message_passing_receivers,
                              120)
    params = model.init(jax.random.PRNGKey(0), graph, x, split.val_pos[:1])
    with pytest.raises(ValueError, match="pairs_Bx2"):
        model.apply(params, graph, x, np.zeros((3, 3), np.int32))
