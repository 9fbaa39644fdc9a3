"""G2GNet masks: sparse, modular ensemble-to-ensemble connectivity for feedforward layers.

Konstantaropoulos, Smirnakis & Papadopouli, "Neuro-inspired Ensemble-to-Ensemble Communication
Primitives for Sparse and Efficient ANNs" (arXiv 2508.14140), Sec. III. The in- and out-neurons
of a layer are split into G ensembles (groups). An edge i -> o is present with probability
`p_intra` when i and o belong to the same group and `p_inter` otherwise, so the expected density
is `p_intra / G + (1 - 1/G) p_inter` (G = 8, p_inter = 0.15: 25.6 %, the paper's "75 %
sparsity"). The grouping of a layer's neurons is

  * "index":       contiguous blocks, group(i) = i // (n / G);
  * "interleaved": group(i) = i mod G;
  * "random":      a random permutation of the contiguous blocks.

The paper's three G2GNet variants: *Index* (every layer contiguous), *Random* (every layer a
fresh random grouping of its in- and out-neurons) and *Mixer* (layers alternate contiguous ->
interleaved -> contiguous, so a hidden neuron's output ensemble differs from its input ensemble
in the next layer and information mixes across ensembles).

Controls: an Erdős–Rényi mask (each edge equally likely, no group structure) with exactly the
same number of edges, and the dense layer (all-ones mask).

Kernels use flax's layout `kernel_IxO` (`y = x @ (W ⊙ M) + b`). Initialisation (the paper's
released code, `reset_parameters`): PyTorch's default Kaiming-uniform bound 1/√fan_in, then each
output unit's active weights × √(fan_in / active fan_in), the bias uniform in
±1/√(mean active fan_in) (`rescaled_init`).
"""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

__all__ = [
    "GROUPINGS", "VARIANTS", "erdos_renyi_mask", "expected_density", "g2g_mask", "group_ids",
    "init_masked_mlp", "masked_mlp_apply", "num_edges", "rescaled_init", "variant_groupings",
]

GROUPINGS = ("index", "interleaved", "random")
VARIANTS = ("index", "random", "mixer")
SAMPLING = ("bernoulli", "exact")


def _check_groups(n: int, num_groups: int, what: str) -> None:
    if num_groups < 1:
        raise ValueError(f"num_groups must be >= 1, got {num_groups}")
    if n < 1 or n % num_groups:
        raise ValueError(f"{what} ({n}) must be a positive multiple of num_groups ({num_groups})")


def group_ids(n: int, num_groups: int, grouping: str, key: jax.Array | None = None) -> jax.Array:
    """Ensemble label of each of n neurons, [n] int32 with n / G neurons per group.

    Args:
        n: number of neurons (a multiple of num_groups).
        num_groups: G.
        grouping: "index" (contiguous), "interleaved" (i mod G) or "random" (a permutation of
            the contiguous labels; needs `key`).
        key: PRNG key for "random".
    """
    _check_groups(n, num_groups, "the number of neurons")
    contiguous = jnp.arange(n, dtype=jnp.int32) // (n // num_groups)
    if grouping == "index":
        return contiguous
    if grouping == "interleaved":
        return jnp.arange(n, dtype=jnp.int32) % num_groups
    if grouping == "random":
        if key is None:
            raise ValueError("grouping='random' needs a key")
        return jax.random.permutation(key, contiguous)
    raise ValueError(f"grouping must be one of {GROUPINGS}, got {grouping!r}")


def num_edges(n_in: int, n_out: int, num_groups: int, p_intra: float, p_inter: float
              ) -> tuple[int, int]:
    """(intra, inter) edge counts of an exact-count G2G mask: round(p · candidates) each."""
    intra_candidates = n_in * n_out // num_groups
    inter_candidates = n_in * n_out - intra_candidates
    return int(round(p_intra * intra_candidates)), int(round(p_inter * inter_candidates))


def expected_density(num_groups: int, p_intra: float = 1.0, p_inter: float = 0.15) -> float:
    """p_intra / G + (1 - 1/G) p_inter: the expected fraction of edges of a G2G layer."""
    return p_intra / num_groups + (1.0 - 1.0 / num_groups) * p_inter


def _choose(u_N: jax.Array, candidates_N: jax.Array, count: int) -> jax.Array:
    """Exactly `count` entries chosen uniformly among the True ones of candidates_N (float 0/1):
    those with the largest i.i.d. uniform scores u_N (disjoint candidate sets may share u_N).

    Requires count <= candidates_N.sum() (guaranteed by the callers' static counts)."""
    u_N = jnp.where(candidates_N, u_N, -1.0)
    if count == 0:
        return jnp.zeros(candidates_N.shape, jnp.float32)
    _, idx = jax.lax.top_k(u_N, count)
    return jnp.zeros(candidates_N.shape, jnp.float32).at[idx].set(1.0)


def g2g_mask(key: jax.Array, n_in: int, n_out: int, num_groups: int = 8, *,
             p_intra: float = 1.0, p_inter: float = 0.15, in_grouping: str = "index",
             out_grouping: str = "index", sampling: str = "bernoulli") -> jax.Array:
    """A G2G ensemble-to-ensemble mask, mask_IxO float32 0/1.

    Sec. III (and `_build_mask` of the released code): P(edge i -> o) = p_intra if
    group_in(i) == group_out(o) else p_inter.

    Args:
        key: PRNG key (groupings and edges).
        n_in, n_out: layer widths, multiples of num_groups.
        num_groups: G, the number of ensembles.
        p_intra, p_inter: connection probabilities inside / across ensembles, in [0, 1].
        in_grouping, out_grouping: "index", "interleaved" or "random" (see `group_ids`).
        sampling: "bernoulli" (each edge independently, as in the paper) or "exact" (exactly
            round(p · #candidates) edges among the intra and among the inter candidates, chosen
            uniformly: the same edge count for every seed, so DST counts are static).
    """
    for name, p in (("p_intra", p_intra), ("p_inter", p_inter)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
    _check_groups(n_in, num_groups, "n_in")
    _check_groups(n_out, num_groups, "n_out")
    k_in, k_out, k_edges = jax.random.split(key, 3)
    same_IxO = (group_ids(n_in, num_groups, in_grouping, k_in)[:, None]
                == group_ids(n_out, num_groups, out_grouping, k_out)[None, :])
    if sampling == "bernoulli":
        probs = jnp.where(same_IxO, p_intra, p_inter)
        return jax.random.bernoulli(k_edges, probs).astype(jnp.float32)
    n_intra, n_inter = num_edges(n_in, n_out, num_groups, p_intra, p_inter)
    same_N = same_IxO.reshape(-1)
    u_N = jax.random.uniform(k_edges, same_N.shape)  # one draw serves both disjoint sets
    mask_N = _choose(u_N, same_N, n_intra) + _choose(u_N, ~same_N, n_inter)
    return mask_N.reshape(n_in, n_out)


def erdos_renyi_mask(key: jax.Array, n_in: int, n_out: int, edges: int) -> jax.Array:
    """Erdős–Rényi G(n, M) mask_IxO: exactly `edges` of the n_in·n_out edges, uniformly.

    The unstructured control of the paper (its `ERSparseLinear` draws each edge with the G2G
    density; we fix the count, so the control has exactly the G2G mask's number of edges)."""
    if not 0 <= edges <= n_in * n_out:
        raise ValueError(f"edges must be in [0, {n_in * n_out}], got {edges}")
    return _choose(jax.random.uniform(key, (n_in * n_out,)), jnp.ones(n_in * n_out, bool),
                   edges).reshape(n_in, n_out)


def variant_groupings(variant: str, num_layers: int) -> list[tuple[str, str]]:
    """(in_grouping, out_grouping) of each sparse layer of a G2GNet variant.

    Index: contiguous everywhere; Random: random in and out groupings in every layer; Mixer:
    contiguous in even layers, interleaved in odd ones (the released MixerSNN: contiguous ->
    interleaved -> contiguous)."""
    if variant == "index":
        return [("index", "index")] * num_layers
    if variant == "random":
        return [("random", "random")] * num_layers
    if variant == "mixer":
        return [("interleaved", "interleaved") if i % 2 else ("index", "index")
                for i in range(num_layers)]
    raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


def rescaled_init(key: jax.Array, mask_IxO: jax.Array) -> dict[str, jax.Array]:
    """{"kernel": [I, O], "bias": [O]} for a masked linear layer (released code's init).

    kernel ~ U(±1/√I) (PyTorch's kaiming_uniform with a = √5); the active weights of output
    unit o are scaled by √(I / fan_o) where 0 < fan_o = Σ_i M[i, o] < I, so the unit sees the
    dense layer's input variance; bias ~ U(±1/√mean fan), the mean over units with fan_o > 0
    (the code averages over all units; the two agree unless a unit has no input, and ours makes
    a dense block [:a, :b] of ones initialise exactly as a dense a -> b layer). Fan = I when the
    mask is empty. With an all-ones mask this is PyTorch's nn.Linear default."""
    n_in, _ = mask_IxO.shape
    k_w, k_b = jax.random.split(key)
    bound = 1.0 / jnp.sqrt(n_in)
    kernel = jax.random.uniform(k_w, mask_IxO.shape, minval=-bound, maxval=bound)
    fan_O = mask_IxO.sum(axis=0)
    scale_O = jnp.where((fan_O > 0) & (fan_O < n_in), jnp.sqrt(n_in / jnp.maximum(fan_O, 1.0)),
                        1.0)
    kernel = jnp.where(mask_IxO > 0, kernel * scale_O[None, :], kernel)
    live_O = fan_O > 0
    mean_fan = jnp.sum(fan_O) / jnp.maximum(jnp.sum(live_O), 1)
    bias_bound = 1.0 / jnp.sqrt(jnp.where(mean_fan > 0, mean_fan, float(n_in)))
    bias = jax.random.uniform(k_b, fan_O.shape, minval=-bias_bound, maxval=bias_bound)
    return {"kernel": kernel, "bias": bias}


def init_masked_mlp(key: jax.Array, masks: Sequence[jax.Array]) -> list[dict[str, jax.Array]]:
    """Parameters of an MLP whose layer l has kernel shape masks[l].shape (`rescaled_init`)."""
    keys = jax.random.split(key, len(masks))
    return [rescaled_init(k, m) for k, m in zip(keys, masks)]


def masked_mlp_apply(params: Sequence[dict[str, jax.Array]], masks: Sequence[jax.Array],
                     x_BxI: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
    """ReLU MLP with masked kernels: h_{l+1} = relu(h_l @ (W_l ⊙ M_l) + b_l), last layer linear.

    Returns:
        (logits_BxC, [h_1, ..., h_{L-1}]): the hidden ReLU activations feed the Hebbian score.
    """
    if len(params) != len(masks):
        raise ValueError(f"{len(params)} layers of params but {len(masks)} masks")
    h, hidden = x_BxI, []
    for i, (p, m) in enumerate(zip(params, masks)):
        h = h @ (p["kernel"] * m) + p["bias"][None, :]
        if i < len(params) - 1:
            h = jax.nn.relu(h)
            hidden.append(h)
    return h, hidden
