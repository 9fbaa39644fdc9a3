"""RpHGNN: heterogeneous graph learning via relation-wise collection and random projection.

Hu, Hooi & He, "Efficient Heterogeneous Graph Learning via Random Projection", TKDE 2024
(official code: CrawlScript/RpHGNN). A pre-computation HGNN: a parameter-free propagation
builds, once, per-relation feature tensors for the target node type; only an MLP-like encoder
over those tensors is trained, in mini-batches.

Pre-computation (`rphgnn_precompute`), K "propagate-then-update" iterations k = 1..K:

* **Relation-wise neighbour collection with even-odd propagation** (`relation_wise_collect`):
  for every relation r = (s -> d) with row-normalised (mean) adjacency M_r, the *odd* tensor
  `o_r = M_r x_s` lands on type d and the *even* tensor `e_r = M_{r^T} o_r` goes back along the
  reverse relation to type s. Two propagation steps per relation and iteration, so one iteration
  reaches odd and even hops at once (the paper's even-odd scheme, `inner_k = 2`).
* The target type's tensors of this iteration are stored, one per (relation, parity): the groups.
* **Random projection squashing** (`random_projection_squash`): every type's features are
  replaced by `x_t <- sum_g L2norm(h_g R_g)` over the tensors h_g that landed on t, each R_g a
  fresh very sparse random projection (Li, Hastie & Church 2006; entries +-sqrt(s) w.p. 1/(2s),
  s = 3, unscaled: the L2 normalisation removes any scale) onto the type's input width. The
  width of x_t never changes, so each iteration costs the same and the total cost is linear
  in K (a metapath-enumerating method such as SeHGNN needs one tensor per metapath, a number
  exponential in the hop count).

The target input of group g is its K tensors stacked on a hop axis, with the raw target features
prepended to the even groups (`use_input`, as the official code): [N, K (+1), d_g].

Encoder (`RpHGNNEncoder`, the official `RpHGNNEncoder`): input dropout; per group a kernel-1
Conv1d over the hop axis (a learned weighted sum of hops, `conv_filters` channels), flattened;
a per-group MLP (PReLU, dropout, also after its last layer); the groups merged by mean (or
concatenation); a global MLP to the logits.

`prepare_features` gives featureless types random features N(0, 1/e) (the official
`add_random_feats`) and can randomly project raw features to a smaller width first (the
official `target_feat_random_project_size`, here applied to every featured type). The
relation-agnostic baseline `relation_agnostic_hops` propagates instead over the union of all
relations as one homogeneous graph (SIGN-style hops, no relation-wise collection).
"""
from __future__ import annotations

import functools
from typing import Any, Mapping, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from jaxnets.graph import propagate
from jaxnets.graph.random_projection import sparse_rp_kernel
from jaxnets.nn.dropout import Dropout
from jaxnets.nn.linear import Linear

__all__ = ["Relation", "relations_from_edges", "prepare_features", "relation_wise_collect",
           "random_projection_squash", "rphgnn_precompute", "relation_agnostic_hops",
           "RpHGNNEncoder", "PReLU"]


class Relation(NamedTuple):
    """A directed relation `src -> dst`: edge e goes from `src` node `senders_E[e]` to `dst` node
    `receivers_E[e]`."""
    src: str
    dst: str
    senders_E: Any
    receivers_E: Any


def relations_from_edges(edges: Mapping[tuple[str, str], tuple[Any, Any]]) -> list[Relation]:
    """`HeteroDataset.edges` ({(src, dst): (senders, receivers)}, both directions present, as the
    official code adds every reverse relation) as a list of `Relation`s, in insertion order."""
    return [Relation(a, b, np.asarray(s, np.int32), np.asarray(r, np.int32))
            for (a, b), (s, r) in edges.items()]


def _l2_normalize(x: jax.Array) -> jax.Array:
    norm = jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True))
    return x / jnp.maximum(norm, 1e-12)  # torch F.normalize (eps 1e-12); zero rows stay zero


def prepare_features(key: jax.Array, num_nodes: Mapping[str, int],
                     features: Mapping[str, Any], *, embedding_size: int,
                     input_width: int | None = None, s: float = 3.0) -> dict[str, jax.Array]:
    """Dense input features for every node type.

    A type without features gets `N(0, 1) / sqrt(embedding_size)` of width `embedding_size`
    (official `add_random_feats`). With `input_width`, raw features of another width become
    `L2norm(X R)` with R a very sparse random projection (s, unscaled) to `input_width` (official
    `torch_random_project(..., norm=True)`); types whose raw features have the same width share
    one R (so bag-of-words rows over one vocabulary, e.g. ACM papers and authors, stay in one
    space).

    Args:
      key: PRNG key; the result is a pure function of it.
      num_nodes: node type -> count.
      features: node type -> [N_t, F_t] (dense or scipy sparse); missing types are featureless.
      embedding_size: e, the width of random features.
      input_width: optional width to project raw features to.
      s: inverse density of the projection.

    Returns:
      node type -> float32 [N_t, d_t].
    """
    unknown = set(features) - set(num_nodes)
    if unknown:
        raise ValueError(f"features has node types {sorted(unknown)} not in num_nodes")
    if int(embedding_size) < 1 or (input_width is not None and int(input_width) < 1):
        raise ValueError(f"embedding_size and input_width must be positive, got "
                         f"{embedding_size} and {input_width}")
    out = {}
    for i, t in enumerate(sorted(num_nodes)):
        if t not in features:
            z = jax.random.normal(jax.random.fold_in(key, i), (num_nodes[t], embedding_size))
            out[t] = z / np.sqrt(embedding_size)
            continue
        x = features[t]
        if x.shape[0] != num_nodes[t]:
            raise ValueError(f"features[{t!r}] has {x.shape[0]} rows, num_nodes says "
                             f"{num_nodes[t]}")
        if input_width is None or x.shape[1] == input_width:
            out[t] = jnp.asarray(x.toarray() if sp.issparse(x) else x, jnp.float32)
            continue
        r = sparse_rp_kernel(jax.random.fold_in(key, 10_000 + x.shape[1]), x.shape[1],
                             int(input_width), s=s, scaled=False)
        # scipy's CSR x dense product: O(nnz d) without an [nnz, d] temporary (BCOO spmm's)
        xr = (x @ np.asarray(r)) if sp.issparse(x) else np.asarray(x, np.float32) @ np.asarray(r)
        out[t] = _l2_normalize(jnp.asarray(xr, jnp.float32))
    return out


def relation_wise_collect(x: Mapping[str, jax.Array], relations: Sequence[Relation],
                          num_nodes: Mapping[str, int]
                          ) -> dict[str, list[tuple[tuple[str, str, str], jax.Array]]]:
    """Relation-wise neighbour collection with even-odd propagation (one iteration).

    For each relation r = (s -> d): `odd_r = mean_{j -> i in r} x_s[j]` on type d, then
    `even_r = mean over the reverse of r of odd_r` back on type s (official
    `rphgnn_propagate_then_update`, `norm="mean"`, `inner_k = 2`). Nodes without neighbours
    under a relation get zeros.

    Returns:
      node type -> list of ((parity, src, dst), tensor), ordered by relation, odd before even.
    """
    out: dict[str, list] = {t: [] for t in num_nodes}
    for r in relations:
        odd = propagate(x[r.src], r.senders_E, r.receivers_E, num_nodes[r.dst], aggregate="mean")
        even = propagate(odd, r.receivers_E, r.senders_E, num_nodes[r.src], aggregate="mean")
        out[r.dst].append((("odd", r.src, r.dst), odd))
        out[r.src].append((("even", r.src, r.dst), even))
    return out


def random_projection_squash(key: jax.Array, h_list: Sequence[jax.Array], width: int, *,
                             s: float = 3.0) -> jax.Array:
    """Random projection squashing: `sum_g L2norm(h_g R_g)` with independent very sparse random
    projections R_g (official `torch_random_project_then_sum`, `norm=True`, kernel `sp_3.0`).

    Args:
      key: PRNG key; R_g is drawn from `fold_in(key, g)`.
      h_list: tensors [N, d_g] of one node type (widths may differ).
      width: output width (the type's input width, so it is the same in every iteration).
      s: inverse density of R (3: Achlioptas' sparse projection, the official default).

    Returns:
      [N, width].
    """
    if not h_list:
        raise ValueError("random_projection_squash needs at least one tensor")
    total = None
    for g, h in enumerate(h_list):
        r = sparse_rp_kernel(jax.random.fold_in(key, g), h.shape[-1], width, s=s, scaled=False,
                             dtype=h.dtype)
        term = _l2_normalize(h @ r)
        total = term if total is None else total + term
    return total


class _Spec(NamedTuple):
    types: tuple[str, ...]
    rel_types: tuple[tuple[str, str], ...]
    num_nodes: tuple[tuple[str, int], ...]
    target: str
    num_iterations: int
    use_input: bool
    s: float


@functools.partial(jax.jit, static_argnames=("spec",))
def _precompute(key, x_T, edges_R, *, spec: _Spec):
    num_nodes = dict(spec.num_nodes)
    rels = [Relation(a, b, se, re) for (a, b), (se, re) in zip(spec.rel_types, edges_R)]

    def iteration(x_tuple, k):
        x = dict(zip(spec.types, x_tuple))
        collected = relation_wise_collect(x, rels, num_nodes)
        k_iter = jax.random.fold_in(key, k)
        new = []
        for i, t in enumerate(spec.types):
            hs = [h for _, h in collected[t]]
            new.append(random_projection_squash(jax.random.fold_in(k_iter, i), hs,
                                                x[t].shape[-1], s=spec.s) if hs else x[t])
        return tuple(new), tuple(h for _, h in collected[spec.target])

    _, hist = jax.lax.scan(iteration, tuple(x_T), jnp.arange(spec.num_iterations))
    x_target = x_T[spec.types.index(spec.target)]
    groups = []
    for (parity, _, _), h_KxNxD in zip(_group_keys(spec.rel_types, spec.target), hist):
        h = jnp.swapaxes(h_KxNxD, 0, 1)
        if spec.use_input and parity == "even":
            h = jnp.concatenate([x_target[:, None, :].astype(h.dtype), h], axis=1)
        groups.append(h)
    return groups


def _group_keys(rel_types, target):
    """The (parity, src, dst) keys of the target's tensors, in `relation_wise_collect` order."""
    keys = []
    for a, b in rel_types:
        if b == target:
            keys.append(("odd", a, b))
        if a == target:
            keys.append(("even", a, b))
    return keys


def rphgnn_precompute(key: jax.Array, x: Mapping[str, Any], relations: Sequence[Relation],
                      num_nodes: Mapping[str, int], target: str, *, num_iterations: int,
                      use_input: bool = True, s: float = 3.0
                      ) -> tuple[list[jax.Array], list[tuple[str, str, str]]]:
    """The RpHGNN pre-computation (official `rphgnn_propagate_and_collect`, `alpha = 0`,
    `squash_strategy="project_norm_sum"`, `squash_self=False`), one jitted call with the K
    propagate-then-update iterations in a `lax.scan`.

    Args:
      key: PRNG key of the squashing projections (iteration k, type i, tensor g draw from
        `fold_in(fold_in(fold_in(key, k), i), g)`).
      x: node type -> [N_t, d_t] input features (see `prepare_features`).
      relations: the relations; give both directions of each (as `HeteroDataset.edges`).
      num_nodes: node type -> count.
      target: the labelled node type.
      num_iterations: K >= 1 (the official `squash_k`).
      use_input: prepend the target's input features to the even groups (hop 0).
      s: inverse density of the squashing projections.

    Returns:
      (groups, keys): one float32 tensor [N_target, K (+1 if even and use_input), d_g] per
      (relation, parity) landing on the target type, and its key (parity, src, dst).
    """
    if int(num_iterations) < 1:
        raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")
    if target not in num_nodes:
        raise ValueError(f"target {target!r} is not a node type of {sorted(num_nodes)}")
    if set(x) != set(num_nodes):
        raise ValueError(f"x has node types {sorted(x)}, num_nodes {sorted(num_nodes)}")
    for t, v in x.items():
        if np.ndim(v) != 2 or np.shape(v)[0] != num_nodes[t]:
            raise ValueError(f"x[{t!r}] has shape {np.shape(v)}; expected [{num_nodes[t]}, d]")
    for r in relations:
        if r.src not in num_nodes or r.dst not in num_nodes:
            raise ValueError(f"relation {r.src}->{r.dst} uses an unknown node type")
        se, re = np.asarray(r.senders_E), np.asarray(r.receivers_E)
        if se.shape != re.shape or se.ndim != 1:
            raise ValueError(f"relation {r.src}->{r.dst}: senders and receivers must be equal "
                             f"1-D arrays, got {se.shape} and {re.shape}")
        if se.size and (se.min() < 0 or se.max() >= num_nodes[r.src] or re.min() < 0
                        or re.max() >= num_nodes[r.dst]):
            raise ValueError(f"relation {r.src}->{r.dst}: node ids out of range")
    rel_types = tuple((r.src, r.dst) for r in relations)
    keys = _group_keys(rel_types, target)
    if not keys:
        raise ValueError(f"no relation touches the target type {target!r}")
    types = tuple(sorted(num_nodes))
    spec = _Spec(types, rel_types, tuple((t, int(num_nodes[t])) for t in types), target,
                 int(num_iterations), bool(use_input), float(s))
    x_T = tuple(jnp.asarray(x[t], jnp.float32) for t in types)
    edges_R = tuple((jnp.asarray(r.senders_E, jnp.int32), jnp.asarray(r.receivers_E, jnp.int32))
                    for r in relations)
    return _precompute(key, x_T, edges_R, spec=spec), keys


@functools.partial(jax.jit, static_argnames=("num_nodes", "num_hops"))
def _agnostic(x_NxD, senders_E, receivers_E, *, num_nodes, num_hops):
    def hop(h, _):
        h = propagate(h, senders_E, receivers_E, num_nodes, aggregate="mean")
        return h, h

    _, hist = jax.lax.scan(hop, x_NxD, None, length=num_hops)
    return hist


def relation_agnostic_hops(x: Mapping[str, Any], relations: Sequence[Relation],
                           num_nodes: Mapping[str, int], target: str, *,
                           num_hops: int) -> jax.Array:
    """The relation-agnostic baseline: all node types as one homogeneous graph (the union of
    the relations), features propagated by the mean aggregator `h^{l+1} = D^-1 A h^l` and the
    target rows of hops 0..L stacked (SIGN, Frasca et al. 2020, with RpHGNN's mean
    normalisation). All types need one feature width.

    Returns:
      [N_target, num_hops + 1, d].
    """
    types = tuple(sorted(num_nodes))
    widths = {np.shape(x[t])[-1] for t in types}
    if len(widths) != 1:
        raise ValueError(f"relation_agnostic_hops needs one feature width for all types, got "
                         f"{ {t: np.shape(x[t])[-1] for t in types} }")
    if int(num_hops) < 1:
        raise ValueError(f"num_hops must be >= 1, got {num_hops}")
    start = dict(zip(types, np.cumsum([0] + [num_nodes[t] for t in types])[:-1].tolist()))
    senders = np.concatenate([np.asarray(r.senders_E) + start[r.src] for r in relations])
    receivers = np.concatenate([np.asarray(r.receivers_E) + start[r.dst] for r in relations])
    x_all = jnp.concatenate([jnp.asarray(x[t], jnp.float32) for t in types])
    total = int(sum(num_nodes.values()))
    hist = _agnostic(x_all, jnp.asarray(senders, jnp.int32), jnp.asarray(receivers, jnp.int32),
                     num_nodes=total, num_hops=int(num_hops))
    lo, hi = start[target], start[target] + num_nodes[target]
    x_t = jnp.asarray(x[target], jnp.float32)
    return jnp.concatenate([x_t[:, None], jnp.swapaxes(hist[:, lo:hi], 0, 1)], axis=1)


class PReLU(nn.Module):
    """`max(x, 0) + a min(x, 0)` with one learned slope a (init 0.25, as torch's PReLU)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        a = self.param("alpha", nn.initializers.constant(0.25), (), jnp.float32)
        return jnp.where(x >= 0, x, a * x)


class RpHGNNEncoder(nn.Module):
    """The RpHGNN classifier over pre-computed group tensors (official `RpHGNNEncoder`).

    Attributes:
      num_classes: C.
      hidden: width of every hidden layer.
      conv_filters: output channels of the per-group hop convolution (1 for a one-hop group).
      group_layers: layers of each group MLP (each Linear, PReLU, dropout).
      global_layers: layers of the global MLP (the last maps to C logits).
      merge: "mean" or "concat" of the group outputs.
      input_dropout: dropout on the input tensors.
      dropout: dropout after hidden layers.
    """
    num_classes: int
    hidden: int = 64
    conv_filters: int = 2
    group_layers: int = 2
    global_layers: int = 2
    merge: str = "mean"
    input_dropout: float = 0.0
    dropout: float = 0.0

    @nn.compact
    def __call__(self, groups: Sequence[jax.Array], *, deterministic: bool = True
                 ) -> jax.Array:
        """Maps group tensors [B, K_g, d_g] to logits [B, C]."""
        if not groups:
            raise ValueError("RpHGNNEncoder needs at least one group")
        if self.merge not in ("mean", "concat"):
            raise ValueError(f"merge must be 'mean' or 'concat', got {self.merge!r}")
        init = nn.initializers.glorot_normal()  # torch xavier_normal_ in the official code
        outs = []
        for g, x in enumerate(groups):
            if x.ndim != 3:
                raise ValueError(f"group {g} has shape {x.shape}; expected [B, hops, d]")
            x = Dropout(self.input_dropout)(x.astype(jnp.float32), deterministic=deterministic)
            filters = 1 if x.shape[1] == 1 else self.conv_filters
            w = self.param(f"conv{g}", nn.initializers.glorot_normal(in_axis=1, out_axis=0),
                           (filters, x.shape[1]), jnp.float32)
            b = self.param(f"conv{g}_bias", nn.initializers.zeros_init(), (filters,),
                           jnp.float32)
            h = jnp.einsum("fk,bkd->bfd", w, x) + b[None, :, None]
            h = h.reshape(h.shape[0], -1)
            for _ in range(self.group_layers):
                h = Linear(self.hidden, kernel_init=init)(h)
                h = Dropout(self.dropout)(PReLU()(h), deterministic=deterministic)
            outs.append(h)
        h = jnp.mean(jnp.stack(outs), 0) if self.merge == "mean" else jnp.concatenate(outs, -1)
        for i in range(self.global_layers):
            last = i == self.global_layers - 1
            h = Linear(self.num_classes if last else self.hidden, kernel_init=init)(h)
            if not last:
                h = Dropout(self.dropout)(PReLU()(h), deterministic=deterministic)
        return h
