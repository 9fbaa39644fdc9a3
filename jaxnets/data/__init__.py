"""Datasets, synthetic graphs and splits as numpy arrays / ``jraph.GraphsTuple``.

Data root (file-backed loaders take ``root=``): the ``root`` argument, else ``$JAXNETS_DATA``,
else the cache ``$XDG_CACHE_HOME/jaxnets`` (``~/.cache/jaxnets``), into which missing files are
downloaded from their source repositories at pinned commits. Every file's sha256 is checked on
every load; a missing file raises ``DataFileError`` (a ``FileNotFoundError``), a corrupted
one ``CorruptDataFileError`` (a ``DataFileError`` and a ``ValueError``).
"""
from jaxnets.data._files import (
    CorruptDataFileError,
    DataFileError,
    UnverifiedDataWarning,
    cache_dir,
    resolve_root,
)
from jaxnets.data.cora_ml import load_cora_ml
from jaxnets.data.geom_gcn import GEOM_GCN_NAMES, load_geom_gcn
from jaxnets.data.hetero import load_acm
from jaxnets.data.heterophily import heterophilous_names, load_heterophilous
from jaxnets.data.links import LinkSplit, link_split, negative_sampling
from jaxnets.data.movielens import load_movielens_100k
from jaxnets.data.planetoid import PLANETOID_NAMES, load_planetoid
from jaxnets.data.registry import dataset_names, load_dataset
from jaxnets.data.small import load_digits, load_karate
from jaxnets.data.splits import random_node_split, random_node_splits
from jaxnets.data.synthetic import (
    contextual_sbm,
    powerlaw_graph,
    sample_block_edges,
    stochastic_block_model,
)
from jaxnets.data.temporal import load_collegemsg
from jaxnets.data.types import HeteroDataset, NodeDataset, RatingsDataset, TemporalEdges

__all__ = [
    "CorruptDataFileError",
    "DataFileError",
    "GEOM_GCN_NAMES",
    "HeteroDataset",
    "LinkSplit",
    "NodeDataset",
    "PLANETOID_NAMES",
    "RatingsDataset",
    "TemporalEdges",
    "UnverifiedDataWarning",
    "cache_dir",
    "contextual_sbm",
    "dataset_names",
    "heterophilous_names",
    "link_split",
    "load_acm",
    "load_collegemsg",
    "load_cora_ml",
    "load_dataset",
    "load_digits",
    "load_geom_gcn",
    "load_heterophilous",
    "load_karate",
    "load_movielens_100k",
    "load_planetoid",
    "negative_sampling",
    "powerlaw_graph",
    "random_node_split",
    "random_node_splits",
    "resolve_root",
    "sample_block_edges",
    "stochastic_block_model",
]
