"""N2N policies (Ashok et al., ICLR 2018): layer removal and layer shrinkage, and REINFORCE.

  * Stage 1, removal (Sec. 3.2, "Layer removal"): a bidirectional LSTM reads the teacher's layer
    descriptors and outputs, for every layer, a distribution over {remove, keep}; the first layer
    and the final (classifier) layer are always kept (the released `controllers/LSTM.py`: 2 layers,
    hidden 30).
  * Stage 2, shrinkage (Sec. 3.2, "Layer shrinkage"): an autoregressive LSTM visits the kept
    layers in order and samples a scale for each from a lookup; the previous action is fed back
    as input (`controllers/AutoregressiveParam.py`: 2 stacked LSTM cells, hidden 30).
  * Training (Sec. 3.3, eq. 2): REINFORCE with N rollouts and a baseline,
    `grad J ~ (1/N) sum_i (R_i - b) sum_t grad log pi(a_t^i | h_t^i)`; the released `rl.py`
    instead weights every rollout by the epoch's mean reward minus b (`per_rollout=False`).

A layer descriptor is `[is_hidden, is_head, fan_in / W, width / W, position / (T - 1)]`, W the
teacher's max width (the paper's conv descriptor: type, kernel, stride, out-channels, padding).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["RemovalPolicy", "ShrinkPolicy", "layer_descriptors", "reinforce_loss",
           "removal_free_mask", "sample_removal", "sample_shrink", "update_baseline"]

DESCRIPTOR_SIZE = 5


def layer_descriptors(in_features: int, hidden: Sequence[int], out_features: int) -> jax.Array:
    """The teacher's layers as [T, 5] float32 rows, T = L + 1 (hidden layers, then the head)."""
    sizes = [in_features, *hidden, out_features]
    width = float(max(hidden))
    count = len(sizes) - 1
    rows = [[float(t < count - 1), float(t == count - 1), sizes[t] / width, sizes[t + 1] / width,
             t / max(count - 1, 1)] for t in range(count)]
    return jnp.asarray(rows, jnp.float32)


def removal_free_mask(num_layers: int) -> jax.Array:
    """bool [T]: the layers whose removal action is sampled (not the first nor the head)."""
    return (jnp.arange(num_layers) > 0) & (jnp.arange(num_layers) < num_layers - 1)


class RemovalPolicy(nn.Module):
    """Bidirectional stacked LSTM: descriptors [T, D] -> logits [T, 2] over {remove, keep}."""
    hidden_size: int = 30
    num_layers: int = 2

    @nn.compact
    def __call__(self, desc_TxD: jax.Array) -> jax.Array:
        h = desc_TxD[None]
        for i in range(self.num_layers):
            h = nn.Bidirectional(nn.RNN(nn.OptimizedLSTMCell(self.hidden_size)),
                                 nn.RNN(nn.OptimizedLSTMCell(self.hidden_size)),
                                 name=f"bilstm_{i}")(h)
        return nn.Dense(2, name="out")(h[0])


def sample_removal(params, policy: RemovalPolicy, desc_TxD: jax.Array, key: jax.Array,
                   uniform: bool = False) -> tuple[jax.Array, jax.Array]:
    """Samples one removal rollout.

    Args:
        params, policy: the removal policy.
        desc_TxD: layer descriptors.
        key: PRNG key.
        uniform: sample keep/remove with probability 1/2 each (the random-search control).

    Returns:
        (keep [T] bool with the first layer and the head forced to keep, log pi(a) summed over the
        sampled (free) layers, a scalar).
    """
    logits = policy.apply(params, desc_TxD)
    if uniform:
        logits = jnp.zeros_like(logits)
    actions = jax.random.categorical(key, logits)  # 1 = keep
    free = removal_free_mask(desc_TxD.shape[0])
    keep = jnp.where(free, actions == 1, True)
    return keep, removal_log_prob(params, policy, desc_TxD, keep)


def removal_log_prob(params, policy: RemovalPolicy, desc_TxD: jax.Array, keep_T: jax.Array
                     ) -> jax.Array:
    """`sum_t log pi(a_t)` over the free layers of a removal rollout `keep_T`."""
    logp = jax.nn.log_softmax(policy.apply(params, desc_TxD))
    chosen = jnp.where(keep_T, logp[:, 1], logp[:, 0])
    return jnp.sum(jnp.where(removal_free_mask(desc_TxD.shape[0]), chosen, 0.0))


class ShrinkPolicy(nn.Module):
    """Autoregressive 2-layer LSTM over the hidden layers: step l reads the layer's descriptor,
    its keep flag and the previous layer's chosen scale, and outputs logits over the lookup.

    `__call__(desc_LxD, keep_L, actions_L)` teacher-forces given actions and returns logits [L, K];
    `sample_shrink` runs it step by step, sampling.
    """
    lookup: Sequence[float]
    hidden_size: int = 30
    num_layers: int = 2

    def setup(self):
        self.cells = [nn.OptimizedLSTMCell(self.hidden_size, name=f"cell_{i}")
                      for i in range(self.num_layers)]
        self.out = nn.Dense(len(self.lookup), name="out")

    def initial_carry(self) -> list:
        zeros = jnp.zeros((self.hidden_size,), jnp.float32)
        return [(zeros, zeros) for _ in range(self.num_layers)]

    def step(self, carry: list, desc_D: jax.Array, keep: jax.Array, prev_scale: jax.Array
             ) -> tuple[list, jax.Array]:
        """One autoregressive step; returns (new carry, logits [K])."""
        h = jnp.concatenate([desc_D, keep.astype(jnp.float32)[None], prev_scale[None]])
        new = []
        for cell, c in zip(self.cells, carry):
            c, h = cell(c, h)
            new.append(c)
        return new, self.out(h)

    def __call__(self, desc_LxD: jax.Array, keep_L: jax.Array, actions_L: jax.Array
                 ) -> jax.Array:
        lookup = jnp.asarray(self.lookup, jnp.float32)
        carry, prev, logits = self.initial_carry(), jnp.asarray(1.0), []
        for l in range(desc_LxD.shape[0]):
            carry, lg = self.step(carry, desc_LxD[l], keep_L[l], prev)
            logits.append(lg)
            prev = jnp.where(keep_L[l], lookup[actions_L[l]], prev)
        return jnp.stack(logits)


def sample_shrink(params, policy: ShrinkPolicy, desc_LxD: jax.Array, keep_L: jax.Array,
                  key: jax.Array, uniform: bool = False) -> tuple[jax.Array, jax.Array]:
    """Samples one shrinkage rollout autoregressively (removed layers get action K-1, unused).

    Returns:
        (actions [L] int32 indices into the lookup, log pi(a) summed over the kept layers).
    """
    lookup = jnp.asarray(policy.lookup, jnp.float32)
    last = len(policy.lookup) - 1

    def run(module: ShrinkPolicy):
        carry, prev, actions = module.initial_carry(), jnp.asarray(1.0), []
        for l in range(desc_LxD.shape[0]):
            carry, logits = module.step(carry, desc_LxD[l], keep_L[l], prev)
            if uniform:
                logits = jnp.zeros_like(logits)
            a = jnp.where(keep_L[l], jax.random.categorical(jax.random.fold_in(key, l), logits),
                          last)
            actions.append(a)
            prev = jnp.where(keep_L[l], lookup[a], prev)
        return jnp.stack(actions).astype(jnp.int32)

    actions = nn.apply(run, policy)(params)
    return actions, shrink_log_prob(params, policy, desc_LxD, keep_L, actions)


def shrink_log_prob(params, policy: ShrinkPolicy, desc_LxD: jax.Array, keep_L: jax.Array,
                    actions_L: jax.Array) -> jax.Array:
    """`sum_l log pi(a_l | a_<l)` over the kept layers."""
    logp = jax.nn.log_softmax(policy.apply(params, desc_LxD, keep_L, actions_L))
    chosen = jnp.take_along_axis(logp, actions_L[:, None], axis=1)[:, 0]
    return jnp.sum(jnp.where(keep_L, chosen, 0.0))


def reinforce_loss(log_probs_N: jax.Array, rewards_N: jax.Array, baseline: jax.Array,
                   per_rollout: bool = True) -> jax.Array:
    """REINFORCE surrogate whose gradient is eq. 2 of N2N, `-(1/N) sum_i A_i log pi(a^i)`.

    Args:
        log_probs_N: [N] summed log-probabilities of each rollout's actions (differentiable).
        rewards_N: [N] rewards (treated as constants).
        baseline: scalar b.
        per_rollout: `A_i = R_i - b` (the paper); False: `A_i = mean(R) - b` for every rollout
            (the released `rl.py`).
    """
    rewards_N = jax.lax.stop_gradient(rewards_N)
    advantage = rewards_N - baseline
    if not per_rollout:
        advantage = jnp.broadcast_to(jnp.mean(rewards_N) - baseline, rewards_N.shape)
    return -jnp.mean(jax.lax.stop_gradient(advantage) * log_probs_N)


def update_baseline(baseline: jax.Array, rewards_N: jax.Array, epoch: jax.Array, decay: float
                    ) -> jax.Array:
    """Moving-average baseline: `b <- decay * b + (1 - decay) * mean(R)`, started at the first
    epoch's mean reward (epoch 0)."""
    mean = jnp.mean(rewards_N)
    return jnp.where(epoch == 0, mean, decay * baseline + (1.0 - decay) * mean)
