"""Causal inference on networks: the R-learner with graph-aware nuisances and final stages
(Sairam S, Girdhar & Soni, arXiv 2511.13018) and its baselines."""
from jaxnets.causal.rlearner import (
    NodeGCN, NodeMLP, cross_fit, fit_final_stage, fit_node_model, fold_assignment,
    linear_final_stage, nuisances, r_loss, ridge, t_learner)

__all__ = ["NodeGCN", "NodeMLP", "cross_fit", "fit_final_stage", "fit_node_model",
           "fold_assignment", "linear_final_stage", "nuisances", "r_loss", "ridge", "t_learner"]
