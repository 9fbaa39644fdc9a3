"""NetInfoF's compatibility matrix H, the adjustment of node similarity (Lee et al., ICLR 2024,
§4.2).

For an embedding X (rows x_i), NetInfoF looks for a symmetric d × d matrix H such that the
adjusted similarity ``x_iᵀ H x_j`` is ≈ 1 on edges and ≈ 0 on random pairs (paper eq. 3: H* =
argmin Σ_{(i,j)} (x_iᵀ H x_j − y_ij)², a linear least-squares problem in the entries of H). H may be
far from the identity — e.g. off-diagonal for heterophilous graphs — so the similarity of
``x_c = X H`` and ``x_t = X`` captures "compatible" rather than only "similar" nodes.

The solver follows the paper's speed-ups (§4.2 "warm start", "coefficient selection", "edge
reduction"), as in the official ``cm.py``:
  1. warm start: ridge regression (α = 1, no intercept) of x_j on x_i over the training edges
     (both directions) gives ``H₀``; its upper triangle is the initial coefficient vector;
  2. coefficient selection: the smallest |H₀| entries that together hold < 5 % of the total
     absolute mass are fixed to 0;
  3. edge reduction: positives are the training edges i < j whose endpoints both have degree ≥ 2
     (at most ``max_pairs``, sampled), negatives twice as many uniform random pairs;
  4. the kept upper-triangular coefficients solve ``min ‖A c − y‖² + damp² ‖c − c₀‖²`` with LSQR
     (damp = 1, atol = btol = 1e-2, started at c₀), where row (i, j) of A holds
     ``x_i[r] x_j[c] + x_i[c] x_j[r]`` for r < c and ``x_i[r] x_j[r]`` on the diagonal.

Here LSQR (Paige & Saunders, 1982) is written in JAX (``lsqr``: the recurrences, norm estimates
and stopping tests of ``scipy.sparse.linalg.lsqr``) and A is never formed: a coefficient vector is
kept as a masked upper-triangular d × d matrix C, so ``A c = rowsum((X_i H) ⊙ X_j)`` with
``H = C + Cᵀ − diag C`` and ``Aᵀ u = triu(G + Gᵀ − diag G)`` with ``G = X_iᵀ diag(u) X_j`` —
O(M d²) per product instead of an M × d(d+1)/2 matrix.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class LsqrResult(NamedTuple):
    """Solution and diagnostics of ``lsqr`` (scipy's istop codes: 1, 2 converged, 7 iter_lim)."""

    x: Any
    istop: jax.Array
    itn: jax.Array


def _vdot(a, b):
    return jnp.sum(a * b)


def _norm(a):
    return jnp.sqrt(_vdot(a, a))


def _sym_ortho(a, b):
    """Stable Givens rotation (c, s, r) with r = hypot(a, b) (scipy's ``_sym_ortho``)."""
    r = jnp.hypot(a, b)
    safe = jnp.where(r > 0, r, 1.0)
    c = jnp.where(b == 0, jnp.sign(a), jnp.where(a == 0, 0.0, a / safe))
    s = jnp.where(b == 0, 0.0, jnp.where(a == 0, jnp.sign(b), b / safe))
    return c, s, r


def lsqr(matvec: Callable[[jax.Array], jax.Array], rmatvec: Callable[[jax.Array], jax.Array],
         b: jax.Array, x0: jax.Array, *, damp: float = 0.0, atol: float = 1e-6,
         btol: float = 1e-6, conlim: float = 1e8, iter_lim: int = 1000) -> LsqrResult:
    """LSQR for ``min ‖A x − b‖² + damp² ‖x − x0‖²``, matrix-free and jittable.

    Paige & Saunders, "LSQR: An algorithm for sparse linear equations and sparse least squares",
    ACM TOMS 8(1), 1982; the recurrences and stopping rules of ``scipy.sparse.linalg.lsqr``
    (which, like here, applies the damping to the correction from ``x0``). ``x`` may have any
    shape: vectors are arrays of ``x0``'s shape and inner products sum over all entries.

    Args:
      matvec: x-shaped -> b-shaped, ``A x``.
      rmatvec: b-shaped -> x-shaped, ``Aᵀ u``.
      b: right-hand side.
      x0: starting point.
      damp: damping.
      atol: tolerance on ‖Aᵀr‖ / (‖A‖ ‖r‖) and on the residual relative to ‖A‖ ‖x‖.
      btol: tolerance on ‖r‖ / ‖b‖.
      conlim: stop when the condition estimate exceeds it.
      iter_lim: iteration cap.

    Returns:
      ``LsqrResult(x, istop, itn)``.
    """
    dtype = b.dtype
    eps = jnp.finfo(dtype).eps
    ctol = 1.0 / conlim if conlim > 0 else 0.0
    dampsq = jnp.asarray(damp * damp, dtype)
    bnorm = _norm(b)
    u = b - matvec(x0)
    beta = _norm(u)
    u = jnp.where(beta > 0, u / jnp.where(beta > 0, beta, 1.0), u)
    v = jnp.where(beta > 0, rmatvec(u), jnp.zeros_like(x0))
    alfa = _norm(v)
    v = jnp.where(alfa > 0, v / jnp.where(alfa > 0, alfa, 1.0), v)
    zero = jnp.zeros((), dtype)
    state = dict(itn=jnp.int32(0), istop=jnp.int32(0), x=x0, u=u, v=v, w=v, alfa=alfa,
                 anorm=zero, ddnorm=zero, res2=zero, xxnorm=zero, z=zero,
                 cs2=-jnp.ones((), dtype), sn2=zero, rhobar=alfa, phibar=beta)
    start_ok = alfa * beta != 0

    def cond(st):
        return start_ok & (st["istop"] == 0) & (st["itn"] < iter_lim)

    def body(st):
        itn = st["itn"] + 1
        alfa, v = st["alfa"], st["v"]
        u = matvec(v) - alfa * st["u"]
        beta = _norm(u)
        pos_b = beta > 0
        u = jnp.where(pos_b, u / jnp.where(pos_b, beta, 1.0), u)
        anorm = jnp.where(pos_b, jnp.sqrt(st["anorm"] ** 2 + alfa ** 2 + beta ** 2 + dampsq),
                          st["anorm"])
        v_new = rmatvec(u) - beta * v
        alfa_new = _norm(v_new)
        v_new = jnp.where(alfa_new > 0, v_new / jnp.where(alfa_new > 0, alfa_new, 1.0), v_new)
        v = jnp.where(pos_b, v_new, v)
        alfa = jnp.where(pos_b, alfa_new, alfa)
        rhobar, phibar = st["rhobar"], st["phibar"]
        if damp > 0:
            rhobar1 = jnp.sqrt(rhobar ** 2 + dampsq)
            psi = (damp / rhobar1) * phibar
            phibar = (rhobar / rhobar1) * phibar
        else:
            rhobar1, psi = rhobar, zero
        cs, sn, rho = _sym_ortho(rhobar1, beta)
        theta = sn * alfa
        rhobar = -cs * alfa
        phi = cs * phibar
        phibar = sn * phibar
        tau = sn * phi
        w = st["w"]
        x = st["x"] + (phi / rho) * w
        ddnorm = st["ddnorm"] + _vdot(w, w) / rho ** 2
        w = v + (-theta / rho) * w
        delta = st["sn2"] * rho
        gambar = -st["cs2"] * rho
        rhs = phi - delta * st["z"]
        zbar = rhs / gambar
        xnorm = jnp.sqrt(st["xxnorm"] + zbar ** 2)
        gamma = jnp.sqrt(gambar ** 2 + theta ** 2)
        cs2, sn2, z = gambar / gamma, theta / gamma, rhs / gamma
        xxnorm = st["xxnorm"] + z ** 2
        acond = anorm * jnp.sqrt(ddnorm)
        res2 = st["res2"] + psi ** 2
        rnorm = jnp.sqrt(phibar ** 2 + res2)
        arnorm = alfa * jnp.abs(tau)
        test1 = rnorm / bnorm
        test2 = arnorm / (anorm * rnorm + eps)
        test3 = 1.0 / (acond + eps)
        t1 = test1 / (1 + anorm * xnorm / bnorm)
        rtol = btol + atol * anorm * xnorm / bnorm
        istop = jnp.int32(0)  # later tests take precedence, as in scipy
        for code, hit in ((7, itn >= iter_lim), (6, 1 + test3 <= 1), (5, 1 + test2 <= 1),
                          (4, 1 + t1 <= 1), (3, test3 <= ctol), (2, test2 <= atol),
                          (1, test1 <= rtol)):
            istop = jnp.where(hit, code, istop)
        return dict(itn=itn, istop=istop, x=x, u=u, v=v, w=w, alfa=alfa, anorm=anorm,
                    ddnorm=ddnorm, res2=res2, xxnorm=xxnorm, z=z, cs2=cs2, sn2=sn2,
                    rhobar=rhobar, phibar=phibar)

    out = jax.lax.while_loop(cond, body, state)
    return LsqrResult(out["x"], out["istop"], out["itn"])


@functools.partial(jax.jit, static_argnames=("alpha",))
def ridge_warm_start(x_NxD: jax.Array, src_E: jax.Array, dst_E: jax.Array,
                     alpha: float = 1.0) -> jax.Array:
    """sklearn ``Ridge(alpha, fit_intercept=False).fit(X[src], X[dst]).coef_`` [D, D].

    ``coef_ = Yᵀ X (XᵀX + α I)⁻¹`` (row t holds the weights predicting target column t); its upper
    triangle warm-starts the LSQR solve (paper §4.2).
    """
    xs, xd = x_NxD[src_E], x_NxD[dst_E]
    gram = xs.T @ xs + alpha * jnp.eye(x_NxD.shape[1], dtype=x_NxD.dtype)
    return jnp.linalg.solve(gram, xs.T @ xd).T


@functools.partial(jax.jit, static_argnames=("prune_mass",))
def coefficient_mask(h0_DxD: jax.Array, prune_mass: float = 0.05) -> jax.Array:
    """Upper-triangular mask of the kept coefficients: drop the smallest |H₀| entries that hold
    less than ``prune_mass`` of the total absolute mass (official ``cm.py``'s epsilon rule)."""
    d = h0_DxD.shape[0]
    upper = jnp.triu(jnp.ones((d, d), bool))
    vals = jnp.where(upper, jnp.abs(h0_DxD), jnp.inf).reshape(-1)
    v_sort = jnp.sort(vals)[: d * (d + 1) // 2]
    frac = jnp.cumsum(v_sort) / jnp.sum(v_sort)
    below = frac < prune_mass
    last = jnp.maximum(jnp.sum(below) - 1, 0)
    eps = jnp.where(jnp.any(below), v_sort[last], 0.0)
    return upper & (jnp.abs(h0_DxD) >= eps)


def symmetric_from_upper(c_DxD: jax.Array) -> jax.Array:
    """H = C + Cᵀ − diag(C) for an upper-triangular coefficient matrix C."""
    return c_DxD + c_DxD.T - jnp.diag(jnp.diag(c_DxD))


def pair_operator(xi_MxD: jax.Array, xj_MxD: jax.Array, mask_DxD: jax.Array):
    """(matvec, rmatvec) of the design matrix A of the H problem, over masked coefficients."""
    m = mask_DxD.astype(xi_MxD.dtype)

    def matvec(c_DxD):
        h = symmetric_from_upper(c_DxD * m)
        return jnp.sum((xi_MxD @ h) * xj_MxD, axis=1)

    def rmatvec(u_M):
        g = xi_MxD.T @ (u_M[:, None] * xj_MxD)
        return jnp.triu(g + g.T - jnp.diag(jnp.diag(g))) * m

    return matvec, rmatvec


@functools.partial(jax.jit, static_argnames=("damp", "atol", "btol", "prune_mass", "iter_lim"))
def _solve(x_NxD, src_E, dst_E, pair_i_B, pair_j_B, y_B, row_mask_B, *, damp, atol, btol,
           prune_mass, iter_lim):
    h0 = ridge_warm_start(x_NxD, src_E, dst_E)
    mask = coefficient_mask(h0, prune_mass)
    c0 = jnp.triu(h0) * mask
    xi = x_NxD[pair_i_B] * row_mask_B[:, None]  # padding rows are zero: no effect on LSQR
    xj = x_NxD[pair_j_B]
    matvec, rmatvec = pair_operator(xi, xj, mask)
    res = lsqr(matvec, rmatvec, y_B * row_mask_B, c0, damp=damp, atol=atol, btol=btol,
               iter_lim=iter_lim)
    return symmetric_from_upper(res.x * mask), res.itn


def compatibility_matrix(key: jax.Array, x_NxD: Any, train_pos_Mx2: Any, *,
                         two_core: bool = True, max_pairs: int = 200_000,
                         prune_mass: float = 0.05, damp: float = 1.0, atol: float = 1e-2,
                         btol: float = 1e-2, iter_lim: int | None = None,
                         bucket: int = 1024) -> tuple[jax.Array, jax.Array]:
    """The compatibility matrix H* of NetInfoF (§4.2, eq. 3) for one embedding.

    Args:
      key: PRNG key (edge sampling beyond ``max_pairs``, random negative pairs).
      x_NxD: the (post-processed) embedding.
      train_pos_Mx2: [M, 2] undirected training edges, each once.
      two_core: keep only positives whose endpoints both have training degree >= 2.
      max_pairs: cap on the positives.
      prune_mass: coefficient selection mass (5 %).
      damp, atol, btol: LSQR settings (official: 1, 1e-2, 1e-2).
      iter_lim: LSQR cap (scipy's default 2 · #coefficients if None).
      bucket: pad the pair count up to a multiple of this (static shapes across seeds).

    Returns:
      ``(H_DxD, lsqr_iterations)``.
    """
    x = jnp.asarray(x_NxD, jnp.float32)
    if x.ndim != 2:
        raise ValueError(f"x_NxD must be 2-d, got shape {x.shape}")
    n, d = x.shape
    pairs = np.asarray(train_pos_Mx2, np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] == 0:
        raise ValueError(f"train_pos_Mx2 must be a non-empty [M, 2] array, got {pairs.shape}")
    if pairs.min() < 0 or pairs.max() >= n:
        raise ValueError(f"pair endpoints must lie in [0, {n}), got [{pairs.min()}, "
                         f"{pairs.max()}]")
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    lo, hi = pairs.min(axis=1), pairs.max(axis=1)
    keep = lo != hi
    if two_core:
        deg = np.bincount(src, minlength=n)
        keep &= (deg[lo] >= 2) & (deg[hi] >= 2)
    lo, hi = lo[keep], hi[keep]
    k_sub, k_neg = jax.random.split(key)
    if lo.size > max_pairs:
        pick = np.asarray(jax.random.choice(k_sub, lo.size, (max_pairs,), replace=False))
        lo, hi = lo[pick], hi[pick]
    p = lo.size
    if p == 0:
        raise ValueError("no training edge survives the degree >= 2 filter")
    padded = -(-3 * p // bucket) * bucket  # p positives + 2p negatives, zero-padded
    neg = np.asarray(jax.random.randint(k_neg, (padded - p, 2), 0, n))
    pair_i = np.concatenate([lo, neg[:, 0]])
    pair_j = np.concatenate([hi, neg[:, 1]])
    y = np.concatenate([np.ones(p), np.zeros(padded - p)]).astype(np.float32)
    row_mask = (np.arange(padded) < 3 * p).astype(np.float32)
    limit = 2 * d * (d + 1) // 2 if iter_lim is None else int(iter_lim)
    return _solve(x, jnp.asarray(src, jnp.int32), jnp.asarray(dst, jnp.int32),
                  jnp.asarray(pair_i, jnp.int32), jnp.asarray(pair_j, jnp.int32),
                  jnp.asarray(y), jnp.asarray(row_mask), damp=float(damp), atol=float(atol),
                  btol=float(btol), prune_mass=float(prune_mass), iter_lim=limit)
