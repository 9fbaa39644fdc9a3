"""Statistical estimators used by experiments (host-side NumPy/SciPy).

* ``powerlaw``: discrete power-law MLE with x_min selection, bootstrap CIs, KS goodness of fit
  (Clauset, Shalizi & Newman 2009), as used for degree distributions (Klemens 2024).
"""
from jaxnets.stats.powerlaw import (
    PowerLawFit, approximate_alpha, bootstrap, fit, fit_fixed_xmin, goodness_of_fit, sample)

__all__ = ["PowerLawFit", "approximate_alpha", "bootstrap", "fit", "fit_fixed_xmin",
           "goodness_of_fit", "sample"]
