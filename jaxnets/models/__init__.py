"""Paper-specific architectures built from the shared pieces (DESIGN.md, "models/")."""
from jaxnets.models.cgs import CGS, CGSConfig, CGSLayer, MPNN, cgs_fixed_point
from jaxnets.models.metanetwork import (GraphMetanetwork, MLPGraphSpec, graph_spec,
                                        graph_to_params, params_to_graph, transform_params)

__all__ = ["CGS", "CGSConfig", "CGSLayer", "GraphMetanetwork", "MLPGraphSpec", "MPNN",
           "cgs_fixed_point", "graph_spec", "graph_to_params", "params_to_graph",
           "transform_params"]
