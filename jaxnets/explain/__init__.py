"""Tools that look inside trained networks: representational similarity (CKA, RSA)."""
from jaxnets.explain.similarity import layer_mapping, linear_cka, neural_distance, rsa

__all__ = ["layer_mapping", "linear_cka", "neural_distance", "rsa"]
