"""Synthetic network data with graph-dependent confounding and heterogeneous effects.

The data-generating process of Sairam S, Girdhar & Soni, "The Final-Stage Bottleneck: R-Learner
for Network Causal Inference" (arXiv 2511.13018), `simulate_data` of their code:

  X ~ N(0, I_d);  graph: Barabasi-Albert (m = 4), Erdos-Renyi (p = 0.05) or a 2-block SBM
  (0.1 / 0.01);  two random, untrained 2-layer GCNs g1, g2 (d -> d -> d, Glorot weights, zero
  bias) give H1 = ReLU(g1(X)), H2 = ReLU(g2(H1));
  T = 1[sigmoid(0.5 x0 - 0.7 H1[:, 1] + 0.3 eps_T) > 0.5]  (i.e. the logit > 0);
  tau = 2 + 1.5 sin(H1[:, 0])            ("simple_h", the paper's main setting)
        2 + 1.5 sin(x0)                   ("local_x")
        2 + 1.5 sin(H2[:, 0])             ("higher_order")
        2 + H1[:, 0] x1                   ("interaction");
  Y = H1[:, 0] + 0.5 x1 + noise * eps_Y + T tau   (noise = 0.5).

Every draw comes from `seed`, so one seed gives one dataset. The edge list is padded to a fixed
length (`pad_edges`) with zero-weight edges so several seeds stack and `vmap`.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import jraph
import numpy as np
from scipy import special

from jaxnets.data.synthetic import powerlaw_graph, stochastic_block_model
from jaxnets.graph import gcn_preprocess
from jaxnets.nn.gcn import GCNConv

__all__ = ["NetworkCausalData", "simulate_network_causal", "stack_graphs", "CATE_TYPES",
           "GRAPH_TYPES"]

CATE_TYPES = ("simple_h", "local_x", "higher_order", "interaction")
GRAPH_TYPES = ("ba", "er", "sbm")


@dataclasses.dataclass(frozen=True)
class NetworkCausalData:
    """One simulated network with treatment, outcome and the true effect (numpy arrays).

    Attributes:
        x_NxD: covariates X.
        t_N: binary treatment T (float32 0/1).
        y_N: outcome Y.
        tau_N: true CATE tau(x_i).
        propensity_N: true P(T = 1 | X, graph) = Phi((0.5 x0 - 0.7 H1[:, 1]) / 0.3).
        mu0_N: true E[Y | T = 0, X, graph] = H1[:, 0] + 0.5 x1.
        senders_E, receivers_E: the undirected graph, both directions listed.
        gcn_graph: the graph with self-loops and GCN weights in `edges` (`gcn_preprocess`).
    """
    x_NxD: np.ndarray
    t_N: np.ndarray
    y_N: np.ndarray
    tau_N: np.ndarray
    propensity_N: np.ndarray
    mu0_N: np.ndarray
    senders_E: np.ndarray
    receivers_E: np.ndarray
    gcn_graph: jraph.GraphsTuple


def _graph(kind: str, n: int, rng: np.random.Generator, ba_m: int, er_p: float,
           sbm_p: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    seed = int(rng.integers(2**31))
    if kind == "ba":
        data = powerlaw_graph(n, ba_m, seed, model="barabasi_albert", num_features=1)
        return data.senders, data.receivers
    if kind == "er":
        iu, ju = np.triu_indices(n, 1)
        keep = np.random.default_rng(seed).random(iu.size) < er_p
        s, r = iu[keep], ju[keep]
        return (np.concatenate([s, r]).astype(np.int32), np.concatenate([r, s]).astype(np.int32))
    if kind == "sbm":
        data = stochastic_block_model([n // 2, n - n // 2], sbm_p[0], sbm_p[1], seed,
                                      num_features=1)
        return data.senders, data.receivers
    raise ValueError(f"graph must be one of {GRAPH_TYPES}, got {kind!r}")


@functools.partial(jax.jit, static_argnums=3)
def _random_gcn_features(key: jax.Array, graph: jraph.GraphsTuple, x_NxD: jax.Array,
                         width: int) -> tuple[jax.Array, jax.Array]:
    """(H1, H2), each [N, width], from two random, untrained GCNs d -> d -> d (PyG's `SimGNN`):
    H1 = ReLU(g1(X)), H2 = ReLU(g2(H1)), g = GCN -> ReLU -> GCN with Glorot weights, zero bias."""
    def gcn(k, h):
        k1, k2 = jax.random.split(k)
        conv1, conv2 = GCNConv(width), GCNConv(width)
        h = jax.nn.relu(conv1.apply(conv1.init(k1, graph, h), graph, h))
        return conv2.apply(conv2.init(k2, graph, h), graph, h)

    key1, key2 = jax.random.split(key)
    h1 = jax.nn.relu(gcn(key1, x_NxD))
    return h1, jax.nn.relu(gcn(key2, h1))


def simulate_network_causal(seed: int, num_nodes: int = 1000, num_features: int = 10, *,
                            graph: str = "ba", cate: str = "simple_h", noise: float = 0.5,
                            ba_m: int = 4, er_p: float = 0.05,
                            sbm_p: tuple[float, float] = (0.1, 0.01)) -> NetworkCausalData:
    """Simulates one network causal dataset (module docstring; paper's `simulate_data`).

    Args:
        seed: seeds every draw (graph, X, the random GCNs, both noises).
        num_nodes: n (1000 in the paper).
        num_features: d (10); needs d >= 2.
        graph: "ba", "er" or "sbm".
        cate: one of `CATE_TYPES`.
        noise: standard deviation of the outcome noise (0.5).
        ba_m, er_p, sbm_p: graph parameters (4, 0.05, (0.1, 0.01) in the paper).

    Returns:
        A `NetworkCausalData`.
    """
    if num_features < 2:
        raise ValueError(f"num_features must be >= 2 (X uses x0 and x1), got {num_features}")
    if num_nodes <= ba_m:
        raise ValueError(f"num_nodes must exceed ba_m={ba_m}, got {num_nodes}")
    if cate not in CATE_TYPES:
        raise ValueError(f"cate must be one of {CATE_TYPES}, got {cate!r}")
    rng = np.random.default_rng(seed)
    senders, receivers = _graph(graph, num_nodes, rng, ba_m, er_p, sbm_p)
    x = rng.normal(size=(num_nodes, num_features)).astype(np.float32)
    base = jraph.GraphsTuple(nodes=None, edges=None, globals=None, senders=senders,
                             receivers=receivers, n_node=np.array([num_nodes]),
                             n_edge=np.array([senders.size]))
    gcn_graph = gcn_preprocess(base, num_nodes=num_nodes)
    h1, h2 = _random_gcn_features(jax.random.PRNGKey(int(rng.integers(2**31))), gcn_graph,
                                  jnp.asarray(x), num_features)
    h1, h2 = np.asarray(h1, np.float64), np.asarray(h2, np.float64)
    x64 = x.astype(np.float64)
    logit_mean = 0.5 * x64[:, 0] - 0.7 * h1[:, 1]
    t = (logit_mean + 0.3 * rng.normal(size=num_nodes) > 0).astype(np.float32)
    tau = {"simple_h": 2.0 + 1.5 * np.sin(h1[:, 0]),
           "local_x": 2.0 + 1.5 * np.sin(x64[:, 0]),
           "higher_order": 2.0 + 1.5 * np.sin(h2[:, 0]),
           "interaction": 2.0 + h1[:, 0] * x64[:, 1]}[cate]
    mu0 = h1[:, 0] + 0.5 * x64[:, 1]
    y = mu0 + noise * rng.normal(size=num_nodes) + t * tau
    return NetworkCausalData(
        x_NxD=x, t_N=t, y_N=y.astype(np.float32), tau_N=tau.astype(np.float32),
        propensity_N=special.ndtr(logit_mean / 0.3).astype(np.float32),
        mu0_N=mu0.astype(np.float32), senders_E=senders, receivers_E=receivers,
        gcn_graph=gcn_graph)


def stack_graphs(graphs: list[jraph.GraphsTuple]) -> jraph.GraphsTuple:
    """Stacks GCN-preprocessed graphs of equal node count along a leading seed axis [S, ...].

    Edge lists are padded to the longest with edges 0 -> 0 of weight 0, which change no output
    of `GCNConv` (it reads the precomputed weights in `edges`).
    """
    if not graphs:
        raise ValueError("stack_graphs needs at least one graph")
    if any(g.edges is None for g in graphs):
        raise ValueError("stack_graphs expects gcn_preprocess-ed graphs (weights in edges)")
    n = {int(np.sum(g.n_node)) for g in graphs}
    if len(n) != 1:
        raise ValueError(f"graphs must have the same number of nodes, got {sorted(n)}")
    e = max(int(np.shape(g.senders)[0]) for g in graphs)

    def pad(a, dtype):
        a = np.asarray(a, dtype)
        return np.concatenate([a, np.zeros(e - a.size, dtype)])

    return jraph.GraphsTuple(
        nodes=None, globals=None,
        senders=jnp.asarray(np.stack([pad(g.senders, np.int32) for g in graphs])),
        receivers=jnp.asarray(np.stack([pad(g.receivers, np.int32) for g in graphs])),
        edges=jnp.asarray(np.stack([pad(g.edges, np.float32) for g in graphs])),
        n_node=jnp.asarray(np.stack([np.asarray(g.n_node) for g in graphs])),
        n_edge=jnp.full((len(graphs), 1), e, jnp.int32))
