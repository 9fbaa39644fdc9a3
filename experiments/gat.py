"""GAT on Cora, public split — Veličković et al., "Graph Attention Networks" (ICLR 2018).

Setup of the paper (section 3.3, transductive): first layer 8 heads x 8 features with ELU, output
layer 1 head of C classes (mean over heads), dropout 0.6 on both layers' inputs and on the
normalised attention coefficients, L2 5e-4, Adam with learning rate 0.005, up to 1000 epochs with
patience 100. We keep, per seed, the epoch with the best validation accuracy.
Claim: the paper reports 83.0 ± 0.7% on Cora; we pass when the mean over 5 seeds >= 81.5%.
"""
from __future__ import annotations

import pathlib

import ml_collections
import optax

from experiments import _node_classification as common
from jaxnets import config as config_lib
from jaxnets import nn as jnn
from jaxnets.experiment import Claim, Paper
from jaxnets.train.supervised import l2_on

PAPER = Paper(title="Graph Attention Networks", authors="Veličković et al.", venue="ICLR 2018")
DESCRIPTION = "GAT baseline on Cora's public split (5 seeds under vmap)"
PAPER_ACCURACY = 83.0
PASS_ACCURACY = 81.5


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        dataset="cora",
        data_root="",
        split=0,
        csbm_nodes=2000,
        normalize_features=True,
        hidden=8,                  # features per head
        heads=8,
        dropout=0.6,
        learning_rate=0.005,
        weight_decay=5e-4,         # on all weights but biases, as in the reference code
        epochs=1000,
        eval_every=1,
        patience=100,
        n_seeds=5,
        seed=0,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, ["epochs=60", "n_seeds=2", "eval_every=5", "patience=0"])


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    def model_fn(num_classes: int):
        return jnn.GAT(hidden_features=(config.hidden,), heads=(config.heads,),
                       num_classes=num_classes, dropout_rate=config.dropout,
                       attention_dropout=config.dropout)

    # The reference code regularises every weight except the biases.
    all_weights = l2_on(lambda path: not path.endswith("bias"), config.weight_decay)
    return common.run_population(
        config, pathlib.Path(workdir), model_fn, optax.adam(config.learning_rate),
        l2_penalty=all_weights, title="GAT", paper_accuracy=PAPER_ACCURACY,
    )


def claim(results: dict) -> Claim:
    return common.accuracy_claim(results, pass_accuracy=PASS_ACCURACY, paper=f"{PAPER_ACCURACY} ± 0.7% (Cora)")
