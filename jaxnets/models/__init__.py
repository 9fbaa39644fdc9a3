"""Paper-specific architectures built from the shared pieces (DESIGN.md, "models/")."""
from jaxnets.models.cgs import CGS, CGSConfig, CGSLayer, MPNN, cgs_fixed_point

__all__ = ["CGS", "CGSConfig", "CGSLayer", "MPNN", "cgs_fixed_point"]
