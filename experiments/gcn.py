"""GCN on Cora, public split — the baseline of Kipf & Welling (ICLR 2017).

Setup of the paper (section 5.1 / appendix B): 2 layers, 16 hidden units, ReLU, dropout 0.5,
L2 regularisation 5e-4 on the first layer's weights, Adam with learning rate 0.01, 200 epochs,
row-normalised bag-of-words features, the renormalised propagation D^-1/2 (A + I) D^-1/2 (eq. 8).
The paper stops early on the validation loss (window 10); we keep, per seed, the epoch with the
best validation accuracy and report its test accuracy. Five seeds train together under `vmap`.
Claim: the paper reports 81.5% test accuracy on Cora; we pass when the mean over 5 seeds >= 80.0%.
"""
from __future__ import annotations

import pathlib

import ml_collections
import optax

from experiments import _node_classification as common
from jaxnets import config as config_lib
from jaxnets import graph as graph_lib
from jaxnets import nn as jnn
from jaxnets.experiment import Claim, Paper
from jaxnets.train.supervised import l2_on

PAPER = Paper(
    title="Semi-Supervised Classification with Graph Convolutional Networks",
    authors="Kipf & Welling",
    venue="ICLR 2017",
)
DESCRIPTION = "GCN baseline on Cora's public split (5 seeds under vmap)"
PAPER_ACCURACY = 81.5
PASS_ACCURACY = 80.0


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        dataset="cora",            # any jaxnets.data.load_dataset name; "csbm" needs no download
        data_root="",              # "" = root argument unset: $JAXNETS_DATA, else the download cache
        split=0,                   # which standard split, for datasets with several
        csbm_nodes=2000,           # size of the synthetic contextual SBM graph (dataset="csbm")
        normalize_features=True,
        hidden=16,
        dropout=0.5,
        learning_rate=0.01,
        weight_decay=5e-4,         # on the first layer only, as in the paper
        epochs=200,
        eval_every=1,
        patience=0,                # 0 = train all epochs, select the best validation epoch
        n_seeds=5,
        seed=0,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, ["epochs=30", "n_seeds=2", "eval_every=5"])


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    def model_fn(num_classes: int):
        return jnn.GCN(hidden_features=(config.hidden,), num_classes=num_classes,
                       dropout_rate=config.dropout)

    first_layer_kernel = l2_on(lambda path: path.startswith("GCNConv_0/") and path.endswith("kernel"),
                               config.weight_decay)
    return common.run_population(
        config, pathlib.Path(workdir), model_fn, optax.adam(config.learning_rate),
        graph_transform=graph_lib.gcn_preprocess, l2_penalty=first_layer_kernel,
        title="GCN", paper_accuracy=PAPER_ACCURACY,
    )


def claim(results: dict) -> Claim:
    return common.accuracy_claim(results, pass_accuracy=PASS_ACCURACY, paper=f"{PAPER_ACCURACY}% (Cora)")
