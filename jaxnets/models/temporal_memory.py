"""A single-vector memory baseline for temporal link prediction (JODIE / TGN style).

Each node has one memory vector s_n (Kumar et al., "Predicting Dynamic Embedding Trajectory in
Temporal Interaction Networks" (JODIE), KDD 2019; Rossi et al., "Temporal Graph Networks", 2020).
As in TGN, a node's memory is updated at its *next* query from the raw message of its last event
(partner p, time gap Delta of that event since the node's previous event), so the GRU trains
end to end while the stored memories carry no gradient (TGN Sec. 3.2, "memory-related modules"):

    s'_n = GRU(W [s_p, phi(Delta)], s_n)                           (TGN eq. 1-2, "last" aggregator)
    e_n(t) = s'_n * (1 + W_p log(1 + t - t_n))                     (JODIE eq. 3, projection)
    logit(u, v, t) = MLP([e_u(t), e_v(t)])

with phi the TGAT/TGN cosine time encoding. There is no neighbourhood: this is the "single
vector" model NAT's Fig. 1 argues cannot see a common neighbour. The batch protocol (score
against the pre-batch state, then write) is NAT's (``jaxnets.models.nat``).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnets.models.nat import EventBatch, TimeEncoder


class MemoryState(NamedTuple):
    """Per-node memory (row 0 = null node).

    Attributes:
      memory: [N+1, S].
      last_partner: [N+1] int32 partner of the last event (0 = none).
      last_time: [N+1] float32 time of the last event.
      last_gap: [N+1] float32 time between the last event and the one before it (0 if none).
    """

    memory: jax.Array
    last_partner: jax.Array
    last_time: jax.Array
    last_gap: jax.Array


@dataclasses.dataclass(frozen=True)
class MemoryConfig:
    """Attributes: num_nodes N; memory_dim S; time_dim of phi."""

    num_nodes: int
    memory_dim: int = 32
    time_dim: int = 8

    def __post_init__(self) -> None:
        if self.num_nodes < 1 or self.memory_dim < 1 or self.time_dim < 1:
            raise ValueError(f"num_nodes, memory_dim and time_dim must be >= 1, got {self}")


def init_state(config: MemoryConfig) -> MemoryState:
    rows = config.num_nodes + 1
    return MemoryState(jnp.zeros((rows, config.memory_dim), jnp.float32),
                       jnp.zeros((rows,), jnp.int32), jnp.zeros((rows,), jnp.float32),
                       jnp.zeros((rows,), jnp.float32))


class MemoryModel(nn.Module):
    """JODIE/TGN-style scorer; the memory lives in a ``MemoryState`` passed in and out."""

    config: MemoryConfig

    def setup(self) -> None:
        c = self.config
        self.time_encoder = TimeEncoder(c.time_dim)
        self.message = nn.Dense(c.memory_dim, use_bias=False)
        self.gru = nn.GRUCell(c.memory_dim)
        self.projection = nn.Dense(c.memory_dim, kernel_init=nn.initializers.normal(0.1),
                                   bias_init=nn.initializers.zeros)
        self.hidden = nn.Dense(c.memory_dim)
        self.logit = nn.Dense(1)

    def _embed(self, state: MemoryState, nodes_K: jax.Array, t_K: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
        """(embedding e_n(t) [K, S], updated memory s'_n [K, S])."""
        seen = state.last_partner[nodes_K] != 0
        inputs = self.message(jnp.concatenate(
            [state.memory[state.last_partner[nodes_K]],
             self.time_encoder(state.last_gap[nodes_K])], axis=-1))
        updated, _ = self.gru(state.memory[nodes_K], inputs)
        memory = jnp.where(seen[:, None], updated, state.memory[nodes_K])
        since = jnp.where(seen, t_K - state.last_time[nodes_K], 0.0)
        return memory * (1.0 + self.projection(jnp.log1p(since)[:, None])), memory

    def __call__(self, state: MemoryState, batch: EventBatch) -> tuple[jax.Array, jax.Array, dict]:
        b = batch.src.shape[0]
        nodes = jnp.concatenate([batch.src, batch.dst, batch.neg])
        emb, memory = self._embed(state, nodes, jnp.tile(batch.t, 3))
        e_u, e_v, e_w = emb[:b], emb[b:2 * b], emb[2 * b:]
        pairs = jnp.concatenate([jnp.concatenate([e_u, e_v], -1), jnp.concatenate([e_u, e_w], -1)])
        logits = self.logit(nn.relu(self.hidden(pairs)))[:, 0]
        return logits[:b], logits[b:], {"memory_src": memory[:b], "memory_dst": memory[b:2 * b]}


def update_state(state: MemoryState, batch: EventBatch, aux: dict, key: jax.Array,
                 config: MemoryConfig) -> MemoryState:
    """Stores the updated memories of both endpoints and each one's raw message (latest event
    wins within a batch). ``key`` and ``config`` are unused (same signature as NAT's)."""
    del key, config
    aux = jax.lax.stop_gradient(aux)
    b = batch.src.shape[0]
    ori = jnp.stack([batch.src, batch.dst], axis=1).reshape(-1)
    opp = jnp.stack([batch.dst, batch.src], axis=1).reshape(-1)
    t2 = jnp.repeat(batch.t, 2)
    valid = jnp.repeat(batch.mask, 2)
    memory = jnp.stack([aux["memory_src"], aux["memory_dst"]], axis=1).reshape(2 * b, -1)
    rows = state.memory.shape[0]
    order = jnp.arange(2 * b)
    last = jax.ops.segment_max(jnp.where(valid, order, -1), jnp.where(valid, ori, 0),
                               num_segments=rows)
    target = jnp.where(valid & (last[ori] == order), ori, rows)
    gap = jnp.where(state.last_partner[ori] != 0, t2 - state.last_time[ori], 0.0)
    return MemoryState(memory=state.memory.at[target].set(memory, mode="drop"),
                       last_partner=state.last_partner.at[target].set(opp, mode="drop"),
                       last_time=state.last_time.at[target].set(t2, mode="drop"),
                       last_gap=state.last_gap.at[target].set(gap, mode="drop"))
