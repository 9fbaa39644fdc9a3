"""Tools that look inside trained networks: representational similarity (CKA, RSA) and
activation sparsity (Sparsing Law's CETT and PPL-p% metric)."""
from jaxnets.explain.activation_sparsity import (SparsityResult, activation_ratio, cett,
                                                 cett_threshold, char_lm_probe, ppl_p_sparsity,
                                                 threshold_candidates)
from jaxnets.explain.similarity import layer_mapping, linear_cka, neural_distance, rsa

__all__ = ["SparsityResult", "activation_ratio", "cett", "cett_threshold", "char_lm_probe",
           "layer_mapping", "linear_cka", "neural_distance", "ppl_p_sparsity", "rsa",
           "threshold_candidates"]
