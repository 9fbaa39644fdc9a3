"""Node-classification datasets by name: ``load_dataset("cora")``, ``load_dataset("csbm", ...)``.

Names (case-insensitive):

* ``cora``, ``citeseer`` (Planetoid, public split); ``cora_ml`` (directed Cora-ML);
* ``geom-gcn/<name>`` for cornell, texas, wisconsin, film (alias actor), chameleon, squirrel;
* ``heterophilous/<file>`` for every file of Platonov et al. 2023 (``heterophilous_names()``);
* bare ``texas``, ``wisconsin``, ``film``/``actor``, ``chameleon``, ``squirrel``: the Geom-GCN
  version (identical, after symmetrisation, to the Platonov et al. file);
* bare ``minesweeper``, ``tolokers``, ``roman_empire``, ``amazon_ratings``, ``questions`` and the
  ``*_filtered`` / ``*_directed`` variants: the Platonov et al. file;
* ``karate``; synthetic ``csbm``, ``sbm``, ``powerlaw`` (keyword arguments are passed on, with
  small defaults for the required ones).

Bare ``cornell`` is refused: the Geom-GCN and the Platonov et al. "Cornell" are different datasets
(the former carries Texas's features and labels), so the caller must pick one.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from jaxnets.data.cora_ml import load_cora_ml
from jaxnets.data.geom_gcn import GEOM_GCN_NAMES, load_geom_gcn
from jaxnets.data.heterophily import heterophilous_names, load_heterophilous
from jaxnets.data.planetoid import PLANETOID_NAMES, load_planetoid
from jaxnets.data.small import load_karate
from jaxnets.data.synthetic import contextual_sbm, powerlaw_graph, stochastic_block_model
from jaxnets.data.types import NodeDataset

_SYNTHETIC_DEFAULTS: dict[str, tuple[Callable[..., NodeDataset], dict[str, Any]]] = {
    "csbm": (contextual_sbm, dict(num_nodes=1000, num_classes=2, avg_degree=5.0, homophily=0.8,
                                  num_features=500, feature_signal=1.0, seed=0)),
    "sbm": (stochastic_block_model, dict(block_sizes=(250, 250, 250, 250), p_in=0.02,
                                         p_out=0.002, seed=0)),
    "powerlaw": (powerlaw_graph, dict(num_nodes=1000, m=3, seed=0)),
}
_SAME_IN_BOTH = ("texas", "wisconsin", "film", "actor", "chameleon", "squirrel")


def dataset_names() -> tuple[str, ...]:
    """Every name ``load_dataset`` accepts (aliases included)."""
    hetero = heterophilous_names()
    bare_hetero = tuple(n for n in hetero if n not in _SAME_IN_BOTH and n != "cornell")
    return (*PLANETOID_NAMES, "cora_ml", *(f"geom-gcn/{n}" for n in GEOM_GCN_NAMES),
            "geom-gcn/actor", *(f"heterophilous/{n}" for n in hetero), *_SAME_IN_BOTH,
            *bare_hetero, "karate", *_SYNTHETIC_DEFAULTS)


def load_dataset(name: str, root: str | os.PathLike[str] | None = None,
                 **kwargs: Any) -> NodeDataset:
    """Loads a node-classification dataset by name (see the module docstring for the names).

    Args:
      name: dataset name, case-insensitive.
      root: data root for file-backed datasets (ignored by karate and the synthetic ones).
      **kwargs: passed to the underlying loader or generator (e.g. ``split="random"`` for
        Planetoid, ``homophily=0.2`` for ``csbm``).

    Returns:
      A ``NodeDataset``. Non-node datasets have their own loaders: ``load_movielens_100k``,
      ``load_acm``, ``load_collegemsg``, ``load_digits``.

    Raises:
      ValueError: unknown name (the message lists the valid ones), or bare ``cornell``.
    """
    key = name.strip().lower()
    if key in PLANETOID_NAMES:
        return load_planetoid(key, root, **kwargs)
    if key in ("cora_ml", "cora-ml", "coraml"):
        return load_cora_ml(root, **kwargs)
    if key.startswith("geom-gcn/"):
        return load_geom_gcn(key.split("/", 1)[1], root, **kwargs)
    if key.startswith("heterophilous/"):
        return load_heterophilous(key.split("/", 1)[1], root, **kwargs)
    if key == "cornell":
        raise ValueError("'cornell' is ambiguous: 'geom-gcn/cornell' is the usual Geom-GCN/PyG "
                         "Cornell (whose feature/label file is a copy of Texas's), "
                         "'heterophilous/cornell' is Platonov et al.'s different file; "
                         "name one of them")
    if key in _SAME_IN_BOTH:
        return load_geom_gcn(key, root, **kwargs)
    if key in heterophilous_names():
        return load_heterophilous(key, root, **kwargs)
    if key == "karate":
        return load_karate(**kwargs)
    if key in _SYNTHETIC_DEFAULTS:
        fn, defaults = _SYNTHETIC_DEFAULTS[key]
        return fn(**{**defaults, **kwargs})
    raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(dataset_names())}")
