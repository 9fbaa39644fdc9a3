"""Test setup shared by the whole suite.

Eight fake CPU devices are requested *before* jax is imported anywhere, so that sharding code
paths (seed populations over a device mesh) are exercised on a laptop and in CI.
"""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib  # noqa: E402
import types  # noqa: E402

import jax  # noqa: E402
import jraph  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_configure(config: pytest.Config) -> None:
    """The default (fast) run compiles with XLA's backend optimisations off.

    Its tests are tiny programs whose time is mostly XLA compilation: at
    ``--xla_backend_optimization_level=0`` the CPU time of the compile-bound smoke tests
    halves (n2n's quick run 58 s -> 29 s of CPU), while the full reproductions
    (``pytest -m slow``), which are compute-bound, keep the optimised backend. The flag only
    changes how LLVM optimises the generated code, not the HLO graph the tests check.
    Set before the first computation creates the CPU backend (importing jax does not).
    """
    if config.getoption("markexpr").strip() != "not slow":
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_backend_optimization_level=0".strip()

_REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> pathlib.Path:
    """The offline data folder: $JAXNETS_DATA, else ../shared/data beside the repository."""
    env = os.environ.get("JAXNETS_DATA")
    root = pathlib.Path(env) if env else _REPO.parent / "shared" / "data"
    if not root.is_dir():
        pytest.fail(
            f"offline data not found at {root}; set JAXNETS_DATA to the shared data folder"
        )
    return root


# Random graphs and dense numpy references shared by the graph-op and layer tests.


def _random_edges(rng, num_nodes, num_edges, self_loops=False):
    """Distinct directed edges (no duplicates) on nodes [0, num_nodes), as int32 arrays."""
    pairs = [(a, b) for a in range(num_nodes) for b in range(num_nodes) if self_loops or a != b]
    pick = rng.choice(len(pairs), size=num_edges, replace=False)
    s, r = np.array([pairs[i] for i in pick], dtype=np.int32).T
    return s, r


def _dense_adjacency(senders, receivers, num_nodes, weight=None):
    """A[i, j] = sum of the weights of edges j -> i (row = receiver), float64."""
    a = np.zeros((num_nodes, num_nodes))
    w = np.ones(len(senders)) if weight is None else np.asarray(weight, np.float64)
    np.add.at(a, (np.asarray(receivers), np.asarray(senders)), w)
    return a


@pytest.fixture
def ref():
    """Helpers computed independently of jaxnets, in numpy."""
    return types.SimpleNamespace(random_edges=_random_edges, dense_adjacency=_dense_adjacency)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def small_graph(rng):
    """12 nodes, 30 distinct directed edges among nodes 0..10, 5 features; node 11 is isolated."""
    s, r = _random_edges(rng, 11, 30)
    x = rng.normal(size=(12, 5)).astype(np.float32)
    return jraph.GraphsTuple(nodes=x, edges=None, senders=s, receivers=r,
                             n_node=np.array([12]), n_edge=np.array([30]), globals=None)
