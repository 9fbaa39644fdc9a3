"""Dynamic sparse training (DST): prune and regrow edges of a masked layer, inside `jit`.

G2GNet (Konstantaropoulos et al., arXiv 2508.14140, Sec. III-C/D and the released `train.py`):
every `interval` steps each sparse layer drops a fraction of its active edges and regrows the
same number among the inactive ones, so the number of edges stays exactly constant.

  * prune ("keep score", lowest dropped): "magnitude" |w| (SET, Mocanu et al. 2018), "random",
    or "hebbian" (the edge's Hebbian score);
  * grow ("grow score", highest added): "hebbian" or "random".

Hebbian score (the paper's Hebbian-inspired rewiring, "neurons that fire together wire
together"): the cosine similarity between the activity of the post-neuron o and of the
pre-neuron i over the samples of a recent batch,

    H[i, o] = <a_i, z_o> / ((‖a_i‖ + ε)(‖z_o‖ + ε)),   a_i = pre[:, i],  z_o = post[:, o],

(`compute_ch_matrix` of the released code; ReLU activations here, spikes there).

Counts are static Python ints, and selection uses `lax.top_k`, so an update has static shapes
and runs under `jit`/`vmap`; ties are broken by position. Modes may be strings or traced int
indices into PRUNE_MODES / GROW_MODES (to vmap over conditions). As in the released code,
pruned weights are set to zero and a regrown weight keeps its stored value (zero if it was
pruned before, its initial value if it was never active); `zero_regrown=True` starts every
regrown weight at zero (RigL's choice).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["GROW_MODES", "PRUNE_MODES", "grow_scores", "hebbian_score", "keep_scores",
           "mode_index", "prune_regrow"]

PRUNE_MODES = ("magnitude", "random", "hebbian")
GROW_MODES = ("hebbian", "random")


def mode_index(mode: str, modes: tuple[str, ...]) -> int:
    """Position of `mode` in `modes`; ValueError naming the valid ones otherwise."""
    if mode not in modes:
        raise ValueError(f"mode must be one of {modes}, got {mode!r}")
    return modes.index(mode)


def _pick(mode: str | jax.Array, modes: tuple[str, ...], options: list[jax.Array]) -> jax.Array:
    if isinstance(mode, str):
        return options[mode_index(mode, modes)]
    return jnp.stack(options)[mode]


def _uniform(key, uniform, shape):
    if uniform is None:
        if key is None:
            raise ValueError("random scores need a key or uniform_IxO")
        return jax.random.uniform(key, shape)
    if uniform.shape != shape:
        raise ValueError(f"uniform_IxO has shape {uniform.shape}, expected {shape}")
    return uniform


def hebbian_score(pre_BxI: jax.Array, post_BxO: jax.Array, eps: float = 1e-8) -> jax.Array:
    """H_IxO: cosine similarity of pre-neuron i's and post-neuron o's activity over the batch.

    Args:
        pre_BxI: the layer's input activations over B samples.
        post_BxO: the layer's output activations (after the nonlinearity) on the same samples.
        eps: added to each norm (a silent neuron scores 0).
    """
    if pre_BxI.ndim != 2 or post_BxO.ndim != 2 or pre_BxI.shape[0] != post_BxO.shape[0]:
        raise ValueError(f"need pre [B, I] and post [B, O] with the same B, got "
                         f"{pre_BxI.shape} and {post_BxO.shape}")
    pre = pre_BxI / (jnp.linalg.norm(pre_BxI, axis=0, keepdims=True) + eps)
    post = post_BxO / (jnp.linalg.norm(post_BxO, axis=0, keepdims=True) + eps)
    return pre.T @ post


def keep_scores(mode: str | jax.Array, kernel_IxO: jax.Array, hebb_IxO: jax.Array,
                key: jax.Array | None = None, *, uniform_IxO: jax.Array | None = None
                ) -> jax.Array:
    """Per-edge score for pruning (the lowest-scoring active edges are dropped).

    mode: "magnitude" (|w|, SET), "random" (uniform) or "hebbian" (H), or its index. The
    random scores come from `key`, or are given as `uniform_IxO` (to draw once for several)."""
    return _pick(mode, PRUNE_MODES,
                 [jnp.abs(kernel_IxO), _uniform(key, uniform_IxO, kernel_IxO.shape), hebb_IxO])


def grow_scores(mode: str | jax.Array, hebb_IxO: jax.Array, key: jax.Array | None = None, *,
                uniform_IxO: jax.Array | None = None) -> jax.Array:
    """Per-edge score for growth (the highest-scoring inactive edges are added).

    mode: "hebbian" (H) or "random" (uniform, from `key` or given as `uniform_IxO`), or its
    index."""
    return _pick(mode, GROW_MODES, [hebb_IxO, _uniform(key, uniform_IxO, hebb_IxO.shape)])


def prune_regrow(mask_IxO: jax.Array, kernel_IxO: jax.Array, keep_IxO: jax.Array,
                 grow_IxO: jax.Array, count: int, *, zero_regrown: bool = False
                 ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """One DST update of one layer: drop `count` active edges, regrow as many inactive ones.

    Dropped: the `count` active edges with the lowest keep score; grown: the `count` edges with
    the highest grow score among those inactive after the drop (a just-dropped edge may come
    back, as in the released code). If fewer than `count` edges are active, all are dropped and
    as many regrown: the number of active edges never changes.

    Args:
        mask_IxO: current 0/1 mask.
        kernel_IxO: current weights (values at inactive positions are the stored ones).
        keep_IxO: prune scores (`keep_scores`); grow_IxO: growth scores (`grow_scores`).
        count: static number of edges to swap (e.g. int(0.1 · active edges)).
        zero_regrown: regrown weights start at 0 instead of their stored value.

    Returns:
        (new mask, new kernel with dropped weights zeroed, {"pruned", "grown"} 0/1 maps).
    """
    shapes = {mask_IxO.shape, kernel_IxO.shape, keep_IxO.shape, grow_IxO.shape}
    if len(shapes) != 1 or mask_IxO.ndim != 2:
        raise ValueError(f"mask, kernel and scores must share one 2-D shape, got {shapes}")
    if not isinstance(count, int) or not 0 <= count <= mask_IxO.size:
        raise ValueError(f"count must be a static int in [0, {mask_IxO.size}], got {count!r}")
    active_N = mask_IxO.reshape(-1) > 0.5
    zeros_N = jnp.zeros(active_N.shape, jnp.float32)
    if count == 0:
        return mask_IxO, kernel_IxO, {"pruned": zeros_N.reshape(mask_IxO.shape),
                                      "grown": zeros_N.reshape(mask_IxO.shape)}
    ranks = jnp.arange(count)
    # lowest keep score first among active edges; inactive ones rank after every active one
    _, drop_idx = jax.lax.top_k(jnp.where(active_N, -keep_IxO.reshape(-1), -jnp.inf), count)
    pruned_N = zeros_N.at[drop_idx].max(active_N[drop_idx].astype(jnp.float32))
    num_pruned = jnp.sum(pruned_N).astype(jnp.int32)
    alive_N = active_N & (pruned_N < 0.5)
    _, grow_idx = jax.lax.top_k(jnp.where(alive_N, -jnp.inf, grow_IxO.reshape(-1)), count)
    grown_N = zeros_N.at[grow_idx].max((ranks < num_pruned).astype(jnp.float32))
    new_mask_N = alive_N.astype(jnp.float32) + grown_N
    kernel_N = jnp.where(pruned_N > 0.5, 0.0, kernel_IxO.reshape(-1))
    if zero_regrown:
        kernel_N = jnp.where(grown_N > 0.5, 0.0, kernel_N)
    shape = mask_IxO.shape
    return (new_mask_N.reshape(shape), kernel_N.reshape(shape).astype(kernel_IxO.dtype),
            {"pruned": pruned_N.reshape(shape), "grown": grown_N.reshape(shape)})
