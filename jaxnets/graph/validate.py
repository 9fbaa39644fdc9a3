"""Checks on graph inputs: shapes at trace time, node indices whenever they can be seen.

The failure this module exists to prevent: `jax.ops.segment_sum` silently *drops* a message
whose segment id is out of range, and a gather clamps an out-of-range index, so a graph with a
bad sender or receiver trains without complaint and gives a wrong answer.

Design (three tiers, cheapest first):

1. **Shapes and dtypes** are static, so every public op and layer checks them while tracing,
   under `jit` or not: `senders_E` and `receivers_E` are 1-D integer arrays of one length, edge
   weights have that length, node features have `num_nodes` rows.
2. **Index ranges** are checked on the host whenever the indices are concrete: numpy arrays, or
   jax arrays outside a trace (eager calls, and data preparation such as `gcn_preprocess` and
   `pad_graph`). The same holds for `n_node`/`n_edge` sums against the arrays they describe.
3. **Inside `jit`** indices are tracers and cannot be inspected while tracing. Wrap the function
   in `checked(fn)`: it traces `fn` with graph checks switched on, so every op emits a
   `jax.experimental.checkify` check of its index range, functionalises the checks with
   `checkify.checkify`, jits the result and raises `GraphError` on the host after each call.
   Outside `checked` the ops emit nothing, so an ordinary jitted training step pays nothing.

Pattern (pass the *un-jitted* function: `checked` does the jit, and a function jitted elsewhere
may reuse a trace made without checks)::

    loss_fn = checked(lambda params, graph, x: model.apply(params, graph, x).sum())
    loss_fn(params, graph, x)  # GraphError: senders has index 3000 but the graph has 2708 nodes

Validate a data set once where it is built (`check_graph` on concrete arrays is one pass over the
edges) and run a step under `checked` in tests and debugging runs.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import jraph
import numpy as np
from jax.experimental import checkify

__all__ = ["GraphError", "check_graph", "checked", "graph_checks_enabled"]

_CHECKS_ON: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "jaxnets_graph_checks", default=False)


class GraphError(ValueError):
    """A graph, edge list or node-feature array that does not fit together."""


def graph_checks_enabled() -> bool:
    """Whether ops emit `checkify` checks for traced indices.

    Returns:
        True only while a function wrapped by `checked` is being traced.
    """
    return _CHECKS_ON.get()


@contextlib.contextmanager
def _checks_on() -> Iterator[None]:
    token = _CHECKS_ON.set(True)
    try:
        yield
    finally:
        _CHECKS_ON.reset(token)


def _is_concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(x))


def check_edge_index(senders_E: Any, receivers_E: Any, num_nodes: int | None = None, *,
                     names: tuple[str, str] = ("senders", "receivers")) -> None:
    """Checks an edge list: shapes and dtypes always, index range when it can be seen.

    Args:
        senders_E: source node of each edge, shape [E], integer.
        receivers_E: destination node of each edge, shape [E], integer.
        num_nodes: number of nodes N; indices must lie in [0, N). None skips the range check.
        names: argument names used in error messages.

    Raises:
        GraphError: naming the argument and the offending shape, dtype or index.
    """
    for name, idx in zip(names, (senders_E, receivers_E)):
        if len(_shape(idx)) != 1:
            raise GraphError(f"{name} must be a 1-D array of node indices, got shape {_shape(idx)}")
        if not jnp.issubdtype(jnp.result_type(idx), jnp.integer):
            raise GraphError(f"{name} must have an integer dtype, got {jnp.result_type(idx)}")
    if _shape(senders_E) != _shape(receivers_E):
        raise GraphError(f"{names[0]} has shape {_shape(senders_E)} but {names[1]} "
                         f"{_shape(receivers_E)}")
    if num_nodes is not None:
        for name, idx in zip(names, (senders_E, receivers_E)):
            check_index_range(name, idx, num_nodes, what="nodes")


def check_index_range(name: str, idx: Any, size: int, *, what: str = "nodes") -> None:
    """Checks `0 <= idx < size`: on the host if concrete, via checkify inside `checked`.

    Args:
        name: argument name for the message, e.g. "senders".
        idx: integer index array of any shape.
        size: number of valid targets (nodes, segments).
        what: what the indices point at, for the message ("nodes", "segments").

    Raises:
        GraphError: if `idx` is concrete and has an index outside [0, size).
    """
    size = int(size)
    if _is_concrete(idx):
        a = np.asarray(idx)
        if a.size == 0:
            return
        bad = a[(a < 0) | (a >= size)]
        if bad.size:
            raise GraphError(f"{name} has index {int(bad.flat[0])} but the graph has {size} "
                             f"{what} (valid indices are 0..{size - 1}; {bad.size} out of range)")
    elif graph_checks_enabled() and np.prod(np.shape(idx)) > 0:
        lo, hi = jnp.min(idx), jnp.max(idx)
        bad = jnp.where(hi >= size, hi, lo)
        checkify.check((lo >= 0) & (hi < size),
                       f"{name} has index {{}} but the graph has {size} {what} "
                       f"(valid indices are 0..{size - 1})", bad)


def check_rows(name: str, x: Any, num_rows: int, *, what: str = "edges") -> None:
    """Checks that array `x` has `num_rows` leading entries (shape only, trace time)."""
    shape = _shape(x)
    if not shape or shape[0] != num_rows:
        raise GraphError(f"{name} has shape {shape} but the graph has {num_rows} {what} "
                         f"(expected leading dimension {num_rows})")


def _count_check(name: str, counts: Any, total: int, of: str) -> None:
    if counts is None:
        return
    if len(_shape(counts)) != 1:
        raise GraphError(f"{name} must be 1-D (one count per graph), got shape {_shape(counts)}")
    if _is_concrete(counts):
        s = int(np.sum(np.asarray(counts)))
        if s != total:
            raise GraphError(f"{of} has {total} rows but {name} sums to {s}")
    elif graph_checks_enabled():
        s = jnp.sum(counts)
        checkify.check(s == total, f"{of} has {total} rows but {name} sums to {{}}", s)


def _node_rows(nodes: Any) -> int | None:
    leaves = jax.tree_util.tree_leaves(nodes, is_leaf=lambda l: hasattr(l, "indices"))
    return _shape(leaves[0])[0] if leaves else None


def check_graph(graph_or_edges: jraph.GraphsTuple | tuple[Any, Any],
                num_nodes: int | None = None) -> jraph.GraphsTuple | tuple[Any, Any]:
    """Validates a `GraphsTuple` or a `(senders_E, receivers_E)` pair.

    Checks: senders/receivers are 1-D integer arrays of one length; edge features (`edges`) have
    E rows; node features (`nodes`) have N rows; `n_node` sums to N and `n_edge` to E and both have
    one entry per graph; every index lies in [0, N). Shape checks run at trace time; value checks
    run when the arrays are concrete, or inside `checked`.

    Args:
        graph_or_edges: a `jraph.GraphsTuple`, or a pair `(senders_E, receivers_E)`.
        num_nodes: N. If None it is taken from the rows of `nodes`, else from `sum(n_node)` when
            concrete; for a bare edge pair without N only shapes are checked.

    Returns:
        The input, unchanged, so calls can be chained.

    Raises:
        GraphError: naming the argument and the bad values, e.g. "senders has index 3000 but the
            graph has 2708 nodes", "senders has shape (10,) but receivers (9,)", "nodes has 2708
            rows but n_node sums to 2700".
    """
    if not isinstance(graph_or_edges, jraph.GraphsTuple):
        try:
            senders, receivers = graph_or_edges
        except (TypeError, ValueError):
            raise GraphError("check_graph expects a jraph.GraphsTuple or a (senders, receivers) "
                             f"pair, got {type(graph_or_edges).__name__}") from None
        check_edge_index(senders, receivers, num_nodes)
        return graph_or_edges
    g = graph_or_edges
    check_edge_index(g.senders, g.receivers, None)
    num_edges = _shape(g.senders)[0]
    rows = _node_rows(g.nodes)
    if num_nodes is None:
        num_nodes = rows
    elif rows is not None and rows != num_nodes:
        raise GraphError(f"nodes has {rows} rows but num_nodes is {num_nodes}")
    if num_nodes is None and g.n_node is not None and _is_concrete(g.n_node):
        num_nodes = int(np.sum(np.asarray(g.n_node)))
    if g.n_node is not None and g.n_edge is not None and _shape(g.n_node) != _shape(g.n_edge):
        raise GraphError(f"n_node has shape {_shape(g.n_node)} but n_edge {_shape(g.n_edge)} "
                         "(one entry per graph in both)")
    if num_nodes is not None:
        _count_check("n_node", g.n_node, num_nodes, "nodes")
    _count_check("n_edge", g.n_edge, num_edges, "senders")
    for i, leaf in enumerate(jax.tree_util.tree_leaves(g.edges)):
        check_rows("edges" if i == 0 else f"edges leaf {i}", leaf, num_edges, what="edges")
    if num_nodes is not None:
        check_index_range("senders", g.senders, num_nodes)
        check_index_range("receivers", g.receivers, num_nodes)
    return g


def checked(fn: Callable[..., Any], *, jit: bool = True, **jit_kwargs: Any) -> Callable[..., Any]:
    """Wraps `fn` so that bad node indices raise `GraphError` even when `fn` is jitted.

    `fn` is traced with graph checks on: each op in `jaxnets.graph` (and so each layer in
    `jaxnets.nn`) adds a `checkify` check of its index range and node/edge counts. The checks
    are functionalised with `checkify.checkify(errors=checkify.user_checks)`, the result is
    jitted (unless `jit=False`), and after each call the error is raised on the host.

    Args:
        fn: the function to guard. Pass it un-jitted: an inner `jax.jit` traced earlier without
            checks may be reused from its cache and would then not be checked.
        jit: jit the checkified function (default True).
        **jit_kwargs: passed to `jax.jit` (e.g. `static_argnums`).

    Returns:
        A function with `fn`'s signature and outputs that raises `GraphError` on a failed check.
    """

    @functools.wraps(fn)
    def with_checks(*args: Any, **kwargs: Any) -> Any:
        with _checks_on():
            return fn(*args, **kwargs)

    run = checkify.checkify(with_checks, errors=checkify.user_checks)
    if jit:
        run = jax.jit(run, **jit_kwargs)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        err, out = run(*args, **kwargs)
        msg = err.get()
        if msg is not None:
            raise GraphError(msg.replace(" (`check` failed)", "").strip())
        return out

    return wrapper
