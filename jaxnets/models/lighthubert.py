"""LightHuBERT's own pieces: span masking, the teacher's layer-averaged target, the masked L1
distillation loss, and per-layer hidden states of an `ElasticTransformer`.

Wang et al., "LightHuBERT: Lightweight and Configurable Speech Representation Learning with
Once-for-All Hidden-Unit BERT" (Interspeech 2022). The supernet and its slicing rules are the
shared `jaxnets.nn.elastic_transformer.ElasticTransformer` and `jaxnets.supernet.TransformerSpace`;
what is specific to the paper is the two-stage distillation:
  * the student sees the input with spans masked (HuBERT/wav2vec 2.0 span masking, `span_mask`);
  * the teacher sees the clean input; its target is the mean of its top-k transformer layer
    outputs, each layer-normalised without affine parameters (data2vec style, which the authors
    use in both stages, lighthubert issue #6), under `stop_gradient` (`distillation_target`);
  * the student's prediction head (reading the active embedding features [0, E)) regresses that
    target with an L1 loss on masked positions only (`masked_l1`);
  * stage 1 trains the full-size student, stage 2 initialises the supernet from it and trains
    uniformly sampled subnets with the same loss.
The teacher itself is trained here by masked-token prediction (`masked_cross_entropy`), standing
in for HuBERT's masked prediction of cluster ids.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnets.nn.elastic_transformer import ElasticTransformer, ElasticTransformerBlock
from jaxnets.supernet.train import build_supernet_step
from jaxnets.train import TrainState, batch_indices

__all__ = ["build_masked_step", "corrupt", "distillation_target", "encode_inputs", "heldout_loss",
           "hidden_states", "layer_norm_no_affine", "masked_cross_entropy", "masked_l1",
           "span_mask", "teacher_targets"]

# (params, x [B, T, V + T] from `encode_inputs`, arch or None) -> [B, T, out]
ApplyFn = Callable[[Any, jax.Array, Any], jax.Array]


def span_mask(key: jax.Array, shape: tuple[int, int], mask_prob: float, span: int) -> jax.Array:
    """HuBERT-style span masking: bool [B, T], True where the student's input is masked.

    As in wav2vec 2.0 / HuBERT (`compute_mask_indices`, mask_prob 0.65 and span 10 for speech):
    `round(mask_prob * T / span)` (at least one) start positions are drawn uniformly from
    [0, T - span] per row and each masks `span` consecutive positions; spans may overlap, so the
    masked fraction is at most `mask_prob`.

    Args:
        key: PRNG key.
        shape: (B, T).
        mask_prob: expected share of positions covered before overlaps, in (0, 1].
        span: length of each masked span, in [1, T].
    """
    batch, length = shape
    if not 0.0 < mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in (0, 1], got {mask_prob}")
    if not 1 <= span <= length:
        raise ValueError(f"span must be in [1, T={length}], got {span}")
    num_spans = max(1, int(round(mask_prob * length / span)))
    starts_BxS = jax.random.randint(key, (batch, num_spans), 0, length - span + 1)
    t = jnp.arange(length).reshape(1, 1, length)
    starts = starts_BxS[..., None]
    return jnp.any((t >= starts) & (t < starts + span), axis=1)


def corrupt(tokens_BxT: jax.Array, mask_BxT: jax.Array, mask_id: int) -> jax.Array:
    """The student's input: `mask_id` at masked positions, the tokens elsewhere."""
    if tokens_BxT.shape != mask_BxT.shape:
        raise ValueError(f"tokens {tokens_BxT.shape} and mask {mask_BxT.shape} must match")
    return jnp.where(mask_BxT, jnp.asarray(mask_id, tokens_BxT.dtype), tokens_BxT)


def hidden_states(model: ElasticTransformer, variables: dict, x: jax.Array) -> jax.Array:
    """Outputs of every transformer block of a plain (`arch=None`) `ElasticTransformer`.

    The blocks' `__call__` outputs are captured with Flax's `capture_intermediates`, so the
    shared module is reused as it is (no second transformer implementation).

    Args:
        model: the transformer (all layers run).
        variables: `{"params": ...}`.
        x: [..., T, F_in] inputs.

    Returns:
        [L, ..., T, D], layer l's output (after its post-LN, or its residual sum under pre-LN).
    """
    _, state = model.apply(variables, x, capture_intermediates=lambda module, _: isinstance(
        module, ElasticTransformerBlock))
    captured = state["intermediates"]
    return jnp.stack([captured[f"block_{l}"]["__call__"][0]
                      for l in range(len(model.num_heads))])


def layer_norm_no_affine(x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """`(x - mean) / sqrt(var + eps)` over the last axis, without scale or bias."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps)


def distillation_target(hidden_LxBxTxD: jax.Array, top_layers: int) -> jax.Array:
    """The teacher's target: `mean_{l in top k} LN(h_l)`, [B, T, D], gradient stopped.

    data2vec's target as LightHuBERT uses it (issue #6: the average of the teacher's last 8 of 12
    layers), each layer normalised without affine parameters before averaging. The teacher is
    frozen: `stop_gradient` makes that explicit even when its params are traced.

    Args:
        hidden_LxBxTxD: teacher layer outputs, [L, ..., T, D] (from `hidden_states`).
        top_layers: k, 1 <= k <= L.
    """
    num_layers = hidden_LxBxTxD.shape[0]
    if not 1 <= top_layers <= num_layers:
        raise ValueError(f"top_layers must be in [1, {num_layers}], got {top_layers}")
    top = layer_norm_no_affine(hidden_LxBxTxD[num_layers - top_layers:])
    return jax.lax.stop_gradient(jnp.mean(top, axis=0))


def masked_l1(pred_BxTxD: jax.Array, target_BxTxD: jax.Array, mask_BxT: jax.Array
              ) -> jax.Array:
    """Mean absolute error over masked positions and features: the distillation loss (both
    stages). `sum_{b,t,d} m_bt |p_btd - y_btd| / (D * max(1, sum m))`; the target is held
    constant."""
    if pred_BxTxD.shape != target_BxTxD.shape or pred_BxTxD.shape[:-1] != mask_BxT.shape:
        raise ValueError(f"pred {pred_BxTxD.shape}, target {target_BxTxD.shape} and mask "
                         f"{mask_BxT.shape} must be [B, T, D], [B, T, D], [B, T]")
    m = mask_BxT.astype(pred_BxTxD.dtype)
    err = jnp.abs(pred_BxTxD - jax.lax.stop_gradient(target_BxTxD)).mean(axis=-1)
    return jnp.sum(err * m) / jnp.maximum(jnp.sum(m), 1.0)


def masked_cross_entropy(logits_BxTxV: jax.Array, tokens_BxT: jax.Array, mask_BxT: jax.Array
                         ) -> jax.Array:
    """Masked-token prediction loss of the teacher: mean cross-entropy over masked positions."""
    logp = nn.log_softmax(logits_BxTxV)
    nll = -jnp.take_along_axis(logp, tokens_BxT[..., None], axis=-1)[..., 0]
    m = mask_BxT.astype(nll.dtype)
    return jnp.sum(nll * m) / jnp.maximum(jnp.sum(m), 1.0)


def encode_inputs(tokens_BxT: jax.Array, vocab: int) -> jax.Array:
    """[B, T, vocab + T] model inputs: one-hot characters and one-hot positions, so the
    transformer's input projection is a token plus position embedding table at one scale (the
    shared `pos_embed`, initialised at 0.02, alone left the position signal too weak to learn
    from at this scale)."""
    length = tokens_BxT.shape[-1]
    pos = jnp.broadcast_to(jnp.eye(length), tokens_BxT.shape[:-1] + (length, length))
    return jnp.concatenate([jax.nn.one_hot(tokens_BxT, vocab), pos], axis=-1)


def _inputs(tokens_BxT: jax.Array, mask_BxT: jax.Array, mask_id: int, vocab: int) -> jax.Array:
    return encode_inputs(corrupt(tokens_BxT, mask_BxT, mask_id), vocab)


def teacher_targets(model: ElasticTransformer, variables: dict, tokens_NxT: jax.Array,
                    top_layers: int, vocab: int, chunk: int = 128) -> jax.Array:
    """The frozen teacher's `distillation_target` on clean inputs, [N, T, D], computed once.

    The teacher never sees the mask (as in data2vec / LightHuBERT), so its targets do not depend
    on the step and are precomputed in chunks of `chunk` rows under `lax.map`.
    """
    n = tokens_NxT.shape[0]
    pad = -n % chunk
    tokens = jnp.concatenate([tokens_NxT, jnp.zeros((pad,) + tokens_NxT.shape[1:],
                                                    tokens_NxT.dtype)])

    def one(rows_CxT):
        hidden = hidden_states(model, variables, encode_inputs(rows_CxT, vocab))
        return distillation_target(hidden, top_layers)

    out = jax.jit(lambda t: jax.lax.map(one, t.reshape((-1, chunk) + t.shape[1:])))(tokens)
    return out.reshape((-1,) + out.shape[2:])[:n]


def build_masked_step(apply_fn: ApplyFn, tokens_NxT: jax.Array, tx: optax.GradientTransformation,
                      sample_archs: Callable[[jax.Array, jax.Array], Any], *, batch_size: int,
                      mask_prob: float, span: int, mask_id: int, vocab: int,
                      data_key: jax.Array, targets_NxTxD: jax.Array | None = None
                      ) -> Callable[[TrainState], tuple[TrainState, dict]]:
    """A `fit` step of masked prediction over K sampled subnets (`build_supernet_step`, loss
    averaged over the K subnets, as LightHuBERT's stage 2 averages over sampled subnets).

    The batch of step t is `batch_indices(data_key, t, N, B)` (the same order for every seed);
    the span mask comes from the step's key and is shared by the K subnets of the step. With
    `targets_NxTxD` the loss is the distillation L1 (`masked_l1`, targets held constant);
    without, masked-token cross-entropy (the teacher's pre-training).

    Args:
        apply_fn: the (super)net's forward; `sample_archs` gives its arch batch [K, ...]
            (for a plain network, any K=1 batch; apply_fn ignores it).
        tokens_NxT: training rows (int32).
        tx: optax transform.
        sample_archs: `(key, step) -> archs` with leading axis K.
        batch_size, mask_prob, span, mask_id, vocab: batch and corruption settings.
        data_key: PRNG key of the data order.
        targets_NxTxD: precomputed teacher targets (`teacher_targets`), or None.
    """
    n, length = tokens_NxT.shape

    def batch(step):
        return batch_indices(data_key, step, n, batch_size)

    def forward(params, arch, step, key):
        mask = span_mask(key, (batch_size, length), mask_prob, span)
        return apply_fn(params, _inputs(tokens_NxT[batch(step)], mask, mask_id, vocab), arch), mask

    def loss(outputs, step):
        pred, mask = outputs
        if targets_NxTxD is None:
            return masked_cross_entropy(pred, tokens_NxT[batch(step)], mask)
        return masked_l1(pred, targets_NxTxD[batch(step)], mask)

    return build_supernet_step(forward, loss, tx, sample_archs, reduce="mean")


def heldout_loss(apply_fn: ApplyFn, params: Any, archs: Any, tokens_NxT: jax.Array,
                 mask_NxT: jax.Array, *, mask_id: int, vocab: int,
                 targets_NxTxD: jax.Array | None = None) -> jax.Array:
    """Held-out masked L1 to the targets (or masked-token accuracy without targets) of each
    subnet in `archs` ([K, ...], one `vmap`; None for a plain network), shape [K] ([1] for
    None)."""
    x = _inputs(tokens_NxT, mask_NxT, mask_id, vocab)

    def one(arch):
        out = apply_fn(params, x, arch)
        if targets_NxTxD is not None:
            return masked_l1(out, targets_NxTxD, mask_NxT)
        hit = (jnp.argmax(out, -1) == tokens_NxT).astype(jnp.float32)
        return jnp.sum(hit * mask_NxT) / jnp.maximum(jnp.sum(mask_NxT), 1)

    if archs is None:
        return one(None)[None]
    return jax.vmap(one)(archs)
