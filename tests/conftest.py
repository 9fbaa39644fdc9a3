"""Test setup shared by the whole suite.

Eight fake CPU devices are requested *before* jax is imported anywhere, so that sharding code
paths (seed populations over a device mesh) are exercised on a laptop and in CI.
"""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

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
