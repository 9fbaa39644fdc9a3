"""Synthetic graphs: contextual SBM with a homophily knob, plain SBM, power-law degree graphs.

All generators are seeded (numpy ``default_rng(seed)``; networkx gets an integer seed derived from
it), vectorised, and return undirected ``NodeDataset``s (both directions stored, no self-loops,
no duplicate edges).
"""
from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from jaxnets.data import _edges
from jaxnets.data.splits import random_node_split
from jaxnets.data.types import NodeDataset

_DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)


def _triangle_decode(idx: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-major index into the strict upper triangle of an m x m matrix -> (i, j), i < j."""
    rows = np.arange(m - 1, dtype=np.int64)
    starts = rows * (2 * m - rows - 1) // 2  # first index of row i
    i = np.searchsorted(starts, idx, side="right") - 1
    return i, idx - starts[i] + i + 1


def sample_block_edges(labels: np.ndarray, probs: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Undirected SBM edges: each pair {u, v} (u != v) is an edge independently with
    probability ``probs[labels[u], labels[v]]`` (Holland, Laskey & Leinhardt 1983).

    Sampled exactly and in O(E) per block pair: the number of edges of a block pair is
    Binomial(#pairs, p) and, given that number, the edge set is a uniform subset of the pairs.

    Args:
      labels: [N] int block ids in [0, B).
      probs: [B, B] symmetric edge probabilities in [0, 1].
      rng: numpy generator.

    Returns:
      ``(senders, receivers)`` int32 with both directions of every edge, sorted.
    """
    n = labels.shape[0]
    members = [np.flatnonzero(labels == b) for b in range(probs.shape[0])]
    us, vs = [], []
    for a in range(probs.shape[0]):  # loops over block pairs, not over edges
        for b in range(a, probs.shape[0]):
            ma, mb = members[a].size, members[b].size
            pairs = ma * (ma - 1) // 2 if a == b else ma * mb
            if pairs == 0 or probs[a, b] == 0:
                continue
            count = int(rng.binomial(pairs, probs[a, b]))
            idx = rng.choice(pairs, size=count, replace=False).astype(np.int64)
            if a == b:
                i, j = _triangle_decode(idx, ma)
            else:
                i, j = idx // mb, idx % mb
            us.append(members[a][i])
            vs.append(members[b][j])
    u = np.concatenate(us) if us else np.zeros(0, np.int64)
    v = np.concatenate(vs) if vs else np.zeros(0, np.int64)
    return _edges.symmetrize(u, v, n)


def _masks(labels: np.ndarray, fractions: Sequence[float], rng: np.random.Generator):
    return random_node_split(labels, fractions=fractions, seed=int(rng.integers(2**31)))


def contextual_sbm(num_nodes: int, num_classes: int, avg_degree: float, homophily: float,
                   num_features: int, feature_signal: float, seed: int, *,
                   split_fractions: Sequence[float] = _DEFAULT_FRACTIONS) -> NodeDataset:
    """Contextual stochastic block model with a target edge homophily.

    Deshpande, Sen, Montanari & Mossel, "Contextual Stochastic Block Models", NeurIPS 2018, as
    used for homophily sweeps by Chien et al. (GPR-GNN, ICLR 2021), generalised to C classes.

    Graph: labels are balanced (``N mod C`` classes get one extra node), randomly placed. Each
    same-class pair is an edge with probability ``p_in`` and each cross-class pair with ``p_out``,
    chosen so that the expected number of undirected edges is ``N * avg_degree / 2`` and the
    expected fraction of same-class edges (edge homophily) is ``homophily``:
    ``p_in = h M / P_in``, ``p_out = (1 - h) M / P_out`` with ``M = N d / 2`` and ``P_in``/``P_out``
    the numbers of same-/cross-class pairs. For two equal classes this is the paper's
    ``c_in = d + λ√d``, ``c_out = d - λ√d`` with ``λ = (2h - 1)√d``.

    Features (the paper's Eq. for ``b_i``): ``x_i = sqrt(μ / N) u_{y_i} + z_i / sqrt(F)`` with
    ``z_i ~ N(0, I_F)``, class means ``u_c ~ N(0, I_F / F)`` and, for C = 2, ``u_1 = -u_0`` (the
    paper's ``v_i u`` with ``v_i = ±1``). ``μ = feature_signal``; the signal-to-noise ratio along
    the mean direction is ``μ F / N``, so features carry information when F is comparable to N
    (GPR-GNN: N = 5000, F = 2000).

    Args:
      num_nodes: N.
      num_classes: C >= 2.
      avg_degree: expected mean degree d.
      homophily: target edge homophily h in [0, 1].
      num_features: F.
      feature_signal: μ >= 0.
      seed: numpy seed.
      split_fractions: train/val/test fractions of the random masks (GPR-GNN's 60/20/20).

    Returns:
      An undirected ``NodeDataset`` named ``"csbm"`` with dense float32 features.

    Raises:
      ValueError: an argument out of range, or a ``p_in``/``p_out`` above 1.
    """
    if num_classes < 2 or num_nodes < num_classes:
        raise ValueError(f"need num_classes >= 2 and num_nodes >= num_classes, got "
                         f"num_nodes={num_nodes}, num_classes={num_classes}")
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"homophily must lie in [0, 1], got {homophily}")
    if avg_degree <= 0 or num_features < 1 or feature_signal < 0:
        raise ValueError(f"need avg_degree > 0, num_features >= 1, feature_signal >= 0; got "
                         f"{avg_degree}, {num_features}, {feature_signal}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_nodes) % num_classes).astype(np.int32)
    sizes = np.bincount(labels, minlength=num_classes).astype(np.float64)
    pairs_in = float((sizes * (sizes - 1) / 2).sum())
    pairs_out = num_nodes * (num_nodes - 1) / 2 - pairs_in
    m = num_nodes * avg_degree / 2
    p_in, p_out = homophily * m / pairs_in, (1 - homophily) * m / pairs_out
    if p_in > 1 or p_out > 1:
        raise ValueError(f"avg_degree={avg_degree} with homophily={homophily} needs edge "
                         f"probabilities p_in={p_in:.3f}, p_out={p_out:.3f} > 1; lower "
                         f"avg_degree or use more nodes")
    probs = np.full((num_classes, num_classes), p_out)
    np.fill_diagonal(probs, p_in)
    senders, receivers = sample_block_edges(labels, probs, rng)

    means = rng.normal(0.0, 1.0 / np.sqrt(num_features), (num_classes, num_features))
    if num_classes == 2:
        means[1] = -means[0]
    noise = rng.normal(0.0, 1.0, (num_nodes, num_features)) / np.sqrt(num_features)
    features = (np.sqrt(feature_signal / num_nodes) * means[labels] + noise).astype(np.float32)
    train, val, test = _masks(labels, split_fractions, rng)
    return NodeDataset(name="csbm", features=features, senders=senders, receivers=receivers,
                       labels=labels, train_mask=train, val_mask=val, test_mask=test,
                       num_classes=num_classes, directed=False)


def stochastic_block_model(block_sizes: Sequence[int], p_in: float, p_out: float, seed: int,
                           num_features: int = 16, *,
                           split_fractions: Sequence[float] = _DEFAULT_FRACTIONS,
                           ) -> NodeDataset:
    """Planted-partition stochastic block model (Holland, Laskey & Leinhardt 1983).

    Nodes ``0..sizes[0]-1`` form block 0, the next ``sizes[1]`` block 1, and so on; labels are the
    block ids. Each same-block pair is an edge with probability ``p_in``, each cross-block pair
    with ``p_out``, independently (sampled exactly, see ``sample_block_edges``). Features are
    i.i.d. N(0, 1) noise that carries **no** block information (use ``contextual_sbm`` for
    informative features).

    Args:
      block_sizes: nodes per block.
      p_in: same-block edge probability.
      p_out: cross-block edge probability.
      seed: numpy seed.
      num_features: F.
      split_fractions: train/val/test fractions of the random masks.

    Returns:
      An undirected ``NodeDataset`` named ``"sbm"``.
    """
    sizes = np.asarray(block_sizes, dtype=np.int64)
    if sizes.ndim != 1 or sizes.size < 1 or (sizes < 1).any():
        raise ValueError(f"block_sizes must be positive integers, got {block_sizes}")
    if not (0 <= p_in <= 1 and 0 <= p_out <= 1):
        raise ValueError(f"p_in and p_out must lie in [0, 1], got {p_in}, {p_out}")
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(sizes.size), sizes).astype(np.int32)
    probs = np.full((sizes.size, sizes.size), float(p_out))
    np.fill_diagonal(probs, p_in)
    senders, receivers = sample_block_edges(labels, probs, rng)
    features = rng.normal(0.0, 1.0, (labels.size, num_features)).astype(np.float32)
    train, val, test = _masks(labels, split_fractions, rng)
    return NodeDataset(name="sbm", features=features, senders=senders, receivers=receivers,
                       labels=labels, train_mask=train, val_mask=val, test_mask=test,
                       num_classes=int(sizes.size), directed=False)


def _from_networkx(graph: nx.Graph, n: int) -> tuple[np.ndarray, np.ndarray]:
    adj = nx.to_scipy_sparse_array(graph, nodelist=range(n), weight=None, format="coo")
    return _edges.symmetrize(adj.row, adj.col, n, drop_self_loops=True)


def powerlaw_graph(num_nodes: int, m: int, seed: int, *, model: str = "barabasi_albert",
                   exponent: float = 2.5, num_features: int = 16) -> NodeDataset:
    """An unlabelled graph with a power-law degree distribution.

    Models:
      * ``"barabasi_albert"``: preferential attachment, each new node attaching to ``m``
        existing ones (Barabási & Albert, Science 1999); P(k) ~ k^-3 for k >= m.
      * ``"configuration"``: a degree sequence drawn from P(k) ∝ k^-``exponent`` for
        ``m <= k < N`` (discretised Pareto), wired by the configuration model (Molloy & Reed
        1995); multi-edges are merged and self-loops removed, so realised degrees can be slightly
        below the drawn ones.

    Labels are all -1 (``num_classes=0``, empty masks); features are N(0, 1) noise.

    Args:
      num_nodes: N.
      m: edges per new node (BA) or minimum degree (configuration).
      seed: numpy seed.
      model: ``"barabasi_albert"`` or ``"configuration"``.
      exponent: power-law exponent γ > 1 of the configuration model.
      num_features: F.

    Returns:
      An undirected ``NodeDataset`` named ``"powerlaw"``.
    """
    if not 1 <= m < num_nodes:
        raise ValueError(f"need 1 <= m < num_nodes, got m={m}, num_nodes={num_nodes}")
    rng = np.random.default_rng(seed)
    nx_seed = int(rng.integers(2**31))
    if model == "barabasi_albert":
        graph = nx.barabasi_albert_graph(num_nodes, m, seed=nx_seed)
    elif model == "configuration":
        if exponent <= 1:
            raise ValueError(f"exponent must be > 1, got {exponent}")
        u = 1.0 - rng.random(num_nodes)  # in (0, 1]
        degrees = np.minimum(np.floor(m * u ** (-1.0 / (exponent - 1.0))), num_nodes - 1)
        degrees = degrees.astype(np.int64)
        if degrees.sum() % 2:
            degrees[np.argmin(degrees)] += 1
        graph = nx.Graph(nx.configuration_model(degrees.tolist(), seed=nx_seed))
    else:
        raise ValueError(f"model must be 'barabasi_albert' or 'configuration', got {model!r}")
    senders, receivers = _from_networkx(graph, num_nodes)
    features = rng.normal(0.0, 1.0, (num_nodes, num_features)).astype(np.float32)
    empty = np.zeros(num_nodes, bool)
    return NodeDataset(name="powerlaw", features=features, senders=senders, receivers=receivers,
                       labels=np.full(num_nodes, -1, np.int32), train_mask=empty,
                       val_mask=empty.copy(), test_mask=empty.copy(), num_classes=0,
                       directed=False)
