"""A compiled training loop for link predictors with target-link removal.

The protocol of NCN/NCNC (Wang, Yang & Zhang, ICLR 2024, official ``NeighborOverlap.py``) and
of SEAL-style link prediction: each epoch shuffles the positive training edges into mini-batches;
a mini-batch's own edges are hidden from the model (``removed_edges_M``, the official
``--maskinput``); negatives are uniform random node pairs, one per positive, drawn once per
epoch; the loss is ``-mean log σ(pos) - mean log σ(-neg)``. Validation/test Hits@K (OGB
definition) is measured every few epochs on the full training graph; the best evaluation by
validation Hits@K is kept.

This forks the shared ``fit`` loop because a link step needs the batch's *edge indices* (to hide
them) and negatives drawn per epoch inside ``jit``; several epochs run in one ``lax.scan``.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets.metrics.link import hits_at_k

# batch_logits(params, pairs_Bx2, removed_edges_M | None, key | None) -> [B] logits; key None
# means evaluation (no dropout).
BatchLogits = Callable[..., jax.Array]


def uniform_negatives(key: jax.Array, num: int, num_nodes: int) -> jax.Array:
    """``num`` uniform node pairs (i, j), i != j, as [num, 2] int32.

    Pairs that happen to be training edges are kept (no rejection): on a sparse graph such as
    Cora (0.1 % density) that is about one pair in a thousand.
    """
    if num_nodes < 2:
        raise ValueError(f"num_nodes must be >= 2, got {num_nodes}")
    k_i, k_d = jax.random.split(key)
    i = jax.random.randint(k_i, (num,), 0, num_nodes)
    j = (i + jax.random.randint(k_d, (num,), 1, num_nodes)) % num_nodes
    return jnp.stack([i, j], axis=1).astype(jnp.int32)


def link_bce_loss(pos_logits_B: jax.Array, neg_logits_B: jax.Array,
                  valid_B: jax.Array) -> jax.Array:
    """``-mean log σ(pos) - mean log σ(-neg)`` over the valid entries of a padded batch."""
    w = valid_B.astype(jnp.float32)
    count = jnp.maximum(w.sum(), 1.0)
    return (-jnp.sum(w * jax.nn.log_sigmoid(pos_logits_B))
            - jnp.sum(w * jax.nn.log_sigmoid(-neg_logits_B))) / count


def make_train_epochs(batch_logits: BatchLogits, tx: optax.GradientTransformation,
                      train_pos_Mx2: jax.Array, num_nodes: int, batch_size: int,
                      mask_input: bool = True):
    """Builds ``train(params, opt_state, key, epoch0, num_epochs)`` (jit it; ``num_epochs``
    static).

    Each epoch draws a permutation of the M training edges and M negatives from
    ``fold_in(key, epoch)``; the last mini-batch is padded (padding entries have zero loss weight
    and are not removed from the graph).

    Returns:
      A function returning ``(params, opt_state, loss_per_epoch)``.
    """
    m = int(train_pos_Mx2.shape[0])
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    num_batches = -(-m // batch_size)
    padded = num_batches * batch_size

    def one_epoch(carry, epoch):
        params, opt_state, key = carry
        k_perm, k_neg, k_step = jax.random.split(jax.random.fold_in(key, epoch), 3)
        perm = jax.random.permutation(k_perm, m)
        idx_TxB = jnp.concatenate([perm, jnp.zeros(padded - m, perm.dtype)]).reshape(
            num_batches, batch_size)
        valid_TxB = (jnp.arange(padded) < m).reshape(num_batches, batch_size)
        neg_TxBx2 = uniform_negatives(k_neg, padded, num_nodes).reshape(
            num_batches, batch_size, 2)

        def step(carry, t):
            params, opt_state = carry
            idx, valid = idx_TxB[t], valid_TxB[t]
            removed = (jnp.zeros(m, bool).at[idx].max(valid) if mask_input else None)
            pairs = jnp.concatenate([train_pos_Mx2[idx], neg_TxBx2[t]])

            def loss_fn(p):
                logits = batch_logits(p, pairs, removed, jax.random.fold_in(k_step, t))
                return link_bce_loss(logits[:batch_size], logits[batch_size:], valid)

            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state),
                                                   jnp.arange(num_batches))
        return (params, opt_state, key), losses.mean()

    def train(params, opt_state, key, epoch0, num_epochs: int):
        (params, opt_state, _), loss_E = jax.lax.scan(
            one_epoch, (params, opt_state, key), epoch0 + jnp.arange(num_epochs))
        return params, opt_state, loss_E

    return train


def pair_logits(batch_logits: BatchLogits, params, pairs_Px2: jax.Array,
                chunk: int) -> jax.Array:
    """Evaluation logits [P] of many pairs, at most ``chunk`` pairs at a time (``lax.map``).

    The P pairs are cut into ``ceil(P / chunk)`` equal chunks, so at most one pair per chunk is
    padding (a pair (0, 0) whose logit is dropped).
    """
    p = pairs_Px2.shape[0]
    if p == 0:
        raise ValueError("pair_logits needs at least one pair")
    num = -(-p // chunk)
    size = -(-p // num)
    padded = jnp.concatenate([pairs_Px2, jnp.zeros((num * size - p, 2), pairs_Px2.dtype)])
    out = jax.lax.map(lambda c: batch_logits(params, c, None, None),
                      padded.reshape(num, size, 2))
    return out.reshape(-1)[:p]


def make_evaluate(batch_logits: BatchLogits, split: dict, chunk: int,
                  ks: tuple[int, ...] = (20, 50, 100)):
    """Builds ``evaluate(params) -> {"val_hits@K": .., "test_hits@K": ..}`` (jit it).

    Args:
      batch_logits: the model's pair scorer.
      split: ``{"val_pos", "val_neg", "test_pos", "test_neg"}`` [P, 2] pair arrays.
      chunk: evaluation batch size.
      ks: the K of Hits@K.
    """
    names = ("val_pos", "val_neg", "test_pos", "test_neg")

    def evaluate(params):
        pairs = [jnp.asarray(split[name]) for name in names]
        logits = pair_logits(batch_logits, params, jnp.concatenate(pairs), chunk)
        ends = np.cumsum([p.shape[0] for p in pairs])
        s = dict(zip(names, jnp.split(logits, ends[:-1])))
        out = {}
        for k in ks:
            out[f"val_hits@{k}"] = hits_at_k(s["val_pos"], s["val_neg"], k)
            out[f"test_hits@{k}"] = hits_at_k(s["test_pos"], s["test_neg"], k)
        return out

    return evaluate


def fit_link_predictor(train, evaluate, params, opt_state, key, *, epochs: int,
                       eval_every: int, select: str = "val_hits@100",
                       log: Callable[[dict], None] | None = None) -> dict:
    """Runs ``epochs`` epochs, evaluating every ``eval_every``; keeps the best by ``select``.

    Args:
      train: jitted ``make_train_epochs`` function (``num_epochs`` static).
      evaluate: jitted ``make_evaluate`` function.
      params, opt_state, key: initial state and run key.
      epochs: total epochs (a multiple of ``eval_every``).
      eval_every: epochs per compiled chunk.
      select: the validation metric that picks the reported evaluation.
      log: optional callback receiving each evaluation record.

    Returns:
      ``{"best": record at the best validation, "history": [records], "params": final}``.
    """
    if epochs % eval_every or epochs < eval_every:
        raise ValueError(f"epochs ({epochs}) must be a positive multiple of eval_every "
                         f"({eval_every})")
    history, best = [], None
    for c in range(epochs // eval_every):
        params, opt_state, loss = train(params, opt_state, key, c * eval_every, eval_every)
        record = {k: float(v) for k, v in evaluate(params).items()}
        record["epoch"] = (c + 1) * eval_every
        record["loss"] = float(np.mean(np.asarray(loss)))
        history.append(record)
        if log is not None:
            log(record)
        if best is None or record[select] > best[select]:
            best = record
    return {"best": best, "history": history, "params": params}
