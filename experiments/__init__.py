"""The registry of jaxnets experiments: one module per paper (see `jaxnets.experiment`)."""
from __future__ import annotations

import importlib
from types import ModuleType

from jaxnets.experiment import check_module

# slug -> module name in this package. Order is the order of `jaxnets list` and REPORT.md.
_MODULES: dict[str, str] = {
    "gcn": "gcn",
    "gat": "gat",
}


class UnknownExperimentError(KeyError):
    """No experiment is registered under the requested name."""


def names() -> list[str]:
    """Slugs of all registered experiments."""
    return list(_MODULES)


def get(name: str) -> ModuleType:
    """The experiment module for `name`; raises KeyError listing the valid names."""
    if name not in _MODULES:
        raise UnknownExperimentError(f"unknown experiment {name!r}; known: {', '.join(_MODULES)}")
    module = importlib.import_module(f"experiments.{_MODULES[name]}")
    check_module(module)
    return module
