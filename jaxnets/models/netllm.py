"""NetLLM (Wu et al., "NetLLM: Adapting Large Language Models for Networking", SIGCOMM 2024) for
adaptive-bitrate streaming: the multimodal encoder, token stacking, the networking head and the
return-conditioned policy, plus the small transformer trunk that stands in for the LLM.

Policy (paper Sec. 4, official `rl_policy.py` / `state_encoder.py`), per decision step t:

* multimodal encoder (Sec. 4.1): of the 6 x 6 Pensieve state, the last bitrate, the buffer and
  the chunks left each go through Linear(1 -> F) + LeakyReLU; the past throughputs and download
  times through Conv1D(1 -> F, kernel 4) + LeakyReLU, flattened (3F); the next chunk's sizes
  through Conv1D(1 -> F, kernel 6) + LeakyReLU (F); each of the six features then has its own
  Linear to the trunk width E. The return-to-go R_t and the previous action a_t (as
  (a_t + 1) / levels) are embedded by Linear(1 -> E), and a learned timestep embedding is added
  to all eight tokens of the step;
* token stacking: [R_t, s_t^1, ..., s_t^6, a_t] for each of the last w steps (8w tokens),
  LayerNorm, fed to the trunk as input embeddings (no token ids);
* networking head (Sec. 4.2): Linear(E -> levels) read at the last state token s_t^6
  (position 8t + 6), so one forward pass yields a distribution over the valid bitrates and an
  invalid answer is impossible by construction (against decoding tokens and parsing them).

Because the trunk is causal, the head at step t never sees a_t, so one forward pass over a
window of w steps gives the training logits of all w steps, and at inference the current step's
action slot can hold anything (`window_logits`).

DD-LRNA (Sec. 4.3): the trunk is frozen and only low-rank matrices on its attention query and
value projections (`jaxnets.nn.lora`), the encoder, the embeddings and the head are trained, by
return-conditioned behaviour cloning (decision-transformer style): cross-entropy between the
head's logits and the actions logged by existing policies (`jaxnets.envs.abr`).

The trunk (`Trunk`) is the block structure of `jaxnets.nn.char_lm.CharLM` (pre-LN, multi-head
attention, LLaMA's gated FFN, learned positions, final LayerNorm) taking embeddings instead of
token ids. "Pre-trained here": `ProxyLM` wraps it with a character embedding and an output head,
trained briefly by next-character prediction on the local grammar corpus
(`jaxnets.data.char_corpus`); the wrapper is then thrown away and the trunk kept.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnets.nn.char_lm import GatedFFN

__all__ = ["LORA_TARGET", "NetLLMPolicy", "ProxyLM", "STATE_TOKEN", "StateEncoder",
           "TOKENS_PER_STEP", "Trunk", "abr_controller", "behaviour_cloning_loss", "join_trunk",
           "normalize_rewards", "returns_to_go", "split_trunk", "window_batch", "window_logits"]

TOKENS_PER_STEP = 8      # [R_t, s_t^1..s_t^6, a_t]
STATE_TOKEN = 6          # index of s_t^6 within a step: the networking head reads here


class _Block(nn.Module):
    """x + Attn(LN(x)), then x + FFN(LN(x)) (CharLM's block; names match its param paths)."""
    d_model: int
    num_heads: int
    d_ff: int

    @nn.compact
    def __call__(self, x_BxTxD: jax.Array, mask_1x1xTxT: jax.Array) -> jax.Array:
        y = nn.LayerNorm(name="ln_attn")(x_BxTxD)
        y = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, name="attn")(
            y, y, mask=mask_1x1xTxT)
        x_BxTxD = x_BxTxD + y
        y = nn.LayerNorm(name="ln_ffn")(x_BxTxD)
        return x_BxTxD + GatedFFN(self.d_model, self.d_ff, name="ffn")(y)


class Trunk(nn.Module):
    """Causal transformer on input embeddings: [B, T, E] -> hidden states [B, T, E].

    Attributes:
      d_model (E), num_heads, num_layers, d_ff: sizes; max_len: the position table's length.
    """
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 4
    d_ff: int = 256
    max_len: int = 128

    @nn.compact
    def __call__(self, x_BxTxE: jax.Array) -> jax.Array:
        if x_BxTxE.ndim != 3 or x_BxTxE.shape[-1] != self.d_model:
            raise ValueError(f"trunk input must be [B, T, {self.d_model}], got {x_BxTxE.shape}")
        t = x_BxTxE.shape[1]
        if t > self.max_len:
            raise ValueError(f"sequence length {t} exceeds the trunk's max_len {self.max_len}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} not divisible by num_heads "
                             f"{self.num_heads}")
        pos = self.param("pos", nn.initializers.normal(0.02), (self.max_len, self.d_model))
        x = x_BxTxE + pos[None, :t]
        mask = nn.make_causal_mask(jnp.ones((1, t), bool))
        for layer in range(self.num_layers):
            x = _Block(self.d_model, self.num_heads, self.d_ff, name=f"block_{layer}")(x, mask)
        return nn.LayerNorm(name="ln_final")(x)


class ProxyLM(nn.Module):
    """The trunk's generic pre-training task: next-token prediction on a character corpus.

    tokens [B, T] -> logits [B, T, V]; the trunk's params live under "trunk".
    """
    vocab_size: int
    trunk: Trunk

    @nn.compact
    def __call__(self, tokens_BxT: jax.Array) -> jax.Array:
        x = nn.Embed(self.vocab_size, self.trunk.d_model, name="embed")(tokens_BxT)
        return nn.Dense(self.vocab_size, name="head")(self.trunk(x))


class StateEncoder(nn.Module):
    """NetLLM's multimodal feature encoder for the 6 x 6 ABR state (Pensieve/Genet layout).

    states [..., 6, H] (H = 6 history columns) -> six features [..., F], [..., F],
    [..., (H - 3) F], [..., (H - 3) F], [..., F], [..., F].
    """
    features: int = 128
    conv_size: int = 4
    levels: int = 6

    @nn.compact
    def __call__(self, states: jax.Array) -> tuple[jax.Array, ...]:
        if states.shape[-2] != 6 or states.shape[-1] < max(self.conv_size, self.levels):
            raise ValueError(f"states must be [..., 6, H>={max(self.conv_size, self.levels)}], "
                             f"got {states.shape}")
        lead = states.shape[:-2]
        flat = states.reshape((-1,) + states.shape[-2:])
        act = nn.leaky_relu

        def scalar(row, name):
            return act(nn.Dense(self.features, name=name)(flat[:, row, -1:]))

        def series(values, kernel, name):
            conv = nn.Conv(self.features, (kernel,), padding="VALID", name=name)
            return act(conv(values[:, :, None])).reshape(values.shape[0], -1)

        out = (scalar(0, "last_bitrate"), scalar(1, "buffer"),
               series(flat[:, 2, :], self.conv_size, "throughput"),
               series(flat[:, 3, :], self.conv_size, "download_time"),
               series(flat[:, 4, :self.levels], self.levels, "next_sizes"),
               scalar(5, "chunks_left"))
        return tuple(o.reshape(lead + o.shape[1:]) for o in out)


class NetLLMPolicy(nn.Module):
    """Return-conditioned NetLLM policy: a window of w steps -> bitrate logits [B, w, levels].

    Call args (w steps, oldest first; timesteps count decisions from the episode start):
      states [B, w, 6, H] float, actions [B, w] int (levels; the slot of a step whose action is
      not yet chosen may hold anything), returns [B, w] float (return-to-go), timesteps [B, w]
      int in [0, max_ep_len].
    """
    trunk: Trunk
    levels: int = 6
    encoder_features: int = 128
    conv_size: int = 4
    max_ep_len: int = 100

    @nn.compact
    def __call__(self, states: jax.Array, actions: jax.Array, returns: jax.Array,
                 timesteps: jax.Array) -> jax.Array:
        b, w = actions.shape
        if states.shape[:2] != (b, w) or returns.shape != (b, w) or timesteps.shape != (b, w):
            raise ValueError(f"states [B, w, 6, H], actions/returns/timesteps [B, w] must agree; "
                             f"got {states.shape}, {actions.shape}, {returns.shape}, "
                             f"{timesteps.shape}")
        if TOKENS_PER_STEP * w > self.trunk.max_len:
            raise ValueError(f"window of {w} steps needs {TOKENS_PER_STEP * w} positions, the "
                             f"trunk has {self.trunk.max_len}")
        e = self.trunk.d_model
        time = nn.Embed(self.max_ep_len + 1, e, name="embed_timestep")(timesteps)
        ret = nn.Dense(e, name="embed_return")(returns[..., None].astype(jnp.float32))
        act_in = ((actions.astype(jnp.float32) + 1.0) / self.levels)[..., None]
        act = nn.Dense(e, name="embed_action")(act_in)
        features = StateEncoder(self.encoder_features, self.conv_size, self.levels,
                                name="encoder")(states)
        state_tokens = [nn.Dense(e, name=f"embed_state{i + 1}")(f)
                        for i, f in enumerate(features)]
        tokens = jnp.stack([ret] + state_tokens + [act], axis=2) + time[:, :, None]
        tokens = nn.LayerNorm(name="embed_ln")(tokens.reshape(b, TOKENS_PER_STEP * w, e))
        hidden = self.trunk(tokens).reshape(b, w, TOKENS_PER_STEP, e)
        return nn.Dense(self.levels, name="head")(hidden[:, :, STATE_TOKEN])


def window_logits(policy: NetLLMPolicy, params, states: jax.Array, actions: jax.Array,
                  returns: jax.Array, timesteps: jax.Array, current: jax.Array) -> jax.Array:
    """Logits of one decision from a fixed-size context window (one forward pass).

    The window holds the episode's steps left-aligned: steps 0..current are real, the rest
    padding that the causal trunk never lets the head at `current` see. This equals feeding
    the variable-length context of the official deques without re-compiling per length.

    Args:
      params: the policy's variables; states [w, 6, H], actions/returns/timesteps [w];
      current: int index in [0, w) of the step being decided.
    Returns:
      logits [levels].
    """
    logits = policy.apply(params, states[None], actions[None], returns[None], timesteps[None])
    return logits[0, current]


# ---------------------------------------------------------------------------------------------
# DD-LRNA: the experience pool as return-conditioned windows, and the frozen trunk + LoRA split.

LORA_TARGET = r"attn/(query|value)/kernel$"   # the paper's LoRA on the q and v projections


def normalize_rewards(rewards: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """Min-max normalisation of rewards with the pool's extremes (official `dataset.py`)."""
    return (rewards - low) / jnp.maximum(high - low, 1e-12)


def returns_to_go(rewards_NxT: jax.Array, scale: float, gamma: float = 1.0) -> jax.Array:
    """R_t = sum_{t' >= t} gamma^(t' - t) r_t' / scale along the last axis (gamma = 1 in NetLLM)."""
    def back(carry, r):
        carry = r + gamma * carry
        return carry, carry

    moved = jnp.moveaxis(rewards_NxT, -1, 0)
    _, out = jax.lax.scan(back, jnp.zeros(moved.shape[1:], moved.dtype), moved, reverse=True)
    return jnp.moveaxis(out, 0, -1) / scale


def window_batch(states_ExTx6xH: jax.Array, actions_ExT: jax.Array, returns_ExT: jax.Array,
                 episode_B: jax.Array, start_B: jax.Array, window: int
                 ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Gathers B windows of `window` consecutive steps from the pool's E episodes.

    Returns:
      states [B, w, 6, H], actions [B, w], returns [B, w], timesteps [B, w] (= start + 0..w-1).
    """
    def one(e, s):
        take = lambda x: jax.lax.dynamic_slice_in_dim(x[e], s, window, axis=0)
        return take(states_ExTx6xH), take(actions_ExT), take(returns_ExT)

    states, actions, returns = jax.vmap(one)(episode_B, start_B)
    timesteps = start_B[:, None] + jnp.arange(window)[None, :]
    return states, actions, returns, timesteps


def behaviour_cloning_loss(logits_BxWxA: jax.Array, actions_BxW: jax.Array
                           ) -> tuple[jax.Array, jax.Array]:
    """Cross-entropy between the head's logits and the logged actions (NetLLM Sec. 4.3), and the
    accuracy of the argmax."""
    logp = jax.nn.log_softmax(logits_BxWxA)
    nll = -jnp.take_along_axis(logp, actions_BxW[..., None], axis=-1)[..., 0]
    accuracy = jnp.mean(jnp.argmax(logits_BxWxA, -1) == actions_BxW)
    return jnp.mean(nll), accuracy


def split_trunk(params: dict) -> tuple[dict, dict]:
    """(trunk params, everything else) of a `NetLLMPolicy`'s `params` collection."""
    rest = {k: v for k, v in params.items() if k != "trunk"}
    return params["trunk"], rest


def join_trunk(trunk: dict, rest: dict) -> dict:
    """Inverse of `split_trunk`: the policy's `params` collection."""
    return {**rest, "trunk": trunk}


# ---------------------------------------------------------------------------------------------
# Inference: the policy as an ABR controller (one forward pass per decision).

def abr_controller(policy: NetLLMPolicy, variables, window: int, target_return: float,
                   reward_low: float, reward_high: float, return_scale: float,
                   greedy: bool = False):
    """The return-conditioned policy as a `jaxnets.envs.abr` policy (official `sample`).

    The target return starts at `target_return` (in the pool's scaled units) and drops by each
    played chunk's normalised reward / `return_scale`; the last `window` steps are the context.
    The action is sampled from the head's softmax (or its argmax when `greedy`).

    Returns:
      (policy_fn, initial carry).
    """
    low, high = jnp.float32(reward_low), jnp.float32(reward_high)

    def init(obs_shape=(6, 6)):
        return dict(states=jnp.zeros((window,) + obs_shape, jnp.float32),
                    actions=jnp.zeros((window,), jnp.int32),
                    returns=jnp.zeros((window,), jnp.float32),
                    timesteps=jnp.zeros((window,), jnp.int32),
                    target=jnp.float32(target_return))

    def controller(carry, obs, reward, step, key):
        drop = jnp.where(step > 0, normalize_rewards(reward, low, high) / return_scale, 0.0)
        target = carry["target"] - drop
        full = step >= window
        shift = lambda x: jnp.where(full, jnp.roll(x, -1, axis=0), x)
        index = jnp.minimum(step, window - 1)
        states = shift(carry["states"]).at[index].set(obs)
        returns = shift(carry["returns"]).at[index].set(target)
        timesteps = shift(carry["timesteps"]).at[index].set(step)
        actions = shift(carry["actions"])
        logits = window_logits(policy, variables, states, actions, returns, timesteps, index)
        level = jnp.where(greedy, jnp.argmax(logits), jax.random.categorical(key, logits))
        level = level.astype(jnp.int32)
        return level, dict(states=states, actions=actions.at[index].set(level), returns=returns,
                           timesteps=timesteps, target=target)

    return controller, init()
