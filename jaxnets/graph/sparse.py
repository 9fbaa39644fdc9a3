"""Sparse node features as `jax.experimental.sparse.BCOO`, and `X @ W` over stored values only.

Planetoid features are scipy CSR matrices (Cora: 2708 x 1433, ~49k nonzeros, 1.3% dense). Kept
sparse, `X @ W` is a gather of W's rows plus a `segment_sum` over the stored values and input
dropout touches the stored values only (PERFORMANCE.md item 1). Measured on the project's 2-core
CPU (Cora shape, W of 1433 x 16, forward + backward of `sum((X W)^2)`, jitted): this kernel
0.66-0.68 ms, BCOO's own `X @ W` 0.65 ms, a dense X 2.0 ms. BCOO is kept as the format (a
standard pytree that other JAX code understands); `spmm` uses its fields directly so the
computation is exactly a gather + segment_sum.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from jax.experimental import sparse as jsparse

from jaxnets.graph.csr import CSRMatrix, csr_propagate
from jaxnets.graph.validate import GraphError

__all__ = ["BCOO", "RowStack", "to_bcoo", "is_sparse", "spmm", "with_data", "row_indices"]

BCOO = jsparse.BCOO


class RowStack(NamedTuple):
    """Node features whose first rows are a sparse matrix and whose last rows are dense.

    E.g. ForwardGNN's SF input: the real nodes' bag-of-words features (sparse, shared by a
    population) over the class virtual nodes' N(0, 1) features (dense, one draw per member).
    `spmm` multiplies the two blocks apart, so the sparse block keeps its O(nnz H) product (and,
    as a `CSRMatrix` under `vmap`, its one wide pass for all members).

    Attributes:
        top: [N, F] `BCOO`, `CSRMatrix` or dense array (rows 0 .. N - 1).
        bottom: dense [M, F] (rows N .. N + M - 1).
    """
    top: Any
    bottom: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        return (self.top.shape[0] + self.bottom.shape[0], self.top.shape[1])

    @property
    def ndim(self) -> int:
        return 2

    @property
    def dtype(self):
        return self.bottom.dtype


def row_indices(x: Any) -> jax.Array:
    """int [nnz] row of each stored value of a 2-D `BCOO` or `CSRMatrix`."""
    if isinstance(x, CSRMatrix):
        return x.structure.receivers_E
    return x.indices[:, 0]


def is_sparse(x: Any) -> bool:
    """Whether `x` is a sparse node-feature matrix: a `BCOO` or a `CSRMatrix`.

    Args:
        x: anything.

    Returns:
        True for a `jax.experimental.sparse.BCOO` or `jaxnets.graph.csr.CSRMatrix`.
    """
    return isinstance(x, (jsparse.BCOO, CSRMatrix))


def to_bcoo(matrix: Any, dtype: Any = jnp.float32) -> jsparse.BCOO:
    """Converts a scipy sparse matrix (any format) or a dense 2-D array to a 2-D `BCOO`.

    Duplicates are summed and the entries sorted row-major (CSR order), so the result is marked
    `indices_sorted=True, unique_indices=True` and `spmm` can tell XLA its rows are sorted.

    Args:
        matrix: scipy sparse matrix or array, or a dense [N, F] array.
        dtype: dtype of the stored values (float32 by default).

    Returns:
        A `BCOO` of shape [N, F] with int32 indices of shape [nnz, 2].
    """
    if scipy.sparse.issparse(matrix):
        csr = scipy.sparse.csr_matrix(matrix)
    else:
        dense = np.asarray(matrix)
        if dense.ndim != 2:
            raise GraphError(f"to_bcoo expects a 2-D matrix, got shape {dense.shape}")
        csr = scipy.sparse.csr_matrix(dense)
    csr.sum_duplicates()
    csr.sort_indices()
    coo = csr.tocoo()
    indices = np.stack([coo.row, coo.col], axis=1).astype(np.int32)
    data = np.asarray(coo.data, dtype=dtype)
    return jsparse.BCOO((jnp.asarray(data), jnp.asarray(indices)), shape=csr.shape,
                        indices_sorted=True, unique_indices=True)


def with_data(x: jsparse.BCOO, data_nnz: jax.Array) -> jsparse.BCOO:
    """The same sparsity pattern as `x` with new stored values (e.g. after dropout).

    Args:
        x: a `BCOO` matrix with nnz stored entries.
        data_nnz: new values, shape `x.data.shape`.

    Returns:
        A `BCOO` with `x`'s indices, shape and sortedness flags and values `data_nnz`.
    """
    if np.shape(data_nnz) != x.data.shape:
        raise GraphError(f"data_nnz has shape {np.shape(data_nnz)} but x stores {x.data.shape}")
    if isinstance(x, CSRMatrix):
        return x._replace(data=data_nnz)
    return jsparse.BCOO((data_nnz, x.indices), shape=x.shape, indices_sorted=x.indices_sorted,
                        unique_indices=x.unique_indices)


def spmm(x_NxF: Any, w_FxH: jax.Array) -> jax.Array:
    """`x @ w` for a dense or sparse `x`; sparse costs O(nnz * H), not O(N * F * H).

    For a 2-D BCOO `x` with entries (i, k, v): `out_i = sum over entries of row i of v * w_k`,
    computed as `segment_sum(v[:, None] * w[k], i)` (PERFORMANCE.md item 1). Gradients flow to
    `w` and to the stored values.

    Args:
        x_NxF: dense [..., F] array, or a 2-D `BCOO`, `CSRMatrix` or `RowStack` of shape [N, F].
        w_FxH: dense [F, H] matrix.

    Returns:
        Dense [..., H] (or [N, H]) product.

    Raises:
        GraphError: if the inner dimensions differ or `x` is a batched/dense-blocked BCOO.
    """
    w = jnp.asarray(w_FxH)
    if w.ndim != 2 or x_NxF.shape[-1] != w.shape[0]:
        raise GraphError(f"x has shape {tuple(x_NxF.shape)} but w has shape {w.shape}; "
                         f"expected w of shape ({x_NxF.shape[-1]}, H)")
    if isinstance(x_NxF, RowStack):
        if x_NxF.bottom.ndim != 2 or x_NxF.bottom.shape[1] != x_NxF.top.shape[1]:
            raise GraphError(f"RowStack blocks must share their width: top {x_NxF.top.shape}, "
                             f"bottom {x_NxF.bottom.shape}")
        return jnp.concatenate([spmm(x_NxF.top, w), jnp.matmul(x_NxF.bottom, w)])
    if not is_sparse(x_NxF):
        return jnp.matmul(jnp.asarray(x_NxF), w)
    if isinstance(x_NxF, CSRMatrix):
        return csr_propagate(w, x_NxF.structure, x_NxF.data.astype(w.dtype))
    x = x_NxF
    if x.ndim != 2 or x.n_batch or x.n_dense:
        raise GraphError(f"spmm supports 2-D BCOO without batch or dense blocks, got shape "
                         f"{x.shape}, n_batch={x.n_batch}, n_dense={x.n_dense}")
    rows, cols = x.indices[:, 0], x.indices[:, 1]
    messages = x.data[:, None].astype(w.dtype) * w[cols]
    return jax.ops.segment_sum(messages, rows, num_segments=x.shape[0],
                               indices_are_sorted=bool(x.indices_sorted))
