"""Discrete power-law fits with x_min selection, bootstrap CIs and a KS goodness-of-fit test.

The estimator of Clauset, Shalizi & Newman, "Power-law distributions in empirical data" (SIAM
Review 51, 2009; "CSN" below), which Klemens ("Measures of the Capital Network of the U.S.
Economy", 2024) applies to in- and out-degrees of the owner -> subsidiary network:

* model (CSN eq. 2.4): ``p(x) = x^-α / ζ(α, x_min)`` for integers ``x >= x_min``, with the
  Hurwitz zeta ``ζ(α, q) = Σ_{n>=0} (n + q)^-α``;
* exact MLE (CSN eq. 3.5): maximise ``L(α) = -n ln ζ(α, x_min) - α Σ ln x_i`` (numerically; the
  closed-form approximation ``1 + n / Σ ln(x_i / (x_min - ½))`` (eq. 3.7) is ``approximate_alpha``);
* x_min (CSN §3.3): the candidate minimising the Kolmogorov–Smirnov distance between the tail's
  empirical CDF and the fitted one;
* uncertainty (CSN §3.4): nonparametric bootstrap of the whole procedure, x_min selection
  included; goodness of fit (CSN §4.1): the semi-parametric bootstrap p-value of the KS distance.

Everything is host-side NumPy/SciPy: degree sequences are data-pipeline quantities, and the work
is a few thousand scalar zeta evaluations.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy import optimize, special

_ALPHA_BOUNDS = (1.0001, 12.0)
_TABLE = 100_000  # exact inverse-CDF table length when sampling; beyond it, CSN eq. D.6


@dataclasses.dataclass(frozen=True)
class PowerLawFit:
    """A fitted discrete power law.

    Attributes:
      alpha: exponent α̂.
      xmin: lower cut-off x̂_min.
      n_tail: number of observations ``>= xmin``.
      n: number of observations in all.
      ks: KS distance between the tail's empirical and fitted CDFs.
      loglik: tail log-likelihood at α̂.
    """

    alpha: float
    xmin: int
    n_tail: int
    n: int
    ks: float
    loglik: float


def _as_counts(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"need a non-empty 1-d array of observations, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError("a discrete power law needs integer observations")
    return arr.astype(np.int64)


def approximate_alpha(x: Any, xmin: int) -> float:
    """CSN eq. (3.7): ``1 + n / Σ ln(x_i / (x_min - ½))`` over the tail ``x_i >= x_min``."""
    tail = _as_counts(x)
    tail = tail[tail >= xmin]
    return float(1.0 + tail.size / np.sum(np.log(tail / (xmin - 0.5))))


def _mle_alpha(n: int, sum_log: float, xmin: int) -> tuple[float, float]:
    """α maximising ``-n ln ζ(α, x_min) - α Σ ln x`` and the maximum (CSN eq. 3.5)."""

    def negloglik(alpha: float) -> float:
        return n * np.log(special.zeta(alpha, xmin)) + alpha * sum_log

    res = optimize.minimize_scalar(negloglik, bounds=_ALPHA_BOUNDS, method="bounded",
                                   options={"xatol": 1e-7})
    return float(res.x), float(-res.fun)


def _tail_ks(tail_sorted: np.ndarray, alpha: float, xmin: int) -> float:
    """KS distance between the tail's empirical CDF and the fitted CDF, over the tail's support."""
    values, counts = np.unique(tail_sorted, return_counts=True)
    emp = np.cumsum(counts) / tail_sorted.size
    fitted = 1.0 - special.zeta(alpha, values + 1.0) / special.zeta(alpha, xmin)
    # The empirical CDF jumps at each support value: compare just before and at the jump.
    emp_before = np.concatenate([[0.0], emp[:-1]])
    fitted_before = 1.0 - special.zeta(alpha, values.astype(np.float64)) / special.zeta(alpha, xmin)
    return float(max(np.max(np.abs(emp - fitted)), np.max(np.abs(emp_before - fitted_before))))


def fit_fixed_xmin(x: Any, xmin: int) -> PowerLawFit:
    """Exact discrete MLE of α for a given ``x_min`` (CSN eq. 3.5)."""
    data = _as_counts(x)
    if xmin < 1:
        raise ValueError(f"xmin must be >= 1, got {xmin}")
    tail = np.sort(data[data >= xmin])
    if tail.size < 2 or tail.min() == tail.max():
        raise ValueError(f"need at least two distinct observations >= xmin={xmin}")
    alpha, loglik = _mle_alpha(tail.size, float(np.sum(np.log(tail))), xmin)
    return PowerLawFit(alpha, int(xmin), int(tail.size), int(data.size),
                       _tail_ks(tail, alpha, xmin), loglik)


def fit(x: Any, *, xmin: int | None = None, min_tail: int = 50,
        max_candidates: int = 200) -> PowerLawFit:
    """Fits a discrete power law, choosing ``x_min`` by minimal KS distance (CSN §3.3).

    Args:
      x: observations (positive integers; zeros and negatives are ignored, as a power law cannot
        reach them — degree sequences usually hold zeros).
      xmin: fix ``x_min`` instead of selecting it.
      min_tail: candidates must leave at least this many observations in the tail.
      max_candidates: at most this many candidate values (the smallest distinct values).

    Returns:
      The ``PowerLawFit`` with the smallest KS distance.
    """
    data = _as_counts(x)
    data = data[data >= 1]
    if data.size < 2:
        raise ValueError("need at least two positive observations")
    if xmin is not None:
        return fit_fixed_xmin(data, xmin)
    values = np.unique(data)
    tail_sizes = data.size - np.searchsorted(np.sort(data), values, side="left")
    candidates = values[(tail_sizes >= min_tail) & (values < values[-1])][:max_candidates]
    if candidates.size == 0:
        candidates = values[:1]
    fits = [fit_fixed_xmin(data, int(c)) for c in candidates]
    return min(fits, key=lambda f: f.ks)


def sample(alpha: float, xmin: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draws from the discrete power law exactly up to ``x_min + 1e5``, then by CSN eq. (D.6)."""
    if alpha <= 1.0:
        raise ValueError(f"alpha must exceed 1, got {alpha}")
    xs = np.arange(xmin, xmin + _TABLE, dtype=np.float64)
    survival = special.zeta(alpha, xs) / special.zeta(alpha, xmin)  # P(X >= x), decreasing
    u = rng.random(size)
    u = np.where(u == 0.0, np.finfo(float).tiny, u)
    # X = largest x with P(X >= x) >= u.
    idx = np.searchsorted(-survival, -u, side="right") - 1
    exact = xmin + idx
    far = np.floor((xmin - 0.5) * u ** (-1.0 / (alpha - 1.0)) + 0.5)
    return np.where(u < survival[-1], np.maximum(far, xmin + _TABLE), exact).astype(np.int64)


def bootstrap(x: Any, *, num_resamples: int = 200, seed: int, level: float = 0.95,
              refit_xmin: bool = True, min_tail: int = 50) -> dict[str, float]:
    """Nonparametric bootstrap of α̂ (CSN §3.4): resample, refit (x_min too), percentile CI.

    Args:
      x: observations.
      num_resamples: bootstrap replicates.
      seed: numpy seed.
      level: CI coverage.
      refit_xmin: select x_min again in every replicate (CSN); False fixes it at the fit's.
      min_tail: as in ``fit``.

    Returns:
      ``{"alpha", "xmin", "ci_low", "ci_high", "std"}``.
    """
    data = _as_counts(x)
    data = data[data >= 1]
    base = fit(data, min_tail=min_tail)
    rng = np.random.default_rng(seed)
    alphas = np.empty(num_resamples)
    for b in range(num_resamples):  # replicates are independent refits of scalar optimisations
        resampled = data[rng.integers(0, data.size, data.size)]
        alphas[b] = fit(resampled, xmin=None if refit_xmin else base.xmin,
                        min_tail=min_tail).alpha
    lo, hi = np.quantile(alphas, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"alpha": base.alpha, "xmin": float(base.xmin), "ci_low": float(lo),
            "ci_high": float(hi), "std": float(alphas.std(ddof=1))}


def goodness_of_fit(x: Any, *, num_sims: int = 100, seed: int, min_tail: int = 50) -> float:
    """CSN §4.1 p-value: the fraction of synthetic data sets fitting worse (KS) than the data.

    Each synthetic set has the data's size: with probability ``n_tail / n`` a draw comes from the
    fitted power law, otherwise uniformly from the observations below ``x_min``; it is refitted
    with x_min selection. p > 0.1 is CSN's "power law plausible".
    """
    data = _as_counts(x)
    data = data[data >= 1]
    base = fit(data, min_tail=min_tail)
    below = data[data < base.xmin]
    rng = np.random.default_rng(seed)
    worse = 0
    for _ in range(num_sims):
        from_tail = rng.random(data.size) < base.n_tail / data.size
        synth = np.empty(data.size, np.int64)
        synth[from_tail] = sample(base.alpha, base.xmin, int(from_tail.sum()), rng)
        if below.size:
            synth[~from_tail] = below[rng.integers(0, below.size, int((~from_tail).sum()))]
        else:
            synth[~from_tail] = sample(base.alpha, base.xmin, int((~from_tail).sum()), rng)
        worse += fit(synth, min_tail=min_tail).ks >= base.ks
    return worse / num_sims
