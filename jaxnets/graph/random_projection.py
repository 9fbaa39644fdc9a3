"""Very sparse random projections, and FastRP node embeddings built on them.

FastRP: Chen, Sun, Ye, Li, Zhang & Wang, "Fast and Accurate Network Embeddings via Very Sparse
Random Projection", CIKM 2019. The embedding of a graph with (weighted) adjacency A is

    M   = A            (input_matrix="adj")   or   D^-1 A   (input_matrix="trans", Alg. 1 l. 1)
    N_1 = M . L . R    with L = diag(deg^beta)           (degree-aware projection, Sec. 3.4)
    N_k = M . N_{k-1}  for k = 2..q                      (Alg. 1, lines 3-5; M^k never formed)
    N   = sum_k alpha_k N_k                              (Alg. 1, line 6; optionally each N_k
                                                         row-L2-normalised first)

followed by column standardisation (the official `fastrp_merge` applies
`sklearn.preprocessing.scale`). R is the very sparse random projection of Li, Hastie & Church
(KDD 2006), `sparse_rp_kernel`; RpHGNN (Hu et al., TKDE 2024) reuses that kernel.

Conventions (`jaxnets.graph`): edges are directed `senders_E[e] -> receivers_E[e]`,
`A[i, j] = w_e` for the edge j -> i, messages are summed at the receiver, and the degree is the
weighted in-degree (the row sums of A, which the official code uses for both D and L; for an
undirected graph in- and out-degree agree). A node of degree 0 gets 0 in `D^-1` and in
`deg^beta` unless beta = 0 (the official code would produce inf/NaN there).

Node features (an extension the paper does not have; users of FastRP ask for it, and Neo4j GDS
implements it this way): with `features_NxF`, each node's initial vector is the concatenation
`[R_i | X_i R_x]` of its random vector and a random projection of its features, and the
iteration above runs on that wider matrix. So the feature half of N_k is `M^k L X R_x`, a
propagated (SGC-like) projection of the features, and the output is
`[structure part (dim) | feature part (feature_dim)]`. We chose concatenation over a sum so the
two parts keep their own scale and the structure part is exactly plain FastRP's.

Seed-exactness: everything is a pure function of `key`; the same key gives bit-identical
embeddings. Permutation equivariance holds for a given projection: relabelling nodes by P and
permuting R's rows the same way (`projection_NxD[perm]`) permutes the embedding rows, which is
why `fastrp` accepts an explicit `projection_NxD`.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Literal, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.graph.csr import CSRPropagation, csr_propagate
from jaxnets.graph.validate import GraphError, check_edge_index, check_rows

__all__ = ["sparse_rp_kernel", "fastrp_powers", "fastrp_merge", "fastrp"]

InputMatrix = Literal["adj", "trans"]


def sparse_rp_kernel(key: jax.Array, num_in: int, num_out: int, *, s: float | None = None,
                     scaled: bool = True, dtype: Any = jnp.float32) -> jax.Array:
    """A very sparse random projection matrix (Li, Hastie & Church 2006; FastRP eq. 3).

    Each entry is independently `+c` with probability `1/(2s)`, `-c` with probability `1/(2s)`
    and 0 otherwise, with `c = sqrt(s / num_out)` (`scaled`, the convention of scikit-learn's
    `SparseRandomProjection`, used by the official FastRP code, which keeps squared norms in
    expectation) or `c = sqrt(s)` (unscaled, as written in FastRP eq. 3 and in RpHGNN).
    `s = 1` gives a dense Rademacher matrix, `s = 3` Achlioptas' sparse one.

    Args:
        key: PRNG key; the matrix is a pure function of (key, shape, s).
        num_in: rows (the input dimension; N for FastRP's node-by-node projection).
        num_out: columns (the embedding dimension d).
        s: inverse density, `s >= 1`; default `sqrt(num_in)` (FastRP's and scikit-learn's
            "auto" density `1/sqrt(num_in)`).
        scaled: divide the entries by `sqrt(num_out)`.
        dtype: float dtype of the result.

    Returns:
        R of shape [num_in, num_out] (dense storage; about a `1/s` fraction is nonzero).
    """
    if int(num_in) < 1 or int(num_out) < 1:
        raise GraphError(f"num_in and num_out must be positive, got {num_in} and {num_out}")
    s = math.sqrt(num_in) if s is None else float(s)
    if not s >= 1.0:
        raise GraphError(f"s (inverse density) must be >= 1, got {s}")
    c = math.sqrt(s / num_out) if scaled else math.sqrt(s)
    return _kernel(key, jnp.float32(0.5 / s), jnp.float32(c), shape=(int(num_in), int(num_out)),
                   dtype=jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnames=("shape", "dtype"))
def _kernel(key, half, c, *, shape, dtype):
    u = jax.random.uniform(key, shape, dtype=jnp.float32)
    value = jnp.where(u < half, c, jnp.where(u >= 1.0 - half, -c, jnp.zeros((), jnp.float32)))
    return value.astype(dtype)


def _edge_matrix_weights(receivers_E, num_nodes, edge_weight_E, input_matrix):
    """Per-edge entries of M (A or D^-1 A) and the weighted in-degree."""
    w = jnp.ones(receivers_E.shape, jnp.float32) if edge_weight_E is None else edge_weight_E
    deg_N = jax.ops.segment_sum(w, receivers_E, num_segments=num_nodes)
    if input_matrix == "trans":
        inv = jnp.where(deg_N > 0, 1.0 / jnp.where(deg_N > 0, deg_N, 1.0), 0.0)
        w = w * inv[receivers_E]
    return w, deg_N


def _first_input(senders_E, receivers_E, edge_weight_E, initial_NxD, beta, *, num_nodes,
                 input_matrix):
    """(`L R`, the entries of M per edge): the input of the first product."""
    w_E, deg_N = _edge_matrix_weights(receivers_E, num_nodes, edge_weight_E, input_matrix)
    safe = jnp.where(deg_N > 0, deg_N, 1.0)
    # L = diag(deg^beta); a degree-0 node gets 0 (the official code: inf for beta < 0), or 1
    # when beta = 0 so that L = I exactly.
    scale_N = jnp.where(deg_N > 0, safe ** beta, jnp.where(beta == 0, 1.0, 0.0))
    return initial_NxD * scale_N[:, None].astype(initial_NxD.dtype), w_E.astype(initial_NxD.dtype)


def _apply_m(x_NxD, w_E, senders_E, receivers_E, propagation, *, num_nodes, indices_are_sorted):
    """`M x`: through the CSR kernel given `propagation`, else gather + `segment_sum`."""
    if propagation is not None:
        return csr_propagate(x_NxD, propagation, w_E)
    return jax.ops.segment_sum(x_NxD[senders_E] * w_E[:, None], receivers_E,
                               num_segments=num_nodes, indices_are_sorted=indices_are_sorted)


@functools.partial(jax.jit, static_argnames=("num_nodes", "num_powers", "input_matrix",
                                             "indices_are_sorted"))
def _powers(senders_E, receivers_E, edge_weight_E, initial_NxD, beta, propagation, *, num_nodes,
            num_powers, input_matrix, indices_are_sorted):
    x, w_E = _first_input(senders_E, receivers_E, edge_weight_E, initial_NxD, beta,
                          num_nodes=num_nodes, input_matrix=input_matrix)

    def step(x_NxD, _):
        y = _apply_m(x_NxD, w_E, senders_E, receivers_E, propagation, num_nodes=num_nodes,
                     indices_are_sorted=indices_are_sorted)
        return y, y

    _, powers = jax.lax.scan(step, x, None, length=num_powers)
    return powers


@functools.partial(jax.jit, static_argnames=("num_nodes", "input_matrix", "indices_are_sorted",
                                             "normalize_powers", "standardize"))
def _merged_powers(senders_E, receivers_E, edge_weight_E, initial_NxD, beta, weights_Q,
                   propagation, *, num_nodes, input_matrix, indices_are_sorted, normalize_powers,
                   standardize):
    """`fastrp_merge(fastrp_powers(...), weights_Q)` without the [q, N, D] stack of powers: each
    N_k is added into the sum as it is produced (the official code's loop). Same result up to
    float summation order; one [N, D] buffer instead of q + 1."""
    x, w_E = _first_input(senders_E, receivers_E, edge_weight_E, initial_NxD, beta,
                          num_nodes=num_nodes, input_matrix=input_matrix)
    weights_Q = weights_Q.astype(x.dtype)
    out = None
    for k in range(weights_Q.shape[0]):       # q is small and static: unrolled
        x = _apply_m(x, w_E, senders_E, receivers_E, propagation, num_nodes=num_nodes,
                     indices_are_sorted=indices_are_sorted)
        term = weights_Q[k] * (_row_l2_normalize(x) if normalize_powers else x)
        out = term if out is None else out + term
    return _standardize_columns(out) if standardize else out


def fastrp_powers(senders_E: Any, receivers_E: Any, num_nodes: int, projection_NxD: Any, *,
                  num_powers: int, edge_weight_E: Any = None, input_matrix: InputMatrix = "trans",
                  beta: float | None = None, features_NxF: Any = None,
                  feature_projection_FxK: Any = None,
                  indices_are_sorted: bool = False,
                  propagation: CSRPropagation | None = None) -> jax.Array:
    """The FastRP power embeddings `N_k = M^k L R`, k = 1..q (FastRP Alg. 1, lines 1-5).

    One jitted call: `L R` once, then `q` sparse products `M x` as a gather over `senders_E`
    and a `segment_sum` over `receivers_E`, in a `lax.scan`; or, given `propagation`
    (`csr_propagation(senders_E, receivers_E, N)`, built once on the host), through XLA's CPU
    CSR kernel (`jaxnets.graph.csr`; several times faster on CPU, same result).

    Args:
        senders_E: int [E].
        receivers_E: int [E].
        num_nodes: N.
        projection_NxD: R, shape [N, D] (e.g. `sparse_rp_kernel(key, N, D)`).
        num_powers: q >= 1.
        edge_weight_E: optional positive float [E] (the entries of A); 1 if None.
        input_matrix: "trans" for `M = D^-1 A` (the paper's choice) or "adj" for `M = A`.
        beta: exponent of the degree scaling `L = diag(deg^beta)` (called `alpha` in the official
            code; the paper's Sec. 3.4); None or 0 for `L = I`.
        features_NxF: optional node features X, shape [N, F]; then the initial matrix is
            `[R | X R_x]` (see the module docstring).
        feature_projection_FxK: R_x, shape [F, K]; required with `features_NxF`.
        indices_are_sorted: promise that `receivers_E` is sorted (a hint to XLA).
        propagation: optional CSR structure of this edge list (see above).

    Returns:
        powers of shape [q, N, D] (or [q, N, D + K] with features).

    Raises:
        GraphError: on mismatched shapes, bad options, or concrete indices out of range.
    """
    r, edge_weight_E = _checked_inputs(senders_E, receivers_E, num_nodes, projection_NxD,
                                       num_powers=num_powers, edge_weight_E=edge_weight_E,
                                       input_matrix=input_matrix, features_NxF=features_NxF,
                                       feature_projection_FxK=feature_projection_FxK,
                                       propagation=propagation)
    return _powers(jnp.asarray(senders_E), jnp.asarray(receivers_E), edge_weight_E, r,
                   jnp.asarray(0.0 if beta is None else beta, r.dtype), propagation,
                   num_nodes=int(num_nodes),
                   num_powers=int(num_powers), input_matrix=input_matrix,
                   indices_are_sorted=bool(indices_are_sorted))


def _checked_inputs(senders_E, receivers_E, num_nodes, projection_NxD, *, num_powers,
                    edge_weight_E, input_matrix, features_NxF, feature_projection_FxK,
                    propagation) -> tuple[jax.Array, jax.Array | None]:
    """Validates `fastrp_powers`' arguments; returns the initial matrix R (or `[R | X R_x]`)
    and the edge weights as arrays."""
    check_edge_index(senders_E, receivers_E, num_nodes)
    num_edges = np.shape(senders_E)[0]
    if input_matrix not in ("adj", "trans"):
        raise GraphError(f"input_matrix must be 'adj' or 'trans', got {input_matrix!r}")
    if int(num_powers) < 1:
        raise GraphError(f"num_powers must be >= 1, got {num_powers}")
    r = jnp.asarray(projection_NxD)
    if r.ndim != 2 or r.shape[0] != num_nodes:
        raise GraphError(f"projection_NxD has shape {r.shape}; expected [{num_nodes}, D]")
    if not jnp.issubdtype(r.dtype, jnp.floating):
        raise GraphError(f"projection_NxD must be a float array, got {r.dtype}")
    if edge_weight_E is not None:
        check_rows("edge_weight_E", edge_weight_E, num_edges)
        if np.ndim(edge_weight_E) != 1:
            raise GraphError(f"edge_weight_E must be 1-D, got shape {np.shape(edge_weight_E)}")
        edge_weight_E = jnp.asarray(edge_weight_E, r.dtype)
    if (features_NxF is None) != (feature_projection_FxK is None):
        raise GraphError("features_NxF and feature_projection_FxK go together: pass both or "
                         "neither")
    if features_NxF is not None:
        x = jnp.asarray(features_NxF, r.dtype)
        rx = jnp.asarray(feature_projection_FxK, r.dtype)
        if x.ndim != 2 or x.shape[0] != num_nodes:
            raise GraphError(f"features_NxF has shape {x.shape}; expected [{num_nodes}, F]")
        if rx.ndim != 2 or rx.shape[0] != x.shape[1]:
            raise GraphError(f"feature_projection_FxK has shape {rx.shape}; expected "
                             f"[{x.shape[1]}, K] for features of shape {x.shape}")
        r = jnp.concatenate([r, x @ rx], axis=1)
    if propagation is not None and (propagation.num_rows != num_nodes
                                    or propagation.num_edges != num_edges):
        raise GraphError(f"propagation is for {propagation.num_rows} nodes and "
                         f"{propagation.num_edges} edges, not {num_nodes} and {num_edges}")
    return r, edge_weight_E


def _row_l2_normalize(x):
    norm = jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True))
    return x / jnp.where(norm > 0, norm, 1.0)  # zero rows stay zero (sklearn `normalize`)


def _standardize_columns(x_NxD):
    """`sklearn.preprocessing.scale`: mean 0, std 1 (ddof 0) per column; constant columns are
    only centred."""
    mean = jnp.mean(x_NxD, axis=0, keepdims=True)
    centred = x_NxD - mean
    std = jnp.sqrt(jnp.mean(centred * centred, axis=0, keepdims=True))
    return centred / jnp.where(std > 0, std, 1.0)


@functools.partial(jax.jit, static_argnames=("normalize_powers", "standardize"))
def _merge(powers_QxNxD, weights_Q, *, normalize_powers, standardize):
    p = _row_l2_normalize(powers_QxNxD) if normalize_powers else powers_QxNxD
    out = jnp.einsum("q,qnd->nd", weights_Q.astype(p.dtype), p)
    return _standardize_columns(out) if standardize else out


def fastrp_merge(powers_QxNxD: Any, weights: Sequence[float] | Any = None, *,
                 normalize_powers: bool = False, standardize: bool = True) -> jax.Array:
    """The weighted combination `N = sum_k alpha_k N_k` (FastRP Alg. 1, line 6), as the official
    `fastrp_merge`: optional row-L2 normalisation of each power first, column standardisation
    after; `weights=None` concatenates the powers along the feature axis instead (standardised
    column by column likewise).

    Args:
        powers_QxNxD: the output of `fastrp_powers`.
        weights: alpha_1..alpha_q, length q (a sequence or a float array, which may be traced);
            None to concatenate.
        normalize_powers: row-L2-normalise each N_k before merging.
        standardize: standardise each output column (mean 0, std 1 over nodes).

    Returns:
        The embedding, [N, D] (or [N, q D] when concatenating).
    """
    p = jnp.asarray(powers_QxNxD)
    if p.ndim != 3:
        raise GraphError(f"powers_QxNxD must have shape [q, N, D], got {p.shape}")
    if weights is None:
        out = jnp.concatenate(list(_row_l2_normalize(p) if normalize_powers else p), axis=1)
        return _standardize_columns(out) if standardize else out
    w = jnp.asarray(weights, p.dtype)
    if w.shape != (p.shape[0],):
        raise GraphError(f"weights has shape {w.shape} but there are {p.shape[0]} powers "
                         f"(expected shape ({p.shape[0]},))")
    return _merge(p, w, normalize_powers=bool(normalize_powers), standardize=bool(standardize))


def fastrp(key: jax.Array | None, senders_E: Any, receivers_E: Any, num_nodes: int, *,
           dim: int = 512, weights: Sequence[float] = (1.0, 1.0, 7.81, 45.28),
           input_matrix: InputMatrix = "trans", beta: float | None = -0.628,
           normalize_powers: bool = False, standardize: bool = True, s: float | None = None,
           edge_weight_E: Any = None, features_NxF: Any = None, feature_dim: int = 0,
           projection_NxD: Any = None, feature_projection_FxK: Any = None,
           indices_are_sorted: bool = False,
           propagation: CSRPropagation | None = None) -> jax.Array:
    """FastRP node embeddings (Chen et al., CIKM 2019, Alg. 1), seed-exact.

    Equal to `fastrp_merge(fastrp_powers(...), weights)` but in one jitted call that adds each
    power N_k into the weighted sum as it is produced, as the official loop does, so the
    [q, N, D] stack of powers is never stored (on a 1.2M-edge graph at d = 128 that stack and its
    copies were a quarter of the time). Use `fastrp_powers` + `fastrp_merge` to try several
    weightings of the same powers.

    Defaults are the official BlogCatalog configuration (dim 512, `trans`, weights
    [1, 1, 7.81, 45.28], beta = -0.628, no per-power normalisation).

    Args:
        key: PRNG key for R (and R_x); may be None when both projections are given.
        senders_E: int [E].
        receivers_E: int [E].
        num_nodes: N.
        dim: d, the width of R (ignored when `projection_NxD` is given).
        weights: alpha_1..alpha_q; q = len(weights).
        input_matrix: "trans" (`D^-1 A`) or "adj" (`A`).
        beta: degree-scaling exponent (None: no scaling).
        normalize_powers: row-L2-normalise each power before merging.
        standardize: standardise the output columns (as the official code).
        s: inverse density of R (default `sqrt(N)`); of R_x default `sqrt(F)`.
        edge_weight_E: optional positive float [E].
        features_NxF: optional node features (see the module docstring).
        feature_dim: K, the width of the feature part (with `features_NxF`, when
            `feature_projection_FxK` is not given).
        projection_NxD: an explicit R of shape [N, d] (e.g. a permuted one).
        feature_projection_FxK: an explicit R_x of shape [F, K].
        indices_are_sorted: promise that `receivers_E` is sorted.
        propagation: optional `csr_propagation(senders_E, receivers_E, N)`: the products run
            through the CPU CSR kernel (see `fastrp_powers`).

    Returns:
        The embedding of shape [N, d] (or [N, d + K] with features).
    """
    if projection_NxD is None or (features_NxF is not None and feature_projection_FxK is None):
        if key is None:
            raise GraphError("fastrp needs a key unless projection_NxD (and, with features, "
                             "feature_projection_FxK) are given")
        k_node, k_feat = jax.random.split(key)
    if projection_NxD is None:
        projection_NxD = sparse_rp_kernel(k_node, int(num_nodes), int(dim), s=s)
    if features_NxF is not None and feature_projection_FxK is None:
        if int(feature_dim) < 1:
            raise GraphError(f"feature_dim must be >= 1 with features_NxF, got {feature_dim}")
        num_features = int(np.shape(features_NxF)[-1])
        feature_projection_FxK = sparse_rp_kernel(k_feat, num_features, int(feature_dim))
    r, edge_weight_E = _checked_inputs(senders_E, receivers_E, num_nodes, projection_NxD,
                                       num_powers=len(weights), edge_weight_E=edge_weight_E,
                                       input_matrix=input_matrix, features_NxF=features_NxF,
                                       feature_projection_FxK=feature_projection_FxK,
                                       propagation=propagation)
    return _merged_powers(jnp.asarray(senders_E), jnp.asarray(receivers_E), edge_weight_E, r,
                          jnp.asarray(0.0 if beta is None else beta, r.dtype),
                          jnp.asarray(weights, r.dtype), propagation, num_nodes=int(num_nodes),
                          input_matrix=input_matrix, indices_are_sorted=bool(indices_are_sorted),
                          normalize_powers=bool(normalize_powers),
                          standardize=bool(standardize))
