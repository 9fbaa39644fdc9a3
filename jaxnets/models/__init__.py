"""Paper-specific architectures built from the shared pieces (DESIGN.md, "models/")."""
from jaxnets.models.cgs import CGS, CGSConfig, CGSLayer, MPNN, cgs_fixed_point
from jaxnets.models.factor_moe import (FactorMoE, balance_loss, charlm_to_moe_params,
                                       factorise_ffn, ffn_flops_per_token,
                                       prior_approximate_loss)
from jaxnets.models.metanetwork import (GraphMetanetwork, MLPGraphSpec, graph_spec,
                                        graph_to_params, params_to_graph, transform_params)

__all__ = ["CGS", "CGSConfig", "CGSLayer", "FactorMoE", "GraphMetanetwork", "MLPGraphSpec",
           "MPNN", "balance_loss", "cgs_fixed_point", "charlm_to_moe_params", "factorise_ffn",
           "ffn_flops_per_token", "graph_spec", "graph_to_params", "params_to_graph",
           "prior_approximate_loss", "transform_params"]
