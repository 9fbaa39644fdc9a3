"""NAT: dictionary-type neighbourhood representations in fixed-size N-caches (Luo & Li,
"Neighborhood-aware Scalable Temporal Network Representation Learning", LoG 2022).

Every node keeps, besides a self representation (a GRU memory, Sec. 4.1), one N-cache per hop
k = 0, 1, 2 with M_k slots (M_0 = 1: the node itself). A slot holds (key = a neighbour id, the
time it was written, a small representation of that neighbour of dimension ``ngh_dim``). Node ids
here are 1-based; key 0 means an empty slot (as in the official code).

Per batch of events (u_i, v_i, t_i) with a negative destination w_i (Sec. 4, Alg. 1):
  1. fetch the caches of u, v, w and *refresh* each non-empty entry: rep <- GRU(W [s_key,
     phi(t_entry)], rep) (``NAT._fetch``);
  2. for a pair (u, v), group the entries of both caches by key and sum their [rep, position code]:
     the code is 1 << hop on u's side and (1 << hop) << 3 on v's side, so a key seen in both
     caches (a common neighbour) gets a code that says at which hops (the joint structural
     feature, Sec. 4.2; ``joint_features``); the code indexes a trainable embedding (64 codes);
  3. one attention layer pools the pair's distinct keys; [pooled, s'_u, s'_v] -> MLP -> logit;
  4. after scoring, the caches are updated (``update_state``): u's hop-1 cache receives v (with
     the refreshed representation u held for v, if any), u's hop-2 cache receives v's hop-1
     entries, hop-0 gets the refreshed self entry, and the same with u and v swapped; self
     representations and the "last event" record are stored. Nothing is stored with gradients
     (the official code detaches every write).
Slot hashing (Sec. 4.1, official ``ncache_hash``): slot(a) = (a (s mod 100) + a^2 ((s mod 100)
+ 1)) mod M_k, s fixed per run. Write rule (``update_ncaches``): write if the slot is empty or
holds the same key, else overwrite with probability ``replace_prob``. Within a batch, several
writes can hit one slot; the one from the latest event wins (torch leaves this to scatter order).
Cost per batch is O(B (M_1 + M_2)^2), independent of how long the history is.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

NUM_POSITION_CODES = 64  # 6 bits: hops 0-2 for u (bits 0-2) and for v (bits 3-5)


class NCache(NamedTuple):
    """One hop's N-caches of all nodes (row 0 = the null node, never written).

    Attributes:
      keys: [N+1, M] int32 neighbour ids, 0 = empty.
      times: [N+1, M] float32 time of the write.
      reps: [N+1, M, D] float32 neighbour representations.
    """

    keys: jax.Array
    times: jax.Array
    reps: jax.Array


class NATState(NamedTuple):
    """Everything NAT carries along the stream (no parameters).

    Attributes:
      caches: (hop 0, hop 1, hop 2) ``NCache`` with M = (1, M_1, M_2).
      self_rep: [N+1, S] self representations.
      prev_partner: [N+1] int32 partner of each node's last event (0 = none yet).
      prev_time: [N+1] float32 time of each node's last event.
    """

    caches: tuple[NCache, NCache, NCache]
    self_rep: jax.Array
    prev_partner: jax.Array
    prev_time: jax.Array


class EventBatch(NamedTuple):
    """A fixed-size batch of events, ids 1-based; padded rows have ``mask`` False.

    Attributes:
      src, dst, neg: [B] int32 source, destination and negative destination (0 on padding).
      t: [B] float32 event times.
      mask: [B] bool, True for real events.
    """

    src: jax.Array
    dst: jax.Array
    neg: jax.Array
    t: jax.Array
    mask: jax.Array


@dataclasses.dataclass(frozen=True)
class NATConfig:
    """NAT's sizes (official parser names in brackets).

    Attributes:
      num_nodes: N (ids 1..N).
      slots: (M_1, M_2) [n_degree].
      ngh_dim: neighbour representation width [ngh_dim].
      self_dim: self representation width [self_dim].
      pos_dim: position-code embedding width [pos_dim].
      time_dim: Fourier time features [time_dim].
      attn_dim: width of the pooled pair embedding (the official code uses the raw node feature
        width; our graphs have no node features).
      heads: attention heads, averaged [attn_n_head].
      replace_prob: overwrite probability of an occupied slot [replace_prob].
      hash_seed: s in the slot hash, drawn once per run.
      aggregation: "attention" (the paper's attention pooling) or "sum" (the official code's
        GAT layer computes attention scores but sums the projected entries unweighted).
    """

    num_nodes: int
    slots: tuple[int, int] = (8, 4)
    ngh_dim: int = 4
    self_dim: int = 32
    pos_dim: int = 8
    time_dim: int = 1
    attn_dim: int = 16
    heads: int = 2
    replace_prob: float = 0.9
    hash_seed: int = 0
    aggregation: str = "attention"

    def __post_init__(self) -> None:
        if self.num_nodes < 1:
            raise ValueError(f"num_nodes must be >= 1, got {self.num_nodes}")
        if len(self.slots) != 2 or min(self.slots) < 1:
            raise ValueError(f"slots must be (M_1, M_2) with both >= 1, got {self.slots}")
        if not 0.0 <= self.replace_prob <= 1.0:
            raise ValueError(f"replace_prob must be in [0, 1], got {self.replace_prob}")
        if self.aggregation not in ("attention", "sum"):
            raise ValueError(f"aggregation must be 'attention' or 'sum', got {self.aggregation!r}")

    @property
    def cache_sizes(self) -> tuple[int, int, int]:
        return (1, *self.slots)


def init_state(config: NATConfig) -> NATState:
    """Empty caches and zero self representations for N nodes (+ the null row 0)."""
    rows = config.num_nodes + 1
    caches = tuple(NCache(jnp.zeros((rows, m), jnp.int32), jnp.zeros((rows, m), jnp.float32),
                          jnp.zeros((rows, m, config.ngh_dim), jnp.float32))
                   for m in config.cache_sizes)
    return NATState(caches=caches, self_rep=jnp.zeros((rows, config.self_dim), jnp.float32),
                    prev_partner=jnp.zeros((rows,), jnp.int32),
                    prev_time=jnp.zeros((rows,), jnp.float32))


def slot_hash(keys: jax.Array, num_slots: int, hash_seed: int) -> jax.Array:
    """slot(a) = (a (s mod 100) + a^2 ((s mod 100) + 1)) mod M (official ``ncache_hash``).

    Computed on a mod M so that it cannot overflow int32 (the same value by modular arithmetic).
    """
    c = hash_seed % 100
    a = jnp.asarray(keys, jnp.int32) % num_slots
    return (a * c + (a * a % num_slots) * (c + 1)) % num_slots


def _latest_writer(target: jax.Array, write: jax.Array, num_targets: int) -> jax.Array:
    """[C] bool: the last candidate (in candidate order) among those writing each target."""
    order = jnp.arange(target.shape[0], dtype=jnp.int32)
    claim = jnp.where(write, order, -1)
    last = jax.ops.segment_max(claim, jnp.where(write, target, 0), num_segments=num_targets)
    return write & (last[target] == order)


def update_ncaches(cache: NCache, nodes_C: jax.Array, keys_C: jax.Array, times_C: jax.Array,
                   reps_CxD: jax.Array, valid_C: jax.Array, draws_C: jax.Array,
                   replace_prob: float, hash_seed: int) -> NCache:
    """Writes candidate entries into the owners' N-caches (official ``update_ncaches``).

    Candidate c writes (keys_C[c], times_C[c], reps_CxD[c]) into slot slot_hash(key) of node
    nodes_C[c] if it is valid, its key is non-zero, and the slot (as it was before this call) is
    empty, holds the same key, or ``draws_C[c] < replace_prob``. Among several writers of one
    slot the last candidate wins.

    Args:
      cache: the hop's ``NCache``.
      nodes_C: [C] owners (1-based; 0 only on invalid rows).
      keys_C, times_C, reps_CxD: [C], [C], [C, D] the entries.
      valid_C: [C] bool.
      draws_C: [C] uniform [0, 1) draws for the random overwrite.
      replace_prob: alpha in [0, 1].
      hash_seed: s of ``slot_hash``.
    """
    rows, m = cache.keys.shape
    flat = nodes_C * m + slot_hash(keys_C, m, hash_seed)
    stored = cache.keys.reshape(-1)[flat]
    occupied = (stored != 0) & (stored != keys_C)
    write = valid_C & (keys_C != 0) & (~occupied | (draws_C < replace_prob))
    target = jnp.where(_latest_writer(flat, write, rows * m), flat, rows * m)  # out of range: drop

    def put(table: jax.Array, values: jax.Array) -> jax.Array:
        flat_table = table.reshape((rows * m,) + table.shape[2:])
        return flat_table.at[target].set(values, mode="drop").reshape(table.shape)

    return NCache(put(cache.keys, keys_C), put(cache.times, times_C), put(cache.reps, reps_CxD))


class Fetched(NamedTuple):
    """The refreshed cache entries of K query nodes for one hop: keys [K, M], reps [K, M, D]."""

    keys: jax.Array
    times: jax.Array
    reps: jax.Array


def joint_features(keys_u_PxS: jax.Array, reps_u_PxSxD: jax.Array, codes_u_PxS: jax.Array,
                   keys_v_PxS: jax.Array, reps_v_PxSxD: jax.Array, codes_v_PxS: jax.Array
                   ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Groups a pair's cache entries by key (official ``get_joint_feature``), static shapes.

    Each side lists S entries (all hops concatenated) with key 0 for empty ones. The 2S entries
    are matched by key; every group's representation and position code are the sums over its
    entries, and the group is represented by its first entry.

    Args:
      keys_u_PxS, reps_u_PxSxD, codes_u_PxS: u's entries (codes already 1 << hop).
      keys_v_PxS, reps_v_PxSxD, codes_v_PxS: v's entries (codes already (1 << hop) << 3).

    Returns:
      (reps [P, 2S, D] group sums, codes [P, 2S] int32 group codes, first [P, 2S] bool: the entry
      is the first of its non-empty group). Rows with ``first`` False are to be ignored.
    """
    keys = jnp.concatenate([keys_u_PxS, keys_v_PxS], axis=1)
    reps = jnp.concatenate([reps_u_PxSxD, reps_v_PxSxD], axis=1)
    codes = jnp.concatenate([codes_u_PxS, codes_v_PxS], axis=1)
    valid = keys != 0
    same = (keys[:, :, None] == keys[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    group_reps = jnp.einsum("pab,pbd->pad", same.astype(reps.dtype), reps)
    group_codes = jnp.sum(jnp.where(same, codes[:, None, :], 0), axis=2)
    n = keys.shape[1]
    earlier = jnp.tril(jnp.ones((n, n), bool), k=-1)[None]
    first = valid & ~jnp.any(same & earlier, axis=2)
    return group_reps, group_codes, first


class TimeEncoder(nn.Module):
    """phi(t) = cos(t omega + phase), omega initialised to 10^-linspace(0, 9, d), both learnable
    (official ``TimeEncode``, from TGAT)."""

    dim: int

    @nn.compact
    def __call__(self, t: jax.Array) -> jax.Array:
        omega = self.param("omega", lambda _: 10.0 ** -jnp.linspace(0.0, 9.0, self.dim))
        phase = self.param("phase", nn.initializers.zeros, (self.dim,))
        lead = (1,) * t.ndim
        return jnp.cos(t[..., None] * omega.reshape(lead + (-1,)) + phase.reshape(lead + (-1,)))


class NAT(nn.Module):
    """NAT's scoring network; the caches live in a ``NATState`` passed in and out."""

    config: NATConfig

    def setup(self) -> None:
        c = self.config
        self.time_encoder = TimeEncoder(c.time_dim)
        self.ngh_input = nn.Dense(c.ngh_dim, use_bias=False)
        self.ngh_gru = nn.GRUCell(c.ngh_dim)
        self.self_input = nn.Dense(c.self_dim, use_bias=False)
        self.self_gru = nn.GRUCell(c.self_dim)
        self.position = nn.Embed(NUM_POSITION_CODES, c.pos_dim)
        self.project = nn.Dense(c.heads * c.attn_dim, use_bias=False)
        glorot = nn.initializers.glorot_uniform()
        self.score_a = self.param("score_a", glorot, (c.heads, c.attn_dim))
        self.score_b = self.param("score_b", glorot, (c.heads, c.attn_dim))
        self.pool_bias = self.param("pool_bias", nn.initializers.zeros, (c.attn_dim,))
        hidden = c.attn_dim + 2 * c.self_dim
        self.out_hidden = nn.Dense(hidden, kernel_init=nn.initializers.glorot_normal())
        self.out_logit = nn.Dense(1, kernel_init=nn.initializers.glorot_normal())

    def _fetch(self, state: NATState, nodes_K: jax.Array) -> tuple[Fetched, ...]:
        """Reads and refreshes the hop 0/1/2 caches of K nodes (``batch_fetch_ncaches``)."""
        out = []
        for hop, cache in enumerate(state.caches):
            stored = cache.keys[nodes_K]                                  # [K, M]
            keys = nodes_K[:, None] if hop == 0 else stored               # hop 0 = the node itself
            times = cache.times[nodes_K]
            reps = cache.reps[nodes_K]
            inputs = self.ngh_input(jnp.concatenate(
                [state.self_rep[keys], self.time_encoder(times)], axis=-1))
            refreshed, _ = self.ngh_gru(reps, inputs)
            refreshed = refreshed * (stored != 0)[..., None]              # empty -> 0
            out.append(Fetched(keys, times, refreshed))
        return tuple(out)

    def _self_rep(self, state: NATState, nodes_K: jax.Array) -> jax.Array:
        """s' = GRU(W [s_{last partner}, phi(t_last)], s) (official ``updated_self_rep``)."""
        inputs = self.self_input(jnp.concatenate(
            [state.self_rep[state.prev_partner[nodes_K]],
             self.time_encoder(state.prev_time[nodes_K])], axis=-1))
        new, _ = self.self_gru(state.self_rep[nodes_K], inputs)
        return new

    def _pool(self, reps_PxAxD: jax.Array, codes_PxA: jax.Array, first_PxA: jax.Array) -> jax.Array:
        """Attention (or sum) over a pair's distinct keys -> [P, attn_dim]."""
        c = self.config
        h = jnp.concatenate([reps_PxAxD, self.position(codes_PxA)], axis=-1)
        z = self.project(h).reshape(h.shape[:2] + (c.heads, c.attn_dim))   # [P, A, H, F]
        if c.aggregation == "attention":
            raw = (jnp.sum(z * self.score_a[None, None], -1)
                   + jnp.sum(z * self.score_b[None, None], -1))
            scores = nn.leaky_relu(raw, negative_slope=0.2)               # [P, A, H]
            scores = jnp.where(first_PxA[..., None], scores, -1e9)   # finite: no NaN on padding
            weights = jax.nn.softmax(scores, axis=1) * first_PxA[..., None]
        else:
            weights = jnp.broadcast_to(first_PxA[..., None], z.shape[:3]).astype(z.dtype)
        pooled = jnp.sum(weights[..., None] * z, axis=1)                   # [P, H, F]
        return jnp.mean(pooled, axis=1) + self.pool_bias[None]

    def __call__(self, state: NATState, batch: EventBatch) -> tuple[jax.Array, jax.Array, dict]:
        """Scores a batch against the state *before* it.

        Returns:
          (pos_logits [B], neg_logits [B], aux) where aux holds what ``update_state`` writes:
          ``fetched`` (per hop, for the 2B nodes [src; dst]), ``self_src``/``self_dst`` [B, S],
          and ``codes_pos`` [B, 2S] / ``first_pos`` (the positive pairs' joint codes).
        """
        b = batch.src.shape[0]
        nodes = jnp.concatenate([batch.src, batch.dst, batch.neg])
        fetched = self._fetch(state, nodes)
        keys = jnp.concatenate([f.keys for f in fetched], axis=1)          # [3B, S]
        reps = jnp.concatenate([f.reps for f in fetched], axis=1)
        codes = jnp.concatenate([jnp.full(f.keys.shape, 1 << hop, jnp.int32)
                                 for hop, f in enumerate(fetched)], axis=1)
        key_u, key_v, key_w = keys[:b], keys[b:2 * b], keys[2 * b:]
        rep_u, rep_v, rep_w = reps[:b], reps[b:2 * b], reps[2 * b:]
        code_u, code_t = codes[:b], codes[:b] << 3
        pair_reps, pair_codes, pair_first = joint_features(
            jnp.concatenate([key_u, key_u]), jnp.concatenate([rep_u, rep_u]),
            jnp.concatenate([code_u, code_u]), jnp.concatenate([key_v, key_w]),
            jnp.concatenate([rep_v, rep_w]), jnp.concatenate([code_t, code_t]))
        pooled = self._pool(pair_reps, pair_codes, pair_first)             # [2B, F]
        selves = self._self_rep(state, nodes)
        s_u, s_v, s_w = selves[:b], selves[b:2 * b], selves[2 * b:]
        pair_in = jnp.concatenate([pooled, jnp.concatenate([s_u, s_u]),
                                   jnp.concatenate([s_v, s_w])], axis=-1)
        logits = self.out_logit(nn.relu(self.out_hidden(pair_in)))[:, 0]
        aux = {"fetched": tuple(Fetched(f.keys[:2 * b], f.times[:2 * b], f.reps[:2 * b])
                                for f in fetched),
               "self_src": s_u, "self_dst": s_v,
               "codes_pos": pair_codes[:b], "first_pos": pair_first[:b]}
        return logits[:b], logits[b:], aux


def update_state(state: NATState, batch: EventBatch, aux: dict, key: jax.Array,
                 config: NATConfig) -> NATState:
    """Writes a scored batch into the caches and self representations (official
    ``update_memory`` + the self-rep writes of ``contrast``); no gradients flow into the state.

    Candidates are ordered by event, u's side before v's, so "the latest writer wins" means the
    latest event. Hop 2 receives the *pre-batch* hop-1 entries (refreshed), as in the official
    order of writes.

    Args:
      state: the state the batch was scored against.
      batch: the batch (padded rows are ignored).
      aux: ``NAT.__call__``'s aux for this batch and state.
      key: PRNG key for the random overwrites.
      config: the model's config.
    """
    aux = jax.lax.stop_gradient(aux)
    b = batch.src.shape[0]
    m1 = config.slots[0]
    ori = jnp.stack([batch.src, batch.dst], axis=1).reshape(-1)            # [2B] event-major
    opp = jnp.stack([batch.dst, batch.src], axis=1).reshape(-1)
    t2 = jnp.repeat(batch.t, 2)
    valid2 = jnp.repeat(batch.mask, 2)

    def event_major(x: jax.Array) -> jax.Array:                            # [2B, ...] src;dst
        return jnp.stack([x[:b], x[b:]], axis=1).reshape((2 * b,) + x.shape[1:])

    h0, h1 = (Fetched(*map(event_major, f)) for f in aux["fetched"][:2])
    draw_keys = jax.random.split(key, 3)
    caches = list(state.caches)
    # hop 0: the node's own entry, refreshed.
    caches[0] = update_ncaches(caches[0], ori, ori, t2, h0.reps[:, 0], valid2,
                               jax.random.uniform(draw_keys[0], (2 * b,)),
                               config.replace_prob, config.hash_seed)
    # hop 1: the partner, carrying the refreshed rep the owner held for it (else zeros).
    slot = slot_hash(opp, m1, config.hash_seed)
    held_key = jnp.take_along_axis(h1.keys, slot[:, None], axis=1)[:, 0]
    held_rep = jnp.take_along_axis(h1.reps, slot[:, None, None], axis=1)[:, 0]
    held_rep = jnp.where((held_key == opp)[:, None], held_rep, 0.0)
    caches[1] = update_ncaches(caches[1], ori, opp, t2, held_rep, valid2,
                               jax.random.uniform(draw_keys[1], (2 * b,)),
                               config.replace_prob, config.hash_seed)
    # hop 2: the partner's hop-2 cache receives the owner's hop-1 entries.
    c2 = 2 * b * m1
    caches[2] = update_ncaches(
        caches[2], jnp.repeat(opp, m1), h1.keys.reshape(-1), h1.times.reshape(-1),
        h1.reps.reshape(c2, -1), jnp.repeat(valid2, m1) & (h1.keys.reshape(-1) != 0),
        jax.random.uniform(draw_keys[2], (c2,)), config.replace_prob, config.hash_seed)
    # self representations and the last-event record.
    selves = event_major(jnp.concatenate([aux["self_src"], aux["self_dst"]]))
    rows = state.self_rep.shape[0]
    target = jnp.where(_latest_writer(ori, valid2, rows), ori, rows)
    return NATState(
        caches=tuple(caches),
        self_rep=state.self_rep.at[target].set(selves, mode="drop"),
        prev_partner=state.prev_partner.at[target].set(opp, mode="drop"),
        prev_time=state.prev_time.at[target].set(t2, mode="drop"))
