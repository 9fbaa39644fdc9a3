"""AMUD: should a natural digraph be learned as directed or as undirected? (reconstruction)

Sun, Li, Wu, Su, Li & Wang, "Breaking the Entanglement of Homophily and Heterophily in
Semi-supervised Node Classification", ICDE 2024 (arXiv 2312.04111). The paper's AMUD "quantifies
the relationship between node profiles and topology from a statistical perspective" and
recommends keeping the edge directions (then learning with ADPA) or symmetrising the graph.

**This is a labelled reconstruction, not the paper's formula.** The exact AMUD statistic could not
be retrieved (the official code, xkLi-Allen/AMUD-ADPA, computes only its ingredients: the C x C
directed label-transition count matrix `directional_label_smoothness` and edge/non-edge feature
cosine similarity; the paper's text was not reachable offline). The research notes suggest the
asymmetry of the label-transition matrix as a placeholder; we turn that placeholder into a
classical statistical test:

* `T[a, b]` = number of arcs u -> v (self-loops dropped) with `y_u = a`, `y_v = b`, counted over
  arcs whose two endpoints carry a usable label (`label_mask`, e.g. train + validation nodes).
* If edge direction carried no label information, T would be symmetric. Bowker's (1948) test of
  symmetry, `X^2 = sum_{a<b} (T_ab - T_ba)^2 / (T_ab + T_ba)` with `C (C - 1) / 2` degrees of
  freedom (pairs with `T_ab + T_ba = 0` drop out of the sum and the degrees of freedom), gives a
  p-value; AMUD says "directed" when `p < alpha` (0.01), else "undirected": keep the direction only
  when there is significant evidence that it carries label information.
* The effect size `||T - T^T||_F / (sqrt(2) ||T||_F)` in [0, 1] (the notes' placeholder, scaled
  so that 1 means every arc is one-way between classes) is reported beside it.

Note that a significance test depends on how many labelled arcs there are: with few labels the
rule prefers the simpler (undirected) modelling.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["AmudResult", "label_transition_counts", "bowker_symmetry_test", "amud"]


@dataclasses.dataclass(frozen=True)
class AmudResult:
    """AMUD's (reconstructed) recommendation and the statistics behind it.

    Attributes:
      directed: True to keep the digraph directed, False to symmetrise it.
      statistic: Bowker's X^2.
      dof: its degrees of freedom (class pairs with at least one arc).
      p_value: P(chi^2_dof >= statistic); 1.0 when dof is 0.
      asymmetry: effect size ||T - T^T||_F / (sqrt(2) ||T||_F) in [0, 1] (0 for a symmetric T).
      num_arcs: labelled arcs counted in T.
      alpha: significance level of the decision.
    """

    directed: bool
    statistic: float
    dof: int
    p_value: float
    asymmetry: float
    num_arcs: int
    alpha: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def label_transition_counts(senders_E: Any, receivers_E: Any, labels_N: Any, num_classes: int,
                            label_mask_N: Any = None) -> np.ndarray:
    """Directed label-transition counts `T[a, b] = #{u -> v : y_u = a, y_v = b}`.

    Self-loops and arcs with an endpoint outside `label_mask_N` (or labelled -1) are skipped.

    Args:
      senders_E, receivers_E: int [E]; arc e is `senders_E[e] -> receivers_E[e]`.
      labels_N: int [N] class ids in [-1, C).
      num_classes: C.
      label_mask_N: optional bool [N]: nodes whose labels may be used (all labelled if None).

    Returns:
      T: int64 [C, C].
    """
    s = np.asarray(senders_E)
    r = np.asarray(receivers_E)
    y = np.asarray(labels_N)
    if s.ndim != 1 or s.shape != r.shape:
        raise ValueError(f"senders_E and receivers_E must be equal-length 1-D arrays, got "
                         f"{s.shape} and {r.shape}")
    if y.ndim != 1:
        raise ValueError(f"labels_N must be 1-D, got shape {y.shape}")
    n = y.shape[0]
    if s.size and (min(s.min(), r.min()) < 0 or max(s.max(), r.max()) >= n):
        raise ValueError(f"edge endpoints must lie in [0, {n}), got "
                         f"[{min(s.min(), r.min())}, {max(s.max(), r.max())}]")
    if y.size and (y.min() < -1 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [-1, {num_classes}), got [{y.min()}, {y.max()}]")
    usable = y >= 0
    if label_mask_N is not None:
        mask = np.asarray(label_mask_N, bool)
        if mask.shape != (n,):
            raise ValueError(f"label_mask_N must have shape ({n},), got {mask.shape}")
        usable &= mask
    keep = (s != r) & usable[s] & usable[r]
    counts = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(counts, (y[s[keep]], y[r[keep]]), 1)
    return counts


def bowker_symmetry_test(counts_CxC: np.ndarray) -> tuple[float, int, float]:
    """Bowker's test that a square contingency table is symmetric (Bowker, JASA 1948).

    Returns:
      (statistic, dof, p_value) with `statistic = sum_{a<b} (n_ab - n_ba)^2 / (n_ab + n_ba)` over
      the pairs with `n_ab + n_ba > 0`, dof the number of such pairs, and the chi-square upper tail
      (1.0 when dof is 0).
    """
    t = np.asarray(counts_CxC, np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ValueError(f"counts must be a square [C, C] table, got shape {t.shape}")
    if np.any(t < 0):
        raise ValueError("counts must be non-negative")
    upper = np.triu_indices(t.shape[0], k=1)
    n_ab, n_ba = t[upper], t.T[upper]
    total = n_ab + n_ba
    used = total > 0
    statistic = float(np.sum((n_ab[used] - n_ba[used]) ** 2 / total[used]))
    dof = int(np.sum(used))
    p_value = float(stats.chi2.sf(statistic, dof)) if dof else 1.0
    return statistic, dof, p_value


def amud(senders_E: Any, receivers_E: Any, labels_N: Any, num_classes: int,
         label_mask_N: Any = None, *, alpha: float = 0.01) -> AmudResult:
    """AMUD's recommendation for one digraph (reconstruction; see the module docstring).

    Args:
      senders_E, receivers_E: int [E], the natural (directed) arcs.
      labels_N: int [N] class ids (-1 = unlabelled).
      num_classes: C.
      label_mask_N: optional bool [N]: the nodes whose labels the decision may use; pass the
        training (and validation) nodes so that no test label is read.
      alpha: significance level; "directed" when Bowker's p-value is below it.

    Returns:
      An `AmudResult`.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    counts = label_transition_counts(senders_E, receivers_E, labels_N, num_classes, label_mask_N)
    statistic, dof, p_value = bowker_symmetry_test(counts)
    norm = np.linalg.norm(counts.astype(np.float64))
    asymmetry = float(np.linalg.norm((counts - counts.T).astype(np.float64)) / norm) if norm else 0.0
    # for T >= 0, ||T - T^T||^2 = sum (t_ab - t_ba)^2 <= 2 ||T||^2 (equality: one-way arcs only)
    return AmudResult(directed=bool(p_value < alpha), statistic=statistic, dof=dof,
                      p_value=p_value, asymmetry=float(asymmetry / np.sqrt(2.0)),
                      num_arcs=int(counts.sum()),
                      alpha=alpha)
