"""MLP <-> graph mapping (exact inverse) and the graph metanetwork's hidden-neuron equivariance;
plus the Meta Pruning experiment's smoke test."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import meta_pruning as meta_experiment
from jaxnets import experiment as experiment_lib
from jaxnets.models.metanetwork import (GraphMetanetwork, graph_spec, graph_to_params,
                                        params_to_graph, transform_params)
from jaxnets.nn import MLP

SIZES = (5, 4, 3, 2)


def _variables(seed=0):
    v = MLP(SIZES[1:]).init(jax.random.PRNGKey(seed), jnp.ones((1, SIZES[0])))
    return jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.PRNGKey(seed + 1),
                                                              a.shape), v)


def test_graph_is_neurons_and_weights_and_inverts_exactly():
    v = _variables()
    g = params_to_graph(v)
    n, e = sum(SIZES), 5 * 4 + 4 * 3 + 3 * 2
    assert g.nodes.shape == (n, 1 + len(SIZES)) and g.edges.shape == (e, 1)
    assert int(g.n_node[0]) == n and int(g.n_edge[0]) == e
    p = v["params"]
    offsets = np.cumsum((0,) + SIZES)
    # every weight W_l[i, j] is the feature of the edge (input i of layer l) -> (output j)
    edges = np.asarray(g.edges[:, 0])
    lookup = {(int(s), int(r)): w for s, r, w in zip(g.senders, g.receivers, edges)}
    for l in range(3):
        k = np.asarray(p[f"Linear_{l}"]["kernel"])
        for i in range(k.shape[0]):
            for j in range(k.shape[1]):
                assert lookup[(offsets[l] + i, offsets[l + 1] + j)] == k[i, j]
        np.testing.assert_array_equal(g.nodes[offsets[l + 1]:offsets[l + 2], 0],
                                      p[f"Linear_{l}"]["bias"])
        np.testing.assert_array_equal(g.nodes[offsets[l]:offsets[l + 1], 1 + l], 1.0)
    np.testing.assert_array_equal(g.nodes[:SIZES[0], 0], 0.0)   # inputs carry no bias
    back = graph_to_params(g, SIZES)
    assert jax.tree.structure(back) == jax.tree.structure(v)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(v)):
        np.testing.assert_array_equal(a, b)
    assert graph_spec(SIZES).num_edges == e


def test_bad_inputs_raise_value_error():
    g = params_to_graph(_variables())
    with pytest.raises(ValueError, match="needs"):
        graph_to_params(g, (5, 4, 2, 2))
    with pytest.raises(ValueError, match="sizes"):
        graph_spec((5,))
    with pytest.raises(ValueError, match="Linear_0"):
        params_to_graph({"params": {"Linear_1": {"kernel": jnp.ones((2, 2)),
                                                 "bias": jnp.ones(2)}}})


def _permute_hidden(v, perms):
    """Reorders the hidden neurons of every hidden layer (a function-preserving symmetry)."""
    p = {k: dict(layer) for k, layer in v["params"].items()}
    for l, perm in enumerate(perms):
        p[f"Linear_{l}"]["kernel"] = p[f"Linear_{l}"]["kernel"][:, perm]
        p[f"Linear_{l}"]["bias"] = p[f"Linear_{l}"]["bias"][perm]
        p[f"Linear_{l + 1}"]["kernel"] = p[f"Linear_{l + 1}"]["kernel"][perm, :]
    return {"params": p}


def test_metanetwork_is_equivariant_to_hidden_neuron_permutations():
    v = _variables(3)
    metanet = GraphMetanetwork(hidden=8, num_layers=2, residual=1.0)  # r = 1: visible changes
    mp = metanet.init(jax.random.PRNGKey(4), params_to_graph(v))
    f = jax.jit(lambda v: transform_params(metanet, mp, v))
    out = f(v)
    perms = (np.asarray([2, 0, 3, 1]), np.asarray([1, 2, 0]))
    out_perm = f(_permute_hidden(v, perms))
    for a, b in zip(jax.tree.leaves(_permute_hidden(out, perms)), jax.tree.leaves(out_perm)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # the metanetwork does change the network (so the check above is not about an identity);
    # note that input neurons are indistinguishable to M too, as in the paper's design.
    diff = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(out),
                                                            jax.tree.leaves(v)))
    assert diff > 1e-2


def test_default_metanetwork_starts_near_the_identity():
    v = _variables(5)
    metanet = GraphMetanetwork(hidden=8, num_layers=1)      # residual 0.01 as the paper
    mp = metanet.init(jax.random.PRNGKey(6), params_to_graph(v))
    out = transform_params(metanet, mp, v)
    diff = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(out),
                                                            jax.tree.leaves(v)))
    assert 0 < diff < 0.1


def test_quick_meta_pruning_runs_end_to_end(tmp_path):
    config = experiment_lib.build_config(meta_experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(meta_experiment, config, tmp_path / "run")
    held = config.num_models - config.num_meta_train
    for method in ("meta", "plain", "sparse", "lasso"):
        acc = np.asarray(results[f"{method}_pruned_accuracy"])
        assert acc.shape == (len(config.seeds), held)
        assert np.all((acc >= 0) & (acc <= 1))
        assert len(results[f"{method}_curve_accuracy"]) == len(config.curve_ratios)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == config.meta_steps
    assert (tmp_path / "run" / "meta_pruning.png").exists()
    assert isinstance(claim.passed, bool) and "2.3x" in claim.paper
    json.loads((tmp_path / "run" / "results.json").read_text())
    with pytest.raises(ValueError, match="num_meta_train"):
        meta_experiment.run(experiment_lib.build_config(
            meta_experiment, ["num_meta_train=3"], quick=True), tmp_path / "bad")


@pytest.mark.slow
def test_meta_pruning_claim_on_digits(tmp_path):
    config = experiment_lib.build_config(meta_experiment, [])
    results, claim = experiment_lib.run_experiment(meta_experiment, config, tmp_path / "run")
    assert np.asarray(results["meta_pruned_accuracy"]).shape == (3, 4)
    assert claim.passed, claim.text
