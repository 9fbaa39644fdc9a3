"""Paper-specific architectures built from the shared pieces (DESIGN.md, "models/")."""
from jaxnets.models.cgs import CGS, CGSConfig, CGSLayer, MPNN, cgs_fixed_point
from jaxnets.models.factor_moe import (FactorMoE, balance_loss, charlm_to_moe_params,
                                       factorise_ffn, ffn_flops_per_token,
                                       prior_approximate_loss)
from jaxnets.models.gae import GAE, train_link_predictor
from jaxnets.models.gte import gte_closed_form, gte_user_scores
from jaxnets.models.metanetwork import (GraphMetanetwork, MLPGraphSpec, graph_spec,
                                        graph_to_params, params_to_graph, transform_params)
from jaxnets.models.ncn import NCNEncoder, NCNModel, NCNPredictor
from jaxnets.models.netinfof import build_backbone, fit_act_grid, probe_backbone
from jaxnets.models.recsys import LightGCN, Sheaf4Rec, matrix_factorization
from jaxnets.models.rphgnn import RpHGNNEncoder, rphgnn_precompute

__all__ = ["CGS", "CGSConfig", "CGSLayer", "FactorMoE", "GAE", "GraphMetanetwork", "LightGCN",
           "MLPGraphSpec", "MPNN", "NCNEncoder", "NCNModel", "NCNPredictor", "RpHGNNEncoder",
           "Sheaf4Rec", "balance_loss", "build_backbone", "fit_act_grid", "gte_closed_form",
           "gte_user_scores", "matrix_factorization", "probe_backbone", "rphgnn_precompute",
           "train_link_predictor", "cgs_fixed_point", "charlm_to_moe_params", "factorise_ffn",
           "ffn_flops_per_token", "graph_spec", "graph_to_params", "params_to_graph",
           "prior_approximate_loss", "transform_params"]
