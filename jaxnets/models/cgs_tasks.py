"""Graph value iteration (GVI), the synthetic stationary-state task of CGS, and its metrics.

Park, Choo & Park, "Convergent Graph Solvers" (ICLR 2022), Sec. 5 (graph value iteration);
generator as in the released code (`experiments/gvi/generate_graph.py`, notes
`shared/research/papers-solvers-fed-net.md` Sec. 1 "GVI task generator"). A graph has nS
states; every state i receives nA edges j -> i from states j != i drawn uniformly *with
replacement* (so parallel edges occur, as in the released code), each edge with a reward
r_e ~ U[-1, 1]. The target is the optimal value of a deterministic MDP whose Bellman backup at
state i runs over its incoming edges (the released code's `g.pull` with a max reducer):

    V(i) = max_{e = (j -> i)} r_e + discount * V(j),          discount = 0.9,

computed by value iteration from V = 0. The released generator stops when successive iterates
agree to atol 1e-3; we iterate to `tol` (default 1e-6, float64) so that the targets are the
fixed point itself and not an early iterate. Node feature: a constant 1; edge feature: r_e.

Metrics (released code `utils/test_utils.py`): policy accuracy, the fraction of states whose
greedy edge under the predicted values equals the greedy edge under the true values, averaged
per graph; and MAPE of the values, averaged per graph. The released MAPE divides by the
*prediction* (`|(y - y_hat) / y_hat + 1e-6|`); we use the standard |y - y_hat| / |y|.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from jaxnets import graph as graph_lib

__all__ = [
    "gvi_graph", "gvi_graphs", "value_iteration", "greedy_edges", "policy_accuracy",
    "value_mape", "batch_and_pad", "node_graph_ids", "component_size_graph",
    "component_size_graphs",
]


def value_iteration(
    senders_E: np.ndarray, receivers_E: np.ndarray, rewards_E: np.ndarray, num_nodes: int, *,
    discount: float = 0.9, tol: float = 1e-6, max_iter: int = 10_000,
) -> np.ndarray:
    """V(i) = max over incoming edges j -> i of r + discount * V(j), by iteration from V = 0.

    Args:
      senders_E, receivers_E: int (E,) edges j -> i; every node must receive at least one edge.
      rewards_E: float (E,) rewards.
      num_nodes: N.
      discount: in [0, 1), the Bellman backup is a discount-contraction in the sup norm.
      tol: stop when max |V_new - V| <= tol.
      max_iter: raise if not converged by then.

    Returns:
      float64 (N,) values.
    """
    if not 0.0 <= discount < 1.0:
        raise ValueError(f"discount must be in [0, 1), got {discount!r}")
    receivers_E = np.asarray(receivers_E)
    if np.bincount(receivers_E, minlength=num_nodes).min() == 0:
        raise ValueError("receivers_E must give every node at least one incoming edge")
    rewards_E = np.asarray(rewards_E, np.float64)
    values = np.zeros(num_nodes)
    for _ in range(max_iter):
        new = np.full(num_nodes, -np.inf)
        np.maximum.at(new, receivers_E, rewards_E + discount * values[senders_E])
        if np.max(np.abs(new - values)) <= tol:
            return new
        values = new
    raise RuntimeError(f"value iteration did not converge to tol={tol} in {max_iter} iterations")


def greedy_edges(values_N: jax.Array, senders_E: jax.Array, receivers_E: jax.Array,
                 rewards_E: jax.Array, num_nodes: int, discount: float = 0.9) -> jax.Array:
    """Bool (E,): the greedy edge of each receiver, argmax_e r_e + discount * V(sender_e).

    Ties are broken towards the lowest edge index, so each node with incoming edges has exactly
    one True edge. Jit-safe (segment ops).
    """
    q_E = rewards_E + discount * values_N[senders_E]
    best_N = jax.ops.segment_max(q_E, receivers_E, num_segments=num_nodes)
    edge_ids = jnp.arange(q_E.shape[0])
    candidate_ids = jnp.where(q_E >= best_N[receivers_E], edge_ids, q_E.shape[0])
    chosen_N = jax.ops.segment_min(candidate_ids, receivers_E, num_segments=num_nodes)
    return edge_ids == chosen_N[receivers_E]


def _greedy_edges_np(values_N, senders_E, receivers_E, rewards_E, num_nodes, discount):
    """NumPy twin of `greedy_edges` for the host-side generator (no per-graph jit dispatch)."""
    q_E = rewards_E + discount * values_N[senders_E]
    best_N = np.full(num_nodes, -np.inf)
    np.maximum.at(best_N, receivers_E, q_E)
    edge_ids = np.arange(q_E.size)
    chosen_N = np.full(num_nodes, q_E.size)
    np.minimum.at(chosen_N, receivers_E, np.where(q_E >= best_N[receivers_E], edge_ids, q_E.size))
    return edge_ids == chosen_N[receivers_E]


def gvi_graph(rng: np.random.Generator, num_states: int, num_actions: int, *,
              discount: float = 0.9, reward_range: tuple[float, float] = (-1.0, 1.0),
              tol: float = 1e-6) -> jraph.GraphsTuple:
    """One GVI graph (host side, NumPy).

    Args:
      rng: NumPy generator.
      num_states: nS, nodes.
      num_actions: nA, incoming edges per node; must be < nS - 1 (released code's assertion).
      discount: the MDP's discount (0.9 in the paper).
      reward_range: rewards are U[low, high].
      tol: value-iteration tolerance.

    Returns:
      GraphsTuple with nodes {"x": ones (N, 1), "value": V (N,)} and edges {"reward": (E, 1),
      "policy": bool (E,), the true greedy edges}; edges sorted by receiver.
    """
    if not 0 < num_actions < num_states - 1:
        raise ValueError(f"num_actions must be in [1, num_states - 1) = [1, {num_states - 1}), "
                         f"got num_actions={num_actions}, num_states={num_states}")
    receivers = np.repeat(np.arange(num_states), num_actions)
    # Sources uniform over the other states, with replacement: offset in [1, nS) skips i itself.
    senders = (receivers + rng.integers(1, num_states, size=receivers.size)) % num_states
    rewards = rng.uniform(reward_range[0], reward_range[1], size=receivers.size)
    values = value_iteration(senders, receivers, rewards, num_states, discount=discount, tol=tol)
    policy = _greedy_edges_np(values, senders, receivers, rewards, num_states, discount)
    return jraph.GraphsTuple(
        nodes={"x": np.ones((num_states, 1), np.float32), "value": values.astype(np.float32)},
        edges={"reward": rewards.astype(np.float32)[:, None], "policy": policy},
        senders=senders.astype(np.int32), receivers=receivers.astype(np.int32),
        n_node=np.array([num_states], np.int32), n_edge=np.array([receivers.size], np.int32),
        globals=None,
    )


def gvi_graphs(seed: int, num_graphs: int, states_range: tuple[int, int],
               actions_range: tuple[int, int], **kwargs) -> list[jraph.GraphsTuple]:
    """`num_graphs` GVI graphs with nS ~ U[states_range), nA ~ U[actions_range) (half-open, as
    `np.random.randint` in the released code); the same `seed` gives the same graphs."""
    if not (actions_range[1] - 1 < states_range[0] - 1 and actions_range[0] >= 1
            and states_range[0] < states_range[1] and actions_range[0] < actions_range[1]):
        raise ValueError(f"need 1 <= nA < nS - 1 for all draws: actions_range={actions_range}, "
                         f"states_range={states_range} (half-open)")
    rng = np.random.default_rng(seed)
    states = rng.integers(*states_range, size=num_graphs)
    actions = rng.integers(*actions_range, size=num_graphs)
    return [gvi_graph(rng, int(s), int(a), **kwargs) for s, a in zip(states, actions)]


def batch_and_pad(graphs: list[jraph.GraphsTuple], batch_size: int,
                  budget: graph_lib.PaddingBudget | None = None) -> jraph.GraphsTuple:
    """Consecutive groups of `batch_size` graphs, each batched and padded to one budget, stacked
    on a leading axis (num_batches = len(graphs) // batch_size; the rest is dropped).

    Args:
      graphs: single graphs from `gvi_graph`.
      batch_size: graphs per batch.
      budget: padding sizes; default: the smallest that fits every batch (rounded up to 64).

    Returns:
      A GraphsTuple whose every leaf has a leading axis of num_batches.
    """
    if not 0 < batch_size <= len(graphs):
        raise ValueError(f"batch_size must be in [1, {len(graphs)}], got {batch_size}")
    batches = [jraph.batch(graphs[i:i + batch_size])
               for i in range(0, len(graphs) - batch_size + 1, batch_size)]
    if budget is None:
        budget = graph_lib.padding_budget(batches, 1, round_to=64)
    padded = [graph_lib.pad_graph(b, *budget) for b in batches]
    return jax.tree.map(lambda *leaves: np.stack(leaves), *padded)


def node_graph_ids(graph: jraph.GraphsTuple, num_nodes: int) -> jax.Array:
    """Int (N,): the graph each node belongs to (jit-safe)."""
    n_node = jnp.asarray(graph.n_node)
    return jnp.repeat(jnp.arange(n_node.shape[0]), n_node, total_repeat_length=num_nodes)


def _per_graph_mean(values_N: jax.Array, graph: jraph.GraphsTuple) -> jax.Array:
    """Mean over each graph's nodes, then over the real graphs (padding excluded)."""
    num_nodes = values_N.shape[0]
    ids = node_graph_ids(graph, num_nodes)
    n_graph = jnp.asarray(graph.n_node).shape[0]
    sums_G = jax.ops.segment_sum(values_N, ids, num_segments=n_graph)
    means_G = sums_G / jnp.maximum(jnp.asarray(graph.n_node), 1)
    mask_G = graph_lib.graph_mask(graph)
    return jnp.sum(jnp.where(mask_G, means_G, 0.0)) / jnp.maximum(jnp.sum(mask_G), 1)


def policy_accuracy(pred_values_N: jax.Array, graph: jraph.GraphsTuple,
                    discount: float = 0.9) -> jax.Array:
    """Per-graph-averaged fraction of states whose greedy edge under the predicted values is
    the true greedy edge (released code `get_policy_acc`). `graph` is a padded GVI batch."""
    num_nodes = pred_values_N.shape[0]
    chosen_E = greedy_edges(pred_values_N, graph.senders, graph.receivers,
                            graph.edges["reward"][:, 0], num_nodes, discount)
    hit_N = jax.ops.segment_sum((chosen_E & graph.edges["policy"]).astype(jnp.float32),
                                graph.receivers, num_segments=num_nodes)
    return _per_graph_mean(hit_N, graph)


def value_mape(pred_values_N: jax.Array, graph: jraph.GraphsTuple) -> jax.Array:
    """Per-graph-averaged mean absolute percentage error, 100 |V - V_hat| / |V|."""
    true_N = graph.nodes["value"]
    ape_N = 100.0 * jnp.abs(true_N - pred_values_N) / jnp.maximum(jnp.abs(true_N), 1e-6)
    return _per_graph_mean(jnp.where(graph_lib.node_mask(graph, true_N.shape[0]), ape_N, 0.0),
                           graph)


# ------------------------------------------------------------------------------------------------
# A synthetic graph-classification task for CGS (no TU data set is available offline): is the
# connected component of a marked node large? Counting a component needs propagation across it.


def _elongated_tree(rng: np.random.Generator, num_nodes: int, reach: int) -> np.ndarray:
    """Edges (n - 1, 2) of a random tree in which node i > 0 hangs from one of the `reach` nodes
    before it (i - U{1..min(reach, i)}): a path-like "caterpillar" whose diameter grows linearly
    with n (about 2n / (reach + 1)), so a component is not visible from any one node's few-hop
    neighbourhood."""
    child = np.arange(1, num_nodes)
    parent = child - rng.integers(1, np.minimum(reach, child) + 1)
    return np.stack([parent, child], axis=1)


def component_size_graph(rng: np.random.Generator, sizes: tuple[int, int], threshold: int, *,
                         reach: int = 2) -> jraph.GraphsTuple:
    """One graph of two disjoint elongated random trees and one marked node s (uniform over all
    nodes); label 1 when the connected component of s has at least `threshold` nodes.

    The label is a global property of s's component (its size), not of s's few-hop
    neighbourhood; the total node count is only partly informative (the other tree counts too).

    Args:
      rng: NumPy generator.
      sizes: nodes of the two trees, each >= 2.
      threshold: component size from which the label is 1.
      reach: each new tree node attaches to one of the `reach` previous nodes (>= 1; 1 = paths).

    Returns:
      GraphsTuple (undirected: both directions of each tree edge, random node numbering) with
      nodes {"x": float32 (N, 2) = [1, is_s]}, edges float32 ones (E, 1), globals
      {"label": int32 (1,), "size": int32 (1,), the size of s's component}.
    """
    n1, n2 = (int(n) for n in sizes)
    if min(n1, n2) < 2 or reach < 1:
        raise ValueError(f"sizes must be >= 2 and reach >= 1, got sizes={sizes}, reach={reach}")
    num_nodes = n1 + n2
    tree_edges = np.concatenate([_elongated_tree(rng, n1, reach),
                                 n1 + _elongated_tree(rng, n2, reach)])
    s = int(rng.integers(num_nodes))
    size = n1 if s < n1 else n2
    relabel = rng.permutation(num_nodes)  # node i becomes relabel[i]: no id leaks the tree
    tree_edges, s = relabel[tree_edges], relabel[s]
    senders = np.concatenate([tree_edges[:, 0], tree_edges[:, 1]]).astype(np.int32)
    receivers = np.concatenate([tree_edges[:, 1], tree_edges[:, 0]]).astype(np.int32)
    x = np.zeros((num_nodes, 2), np.float32)
    x[:, 0], x[s, 1] = 1.0, 1.0
    return jraph.GraphsTuple(
        nodes={"x": x}, edges=np.ones((senders.size, 1), np.float32),
        senders=senders, receivers=receivers,
        n_node=np.array([num_nodes], np.int32), n_edge=np.array([senders.size], np.int32),
        globals={"label": np.array([int(size >= threshold)], np.int32),
                 "size": np.array([size], np.int32)},
    )


def component_size_graphs(seed: int, num_graphs: int, nodes_range: tuple[int, int],
                          threshold: int, *, reach: int = 2) -> list[jraph.GraphsTuple]:
    """`num_graphs` graphs of `component_size_graph`, each tree's size ~ U[nodes_range)
    (half-open; labels balanced when threshold = the range's midpoint); the same `seed` gives
    the same graphs."""
    if not 2 <= nodes_range[0] < nodes_range[1]:
        raise ValueError(f"nodes_range must be a half-open [low, high) with 2 <= low < high, "
                         f"got {nodes_range}")
    rng = np.random.default_rng(seed)
    sizes = rng.integers(*nodes_range, size=(num_graphs, 2))
    return [component_size_graph(rng, tuple(s), threshold, reach=reach) for s in sizes]
