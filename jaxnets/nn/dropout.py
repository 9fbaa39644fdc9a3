"""Inverted dropout with cheap masks, for dense arrays and the stored values of sparse ones.

Srivastava et al. (2014), eq. 2 with inverted scaling: `y = m * x / q`, `m ~ Bernoulli(q)`, where
q is the keep probability. Masks are cut from 32-bit random words (PERFORMANCE.md item 2):

* `rate == 0.5`: each word gives 32 one-bit lanes, keep = bit set. Exact.
* other rates: each word gives four 8-bit lanes u in [0, 256), keep = `u < k` with
  `k = round(256 * (1 - rate))`, so the **effective rate is a multiple of 1/256**: 0.6 becomes
  0.6015625 (k = 102), 0.1 becomes 0.1015625 (k = 230). A rate strictly inside (0, 1) never
  rounds to 0 or 1 (k is clipped to [1, 255]). `effective_dropout_rate(rate)` and
  `Dropout.effective_rate` report the rate actually used, and scaling divides by the *effective*
  keep probability k / 256, so `E[y] = x` holds exactly.

Against `jax.random.bernoulli` (one 32-bit word and a float compare per element) this draws 32x
(p = 0.5) or 4x fewer random words.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.graph import is_sparse, with_data

__all__ = ["dropout", "effective_dropout_rate", "keep_mask", "Dropout"]


def _keep_numerator(rate: float) -> int:
    """k in keep-probability k/256 (0 and 256 for rates 1 and 0; 128 is also p = 0.5)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout rate must lie in [0, 1], got {rate}")
    if rate == 0.0:
        return 256
    if rate == 1.0:
        return 0
    return int(np.clip(round(256 * (1.0 - rate)), 1, 255))


def effective_dropout_rate(rate: float) -> float:
    """The rate `dropout` actually applies: `rate` rounded to a multiple of 1/256.

    Args:
        rate: requested drop probability in [0, 1].

    Returns:
        `1 - k/256` with `k = round(256 (1 - rate))` clipped to [1, 255] for rates in (0, 1);
        0.5, 0 and 1 are exact.
    """
    return 1.0 - _keep_numerator(rate) / 256.0


def _keep_mask(key: jax.Array, size: int, rate: float) -> jax.Array:
    """Bool [size] with P(True) = 1 - effective_dropout_rate(rate)."""
    k = _keep_numerator(rate)
    if k == 128:
        words = jax.random.bits(key, (-(-size // 32),), jnp.uint32)
        lanes = (words[:, None] >> jnp.arange(32, dtype=jnp.uint32)[None, :]) & jnp.uint32(1)
        return lanes.reshape(-1)[:size].astype(bool)
    words = jax.random.bits(key, (-(-size // 4),), jnp.uint32)
    lanes = (words[:, None] >> jnp.array([0, 8, 16, 24], jnp.uint32)[None, :]) & jnp.uint32(255)
    return lanes.reshape(-1)[:size] < jnp.uint32(k)


def keep_mask(key: jax.Array, shape: tuple[int, ...], rate: float) -> jax.Array:
    """Bool mask of `shape`, True with probability `1 - effective_dropout_rate(rate)`.

    The mask `dropout` applies, for callers that drop something other than array entries
    (e.g. adjacency entries, NCN's predictor edge dropout); drawn from 8-bit lanes as above.

    Args:
        key: PRNG key.
        shape: mask shape.
        rate: drop probability in [0, 1].

    Returns:
        Bool array of `shape`.
    """
    k = _keep_numerator(rate)
    if k in (0, 256):
        return jnp.full(shape, k == 256, bool)
    return _keep_mask(key, int(np.prod(shape, dtype=np.int64)), rate).reshape(shape)


def _dropout_dense(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
    k = _keep_numerator(rate)
    if k == 256:
        return x
    if k == 0:
        return jnp.zeros_like(x)
    keep = _keep_mask(key, x.size, rate).reshape(x.shape)
    scale = jnp.asarray(256.0 / k, x.dtype)
    return jnp.where(keep, x * scale, jnp.zeros((), x.dtype))


def dropout(key: jax.Array, x: Any, rate: float) -> Any:
    """Inverted dropout of `x` (dense array or `BCOO`) with the fast masks described above.

    For a `BCOO` only the stored values are dropped (Srivastava et al. 2014 on the nonzeros; the
    zeros would stay zero anyway, so the distribution is the same as dense dropout).

    Args:
        key: PRNG key.
        x: dense array of any shape, or `BCOO` (dropout applies to `x.data`).
        rate: drop probability in [0, 1]; applied as `effective_dropout_rate(rate)`.

    Returns:
        An array (or `BCOO`) like `x`: dropped entries 0, kept ones divided by the effective
        keep probability.
    """
    if is_sparse(x):
        return with_data(x, _dropout_dense(key, x.data, rate))
    return _dropout_dense(key, jnp.asarray(x), rate)


class Dropout(nn.Module):
    """Linen dropout over `dropout`; draws from the `"dropout"` RNG stream.

    Attributes:
        rate: requested drop probability; see `effective_rate` for the one applied.
        deterministic: if True, the identity. May instead be given at call time.
        rng_collection: the RNG stream name passed to `make_rng`.
    """
    rate: float
    deterministic: bool | None = None
    rng_collection: str = "dropout"

    @property
    def effective_rate(self) -> float:
        """The rate applied: `rate` rounded to a multiple of 1/256 (0.5 exact)."""
        return effective_dropout_rate(self.rate)

    @nn.compact
    def __call__(self, x: Any, *, deterministic: bool | None = None) -> Any:
        """Applies dropout to a dense array or the stored values of a `BCOO`."""
        deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
        if deterministic or self.rate == 0.0:
            return x
        return dropout(self.make_rng(self.rng_collection), x, self.rate)
