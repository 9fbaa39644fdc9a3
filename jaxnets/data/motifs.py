"""BA-2Motifs: graph classification with ground-truth explanations, generated locally.

Luo et al., "Parameterized Explainer for Graph Neural Network" (NeurIPS 2020), §5: each graph is
a Barabási–Albert base graph with one motif attached, a 5-node "house" (label 0) or a 5-cycle
(label 1); the motif's edges are the ground-truth explanation. Zheng et al. ("Towards Robust
Fidelity for Evaluating Explainability of GNNs", ICLR 2024) evaluate fidelity measures on it.

Graphs are stored stacked with static shapes so a whole data set runs under one ``vmap``: every
graph has ``base_nodes + 5`` nodes; its undirected edges are listed in both directions and
padded to a common ``E`` with ``edge_mask`` False.
"""
from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np

_HOUSE = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 4), (1, 4)]  # square 0-1-2-3 with roof 4
_CYCLE = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)]


@dataclasses.dataclass(frozen=True, eq=False)
class MotifGraphs:
    """A stacked set of G graphs with N nodes each and E padded directed edges each.

    Attributes:
      senders: [G, E] int32 local node ids (padding edges point 0 -> 0 and are masked).
      receivers: [G, E] int32.
      edge_mask: [G, E] bool, True for real edges.
      undirected_id: [G, E] int32 id of each directed edge's undirected edge (both directions
        share it; padding edges get ids past the real ones), so perturbations drop both
        directions together.
      ground_truth: [G, E] bool, True on the motif's edges.
      labels: [G] int32, 0 = house, 1 = cycle.
      num_nodes: N.
    """

    senders: np.ndarray
    receivers: np.ndarray
    edge_mask: np.ndarray
    undirected_id: np.ndarray
    ground_truth: np.ndarray
    labels: np.ndarray
    num_nodes: int

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: np.ndarray) -> "MotifGraphs":
        take = lambda a: a[index]  # noqa: E731
        return MotifGraphs(take(self.senders), take(self.receivers), take(self.edge_mask),
                           take(self.undirected_id), take(self.ground_truth), take(self.labels),
                           self.num_nodes)


def ba_2motifs(num_graphs: int, *, seed: int, base_nodes: int = 20,
               attach_edges: int = 1) -> MotifGraphs:
    """Generates BA-2Motifs graphs (half houses, half cycles, shuffled).

    Args:
      num_graphs: G.
      seed: numpy seed (the BA graphs use seeds drawn from it).
      base_nodes: nodes of each Barabási–Albert base graph.
      attach_edges: BA parameter m (edges per new node).

    Returns:
      ``MotifGraphs`` with N = base_nodes + 5.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_graphs) % 2).astype(np.int32)
    graphs = []
    for label in labels:  # host-side generation, once per data set
        base = nx.barabasi_albert_graph(base_nodes, attach_edges, seed=int(rng.integers(2**31)))
        edges = [(int(u), int(v), False) for u, v in base.edges()]
        motif = _HOUSE if label == 0 else _CYCLE
        edges += [(base_nodes + u, base_nodes + v, True) for u, v in motif]
        anchor, motif_node = int(rng.integers(base_nodes)), base_nodes + int(rng.integers(5))
        edges.append((anchor, motif_node, False))
        graphs.append(edges)
    width = 2 * max(len(e) for e in graphs)
    shape = (num_graphs, width)
    senders, receivers = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
    mask, gt = np.zeros(shape, bool), np.zeros(shape, bool)
    und = np.tile(np.arange(width, dtype=np.int32), (num_graphs, 1))
    for g, edges in enumerate(graphs):
        m = len(edges)
        arr = np.array([(u, v) for u, v, _ in edges], np.int32)
        is_gt = np.array([t for _, _, t in edges], bool)
        senders[g, :2 * m] = np.concatenate([arr[:, 0], arr[:, 1]])
        receivers[g, :2 * m] = np.concatenate([arr[:, 1], arr[:, 0]])
        mask[g, :2 * m] = True
        gt[g, :2 * m] = np.concatenate([is_gt, is_gt])
        und[g, :2 * m] = np.concatenate([np.arange(m), np.arange(m)])
        und[g, 2 * m:] = m + np.arange(width - 2 * m)
    return MotifGraphs(senders, receivers, mask, und, gt, labels, base_nodes + 5)
