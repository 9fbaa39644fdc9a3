"""Tools that look inside trained networks: representational similarity (CKA, RSA), activation
sparsity (Sparsing Law's CETT and PPL-p% metric), explanation fidelity (module ``fidelity``: classic
and robust Fid+/Fid−), usable information (NetInfoF's probe score) and patching (module
``patching``: activation, attribution and relevance patching, RelP)."""
from jaxnets.explain.activation_sparsity import (SparsityResult, activation_ratio, cett,
                                                 cett_threshold, char_lm_probe, ppl_p_sparsity,
                                                 threshold_candidates)
from jaxnets.explain.fidelity import perturb_explanation, robust_fidelity, top_k_edges
from jaxnets.explain.patching import (activation_patching, attribution_patching, patch_char_lm,
                                      pearson, relevance_patching)
from jaxnets.explain.similarity import layer_mapping, linear_cka, neural_distance, rsa
from jaxnets.explain.usable_information import best_threshold_accuracy, netinfof_score

__all__ = ["activation_patching", "attribution_patching", "patch_char_lm", "pearson",
           "relevance_patching", "SparsityResult", "activation_ratio", "best_threshold_accuracy", "cett",
           "cett_threshold", "char_lm_probe", "layer_mapping", "linear_cka", "netinfof_score",
           "neural_distance", "perturb_explanation", "ppl_p_sparsity", "robust_fidelity", "rsa",
           "threshold_candidates", "top_k_edges"]
