"""Fidelity of GNN explanations: the classic Fid+/Fid−/Fid_Δ and the robust Fid_α measures.

Zheng, Shu, ... & Wang, "Towards Robust Fidelity for Evaluating Explainability of GNNs"
(ICLR 2024). For a trained model f, a graph G, an explanation edge set G^exp and a label y:

* classic (their eq. 1-2): ``Fid+ = f(G)_y − f(G \\ G^exp)_y``, ``Fid− = f(G)_y − f(G^exp)_y``,
  ``Fid_Δ = Fid+ − Fid−``;
* robust (their Def. 3-4): ``Fid_{α1,+} = f(G)_y − E[f(G − E_{α1}(G^exp))_y]``, where
  ``E_{α1}`` removes each explanation edge independently with probability α1, and
  ``Fid_{α2,−} = f(G)_y − E[f(G^exp ∪ E_{α2}(G \\ G^exp))_y]``, where each non-explanation
  edge is kept with probability α2; ``Fid_{α1,α2,Δ} = Fid_{α1,+} − Fid_{α2,−}``. Defaults
  α1 = 0.1, α2 = 0.9 and 50 Monte-Carlo samples, as in the authors' code. Removing a small
  random part keeps the perturbed graphs close to the training distribution, which is the
  paper's fix for the out-of-distribution problem of the classic measures.

``f(·)_y`` is the predicted probability of y (the paper's probability version) or
``1[argmax f(·) = y]`` (``accuracy=True``). Edges are removed through edge weights, so the model
must take an ``edge_weight_E`` argument; an undirected edge's two directions share one id in
``undirected_id_E`` and are kept or dropped together. Everything is a pure function of
``prob_fn`` and keys, so a data set of graphs is scored under one ``vmap``.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

ProbFn = Callable[[jax.Array], jax.Array]  # edge_weight_E -> class probabilities [C]


def _score(probs_C: jax.Array, label: jax.Array, accuracy: bool) -> jax.Array:
    if accuracy:
        return (jnp.argmax(probs_C) == label).astype(jnp.float32)
    return probs_C[label]


def _per_edge(draws_U: jax.Array, undirected_id_E: jax.Array) -> jax.Array:
    return draws_U[undirected_id_E]


def fidelity(prob_fn: ProbFn, edge_mask_E: jax.Array, explanation_E: jax.Array,
             label: jax.Array, *, accuracy: bool = False) -> dict[str, jax.Array]:
    """Classic Fid+, Fid− and Fid_Δ of one explanation (Zheng et al. eq. 1-2).

    Args:
      prob_fn: class probabilities of the graph under given edge weights.
      edge_mask_E: [E] bool, real edges.
      explanation_E: [E] bool (or 0/1), explanation edges.
      label: the class y.
      accuracy: use ``1[pred = y]`` instead of the probability.

    Returns:
      ``{"plus", "minus", "delta"}`` scalars.
    """
    mask = edge_mask_E.astype(jnp.float32)
    expl = explanation_E.astype(jnp.float32) * mask
    full = _score(prob_fn(mask), label, accuracy)
    without = _score(prob_fn(mask - expl), label, accuracy)
    only = _score(prob_fn(expl), label, accuracy)
    plus, minus = full - without, full - only
    return {"plus": plus, "minus": minus, "delta": plus - minus}


def robust_fidelity(prob_fn: ProbFn, edge_mask_E: jax.Array, explanation_E: jax.Array,
                    undirected_id_E: jax.Array, label: jax.Array, key: jax.Array, *,
                    alpha_plus: float = 0.1, alpha_minus: float = 0.9, num_samples: int = 50,
                    accuracy: bool = False) -> dict[str, jax.Array]:
    """Robust Fid_{α1,+}, Fid_{α2,−} and Fid_{α1,α2,Δ} (Zheng et al. Def. 3-4), Monte Carlo.

    Args:
      prob_fn: class probabilities under given edge weights.
      edge_mask_E: [E] bool.
      explanation_E: [E] bool.
      undirected_id_E: [E] int in [0, E): both directions of an edge share an id.
      label: y.
      key: PRNG key for the edge draws.
      alpha_plus: α1, probability that each explanation edge is removed.
      alpha_minus: α2, probability that each non-explanation edge is kept.
      num_samples: Monte-Carlo samples per expectation.
      accuracy: use ``1[pred = y]``.

    Returns:
      ``{"plus", "minus", "delta"}`` scalars.
    """
    mask = edge_mask_E.astype(jnp.float32)
    expl = explanation_E.astype(jnp.float32) * mask
    rest = mask - expl
    num_ids = edge_mask_E.shape[0]
    k_plus, k_minus = jax.random.split(key)
    drop = jax.random.bernoulli(k_plus, alpha_plus, (num_samples, num_ids)).astype(jnp.float32)
    keep = jax.random.bernoulli(k_minus, alpha_minus, (num_samples, num_ids)).astype(jnp.float32)
    drop_E = jax.vmap(_per_edge, in_axes=(0, None))(drop, undirected_id_E)
    keep_E = jax.vmap(_per_edge, in_axes=(0, None))(keep, undirected_id_E)
    score = lambda w: _score(prob_fn(w), label, accuracy)  # noqa: E731
    full = score(mask)
    plus = full - jnp.mean(jax.vmap(score)(mask[None] - expl[None] * drop_E))
    minus = full - jnp.mean(jax.vmap(score)(expl[None] + rest[None] * keep_E))
    return {"plus": plus, "minus": minus, "delta": plus - minus}


def perturb_explanation(ground_truth_E: jax.Array, edge_mask_E: jax.Array,
                        undirected_id_E: jax.Array, key: jax.Array, remove_fraction: float,
                        add_fraction: float) -> tuple[jax.Array, jax.Array]:
    """An explanation at a known edit distance from the ground truth (the paper's §5 grid).

    Removes ``round(remove_fraction · |GT|)`` ground-truth edges and adds
    ``round(add_fraction · |non-GT|)`` other edges, chosen uniformly (undirected edges count once).

    Returns:
      ``(explanation_E, edit_distance)``: bool [E] and the number of changed undirected edges.
    """
    num_ids = edge_mask_E.shape[0]
    real = jax.ops.segment_max(edge_mask_E.astype(jnp.int32), undirected_id_E, num_ids) > 0
    gt = jax.ops.segment_max((ground_truth_E & edge_mask_E).astype(jnp.int32), undirected_id_E,
                             num_ids) > 0
    other = real & ~gt
    u = jax.random.uniform(key, (num_ids,))

    def pick(pool: jax.Array, fraction: float) -> tuple[jax.Array, jax.Array]:
        count = jnp.round(fraction * jnp.sum(pool)).astype(jnp.int32)
        rank = jnp.argsort(jnp.argsort(jnp.where(pool, u, 2.0)))
        return pool & (rank < count), count

    removed, n_removed = pick(gt, remove_fraction)
    added, n_added = pick(other, add_fraction)
    chosen = (gt & ~removed) | added
    return chosen[undirected_id_E] & edge_mask_E, n_removed + n_added


def top_k_edges(scores_E: jax.Array, edge_mask_E: jax.Array, undirected_id_E: jax.Array,
                k: jax.Array) -> jax.Array:
    """Binarises a soft edge mask: the k undirected edges of highest summed score. [E] bool."""
    num_ids = edge_mask_E.shape[0]
    per_id = jax.ops.segment_sum(jnp.where(edge_mask_E, scores_E, 0.0), undirected_id_E, num_ids)
    real = jax.ops.segment_max(edge_mask_E.astype(jnp.int32), undirected_id_E, num_ids) > 0
    rank = jnp.argsort(jnp.argsort(jnp.where(real, -per_id, jnp.inf)))
    return (rank < k)[undirected_id_E] & edge_mask_E
