"""Client partitions: Dirichlet label skew for labelled examples, community subgraphs for graphs.

All partitioning is host-side numpy (it runs once); the result is a stacked, padded pytree with
masks, the client axis first, ready for `jax.vmap` in `jaxnets.federated.simulator`.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import networkx as nx
import numpy as np


def dirichlet_label_partition(labels: np.ndarray, num_clients: int, alpha: float, seed: int,
                              min_size: int = 0, max_tries: int = 100) -> list[np.ndarray]:
    """Non-IID label skew (Hsu, Qi & Brown, arXiv 1909.06335, 2019; Yurochkin et al. 2019).

    For each class c, proportions p_c ~ Dirichlet(alpha * 1_K) split the class's (shuffled)
    examples among the K clients. Small alpha gives each client few classes; alpha -> inf tends
    to IID. The draw is repeated (up to `max_tries`) until every client has >= `min_size`
    examples.

    Returns:
      K sorted int64 index arrays, disjoint, covering all examples.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape [N], got {labels.shape}")
    if num_clients < 1 or alpha <= 0:
        raise ValueError(f"need num_clients >= 1 and alpha > 0, got {num_clients}, {alpha}")
    if min_size * num_clients > len(labels):
        raise ValueError(f"min_size {min_size} x {num_clients} clients exceeds the "
                         f"{len(labels)} examples")
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            share = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(share)[:-1] * len(members)).astype(int)
            for k, piece in enumerate(np.split(members, cuts)):
                parts[k].append(piece)
        clients = [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]
        if min(len(c) for c in clients) >= min_size:
            return clients
    raise RuntimeError(f"no Dirichlet({alpha}) partition gave every one of {num_clients} clients "
                       f">= {min_size} examples in {max_tries} tries; lower min_size")


def label_skew(labels: np.ndarray, client_indices: Sequence[np.ndarray],
               num_classes: int | None = None) -> float:
    """Mean (over clients with examples, weighted by size) total-variation distance between a
    client's label distribution and the pooled one: 0 = IID, -> 1 = disjoint label sets."""
    labels = np.asarray(labels)
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    pooled = np.bincount(labels, minlength=num_classes) / len(labels)
    distances, sizes = [], []
    for index in client_indices:
        if len(index) == 0:
            continue
        local = np.bincount(labels[index], minlength=num_classes) / len(index)
        distances.append(0.5 * np.abs(local - pooled).sum())
        sizes.append(len(index))
    return float(np.average(distances, weights=sizes))


def stack_clients(arrays: dict[str, np.ndarray], client_indices: Sequence[np.ndarray],
                  capacity: int | None = None) -> dict[str, np.ndarray]:
    """Per-client rows of `arrays`, padded to a common size and stacked on a client axis.

    Args:
      arrays: name -> [N, ...] arrays sharing the example axis.
      client_indices: K index arrays into that axis.
      capacity: padded size; default the largest client (at least 1).

    Returns:
      name -> [K, capacity, ...] (padding rows are zeros) and "mask" [K, capacity] bool.
    """
    if "mask" in arrays:
        raise ValueError("arrays may not have a field named 'mask' (it is added here)")
    sizes = [len(i) for i in client_indices]
    capacity = max(max(sizes, default=0), 1) if capacity is None else capacity
    if max(sizes, default=0) > capacity:
        raise ValueError(f"capacity {capacity} is smaller than the largest client ({max(sizes)})")
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"arrays must share their first axis, got {lengths}")
    out = {}
    for name, array in arrays.items():
        array = np.asarray(array)
        stacked = np.zeros((len(client_indices), capacity) + array.shape[1:], array.dtype)
        for k, index in enumerate(client_indices):
            stacked[k, :len(index)] = array[index]
        out[name] = stacked
    out["mask"] = np.arange(capacity)[None, :] < np.asarray(sizes)[:, None]
    return out


class ClientSubgraphs(NamedTuple):
    """Client subgraphs stacked on a client axis, padded, with masks (a pytree).

    Each client's node slots hold global node ids (`nodes`), its edges use local slot indices.
    There is always at least one padding node slot per client; padding edges join the last
    slot to itself, so a `segment_sum` over `receivers` never touches a real node through them.

    Attributes:
      nodes: [K, Nc] int32 global node id per slot (0 in padding slots).
      node_mask: [K, Nc] bool real node slots.
      senders, receivers: [K, Ec] int32 local slot indices.
      edge_mask: [K, Ec] bool real edges.
      num_nodes, num_edges: [K] int32.
    """

    nodes: np.ndarray
    node_mask: np.ndarray
    senders: np.ndarray
    receivers: np.ndarray
    edge_mask: np.ndarray
    num_nodes: np.ndarray
    num_edges: np.ndarray

    def take(self, node_array: np.ndarray) -> np.ndarray:
        """Per-client rows of a global [N, ...] node array -> [K, Nc, ...], zeros in padding."""
        node_array = np.asarray(node_array)
        out = node_array[self.nodes]
        mask = self.node_mask.reshape(self.node_mask.shape + (1,) * (node_array.ndim - 1))
        return np.where(mask, out, np.zeros((), node_array.dtype))


def induced_subgraphs(senders: np.ndarray, receivers: np.ndarray, num_nodes: int,
                      client_nodes: Sequence[np.ndarray]) -> ClientSubgraphs:
    """Each client's induced subgraph (edges with both ends among its nodes), padded and stacked.

    Nodes may belong to several clients (overlapping partitions).
    """
    senders, receivers = np.asarray(senders, np.int64), np.asarray(receivers, np.int64)
    if senders.shape != receivers.shape or senders.ndim != 1:
        raise ValueError(f"senders and receivers must be [E] arrays of one shape, got "
                         f"{senders.shape}, {receivers.shape}")
    if senders.size and (min(senders.min(), receivers.min()) < 0
                         or max(senders.max(), receivers.max()) >= num_nodes):
        raise ValueError(f"edge endpoints must lie in [0, {num_nodes})")
    local_edges = []
    for nodes in client_nodes:
        nodes = np.asarray(nodes, np.int64)
        if nodes.size and (nodes.min() < 0 or nodes.max() >= num_nodes):
            raise ValueError(f"client node ids must lie in [0, {num_nodes})")
        slot = np.full(num_nodes, -1)
        slot[nodes] = np.arange(len(nodes))
        keep = (slot[senders] >= 0) & (slot[receivers] >= 0)
        local_edges.append((slot[senders[keep]], slot[receivers[keep]]))
    sizes = np.array([len(n) for n in client_nodes], np.int32)
    edge_counts = np.array([len(s) for s, _ in local_edges], np.int32)
    node_cap = int(sizes.max(initial=0)) + 1
    edge_cap = max(int(edge_counts.max(initial=0)), 1)
    k = len(client_nodes)
    nodes_out = np.zeros((k, node_cap), np.int32)
    senders_out = np.full((k, edge_cap), node_cap - 1, np.int32)
    receivers_out = np.full((k, edge_cap), node_cap - 1, np.int32)
    for i, (nodes, (s, r)) in enumerate(zip(client_nodes, local_edges)):
        nodes_out[i, :len(nodes)] = nodes
        senders_out[i, :len(s)] = s
        receivers_out[i, :len(r)] = r
    return ClientSubgraphs(
        nodes=nodes_out, node_mask=np.arange(node_cap)[None, :] < sizes[:, None],
        senders=senders_out, receivers=receivers_out,
        edge_mask=np.arange(edge_cap)[None, :] < edge_counts[:, None],
        num_nodes=sizes, num_edges=edge_counts)


def _graph(senders: np.ndarray, receivers: np.ndarray, num_nodes: int) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    graph.add_edges_from(zip(np.asarray(senders).tolist(), np.asarray(receivers).tolist()))
    graph.remove_edges_from(nx.selfloop_edges(graph))
    return graph


def _split_in_bfs_order(graph: nx.Graph, nodes: list[int]) -> tuple[list[int], list[int]]:
    """Halves a node set along a BFS order from its smallest node (keeps halves compact)."""
    sub = graph.subgraph(nodes)
    order: list[int] = []
    for component in sorted(nx.connected_components(sub), key=min):
        order += list(nx.bfs_tree(sub, min(component)))
    half = len(order) // 2
    return order[:half], order[half:]


def louvain_groups(senders: np.ndarray, receivers: np.ndarray, num_nodes: int,
                   num_groups: int, seed: int, resolution: float = 1.0) -> list[np.ndarray]:
    """Disjoint node groups from Louvain communities (Blondel et al. 2008), balanced to K groups.

    networkx's `louvain_communities(seed=...)` on the undirected graph; communities are then
    assigned, largest first, to the currently smallest group (so groups are unions of whole
    communities and of roughly equal size); while there are fewer communities than groups, the
    largest community is halved along a BFS order. (FED-PUB uses METIS for this step; Louvain is
    the deterministic substitute available offline.)

    Returns:
      K sorted int64 arrays of node ids: disjoint, covering all nodes.
    """
    if not 1 <= num_groups <= num_nodes:
        raise ValueError(f"num_groups must be in [1, {num_nodes}], got {num_groups}")
    graph = _graph(senders, receivers, num_nodes)
    communities = [sorted(c) for c in nx.community.louvain_communities(
        graph, seed=seed, resolution=resolution)]
    while len(communities) < num_groups:
        communities.sort(key=len)
        a, b = _split_in_bfs_order(graph, communities.pop())
        communities += [a, b]
    communities.sort(key=lambda c: (-len(c), c[0]))
    groups: list[list[int]] = [[] for _ in range(num_groups)]
    for community in communities:
        smallest = min(range(num_groups), key=lambda g: (len(groups[g]), g))
        groups[smallest] += community
    return [np.sort(np.asarray(g, np.int64)) for g in groups]


def louvain_partition(senders: np.ndarray, receivers: np.ndarray, num_nodes: int,
                      num_clients: int, seed: int, resolution: float = 1.0) -> ClientSubgraphs:
    """FED-PUB's disjoint setting (Baek et al., ICML 2023, Sec. 5.1) with Louvain for METIS: K
    disjoint node groups, each client the induced subgraph of its group (edges between groups
    are lost)."""
    groups = louvain_groups(senders, receivers, num_nodes, num_clients, seed, resolution)
    return induced_subgraphs(senders, receivers, num_nodes, groups)


def overlapping_louvain_partition(senders: np.ndarray, receivers: np.ndarray, num_nodes: int,
                                  num_groups: int, clients_per_group: int, seed: int,
                                  keep_fraction: float = 0.5,
                                  resolution: float = 1.0) -> ClientSubgraphs:
    """FED-PUB's overlapping setting (Baek et al., ICML 2023, Sec. 5.1;
    `data/generators/overlapping.py` of the official code): the graph is cut into `num_groups`
    disjoint groups (METIS there, `louvain_groups` here) and each group gives
    `clients_per_group` clients, each the induced subgraph of a uniformly random half
    (`keep_fraction`) of the group's nodes, so clients of one group overlap.

    Returns:
      num_groups * clients_per_group clients, group-major.
    """
    if not 0 < keep_fraction <= 1 or clients_per_group < 1:
        raise ValueError(f"need 0 < keep_fraction <= 1 and clients_per_group >= 1, got "
                         f"{keep_fraction}, {clients_per_group}")
    groups = louvain_groups(senders, receivers, num_nodes, num_groups, seed, resolution)
    rng = np.random.default_rng(seed)
    clients = []
    for group in groups:
        for _ in range(clients_per_group):
            size = max(int(len(group) * keep_fraction), 1)
            clients.append(np.sort(rng.choice(group, size, replace=False)))
    return induced_subgraphs(senders, receivers, num_nodes, clients)
