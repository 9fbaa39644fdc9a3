"""ADPA: Adaptive Directed Pattern Aggregation (Sun et al., ICDE 2024, arXiv 2312.04111).

Three stages, as in the paper and its official code (xkLi-Allen/AMUD-ADPA):

1. **Directed patterns** (host, once): from the loop-free 0/1 adjacency A (`A[i, j] = 1` for the
   arc i -> j) the six 1- and 2-hop patterns `A, A^T, AA, A^T A^T, A A^T, A^T A`; the 2-hop ones
   are products of the loop-free A (entries are walk counts), then I is added to A and A^T only.
   `directed_patterns`.
2. **Normalisation and parameter-free propagation** (host, once): each pattern P becomes
   `D_P^{r-1} P D_P^{-r}` with `D_P` its row sums (`adpa_normalize`, r = 0.42749 by default), and
   the features are propagated `prop_steps` times per pattern, `X_P^(0) = X`,
   `X_P^(t+1) = P (w_t X_P^(t))` with `w_t = ln(lambda / (t + 1)) + 1 + 1e-6` (`propagate_patterns`).
3. **Learned aggregation** (`ADPA`, a flax module): node-adaptive hop attention per pattern
   (`HopAttention`: for node i, `s_t = sigmoid(a_P^T [X_P^(0) || ... || X_P^(T) || X_P^(t)]_i + b)`,
   weights = softmax over t, `Z_P = sum_t weight_t X_P^(t)`), then pattern-level fusion: seven
   branches (X and the six Z_P), each `num_layers` x [Linear -> ReLU -> Dropout], scaled by one
   learnable scalar each (init N(0, 1)), concatenated and mapped to C logits.

The propagated features are the model's input (`AdpaInputs`), so a training epoch touches no
sparse matrix. Shapes: N nodes, F features, P = 6 patterns, T = prop_steps.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import scipy.sparse as sp

from jaxnets.nn.dropout import Dropout

__all__ = ["PATTERNS", "AdpaInputs", "directed_patterns", "adpa_normalize", "hop_weights",
           "propagate_patterns", "adpa_inputs", "HopAttention", "ADPA"]

PATTERNS: tuple[str, ...] = ("A", "At", "AA", "AtAt", "AAt", "AtA")


class AdpaInputs(NamedTuple):
    """What `ADPA` reads: the raw features and every pattern's propagated features.

    Attributes:
      x_NxF: the raw features X (hop 0 of every pattern).
      hops_PxTxNxF: `hops[p, t - 1] = X_{P_p}^(t)` for t = 1..T, patterns in `PATTERNS` order.
    """

    x_NxF: jax.Array
    hops_PxTxNxF: jax.Array


def _adjacency(senders_E: Any, receivers_E: Any, num_nodes: int) -> sp.csr_matrix:
    s = np.asarray(senders_E)
    r = np.asarray(receivers_E)
    if s.ndim != 1 or s.shape != r.shape:
        raise ValueError(f"senders_E and receivers_E must be equal-length 1-D arrays, got "
                         f"{s.shape} and {r.shape}")
    if s.size and (min(s.min(), r.min()) < 0 or max(s.max(), r.max()) >= num_nodes):
        raise ValueError(f"edge endpoints must lie in [0, {num_nodes}), got "
                         f"[{min(s.min(), r.min())}, {max(s.max(), r.max())}]")
    keep = s != r  # the patterns are built from the loop-free adjacency
    a = sp.csr_matrix((np.ones(int(keep.sum()), np.float64), (s[keep], r[keep])),
                      shape=(num_nodes, num_nodes))
    a.data[:] = 1.0  # duplicate arcs count once
    return a


def directed_patterns(senders_E: Any, receivers_E: Any, num_nodes: int
                      ) -> dict[str, sp.csr_matrix]:
    """The six directed patterns of ADPA (paper sec. IV; official `adj_to_directed_ADPA_norm`).

    Args:
      senders_E, receivers_E: int [E]; arc e is `senders_E[e] -> receivers_E[e]`, i.e.
        `A[senders_E[e], receivers_E[e]] = 1`. Self-loops and duplicates are dropped.
      num_nodes: N.

    Returns:
      {"A": A + I, "At": A^T + I, "AA": A A, "AtAt": A^T A^T, "AAt": A A^T, "AtA": A^T A}, each a
      float64 [N, N] CSR matrix (2-hop entries are walk counts of the loop-free A).
    """
    a = _adjacency(senders_E, receivers_E, num_nodes)
    at = a.T.tocsr()
    eye = sp.identity(num_nodes, format="csr")
    patterns = {"A": a + eye, "At": at + eye, "AA": a @ a, "AtAt": at @ at, "AAt": a @ at,
                "AtA": at @ a}
    return {name: patterns[name].tocsr() for name in PATTERNS}


def adpa_normalize(pattern_NxN: sp.spmatrix, r: float) -> sp.csr_matrix:
    """`D^{r-1} P D^{-r}` with D the row sums of P; rows/columns of zero degree become 0.

    r = 1/2 is the symmetric GCN normalisation, r = 0 the row (random-walk) one, r = 1 the column
    one. Official `adj_to_directed_ADPA_norm` (the same D on both sides, also for asymmetric P).
    """
    p = sp.csr_matrix(pattern_NxN, dtype=np.float64)
    if p.shape[0] != p.shape[1]:
        raise ValueError(f"pattern must be square, got shape {p.shape}")
    if not np.isfinite(r):
        raise ValueError(f"r must be finite, got {r}")
    deg = np.asarray(p.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        left = np.where(deg > 0, np.power(deg, r - 1.0), 0.0)
        right = np.where(deg > 0, np.power(deg, -r), 0.0)
    return (sp.diags(left) @ p @ sp.diags(right)).tocsr()


def hop_weights(prop_steps: int, lam: float = 1.0) -> np.ndarray:
    """`w_t = ln(lambda / (t + 1)) + 1 + 1e-6` for t = 0..prop_steps-1 (official `ADPAGraphOp`)."""
    if prop_steps < 1:
        raise ValueError(f"prop_steps must be >= 1, got {prop_steps}")
    if lam <= 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    return np.log(lam / (np.arange(prop_steps) + 1.0)) + 1.0 + 1e-6


def propagate_patterns(patterns: dict[str, sp.spmatrix], x_NxF: Any, prop_steps: int,
                       lam: float = 1.0) -> np.ndarray:
    """Parameter-free weighted propagation `X^(t+1) = P (w_t X^(t))` for every pattern.

    Args:
      patterns: normalised patterns (`PATTERNS` order is used).
      x_NxF: features, dense or scipy sparse.
      prop_steps: T.
      lam: lambda of `hop_weights`.

    Returns:
      float32 [P, T, N, F]: entry [p, t - 1] is `X_{P_p}^(t)`.
    """
    missing = [name for name in PATTERNS if name not in patterns]
    if missing:
        raise ValueError(f"patterns lacks {missing}; build them with directed_patterns")
    x = x_NxF.toarray() if sp.issparse(x_NxF) else np.asarray(x_NxF)
    if x.ndim != 2:
        raise ValueError(f"x_NxF must be 2-D, got shape {x.shape}")
    n = x.shape[0]
    weights = hop_weights(prop_steps, lam)
    out = np.empty((len(PATTERNS), prop_steps, n, x.shape[1]), np.float32)
    for p, name in enumerate(PATTERNS):
        mat = patterns[name]
        if mat.shape != (n, n):
            raise ValueError(f"pattern {name} has shape {mat.shape}, features have N={n}")
        h = x.astype(np.float64)
        for t in range(prop_steps):
            h = mat @ (weights[t] * h)
            out[p, t] = h
    return out


def adpa_inputs(senders_E: Any, receivers_E: Any, x_NxF: Any, *, r: float = 0.42749,
                prop_steps: int = 2, lam: float = 1.0) -> AdpaInputs:
    """Patterns -> normalisation -> propagation, all on the host; the input of `ADPA`."""
    x = x_NxF.toarray() if sp.issparse(x_NxF) else np.asarray(x_NxF)
    patterns = directed_patterns(senders_E, receivers_E, x.shape[0])
    normalized = {name: adpa_normalize(mat, r) for name, mat in patterns.items()}
    hops = propagate_patterns(normalized, x, prop_steps, lam)
    return AdpaInputs(jnp.asarray(x, jnp.float32), jnp.asarray(hops))


def _torch_linear_init(fan_in: int):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch.nn.Linear's default (the official code's)."""
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound,
                                                                    bound)


class HopAttention(nn.Module):
    """Node-adaptive hop attention of one pattern (official `ADPAMessageOp`, "original").

    For node i and hop t: `s_t = sigmoid(a_ref . [X^(0) || ... || X^(T)]_i + a_own . X^(t)_i + b)`
    (one linear map of the concatenation `[X^(0) || ... || X^(T) || X^(t)]`, split in two parts),
    `alpha_i = softmax_t(s)`, output `sum_t alpha_{i,t} X^(t)_i`.
    """

    @nn.compact
    def __call__(self, x_NxF: jax.Array, hops_TxNxF: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Returns (combined [N, F], attention weights [T + 1, N])."""
        num_hops, n, f = hops_TxNxF.shape
        if x_NxF.shape != (n, f):
            raise ValueError(f"x_NxF must have shape ({n}, {f}), got {x_NxF.shape}")
        init = _torch_linear_init((num_hops + 2) * f)
        a_ref = self.param("a_ref", init, (num_hops + 1, f))
        a_own = self.param("a_own", init, (f,))
        bias = self.param("bias", init, ())
        ref_N = x_NxF @ a_ref[0] + jnp.einsum("tnf,tf->n", hops_TxNxF, a_ref[1:])
        own_TxN = jnp.concatenate([(x_NxF @ a_own)[None], hops_TxNxF @ a_own], axis=0)
        alpha_TxN = jax.nn.softmax(jax.nn.sigmoid(ref_N[None] + own_TxN + bias), axis=0)
        combined = alpha_TxN[0][:, None] * x_NxF + jnp.einsum("tn,tnf->nf", alpha_TxN[1:],
                                                              hops_TxNxF)
        return combined, alpha_TxN


class ADPA(nn.Module):
    """ADPA node classifier over precomputed `AdpaInputs` (official `ADPA` +
    `ADPA_Com2LayerGraphConvolution`, attention "original").

    Attributes:
      hidden: branch width (32 in the official configs).
      num_classes: C.
      num_layers: [Linear -> ReLU -> Dropout] blocks per branch (1).
      dropout_rate: dropout after each block (0.64251; applied as a multiple of 1/256).
    """

    hidden: int = 32
    num_classes: int = 2
    num_layers: int = 1
    dropout_rate: float = 0.64251

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple | None, x: AdpaInputs, *,
                 deterministic: bool = True) -> jax.Array:
        """Logits [N, C]. `graph` is unused (the patterns are already in `x`); it is accepted for
        the `jaxnets.nn` calling convention."""
        del graph
        x_NxF, hops = x
        if hops.ndim != 4 or hops.shape[0] != len(PATTERNS) or hops.shape[2:] != x_NxF.shape:
            raise ValueError(f"hops must have shape ({len(PATTERNS)}, T, *{x_NxF.shape}), got "
                             f"{hops.shape}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        branches = [x_NxF]
        for p, name in enumerate(PATTERNS):
            combined, _ = HopAttention(name=f"hop_attention_{name}")(x_NxF, hops[p])
            branches.append(combined)
        outputs = []
        for b, h in enumerate(branches):
            branch = ("X", *PATTERNS)[b]
            for layer in range(self.num_layers):
                fan_in = h.shape[-1]
                h = nn.Dense(self.hidden, kernel_init=_torch_linear_init(fan_in),
                             bias_init=_torch_linear_init(fan_in),
                             name=f"branch_{branch}_{layer}")(h)
                h = Dropout(self.dropout_rate)(nn.relu(h), deterministic=deterministic)
            scale = self.param(f"scale_{branch}", nn.initializers.normal(1.0), ())
            outputs.append(scale * h)
        fused = jnp.concatenate(outputs, axis=-1)
        return nn.Dense(self.num_classes, kernel_init=_torch_linear_init(fused.shape[-1]),
                        bias_init=_torch_linear_init(fused.shape[-1]), name="output")(fused)

