"""FactorLLM (Zhao et al. 2024, arXiv 2408.11855): a dense gated FFN factorised into experts.

Sec. 3.1 (knowledge factorisation): a trained gated FFN `FFN(x) = (act(x W_g) ⊙ x W_u) W_d` has
no biases and is separable over its F intermediate neurons, so permuting the neurons and
partitioning them into E equal groups gives E experts with

    Σ_j expert_j(x) = FFN(x)                                          (exact)

(`factorise_ffn`). Sec. 3.2 adds a linear router and routes each token to its top-k experts,
whose outputs are summed and scaled by E/k (`FactorMoE`); at k = E the scale is 1 and every
expert is selected, so the MoE is the dense FFN again. The router is trained with the
Prior-Approximate (PA) loss on the frozen dense teacher's hidden stream h (the teacher FFN's
input at that layer; `prior_approximate_loss`):

    mse_j(h) = mean_d (expert_j(h) − FFN(h) · k/E)²
    prior    = top-k mask of the k experts with the lowest mse_j     (pseudo-label)
    L_PA     = KL(softmax(router(h)) ‖ softmax(prior))               (both clipped at 1e-7)

plus the balance term mean(top-k mask ⊙ softmax(router(h))) (`balance_loss`); the paper's
objective is CE + 0.05·L_PA + 0.01·L_balance. The pseudo-label and KL follow the released code
(`LlamaMLP_stu.forward`, `loss.DistillLoss`), which scales by E//k where we use E/k (the same for
the paper's E/k ∈ {1, 2, 4}).

The hard top-k gate has no gradient, so the router learns only from L_PA and L_balance; the
`straight_through` call argument adds `p − stop_gradient(p)` to the gate (p = router softmax),
which leaves the forward pass unchanged and lets the LM loss train the router (our control).

On this CPU scale the experts are computed densely and masked; `ffn_flops_per_token` counts the
FLOPs a sparse implementation spends (k of E experts plus the router).
"""
from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnets.nn.char_lm import ACTIVATIONS

__all__ = ["FactorMoE", "balance_loss", "charlm_to_moe_params", "dense_ffn", "expert_outputs",
           "factor_losses", "factorise_ffn", "ffn_flops_per_token", "prior_approximate_loss",
           "pa_prior", "router_probs", "topk_mask", "trainable_labels"]

_EPS = 1e-7  # the released code's probability clip in DistillLoss


def _check_experts(d_ff: int, num_experts: int, top_k: int | None = None) -> None:
    if num_experts < 1 or d_ff % num_experts:
        raise ValueError(f"num_experts must be >= 1 and divide d_ff={d_ff}, got {num_experts}")
    if top_k is not None and not 1 <= top_k <= num_experts:
        raise ValueError(f"top_k must be in [1, num_experts={num_experts}], got {top_k}")


def factorise_ffn(ffn: Mapping[str, jax.Array], num_experts: int,
                  key: jax.Array | None) -> dict[str, jax.Array]:
    """Permute-then-partition of a gated FFN's neurons into experts (FactorLLM Sec. 3.1).

    Args:
        ffn: `GatedFFN` params `w_gate` [D, F], `w_up` [D, F], `w_down` [F, D].
        num_experts: E, dividing F.
        key: draws the neuron permutation; None keeps the neurons in order (contiguous slices,
            as the released code does).
    Returns:
        {"w_gate": [E, D, F/E], "w_up": [E, D, F/E], "w_down": [E, F/E, D]}, expert j holding
        neurons perm[j F/E : (j+1) F/E]; the experts sum exactly to the dense FFN.
    """
    w_gate_DxF, w_up_DxF, w_down_FxD = ffn["w_gate"], ffn["w_up"], ffn["w_down"]
    d, f = w_gate_DxF.shape
    if w_up_DxF.shape != (d, f) or w_down_FxD.shape != (f, d):
        raise ValueError(f"inconsistent FFN shapes {w_gate_DxF.shape}, {w_up_DxF.shape}, "
                         f"{w_down_FxD.shape}")
    _check_experts(f, num_experts)
    perm_F = jnp.arange(f) if key is None else jax.random.permutation(key, f)
    m = f // num_experts
    return {
        "w_gate": w_gate_DxF[:, perm_F].reshape(d, num_experts, m).transpose(1, 0, 2),
        "w_up": w_up_DxF[:, perm_F].reshape(d, num_experts, m).transpose(1, 0, 2),
        "w_down": w_down_FxD[perm_F].reshape(num_experts, m, d),
    }


def dense_ffn(ffn: Mapping[str, jax.Array], x_xD: jax.Array, activation: str) -> jax.Array:
    """The dense gated FFN (act(x W_g) ⊙ x W_u) W_d from `GatedFFN` params: [..., D] -> [..., D]."""
    h = ACTIVATIONS[activation](x_xD @ ffn["w_gate"]) * (x_xD @ ffn["w_up"])
    return h @ ffn["w_down"]


def expert_outputs(experts: Mapping[str, jax.Array], x_xD: jax.Array,
                   activation: str) -> jax.Array:
    """Every expert's output expert_j(x) = (act(x W_g^j) ⊙ x W_u^j) W_d^j: [.., D] -> [.., E, D]."""
    act = ACTIVATIONS[activation]
    h_xExM = act(jnp.einsum("...d,edm->...em", x_xD, experts["w_gate"])) * jnp.einsum(
        "...d,edm->...em", x_xD, experts["w_up"])
    return jnp.einsum("...em,emd->...ed", h_xExM, experts["w_down"])


def topk_mask(logits_xE: jax.Array, k: int) -> jax.Array:
    """Hard 0/1 mask of the k largest entries along the last axis (ties: lowest index first)."""
    _, idx_xK = jax.lax.top_k(logits_xE, k)
    return jnp.sum(jax.nn.one_hot(idx_xK, logits_xE.shape[-1], dtype=logits_xE.dtype), axis=-2)


def router_probs(router: Mapping[str, jax.Array], x_xD: jax.Array) -> jax.Array:
    """softmax(x W_r + b_r): the router's distribution over experts, [..., D] -> [..., E]."""
    logits_xE = x_xD @ router["kernel"]
    bias_E = router["bias"]
    return jax.nn.softmax(logits_xE + bias_E.reshape((1,) * (logits_xE.ndim - 1) + (-1,)),
                          axis=-1)


def pa_prior(y_experts_xExD: jax.Array, y_dense_xD: jax.Array, top_k: int) -> jax.Array:
    """The PA pseudo-label: top-k mask of the experts closest (MSE) to FFN(h)·k/E (Sec. 3.2)."""
    e = y_experts_xExD.shape[-2]
    target_xD = y_dense_xD * (top_k / e)
    mse_xE = jnp.mean(jnp.square(y_experts_xExD - target_xD[..., None, :]), axis=-1)
    return topk_mask(-mse_xE, top_k)


def prior_approximate_loss(p_router_xE: jax.Array, prior_xE: jax.Array) -> jax.Array:
    """L_PA = mean over tokens of KL(p_router ‖ softmax(prior)), both clipped to [1e-7, 1 − 1e-7].

    The direction KL(router ‖ target) follows the released code's `DistillLoss(input=router,
    target=softmax(mask))`; the target carries no gradient.
    """
    q = jax.lax.stop_gradient(jax.nn.softmax(prior_xE, axis=-1))
    p = jnp.clip(p_router_xE, _EPS, 1 - _EPS)
    q = jnp.clip(q, _EPS, 1 - _EPS)
    return jnp.mean(jnp.sum(p * jnp.log(p / q), axis=-1))


def balance_loss(p_router_xE: jax.Array, top_k: int) -> jax.Array:
    """mean(top-k mask ⊙ p_router) over tokens and experts (the released code's balance term)."""
    mask = jax.lax.stop_gradient(topk_mask(p_router_xE, top_k))
    return jnp.mean(mask * p_router_xE)


class FactorMoE(nn.Module):
    """Top-k mixture of factorised experts; a drop-in `ffn_cls` for `CharLM` (Sec. 3.2).

    y = (E/k) Σ_j g_j expert_j(x), g = top-k mask of router(x) [+ p − sg(p) if straight-through].
    Params: `router` {kernel [D, E], bias [E]}, `w_gate` [E, D, F/E], `w_up` [E, D, F/E],
    `w_down` [E, F/E, D] (fill them with `factorise_ffn` of a trained `GatedFFN`).
    Sows `router_probs` into "intermediates".
    """
    d_model: int
    d_ff: int
    activation: str = "silu"
    num_experts: int = 4
    top_k: int = 2

    @nn.compact
    def __call__(self, x_BxTxD: jax.Array, *,
                 straight_through: jax.Array | float = 0.0) -> jax.Array:
        """Args:
            x_BxTxD: the FFN input.
            straight_through: 0 for the hard gate (paper); 1 adds p − stop_gradient(p) so the LM
                loss reaches the router (values in between scale that gradient). A per-layer
                array of `CharLM`'s `ffn_kwargs_L` lands here as a scalar.
        """
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        _check_experts(self.d_ff, self.num_experts, self.top_k)
        e, m = self.num_experts, self.d_ff // self.num_experts
        init = nn.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
        router = {
            "kernel": self.param("router_kernel", nn.initializers.lecun_normal(),
                                 (self.d_model, e)),
            "bias": self.param("router_bias", nn.initializers.zeros, (e,)),
        }
        experts = {
            "w_gate": self.param("w_gate", init, (e, self.d_model, m)),
            "w_up": self.param("w_up", init, (e, self.d_model, m)),
            "w_down": self.param("w_down", init, (e, m, self.d_model)),
        }
        p_BxTxE = router_probs(router, x_BxTxD)
        self.sow("intermediates", "router_probs", p_BxTxE)
        gate_BxTxE = topk_mask(p_BxTxE, self.top_k)
        gate_BxTxE = gate_BxTxE + straight_through * (p_BxTxE - jax.lax.stop_gradient(p_BxTxE))
        y_BxTxExD = expert_outputs(experts, x_BxTxD, self.activation)
        return (e / self.top_k) * jnp.einsum("bte,bted->btd", gate_BxTxE, y_BxTxExD)


def charlm_to_moe_params(dense_params: Any, num_layers: int, num_experts: int,
                         key: jax.Array) -> dict:
    """A `CharLM(ffn_cls=FactorMoE)` param tree from a trained dense `CharLM`'s.

    Everything but the FFNs is copied; each layer's FFN is factorised with its own permutation
    and gets a fresh router (lecun-normal kernel, zero bias), both drawn from `key`.
    """
    params = dict(dense_params["params"])
    for layer in range(num_layers):
        name = f"block_{layer}"
        k_perm, k_router = jax.random.split(jax.random.fold_in(key, layer))
        dense = params[name]["ffn"]
        experts = factorise_ffn(dense, num_experts, k_perm)
        d = dense["w_gate"].shape[0]
        block = dict(params[name])
        block["ffn"] = {
            "router_kernel": nn.initializers.lecun_normal()(k_router, (d, num_experts)),
            "router_bias": jnp.zeros((num_experts,)),
            **experts,
        }
        params[name] = block
    return {"params": params}


def trainable_labels(params: Any) -> Any:
    """"trainable" for the FFN experts and routers, "frozen" for embeddings, positions,
    attention, norms and head (FactorLLM's fine-tuning split); for `optax.multi_transform`."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: "trainable" if "'ffn'" in jax.tree_util.keystr(path) else "frozen",
        params)


def factor_losses(moe_params: Any, dense_params: Any, teacher_inputs: list[jax.Array],
                  top_k: int, activation: str) -> tuple[jax.Array, jax.Array]:
    """(L_PA, L_balance) summed over layers, on the frozen teacher's hidden stream.

    Args:
        moe_params: the `CharLM(ffn_cls=FactorMoE)` params (router and experts per layer).
        dense_params: the frozen dense teacher's `CharLM` params (its FFN gives FFN(h)).
        teacher_inputs: per layer, the teacher FFN's input h [B, T, D] (its sown `ffn_input`).
        top_k: k.
        activation: the FFN gate's nonlinearity.
    """
    pa, bal = jnp.zeros(()), jnp.zeros(())
    for layer, h_BxTxD in enumerate(teacher_inputs):
        h_BxTxD = jax.lax.stop_gradient(h_BxTxD)
        ffn = moe_params["params"][f"block_{layer}"]["ffn"]
        experts = {n: ffn[n] for n in ("w_gate", "w_up", "w_down")}
        router = {"kernel": ffn["router_kernel"], "bias": ffn["router_bias"]}
        dense = jax.lax.stop_gradient(dense_params["params"][f"block_{layer}"]["ffn"])
        y_dense = dense_ffn(dense, h_BxTxD, activation)
        y_experts = expert_outputs(jax.lax.stop_gradient(experts), h_BxTxD, activation)
        prior = pa_prior(y_experts, y_dense, top_k)
        p = router_probs(router, h_BxTxD)
        pa = pa + prior_approximate_loss(p, prior)
        bal = bal + balance_loss(p, top_k)
    return pa, bal


def ffn_flops_per_token(d_model: int, d_ff: int, num_experts: int | None = None,
                        top_k: int | None = None, overhead: bool = True) -> int:
    """FLOPs of one FFN per token (2 per multiply-add).

    Dense (num_experts None): three D x F matmuls, 2·3·D·F, plus F activations and F products.
    MoE: k of E experts at 2·3·D·(F/E) + 2·(F/E) each, i.e. exactly k/E of the dense count;
    `overhead` adds the router (2·D·E, E for the softmax) and the gated, E/k-scaled sum (k·D + D).
    """
    if num_experts is None:
        return 6 * d_model * d_ff + 2 * d_ff
    k = num_experts if top_k is None else top_k
    _check_experts(d_ff, num_experts, k)
    m = d_ff // num_experts
    flops = k * (6 * d_model * m + 2 * m)
    if overhead:
        flops += 2 * d_model * num_experts + num_experts + k * d_model + d_model
    return flops
