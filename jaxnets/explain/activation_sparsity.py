"""Activation sparsity of gated FFNs: CETT and the PPL-p% metric (Sparsing Law, Luo et al. 2025).

Luo, Song, Han et al., "Sparsing Law: Towards Large Language Models with Greater Activation
Sparsity" (ICML 2025), Sec. 3. For a gated FFN `h = act(x W_gate) ⊙ (x W_up)`, `y = h W_down`,
neuron i's output contribution is `n_i = h_i W_down[i, :]` with norm
`r_i = |h_i| · ||W_down[i, :]||_2` (their Eq. 2, `jaxnets.nn.char_lm.contribution_norms`).
A layer threshold t drops the tail `D(t) = {i : r_i <= t}`; the cumulative error of tail
truncation is

    CETT(t) = mean over tokens of ||Σ_{i ∈ D(t)} n_i||_2 / ||y||_2                   (Eq. 3)

PPL-p% sparsity: one CETT value c is shared by all layers; each layer's t is the largest of
`num_candidates` linearly spaced candidates in [min r, 99th percentile of r] with CETT(t) <= c
(a bisection); c itself is found by bisection on [0, 1] (tolerance 1e-3) so that the truncated
model's perplexity is `1 + p/100` times the dense one. The activation ratio is the fraction of
(token, neuron) pairs left active (`r_i >= t_l`, and nonzero) in the truncated forward pass,
averaged over layers; sparsity = 1 - activation ratio.

Everything here is a pure function of arrays, jit- and vmap-able: bisections run a fixed number
of iterations (`lax.fori_loop`), so they always terminate, and their result is monotone in the
target (a bisection's answer is monotone in its target even where CETT(t) is not monotone in t).
The model is seen through one callable `nll_and_hidden(thresholds_L) -> (nll, h_LxNxF)`; for the
shared `CharLM` it is built by `char_lm_probe`.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxnets.nn.char_lm import contribution_norms, next_token_nll

__all__ = ["SparsityResult", "activation_ratio", "cett", "cett_threshold", "char_lm_probe",
           "ppl_p_sparsity", "threshold_candidates"]

NllAndHidden = Callable[[jax.Array], tuple[jax.Array, jax.Array]]


def _check_hidden(h_NxF: jax.Array, w_down_FxD: jax.Array) -> None:
    if h_NxF.ndim != 2 or w_down_FxD.ndim != 2 or h_NxF.shape[1] != w_down_FxD.shape[0]:
        raise ValueError(f"need h [N, F] and w_down [F, D] with matching F, got "
                         f"{h_NxF.shape} and {w_down_FxD.shape}")


def _tail_ratio_N(h_NxF, w_down_FxD, r_NxF, norm_y_N, threshold):
    """Per-token ||Σ_{r_i <= t} n_i|| / ||y|| (0 for tokens whose FFN output is exactly 0)."""
    tail_NxD = jnp.where(r_NxF <= threshold, h_NxF, 0.0) @ w_down_FxD
    valid = norm_y_N > 0
    return jnp.where(valid, jnp.linalg.norm(tail_NxD, axis=-1) / jnp.where(valid, norm_y_N, 1.0),
                     0.0), valid


def _cett_from(h_NxF, w_down_FxD, r_NxF, norm_y_N, threshold):
    ratio_N, valid_N = _tail_ratio_N(h_NxF, w_down_FxD, r_NxF, norm_y_N, threshold)
    return jnp.sum(ratio_N) / jnp.maximum(jnp.sum(valid_N), 1)


def cett(h_NxF: jax.Array, w_down_FxD: jax.Array, threshold: jax.Array | float) -> jax.Array:
    """Cumulative error of tail truncation CETT(t) of one layer (Sparsing Law Eq. 3).

    Args:
        h_NxF: the layer's intermediate activations h (N tokens, F neurons), untruncated.
        w_down_FxD: its down projection.
        threshold: t; neurons with contribution norm r_i <= t form the truncated tail.
    Returns:
        Scalar: mean over tokens (with a nonzero FFN output) of ||Σ_tail n_i|| / ||y||.
        0 at t = 0 (only exact zeros are in the tail), 1 at t = inf.
    """
    _check_hidden(h_NxF, w_down_FxD)
    r_NxF = contribution_norms(h_NxF, w_down_FxD)
    norm_y_N = jnp.linalg.norm(h_NxF @ w_down_FxD, axis=-1)
    return _cett_from(h_NxF, w_down_FxD, r_NxF, norm_y_N, threshold)


def threshold_candidates(r_NxF: jax.Array, num_candidates: int, quantile: float = 0.99
                         ) -> jax.Array:
    """`num_candidates` thresholds linearly spaced in [min r, quantile of r] (Sparsing Law code:
    65 536 candidates up to the 99th percentile, which drops extreme values). The quantile is taken
    on an evenly strided subsample of about `num_candidates` values, as in the released code."""
    if num_candidates < 2:
        raise ValueError(f"num_candidates must be >= 2, got {num_candidates}")
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    flat = r_NxF.reshape(-1)
    stride = max(flat.shape[0] // num_candidates, 1)
    top = jnp.quantile(flat[::stride], quantile)
    return jnp.linspace(jnp.min(flat), jnp.maximum(top, jnp.min(flat)), num_candidates)


def _bisect_threshold(h_NxF, w_down_FxD, r_NxF, norm_y_N, candidates_K, target):
    """The largest candidate with CETT <= target (0.0, i.e. no truncation, if none qualifies).

    Bisection for the first index whose CETT exceeds the target, over a fixed
    ceil(log2(K + 1)) iterations (enough to close [0, K])."""
    k = candidates_K.shape[0]

    def body(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) // 2
        over = _cett_from(h_NxF, w_down_FxD, r_NxF, norm_y_N,
                          candidates_K[jnp.minimum(mid, k - 1)]) > target
        active = lo < hi
        return (jnp.where(active & ~over, mid + 1, lo), jnp.where(active & over, mid, hi))

    first_over, _ = jax.lax.fori_loop(0, math.ceil(math.log2(k + 1)), body,
                                      (jnp.int32(0), jnp.int32(k)))
    return jnp.where(first_over == 0, 0.0, candidates_K[jnp.maximum(first_over - 1, 0)])


def cett_threshold(h_NxF: jax.Array, w_down_FxD: jax.Array, target: jax.Array | float, *,
                   num_candidates: int = 4096, quantile: float = 0.99) -> jax.Array:
    """One layer's threshold for a target CETT value (Sparsing Law Sec. 3, threshold search).

    Args:
        h_NxF, w_down_FxD: the layer's dense activations and down projection.
        target: c in [0, 1].
        num_candidates: K linearly spaced candidates (the paper's code: 65 536).
        quantile: upper end of the candidates, a quantile of the contribution norms.
    Returns:
        Scalar t: the largest candidate with CETT(t) <= c; 0.0 (dense) if none qualifies.
        Monotone non-decreasing in `target`.
    """
    _check_hidden(h_NxF, w_down_FxD)
    r_NxF = contribution_norms(h_NxF, w_down_FxD)
    norm_y_N = jnp.linalg.norm(h_NxF @ w_down_FxD, axis=-1)
    candidates_K = threshold_candidates(r_NxF, num_candidates, quantile)
    return _bisect_threshold(h_NxF, w_down_FxD, r_NxF, norm_y_N, candidates_K, target)


def activation_ratio(h_NxF: jax.Array, w_down_FxD: jax.Array, threshold: jax.Array | float
                     ) -> jax.Array:
    """Fraction of (token, neuron) pairs that stay active under threshold t: r_i >= t and
    h_i != 0 (sparse inference zeroes r_i < t, Sparsing Law Sec. 3; exact zeros, e.g. from ReLU,
    are inactive at any t)."""
    _check_hidden(h_NxF, w_down_FxD)
    r_NxF = contribution_norms(h_NxF, w_down_FxD)
    return jnp.mean((r_NxF >= threshold) & (r_NxF > 0))


class SparsityResult(NamedTuple):
    """Outcome of the PPL-p% search (all arrays; L layers).

    Attributes:
        cett: the shared CETT value c found by the outer bisection.
        thresholds_L: the per-layer thresholds t_l at c.
        activation_ratio: mean over layers of the active fraction in the truncated forward.
        activation_ratio_L: the per-layer active fractions.
        ppl_ratio: PPL(truncated) / PPL(dense) at c.
        dense_nll: the dense model's mean NLL (nats) on the evaluation tokens.
    """
    cett: jax.Array
    thresholds_L: jax.Array
    activation_ratio: jax.Array
    activation_ratio_L: jax.Array
    ppl_ratio: jax.Array
    dense_nll: jax.Array


def ppl_p_sparsity(nll_and_hidden: NllAndHidden, w_down_LxFxD: jax.Array, p: float, *,
                   num_candidates: int = 4096, quantile: float = 0.99,
                   tolerance: float = 1e-3) -> SparsityResult:
    """PPL-p% sparsity (Sparsing Law Sec. 3): the CETT value c at which truncation raises the
    perplexity by p %, and the activation ratio there.

    Thresholds come from the dense forward's activations (released code: `calc_thresholds_
    given_cett` on the saved intermediates); the outer bisection on c in [0, 1] runs
    ceil(log2(1 / tolerance)) halvings, moving up while PPL ratio < 1 + p/100 (released code:
    `calc_cett_for_target_ppl_ratio`), and answers the midpoint of the final interval.

    Args:
        nll_and_hidden: thresholds_L -> (mean NLL, untruncated h of that forward [L, N, F]);
            thresholds of 0 must give the dense model.
        w_down_LxFxD: the down projections of the L layers.
        p: the tolerated perplexity increase in percent (> 0; may be traced, e.g. vmapped).
        num_candidates, quantile: of the per-layer threshold search (`cett_threshold`).
        tolerance: width of the final c interval.
    Returns:
        A `SparsityResult`.
    """
    if isinstance(p, (int, float)) and not p > 0:
        raise ValueError(f"p must be > 0 (percent PPL increase), got {p}")
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance}")
    if w_down_LxFxD.ndim != 3:
        raise ValueError(f"w_down must be [L, F, D], got shape {w_down_LxFxD.shape}")
    num_layers = w_down_LxFxD.shape[0]
    dense_nll, h_LxNxF = nll_and_hidden(jnp.zeros(num_layers))
    if h_LxNxF.ndim != 3 or h_LxNxF.shape[0] != num_layers:
        raise ValueError(f"nll_and_hidden must return h [L={num_layers}, N, F], got "
                         f"{h_LxNxF.shape}")
    r_LxNxF = jax.vmap(contribution_norms)(h_LxNxF, w_down_LxFxD)
    norm_y_LxN = jnp.linalg.norm(jnp.einsum("lnf,lfd->lnd", h_LxNxF, w_down_LxFxD), axis=-1)
    candidates_LxK = jax.vmap(lambda r: threshold_candidates(r, num_candidates, quantile))(
        r_LxNxF)

    def thresholds(c):
        return jax.vmap(_bisect_threshold, in_axes=(0, 0, 0, 0, 0, None))(
            h_LxNxF, w_down_LxFxD, r_LxNxF, norm_y_LxN, candidates_LxK, c)

    log_target = jnp.log1p(jnp.asarray(p, jnp.float32) / 100.0)

    def body(_, bounds):
        lo, hi = bounds
        c = (lo + hi) / 2
        nll, _ = nll_and_hidden(thresholds(c))
        below = nll - dense_nll < log_target
        return jnp.where(below, c, lo), jnp.where(below, hi, c)

    lo, hi = jax.lax.fori_loop(0, math.ceil(math.log2(1.0 / tolerance)), body,
                               (jnp.float32(0.0), jnp.float32(1.0)))
    c = (lo + hi) / 2
    t_L = thresholds(c)
    nll, h_sparse_LxNxF = nll_and_hidden(t_L)
    ratio_L = jax.vmap(activation_ratio)(h_sparse_LxNxF, w_down_LxFxD, t_L)
    return SparsityResult(cett=c, thresholds_L=t_L, activation_ratio=jnp.mean(ratio_L),
                          activation_ratio_L=ratio_L, ppl_ratio=jnp.exp(nll - dense_nll),
                          dense_nll=dense_nll)


def char_lm_probe(model: Any, params: Any, tokens_BxT: jax.Array,
                  ffn_kwargs_L: dict[str, Any] | None = None
                  ) -> tuple[NllAndHidden, jax.Array]:
    """`nll_and_hidden` and the stacked down projections [L, F, D] of a `CharLM` on tokens.

    The truncation is `CharLM`'s `ffn_threshold_L` hook (zeroes r_i < t_l); h is read from the
    sown `ffn_hidden` (before truncation), flattened over batch and time to [L, B*T, F].
    `ffn_kwargs_L` is passed on to every forward (per-layer FFN arguments)."""
    blocks = [f"block_{l}" for l in range(model.num_layers)]
    w_down_LxFxD = jnp.stack([params["params"][b]["ffn"]["w_down"] for b in blocks])

    def nll_and_hidden(thresholds_L):
        logits, state = model.apply(params, tokens_BxT, ffn_threshold_L=thresholds_L,
                                    ffn_kwargs_L=ffn_kwargs_L, mutable=["intermediates"])
        h_LxNxF = jnp.stack([state["intermediates"][b]["ffn"]["ffn_hidden"][0]
                             .reshape(-1, model.d_ff) for b in blocks])
        return next_token_nll(logits, tokens_BxT), h_LxNxF

    return nll_and_hidden, w_down_LxFxD
