"""Neural Common Neighbor (NCN) and NCN with Completion (NCNC) link predictors.

Wang, Yang & Zhang, "Neural Common Neighbor with Completion for Link Prediction", ICLR 2024.

* **Encoder** ("puregcn", the paper's Cora setting): ``x -> Dropout(xdp) -> Linear(F->h) ->
  Dropout(gnndp)`` then one parameter-free GCN propagation ``x' = n ⊙ (A (n ⊙ x) + n ⊙ x)`` with
  ``n = (1 + deg)^{-1/2}``, tail dropout ``tdp`` and a learnable jumping-knowledge scale.
* **NCN** (eq. 6) scores a target pair (i, j) from the *sum of the representations of their
  common neighbours*, not from a CN count:
  ``x_cn = Σ_{k ∈ N(i) ∩ N(j)} x'_k`` with ``x' = x + xlin(x)``, and
  ``s(i, j) = lin(β · xcnlin(x_cn) + xijlin(x_i ⊙ x_j))``, β learnable (init 1).
* **NCNC** (eq. 8-9) completes the common-neighbour set with neighbours of one endpoint that are
  *probably* neighbours of the other: for k ∈ N(i) \\ N(j) the probability of the edge (j, k) is
  estimated by the same NCN (one recursion, no gradient) and calibrated as
  ``p = α · pt · σ(s · (o - offset)) / (pt · σ(...) + 1 - σ(...))``; then
  ``x_cn += Σ_{k ∈ N(i)\\N(j)} p_jk x'_k + Σ_{k ∈ N(j)\\N(i)} p_ik x'_k``.
* **cn0** (the paper's GAE ablation): ``lin(xijlin(x_i ⊙ x_j))`` on the same encoder.

Neighbour sets come from ``jaxnets.graph.neighbors`` (sorted padded rows, no dense N x N).
Target-link removal (the ``--maskinput`` of the official code) hides a training batch's own
edges from both the encoder (edge weight 0) and the neighbour sets (``removed_edges_M``).
Predictor edge dropout (``preedp``, training only) drops directed adjacency entries before the
neighbour sets are formed. Membership stays binary: a kept common neighbour counts 1, as in the
official code, whose ``DropAdj`` rescales the kept values but whose overlap (``adjoverlap`` ->
``elem2spm``) refills every entry with 1.0, so the rescale never reaches ``x_cn``. Completion
candidates capped at R per pair and side (``trndeg/tstdeg``) are reweighted by ``|set| / R``, as the
official ``sparsesample_reweight`` does, so the capped sum estimates the full one.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnets.graph.neighbors import (PaddedAdjacency, common_neighbor_sum, gather_sum,
                                     pair_neighborhoods)
from jaxnets.graph.sparse import spmm
from jaxnets.nn.dropout import Dropout, keep_mask

PREDICTORS = ("cn0", "ncn", "ncnc")


def puregcn_propagate(x_NxF: jax.Array, senders_E: jax.Array, receivers_E: jax.Array,
                      weight_E: jax.Array) -> jax.Array:
    """Parameter-free GCN step ``n ⊙ (A (n ⊙ x) + n ⊙ x)``, ``n = (1 + deg)^{-1/2}``.

    Args:
      x_NxF: node features.
      senders_E: [E] int directed edges (both directions of an undirected edge).
      receivers_E: [E] int.
      weight_E: [E] float edge weights (0 hides an edge: target-link removal).

    Returns:
      [N, F] propagated features.
    """
    n = x_NxF.shape[0]
    if senders_E.shape != receivers_E.shape or weight_E.shape != senders_E.shape:
        raise ValueError(f"senders_E {senders_E.shape}, receivers_E {receivers_E.shape} and "
                         f"weight_E {weight_E.shape} must have the same [E] shape")
    deg = jax.ops.segment_sum(weight_E, receivers_E, n)
    norm = jax.lax.rsqrt(1.0 + deg)[:, None]
    xn = norm * x_NxF
    agg = jax.ops.segment_sum(weight_E[:, None] * xn[senders_E], receivers_E, n)
    return norm * (agg + xn)


def calibrate_probability(logit: jax.Array, *, alpha: float, scale: float, offset: float,
                          pt: float) -> jax.Array:
    """NCNC's calibrated edge probability (``clampprob`` of the official code).

    ``p0 = σ(scale · (logit - offset))``; ``p = α · pt · p0 / (pt · p0 + 1 - p0)``.
    """
    p0 = jax.nn.sigmoid(scale * (logit - offset))
    return alpha * pt * p0 / (pt * p0 + 1.0 - p0)


def sample_candidates(ids_BxD: jax.Array, mask_BxD: jax.Array, cap: int,
                      key: jax.Array | None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Up to ``cap`` members of each row's set, uniformly at random, with their weights.

    The official ``trndeg/tstdeg`` sub-sampling of NCNC's completion candidates
    (``sparsesample_reweight``): a row with ``c > cap`` members keeps ``cap`` of them, each
    weighted ``c / cap`` so the weighted sum estimates the full one; ``cap < 1`` or ``cap >= D``
    keeps all with weight 1. ``key=None`` (evaluation) uses a fixed key, so evaluation is
    deterministic but the kept members are still a random subset, not the lowest ids.

    Returns:
      ``(ids_BxR, mask_BxR, weight_BxR)`` with R = min(cap, D).
    """
    d = ids_BxD.shape[1]
    if cap < 1 or cap >= d:
        return ids_BxD, mask_BxD, mask_BxD.astype(jnp.float32)
    key = jax.random.PRNGKey(0) if key is None else key
    score = jnp.where(mask_BxD, jax.random.uniform(key, mask_BxD.shape), -jnp.inf)
    _, pos = jax.lax.top_k(score, cap)
    mask_BxR = jnp.take_along_axis(mask_BxD, pos, axis=1)
    count_B = mask_BxD.sum(axis=1).astype(jnp.float32)
    weight_B = jnp.maximum(count_B / cap, 1.0)
    return (jnp.take_along_axis(ids_BxD, pos, axis=1), mask_BxR,
            mask_BxR * weight_B[:, None])


class _Block(nn.Module):
    """Lin [-LN] -Drop-ReLU, the unit of the official predictor MLPs."""

    hidden: int
    dropout: float
    ln: bool
    ln_first: bool = True  # xijlin/lin: Lin-LN-Drop-ReLU; xcnlin's first: Lin-Drop-ReLU

    @nn.compact
    def __call__(self, x, deterministic: bool):
        x = nn.Dense(self.hidden)(x)
        if self.ln and self.ln_first:
            x = nn.LayerNorm()(x)
        x = Dropout(self.dropout)(x, deterministic=deterministic)
        return nn.relu(x)


class NCNEncoder(nn.Module):
    """The "puregcn" encoder of NCN's Planetoid runs (one propagation, jumping knowledge).

    Attributes:
      hidden: h.
      xdp: input dropout. gnndp: dropout after the input linear layer. tdp: tail dropout.
      jk: learnable scale on the (single) layer output, init N(0, 1) as in the official code.
    """

    hidden: int
    xdp: float = 0.7
    gnndp: float = 0.05
    tdp: float = 0.3
    jk: bool = True

    @nn.compact
    def __call__(self, x_NxF: Any, senders_E: jax.Array, receivers_E: jax.Array,
                 weight_E: jax.Array, deterministic: bool = True) -> jax.Array:
        f = x_NxF.shape[1]
        x_NxF = Dropout(self.xdp)(x_NxF, deterministic=deterministic)  # BCOO: its stored values
        bound = f ** -0.5  # torch.nn.Linear's kaiming-uniform bound
        kernel = self.param("kernel", lambda k, s: jax.random.uniform(k, s, jnp.float32, -bound,
                                                                      bound), (f, self.hidden))
        bias = self.param("bias", nn.initializers.zeros, (self.hidden,))
        h = spmm(x_NxF, kernel) + bias[None, :]
        h = Dropout(self.gnndp)(h, deterministic=deterministic)
        h = puregcn_propagate(h, senders_E, receivers_E, weight_E)
        h = Dropout(self.tdp)(h, deterministic=deterministic)
        if self.jk:
            h = h * self.param("jk", nn.initializers.normal(1.0), (1,))[0]
        return h


class NCNPredictor(nn.Module):
    """NCN / NCNC / cn0 link predictor (paper eq. 6, 8-9; official ``cn1``, ``incn1cn1``, ``cn0``).

    Attributes:
      kind: ``"ncn"``, ``"ncnc"`` or ``"cn0"``.
      hidden: h.
      dropout: predictor dropout (``predp``).
      edge_dropout: predictor adjacency dropout (``preedp``), training only.
      ln: layer norm in the MLPs (``--lnnn``).
      use_xlin: ``x' = x + xlin(x)`` before aggregating common neighbours.
      tailact: drop the last Linear of ``xcnlin``/``xijlin``.
      twolayerlin: a second hidden layer in ``lin``.
      alpha, scale, offset, pt: NCNC's calibration (``alpha``, ``probscale``, ``proboffset``,
        ``pt``).
      train_cap, test_cap: NCNC's completion candidates per pair and side (``trndeg``,
        ``tstdeg``; -1 keeps all; a capped set's kept members weigh ``|set| / cap``).
      completion_route: ``"auto"`` (ragged when the batch fits a ``completion_levels`` entry,
        else padded) or ``"padded"`` (always the max-degree-padded route; for tests and
        benchmarks). Both give the same probabilities.
    """

    kind: str = "ncn"
    hidden: int = 256
    dropout: float = 0.05
    edge_dropout: float = 0.4
    ln: bool = True
    use_xlin: bool = True
    tailact: bool = True
    twolayerlin: bool = False
    alpha: float = 1.0
    scale: float = 4.3
    offset: float = 2.8
    pt: float = 0.75
    train_cap: int = -1
    test_cap: int = -1
    completion_route: str = "auto"

    def setup(self):
        if self.kind not in PREDICTORS:
            raise ValueError(f"kind must be one of {PREDICTORS}, got {self.kind!r}")
        if self.completion_route not in ("auto", "padded"):
            raise ValueError(f"completion_route must be 'auto' or 'padded', got "
                             f"{self.completion_route!r}")
        h, dp, ln = self.hidden, self.dropout, self.ln
        self.xlin1 = _Block(h, dp, ln, ln_first=False)
        self.xlin2 = _Block(h, dp, ln)
        self.xcn1 = _Block(h, dp, ln, ln_first=False)
        self.xcn2 = _Block(h, dp, ln)
        self.xcn_out = None if self.tailact else nn.Dense(h)
        self.xij1 = _Block(h, dp, ln)
        self.xij_out = None if self.tailact else nn.Dense(h)
        self.lin1 = _Block(h, dp, ln)
        self.lin2 = _Block(h, dp, ln) if self.twolayerlin else None
        self.lin_out = nn.Dense(1)
        self.beta = self.param("beta", nn.initializers.ones, (1,))

    def _head(self, xcn, xij, det: bool) -> jax.Array:
        """``lin(β · xcnlin(x_cn) + xijlin(x_i ⊙ x_j))`` -> [...]; ``xcn=None`` is cn0."""
        z = self.xij1(xij, det)
        if self.xij_out is not None:
            z = self.xij_out(z)
        if xcn is not None:
            c = self.xcn2(self.xcn1(xcn, det), det)
            if self.xcn_out is not None:
                c = self.xcn_out(c)
            z = z + self.beta[0] * c
        z = self.lin1(z, det)
        if self.lin2 is not None:
            z = self.lin2(z, det)
        return self.lin_out(z)[..., 0]

    def __call__(self, h_NxF: jax.Array, adj: PaddedAdjacency, i_B: jax.Array, j_B: jax.Array,
                 removed_edges_M: jax.Array | None = None,
                 deterministic: bool = True) -> jax.Array:
        """Logits [B] of the pairs (i, j).

        Args:
          h_NxF: encoder output.
          adj: padded adjacency of the message-passing (training) graph.
          i_B, j_B: [B] int target pairs.
          removed_edges_M: optional [M] bool edges of ``adj`` hidden from the neighbour sets
            (target-link removal; hide the same edges from the encoder).
          deterministic: no dropout.

        Returns:
          [B] logits.
        """
        det = deterministic
        if i_B.ndim != 1 or i_B.shape != j_B.shape:
            raise ValueError(f"i_B and j_B must be 1-d of equal length, got {i_B.shape}, "
                             f"{j_B.shape}")
        if h_NxF.shape[0] != adj.num_nodes:
            raise ValueError(f"h_NxF has {h_NxF.shape[0]} rows but adj has {adj.num_nodes} nodes")
        xij = h_NxF[i_B] * h_NxF[j_B]
        if self.kind == "cn0":
            return self._head(None, xij, det)
        x = h_NxF
        if self.use_xlin:
            x = x + self.xlin2(self.xlin1(x, det), det)
        n = adj.num_nodes
        keep_NxD = adj.neighbors_NxD < n
        if not det and self.edge_dropout > 0:
            keep_NxD &= keep_mask(self.make_rng("dropout"), keep_NxD.shape, self.edge_dropout)
        if removed_edges_M is not None:
            m = removed_edges_M.shape[0]
            if removed_edges_M.ndim != 1:
                raise ValueError(f"removed_edges_M must be [M] bool, got {removed_edges_M.shape}")
            hidden = jnp.concatenate([removed_edges_M.astype(bool), jnp.ones((1,), bool)])
            keep_NxD &= ~hidden[jnp.minimum(adj.edge_ids_NxD, m)]
        nb = pair_neighborhoods(adj, i_B, j_B, keep_NxD=keep_NxD)
        xcn = gather_sum(nb.ids_i_BxD, nb.common_BxD.astype(x.dtype), x)
        if self.kind == "ncnc":
            cap = self.test_cap if det else self.train_cap
            key = None if det else self.make_rng("dropout")
            keys = (None, None) if key is None else tuple(jax.random.split(key))
            sides = [sample_candidates(ids, mask, cap, k) for ids, mask, k in
                     ((nb.ids_i_BxD, nb.only_i_BxD, keys[0]), (nb.ids_j_BxD, nb.only_j_BxD,
                                                                keys[1]))]
            # Both sides as one [2B, R] candidate set: k in N(i)\N(j) pairs with j and vice versa.
            ids_R = jnp.concatenate([sides[0][0], sides[1][0]])
            mask_R = jnp.concatenate([sides[0][1], sides[1][1]])
            w_R = jnp.concatenate([sides[0][2], sides[1][2]])
            other = jnp.concatenate([j_B, i_B])
            p = jax.lax.stop_gradient(self._completion(
                jax.lax.stop_gradient(h_NxF), jax.lax.stop_gradient(x), adj, keep_NxD, other,
                ids_R, mask_R, det))
            b = i_B.shape[0]
            self.sow("intermediates", "completion_p", p[:b])
            self.sow("intermediates", "completion_p", p[b:])
            completed = gather_sum(ids_R, p * w_R, x)              # [2B, F]: both sides
            xcn = xcn + completed[:b] + completed[b:]
        self.sow("intermediates", "xcn", xcn)
        return self._head(xcn, xij, det)

    def _completion(self, h_NxF, x_NxF, adj, keep_NxD, other_B, ids_BxR, mask_BxR,
                    det) -> jax.Array:
        """Calibrated probabilities [B, R] of the edges (o, k), routed by the batch's real size.

        The candidates and the entries of their rows are counted first; the smallest
        ``completion_levels`` entry that holds both runs the ragged route
        (``_completion_ragged``: work proportional to real degrees), and a batch larger than every
        level runs the padded route (``_completion_padded``). ``nn.switch`` executes one branch
        only; all give the same probabilities.
        """
        levels = completion_levels(*ids_BxR.shape, adj.max_degree)
        if self.is_initializing() or not levels or self.completion_route == "padded":
            self.sow("intermediates", "completion_level", jnp.asarray(len(levels)))
            return self._completion_padded(h_NxF, x_NxF, adj, keep_NxD, other_B, ids_BxR,
                                           mask_BxR, det)
        num_P = mask_BxR.sum()
        num_T = jnp.where(mask_BxR, adj.degree_N[jnp.where(mask_BxR, ids_BxR, 0)], 0).sum()
        fits = jnp.asarray([(num_P <= pc) & (num_T <= tc) for pc, tc in levels])
        index = jnp.where(fits.any(), jnp.argmax(fits), len(levels))
        self.sow("intermediates", "completion_level", index)  # len(levels): padded route

        def ragged(level):
            return lambda mdl, *a: mdl._completion_ragged(*a, *level, det)

        branches = [ragged(level) for level in levels] + [
            lambda mdl, *a: mdl._completion_padded(*a, det)]
        return nn.switch(index, branches, self, h_NxF, x_NxF, adj, keep_NxD, other_B, ids_BxR,
                         mask_BxR)

    def _completion_ragged(self, h_NxF, x_NxF, adj, keep_NxD, other_B, ids_BxR, mask_BxR,
                           pair_capacity: int, entry_capacity: int, det) -> jax.Array:
        """Completion over the compacted candidate list (``pair_capacity`` >= real candidates,
        ``entry_capacity`` >= the sum of their degrees): ``x_cn(o, k)`` by
        ``common_neighbor_sum``, the head on the real candidates only, scattered back to [B, R].
        """
        b, r = ids_BxR.shape
        flat_P = jnp.nonzero(mask_BxR.reshape(-1), size=pair_capacity, fill_value=0)[0]
        valid_P = jnp.arange(pair_capacity) < mask_BxR.sum()
        k_P = jnp.where(valid_P, ids_BxR.reshape(-1)[flat_P], 0)
        o_P = other_B[flat_P // r]
        xcn_PxF = common_neighbor_sum(adj, o_P, k_P, valid_P, x_NxF, entry_capacity, keep_NxD)
        logit = self._head(xcn_PxF, h_NxF[o_P] * h_NxF[k_P], det)
        p = calibrate_probability(logit, alpha=self.alpha, scale=self.scale, offset=self.offset,
                                  pt=self.pt)
        return jnp.zeros((b * r,), p.dtype).at[flat_P].add(
            jnp.where(valid_P, p, 0.0)).reshape(b, r)

    def _completion_padded(self, h_NxF, x_NxF, adj, keep_NxD, other_B, ids_BxR,
                           mask_BxR, det) -> jax.Array:
        """Calibrated NCN probability of the edge (o, k) for each candidate k: [B, R].

        ``x_cn(o, k) = Σ_{m ∈ N(o) ∩ N(k)} x'_m``: each entry m of o's row is looked up in k's
        sorted row (``searchsorted``; no per-pair sort) and counts when both entries are kept
        (not removed, not dropped). o's neighbour features are gathered once per target: [B, D, F].
        Every candidate costs the maximum degree D: the fallback for batches too large for the
        ragged route.
        """
        b, r = ids_BxR.shape
        d = adj.max_degree
        k_BxR = jnp.where(mask_BxR, ids_BxR, 0)
        rows_o = adj.neighbors_NxD[other_B]                      # [B, D], sorted, pad N
        ok_o = keep_NxD[other_B]
        rows_k = adj.neighbors_NxD[k_BxR].reshape(b * r, d)      # [P, D]
        ok_k = keep_NxD[k_BxR].reshape(b * r, d)
        query = jnp.repeat(rows_o, r, axis=0)                    # [P, D]
        pos = jax.vmap(jnp.searchsorted)(rows_k, query)
        pos = jnp.minimum(pos, d - 1)
        found = ((jnp.take_along_axis(rows_k, pos, axis=1) == query)
                 & jnp.take_along_axis(ok_k, pos, axis=1))
        common_BxRxD = found.reshape(b, r, d) & ok_o[:, None, :]
        x_pad = jnp.concatenate([x_NxF, jnp.zeros((1, x_NxF.shape[1]), x_NxF.dtype)])
        xcn_BxRxF = jnp.einsum("brd,bdf->brf", common_BxRxD.astype(x_NxF.dtype),
                               x_pad[rows_o])
        xij_BxRxF = h_NxF[other_B][:, None, :] * h_NxF[k_BxR]
        logit = self._head(xcn_BxRxF, xij_BxRxF, det)
        p = calibrate_probability(logit, alpha=self.alpha, scale=self.scale, offset=self.offset,
                                  pt=self.pt)
        return jnp.where(mask_BxR, p, 0.0)


def completion_levels(num_targets: int, num_candidates: int, max_degree: int,
                      growth: int = 2, entries_per_pair: int = 8) -> list[tuple[int, int]]:
    """Static (pair, entry) capacities of NCNC's ragged completion route, smallest first.

    Pair capacities grow by ``growth`` from ``2 · num_targets`` up to all ``B · R`` candidate
    slots; each level holds ``entries_per_pair`` row entries per pair (the candidates' mean degree,
    with room). A batch picks the first level holding its real counts; one larger than the last
    runs the padded route. Levels that would not save work over the padded route
    (entries >= B · R · D) are dropped.
    """
    full_pairs = num_targets * num_candidates
    padded_entries = full_pairs * max_degree
    levels, pairs = [], 2 * num_targets
    while True:
        pairs = min(pairs, full_pairs)
        entries = pairs * entries_per_pair
        if entries < padded_entries:
            levels.append((pairs, entries))
        if pairs == full_pairs:
            return levels
        pairs *= growth


class NCNModel(nn.Module):
    """Encoder + predictor; ``__call__`` scores pairs under target-link removal."""

    encoder: NCNEncoder
    predictor: NCNPredictor

    def __call__(self, x_NxF, graph: dict, adj: PaddedAdjacency, i_B, j_B,
                 removed_edges_M=None, deterministic: bool = True) -> jax.Array:
        """Logits [B] of (i, j).

        Args:
          x_NxF: input features (dense or BCOO).
          graph: ``{"senders": [E], "receivers": [E], "edge_ids": [E]}`` directed message-passing
            edges and the undirected edge (row of the pair list behind ``adj``) of each.
          adj: padded adjacency built from the same pair list.
          i_B, j_B: target pairs.
          removed_edges_M: [M] bool edges hidden from encoder and neighbour sets, or None.
          deterministic: no dropout.
        """
        h = self.encode(x_NxF, graph, removed_edges_M, deterministic)
        return self.predictor(h, adj, i_B, j_B, removed_edges_M, deterministic)

    def score(self, h_NxF: jax.Array, adj: PaddedAdjacency, i_B, j_B,
              removed_edges_M=None, deterministic: bool = True) -> jax.Array:
        """Logits [B] of (i, j) from an ``encode`` output: encode once, score many batches."""
        return self.predictor(h_NxF, adj, i_B, j_B, removed_edges_M, deterministic)

    def encode(self, x_NxF, graph: dict, removed_edges_M=None, deterministic: bool = True):
        """Encoder output [N, h] on the graph without the removed edges."""
        weight = jnp.ones(graph["senders"].shape, jnp.float32)
        if removed_edges_M is not None:
            weight = jnp.where(removed_edges_M[graph["edge_ids"]], 0.0, weight)
        return self.encoder(x_NxF, graph["senders"], graph["receivers"], weight, deterministic)
