"""Deep-learning-theory checks (Roberts, Yaida & Hanin, "The Principles of Deep Learning Theory",
arXiv 2106.10165): Gaussian expectations by quadrature, infinite-width kernel recursions and
criticality, the finite-width four-point vertex, and Monte Carlo over random MLP ensembles.

* ``gaussian``: ⟨f⟩_K for one input and for input pairs (Gauss–Hermite).
* ``kernels``: K^{(l)} recursions, susceptibilities χ_∥, χ_⊥, critical initialisations.
* ``finite_width``: V^{(l)} and the 1/n kernel shift; exact moments of scale-invariant nets.
* ``montecarlo``: moments of thousands of random networks under ``vmap``, bootstrap errors.
"""
from jaxnets.theory.finite_width import (
    FiniteWidthKernels, excess_kurtosis_leading, finite_width_recursion,
    scale_invariant_exact_moments)
from jaxnets.theory.gaussian import bivariate_gaussian_expectation, gaussian_expectation, hermite_rule
from jaxnets.theory.kernels import (
    ACTIVATIONS, first_layer_kernel, get_activation, kernel_map, kernel_recursion,
    pair_kernel_map, pair_kernel_recursion, parallel_susceptibility, perpendicular_susceptibility,
    scale_invariant_critical_c_w, zero_fixed_point_critical_c_w)
from jaxnets.theory.montecarlo import (
    EnsembleMoments, MomentEstimates, ensemble_moments, estimate_moments, network_preactivations)

__all__ = [
    "ACTIVATIONS", "EnsembleMoments", "FiniteWidthKernels", "MomentEstimates",
    "bivariate_gaussian_expectation", "ensemble_moments", "estimate_moments",
    "excess_kurtosis_leading", "finite_width_recursion", "first_layer_kernel",
    "gaussian_expectation", "get_activation", "hermite_rule", "kernel_map", "kernel_recursion",
    "network_preactivations", "pair_kernel_map", "pair_kernel_recursion",
    "parallel_susceptibility", "perpendicular_susceptibility", "scale_invariant_critical_c_w",
    "scale_invariant_exact_moments", "zero_fixed_point_critical_c_w",
]
