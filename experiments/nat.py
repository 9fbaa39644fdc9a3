"""NAT (Luo & Li, "Neighborhood-aware Scalable Temporal Network Representation Learning",
LoG 2022): N-cache joint structural features vs a single-vector memory model, temporal link
prediction on a synthetic triadic-closure stream and on CollegeMsg (UCI in the paper).

Models. NAT (``jaxnets.models.nat``): hop-0/1/2 N-caches of (1, M_1, M_2) slots per node with the
paper's slot hash and random overwrite, GRU-refreshed neighbour representations, joint
structural features of a pair (entries grouped by key, 6-bit position codes -> embedding),
attention pooling, GRU self representations. Baseline (``jaxnets.models.temporal_memory``): a
JODIE/TGN-style memory (one GRU memory per node updated from its last raw message, JODIE's
time projection, MLP on the pair) with no neighbourhood.

Protocol (the official ``main.py``/``train.py``): events sorted by time, split at the 70 % and
85 % time quantiles; batches of ``batch_size`` consecutive events are scored against the state
before the batch and then written into it; one random negative destination per event, uniform
over the distinct destinations of the edges seen so far in the protocol (train; train + val;
all); loss BCE(pos, 1) + BCE(neg, 0), Adam. Each epoch starts from empty caches and replays the
training stream; validation continues the state; after the last epoch the test stream continues
the validation state (transductive). Inductive (the official ``--mode i``): 10 % of the nodes,
drawn from those active after the validation time, are masked; train and validation events
must avoid them; a separately trained model replays every event up to the test time (no
training) and is tested on the test events that touch a masked node. AUC of pos vs neg scores.
Seeds vmap together (params, caches, negatives, the inductive mask and the hash seed differ);
the stream is processed in jitted chunks of ``chunk_batches`` batches (a ``lax.scan`` each), so
every phase reuses two compiled functions per model.

Step time (claim: cache access is independent of history length): in one run, the jitted
training step of one seed is timed on the batch at 10 % and at 90 % of the whole stream, each
with the state replayed up to that point; median of ``timing_steps`` interleaved calls.

Deviations: no node or edge features (none exist for either stream); the pooled width is
``attn_dim`` instead of the node-feature width; no dropout and no early stopping (fixed epochs);
times are seconds since the stream's start divided by ``time_unit_s`` (float32 cannot hold Unix
seconds finely); within a batch the latest event wins a contested cache slot (torch: scatter
order). The paper pools with attention; the official GAT layer computes attention scores but
sums the projected entries (``aggregation="sum"`` reproduces that). The slot-hash seed is drawn
with s mod 100 odd (see ``Runner``). ``epochs=3`` (the CPU budget; the official runs use up to 50
with early stopping) and lr 1e-3 (official 1e-4). The synthetic stream closes triangles through
*recent* contacts (``jaxnets.data.triadic_stream``), because with uniform closures over all past
neighbours (the notes' sketch) ~70 % of random pairs close a triangle too at 400 nodes / 12k
events.

Outcome (full config, 3 seeds, shared 2-core machine at load ~8-15; FAILS both AUC conditions,
passes the step-time condition):
triadic stream, transductive test AUC NAT 62.7 +- 1.2 vs memory 61.6 +- 0.9 (+1.1 points, gate
+3); inductive NAT 54.5 +- 1.4 vs memory 61.1 +- 2.7; NAT step time at 90 % / 10 % of the stream
0.99 (8.9 vs 9.0 ms; memory baseline 1.15). CollegeMsg: transductive NAT 90.1 +- 1.1 vs memory
90.9 +- 0.4 (gate: NAT >= memory); inductive NAT 85.3 +- 2.5 vs 85.2 +- 2.1; NAT step time ratio
1.01 (20.3 vs 20.0 ms). A second full run (the lead's, 2026-12-02, same config) reproduced the
AUCs to the digit; its step-time ratios were 1.15 and 1.30 (timings vary with the machine's
load; both within the 1.5 gate). The memory baseline's step is ~20x cheaper (0.9 ms): ours has no
neighbour sampling or attention, unlike the TGN/JODIE implementations the paper timed. Run
time: ~12 min (triadic) + ~6.5 min (CollegeMsg) under that load.
What was checked: (1) the joint features carry the triadic signal only weakly at this scale:
scoring test pairs by "a key in both endpoints' hop-1 caches" (code 2 | 16) from NAT's own
caches gives AUC 0.59 with (M_1, M_2) = (8, 4) and 0.57 with the official (32, 16) (hubs of the
Pareto activity sit in most caches: 22 % of random negatives share one vs 40 % of positives),
so the learnable margin over a memory model that sees activity is small; (2) longer training
(10 epochs, 1 seed) gave NAT 62.9 vs memory 62.1, the same picture; (3) ``aggregation="sum"``
(the official code's unweighted pooling, which keeps the count of common keys), full config,
3 seeds: triadic NAT 62.6 +- 0.7 vs 61.6 +- 0.9, inductive 55.1 +- 0.3 vs 61.1 +- 2.7;
CollegeMsg NAT 90.4 +- 0.6 vs 90.9 +- 0.4, inductive 86.6 +- 1.4 vs 85.2 +- 2.1; step-time
ratios 0.78 / 0.75. Not tried for lack of time: larger lr, more epochs at 3 seeds, more nodes
(at 1000 nodes the recent-contact oracle rises from 0.72 to 0.75).
"""
from __future__ import annotations

import functools
import json
import pathlib
import statistics
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import optax

from jaxnets import config as config_lib
from jaxnets import plots
from jaxnets.data.temporal import load_collegemsg
from jaxnets.data.triadic_stream import triadic_closure_stream
from jaxnets.data.types import TemporalEdges
from jaxnets.experiment import Claim, Paper
from jaxnets.metrics.link import roc_auc
from jaxnets.models import nat as nat_lib
from jaxnets.models import temporal_memory as memory_lib

PAPER = Paper(
    title="Neighborhood-aware Scalable Temporal Network Representation Learning",
    authors="Luo & Li",
    venue="Learning on Graphs (LoG) 2022",
)
DESCRIPTION = ("NAT N-caches + joint structural features vs a JODIE/TGN-style memory, triadic "
               "stream and CollegeMsg")
PAPER_RESULT = ("NAT beats the best baseline by 1.2 % (transductive) and 4.2 % (inductive) on "
                "average over 7 networks incl. UCI; 1.6-4.0x faster than TGN/JODIE-style models")
SYNTHETIC_MARGIN = 3.0   # AUC points NAT must beat the baseline by on the triadic stream
MAX_STEP_RATIO = 1.5     # step time at 90 % / at 10 % of the stream
MODELS = ("nat", "memory")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        datasets="triadic,collegemsg",
        data_root="",              # "" = $JAXNETS_DATA
        triadic_nodes=400,
        triadic_events=12_000,
        triadic_p_close=0.6,
        max_events=0,              # > 0: keep only the first events of each stream (smoke tests)
        slots="8,4",               # M_1, M_2
        ngh_dim=4,
        self_dim=32,
        pos_dim=8,
        time_dim=1,
        attn_dim=16,
        heads=2,
        replace_prob=0.9,
        aggregation="attention",
        memory_dim=32,
        memory_time_dim=8,
        batch_size=100,
        chunk_batches=50,
        epochs=3,
        learning_rate=1e-3,
        time_unit_s=3600.0,
        inductive=True,
        n_seeds=3,
        seed=0,
        timing_steps=20,
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "datasets=triadic", "triadic_nodes=60", "triadic_events=1200", "batch_size=50",
        "chunk_batches=8", "epochs=1", "n_seeds=2", "self_dim=8", "memory_dim=8",
        "attn_dim=8", "timing_steps=2"])


# ----------------------------------------------------------------------------- data and splits
class Stream(NamedTuple):
    """Events of one protocol phase for every seed: [n_seeds, n_batches, B] (ids 1-based)."""

    src: np.ndarray
    dst: np.ndarray
    t: np.ndarray
    mask: np.ndarray
    pool: np.ndarray        # [n_seeds, P] negative destinations (padded)
    pool_size: np.ndarray   # [n_seeds]


def _load(name: str, config: ml_collections.ConfigDict) -> TemporalEdges:
    if name == "triadic":
        edges = triadic_closure_stream(config.triadic_nodes, config.triadic_events,
                                       config.triadic_p_close, seed=config.seed)
    elif name == "collegemsg":
        edges = load_collegemsg(config.data_root or None)
    else:
        raise ValueError(f"unknown dataset {name!r}; expected 'triadic' or 'collegemsg'")
    if config.max_events > 0:
        keep = min(config.max_events, edges.num_events)
        edges = TemporalEdges(edges.name, edges.src[:keep], edges.dst[:keep], edges.t[:keep],
                              edges.num_nodes)
    return edges


def _stack(selections: list[np.ndarray], edges: TemporalEdges, times: np.ndarray,
           pools: list[np.ndarray], batch_size: int) -> Stream:
    """Per-seed event selections -> padded [n_seeds, n_batches, B] arrays."""
    n_batches = max(1, max(-(-int(s.sum()) // batch_size) for s in selections))
    shape = (len(selections), n_batches * batch_size)
    src, dst = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
    t, mask = np.zeros(shape, np.float32), np.zeros(shape, bool)
    for i, sel in enumerate(selections):
        k = int(sel.sum())
        src[i, :k], dst[i, :k] = edges.src[sel] + 1, edges.dst[sel] + 1
        t[i, :k], mask[i, :k] = times[sel], True
    pool = np.zeros((len(pools), edges.num_nodes + 1), np.int32)   # one width: one compile
    for i, p in enumerate(pools):
        pool[i, :len(p)] = p
    shape3 = (len(selections), n_batches, batch_size)
    return Stream(src.reshape(shape3), dst.reshape(shape3), t.reshape(shape3),
                  mask.reshape(shape3), pool, np.asarray([max(1, len(p)) for p in pools]))


def make_streams(edges: TemporalEdges, n_seeds: int, batch_size: int, seed: int,
                 time_unit_s: float) -> dict[str, dict[str, Stream]]:
    """The transductive and inductive phases of the official protocol, per seed.

    Returns:
      {"transductive": {"train", "val", "test"}, "inductive": {"train", "val", "replay",
      "test"}}; each a ``Stream`` over all seeds.
    """
    ts = edges.t
    times = ((ts - ts[0]) / time_unit_s).astype(np.float32)
    val_time, test_time = np.quantile(ts, [0.70, 0.85])
    train, val, test = ts <= val_time, (ts > val_time) & (ts <= test_time), ts > test_time
    if not (train.any() and val.any() and test.any()):
        raise ValueError(f"{edges.name}: {edges.num_events} events are too few for a "
                         "70/15/15 split")
    dst1 = edges.dst + 1

    def pool(sel: np.ndarray) -> np.ndarray:
        return np.unique(dst1[sel])

    rep = [train] * n_seeds
    trans = {"train": _stack(rep, edges, times, [pool(train)] * n_seeds, batch_size),
             "val": _stack([val] * n_seeds, edges, times, [pool(train | val)] * n_seeds,
                           batch_size),
             "test": _stack([test] * n_seeds, edges, times, [pool(ts >= ts[0])] * n_seeds,
                            batch_size)}
    nodes = np.unique(np.concatenate([edges.src, edges.dst]))
    late = np.unique(np.concatenate([edges.src[~train], edges.dst[~train]]))
    n_mask = min(len(late), int(0.1 * len(nodes)))
    sel: dict[str, list] = {k: [] for k in ("train", "val", "test", "train_pool", "val_pool")}
    for i in range(n_seeds):
        masked = np.random.default_rng([seed, i]).choice(late, size=n_mask, replace=False)
        touches = np.isin(edges.src, masked) | np.isin(edges.dst, masked)
        sel["train"].append(train & ~touches)
        sel["val"].append(val & ~touches)
        sel["test"].append(test & touches)
        sel["train_pool"].append(pool(train & ~touches))
        sel["val_pool"].append(pool((train | val) & ~touches))
    replay = ts <= test_time
    ind = {"train": _stack(sel["train"], edges, times, sel["train_pool"], batch_size),
           "val": _stack(sel["val"], edges, times, sel["val_pool"], batch_size),
           "replay": _stack([replay] * n_seeds, edges, times, [pool(replay)] * n_seeds, batch_size),
           "test": _stack(sel["test"], edges, times, [pool(ts >= ts[0])] * n_seeds, batch_size)}
    return {"transductive": trans, "inductive": ind}


# ----------------------------------------------------------------------------- training engine
class Method(NamedTuple):
    """A streaming link predictor: a Flax scorer, its empty state and its state writer."""

    module: Any
    init_state: Callable[[], Any]
    update_state: Callable[[Any, nat_lib.EventBatch, dict, jax.Array], Any]


def build_method(name: str, num_nodes: int, config: ml_collections.ConfigDict,
                 hash_seed: int = 0) -> Method:
    if name == "nat":
        cfg = nat_lib.NATConfig(
            num_nodes=num_nodes, slots=tuple(int(s) for s in config.slots.split(",")),
            ngh_dim=config.ngh_dim, self_dim=config.self_dim, pos_dim=config.pos_dim,
            time_dim=config.time_dim, attn_dim=config.attn_dim, heads=config.heads,
            replace_prob=config.replace_prob, hash_seed=hash_seed,
            aggregation=config.aggregation)
        return Method(nat_lib.NAT(cfg), functools.partial(nat_lib.init_state, cfg),
                      functools.partial(nat_lib.update_state, config=cfg))
    if name == "memory":
        cfg = memory_lib.MemoryConfig(num_nodes=num_nodes, memory_dim=config.memory_dim,
                                      time_dim=config.memory_time_dim)
        return Method(memory_lib.MemoryModel(cfg), functools.partial(memory_lib.init_state, cfg),
                      functools.partial(memory_lib.update_state, config=cfg))
    raise ValueError(f"unknown model {name!r}; expected one of {MODELS}")


def _batch(stream_arrays: tuple, pool: jax.Array, pool_size: jax.Array, key: jax.Array
           ) -> nat_lib.EventBatch:
    src, dst, t, mask = stream_arrays
    neg = pool[jax.random.randint(key, src.shape, 0, pool_size)]
    return nat_lib.EventBatch(src=src, dst=dst, neg=jnp.where(mask, neg, 0), t=t, mask=mask)


def bce_loss(pos_B: jax.Array, neg_B: jax.Array, mask_B: jax.Array) -> jax.Array:
    """BCE(sigmoid(pos), 1) + BCE(sigmoid(neg), 0), averaged over the real events."""
    per_event = optax.sigmoid_binary_cross_entropy(pos_B, jnp.ones_like(pos_B)) + \
        optax.sigmoid_binary_cross_entropy(neg_B, jnp.zeros_like(neg_B))
    return jnp.sum(jnp.where(mask_B, per_event, 0.0)) / jnp.maximum(jnp.sum(mask_B), 1)


def make_train_step(method: Method, tx: optax.GradientTransformation):
    """(params, opt_state, state, batch, key) -> (params, opt_state, state, loss); an all-padding
    batch leaves everything unchanged."""

    def step(params, opt_state, state, batch, key):
        def loss_fn(p):
            pos, neg, aux = method.module.apply(p, state, batch)
            return bce_loss(pos, neg, batch.mask), aux

        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, new_opt = tx.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        real = jnp.any(batch.mask)
        params, opt_state = jax.tree.map(lambda a, b: jnp.where(real, a, b),
                                         (new_params, new_opt), (params, opt_state))
        return params, opt_state, method.update_state(state, batch, aux, key), loss

    return step


def make_chunk_fns(method: Method, tx: optax.GradientTransformation):
    """Jitted, seed-vmapped scans over a chunk of batches: (train_chunk, eval_chunk)."""
    step = make_train_step(method, tx)

    def train_chunk(params, opt_state, state, arrays, pool, pool_size, key, offset):
        def body(carry, xs):
            params, opt_state, state = carry
            i, batch_arrays = xs
            k = jax.random.fold_in(key, offset + i)
            batch = _batch(batch_arrays, pool, pool_size, jax.random.fold_in(k, 0))
            params, opt_state, state, loss = step(params, opt_state, state, batch,
                                                  jax.random.fold_in(k, 1))
            return (params, opt_state, state), loss

        n = arrays[0].shape[0]
        (params, opt_state, state), losses = jax.lax.scan(
            body, (params, opt_state, state), (jnp.arange(n), arrays))
        return params, opt_state, state, losses

    def eval_chunk(params, state, arrays, pool, pool_size, key, offset):
        def body(state, xs):
            i, batch_arrays = xs
            k = jax.random.fold_in(key, offset + i)
            batch = _batch(batch_arrays, pool, pool_size, jax.random.fold_in(k, 0))
            pos, neg, aux = method.module.apply(params, state, batch)
            return method.update_state(state, batch, aux, jax.random.fold_in(k, 1)), (pos, neg)

        n = arrays[0].shape[0]
        return jax.lax.scan(body, state, (jnp.arange(n), arrays))

    return (jax.jit(jax.vmap(train_chunk, in_axes=(0, 0, 0, 0, 0, 0, 0, None))),
            jax.jit(jax.vmap(eval_chunk, in_axes=(0, 0, 0, 0, 0, 0, None))), step)


def _chunks(stream: Stream, size: int):
    """Yields (offset, [n_seeds, size, B] arrays) with all-padding batches filling the last."""
    arrays = (stream.src, stream.dst, stream.t, stream.mask)
    n = arrays[0].shape[1]
    for start in range(0, n, size):
        part = [a[:, start:start + size] for a in arrays]
        short = size - part[0].shape[1]
        if short:
            part = [np.concatenate([p, np.zeros((p.shape[0], short) + p.shape[2:], p.dtype)], 1)
                    for p in part]
        yield start, tuple(jnp.asarray(p) for p in part)


def _auc(pos: np.ndarray, neg: np.ndarray, mask: np.ndarray) -> list[float]:
    """Per-seed AUC (%) over the real events."""
    return [100.0 * float(roc_auc(pos[i][mask[i]], neg[i][mask[i]]))
            for i in range(pos.shape[0])]


class Runner:
    """One model on one dataset: the seed population, its jitted chunk functions and keys."""

    def __init__(self, name: str, edges: TemporalEdges, config: ml_collections.ConfigDict):
        self.config = config
        self.tx = optax.adam(config.learning_rate)
        seeds = [config.seed + i for i in range(config.n_seeds)]
        # The hash seed is drawn once per run (official: random.randint(0, 100)); one per seed here
        # would change the compiled program, so the population shares the first seed's. We draw
        # it with s mod 100 odd: then slot(a) permutes the residues a mod M for M a power of two,
        # while an even s mod 100 maps the keys onto about half of the slots.
        hash_seed = 2 * int(np.random.default_rng(seeds[0]).integers(0, 50)) + 1
        self.method = build_method(name, edges.num_nodes, config, hash_seed)
        self.train_chunk, self.eval_chunk, self.step = make_chunk_fns(self.method, self.tx)
        self.keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
        self.n = config.n_seeds

    def fresh_state(self):
        state = self.method.init_state()
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (self.n,) + x.shape), state)

    def init_params(self, example: nat_lib.EventBatch):
        state = self.method.init_state()
        init = jax.vmap(lambda k: self.method.module.init(jax.random.fold_in(k, 7), state, example))
        params = init(self.keys)
        return params, jax.vmap(self.tx.init)(params)

    def train(self, params, opt_state, stream: Stream, epoch: int):
        state, losses = self.fresh_state(), []
        keys = jax.vmap(lambda k: jax.random.fold_in(k, 1000 + epoch))(self.keys)
        pool, size = jnp.asarray(stream.pool), jnp.asarray(stream.pool_size)
        for offset, arrays in _chunks(stream, self.config.chunk_batches):
            params, opt_state, state, loss = self.train_chunk(params, opt_state, state, arrays,
                                                              pool, size, keys, offset)
            losses.append(np.asarray(loss))
        loss = np.concatenate(losses, axis=1)
        if not np.all(np.isfinite(loss)):
            raise FloatingPointError(f"non-finite training loss in epoch {epoch}")
        return params, opt_state, state, float(np.mean(loss))

    def evaluate(self, params, state, stream: Stream, tag: int):
        keys = jax.vmap(lambda k: jax.random.fold_in(k, tag))(self.keys)
        pool, size = jnp.asarray(stream.pool), jnp.asarray(stream.pool_size)
        pos, neg = [], []
        for offset, arrays in _chunks(stream, self.config.chunk_batches):
            state, (p, q) = self.eval_chunk(params, state, arrays, pool, size, keys, offset)
            pos.append(np.asarray(p))
            neg.append(np.asarray(q))
        n_b = stream.src.shape[1]
        pos = np.concatenate(pos, axis=1)[:, :n_b].reshape(self.n, -1)
        neg = np.concatenate(neg, axis=1)[:, :n_b].reshape(self.n, -1)
        return state, _auc(pos, neg, stream.mask.reshape(self.n, -1))


def _example(stream: Stream) -> nat_lib.EventBatch:
    b = stream.src.shape[2]
    z = jnp.ones((b,), jnp.int32)
    return nat_lib.EventBatch(z, z, z, jnp.zeros((b,), jnp.float32), jnp.ones((b,), bool))


def run_mode(runner: Runner, phases: dict[str, Stream], inductive: bool) -> dict:
    """Trains ``epochs`` epochs and evaluates one protocol; returns per-seed AUCs (%)."""
    params, opt_state = runner.init_params(_example(phases["train"]))
    history = []
    for epoch in range(runner.config.epochs):
        params, opt_state, state, loss = runner.train(params, opt_state, phases["train"], epoch)
        state, val_auc = runner.evaluate(params, state, phases["val"], tag=2000 + epoch)
        history.append({"epoch": epoch, "loss": loss, "val_auc": val_auc})
    if inductive:
        state, _ = runner.evaluate(params, runner.fresh_state(), phases["replay"], tag=3000)
    _, test_auc = runner.evaluate(params, state, phases["test"], tag=4000)
    return {"test_auc": test_auc, "history": history, "params": params, "opt_state": opt_state}


def step_times(runner: Runner, params, opt_state, edges: TemporalEdges,
               config: ml_collections.ConfigDict) -> dict:
    """Median seconds of one jitted training step (seed 0) at 10 % and 90 % of the stream."""
    whole = _stack([np.ones(edges.num_events, bool)], edges,
                   ((edges.t - edges.t[0]) / config.time_unit_s).astype(np.float32),
                   [np.unique(edges.dst + 1)], config.batch_size)
    n_b = whole.src.shape[1]
    marks = {"at_10": int(0.1 * n_b), "at_90": min(n_b - 1, int(0.9 * n_b))}
    n = runner.n   # replay all seeds with the compiled eval chunk; time seed 0
    whole = Stream(*(np.repeat(a, n, axis=0) for a in whole))
    keys = jax.vmap(lambda k: jax.random.fold_in(k, 5000))(runner.keys)
    pool, size = jnp.asarray(whole.pool), jnp.asarray(whole.pool_size)
    state = runner.fresh_state()
    states, done = {}, 0
    for name, mark in marks.items():   # replay (no training) up to each mark
        prefix = Stream(whole.src[:, done:mark], whole.dst[:, done:mark], whole.t[:, done:mark],
                        whole.mask[:, done:mark], whole.pool, whole.pool_size)
        if mark > done:
            for offset, arrays in _chunks(prefix, config.chunk_batches):
                state, _ = runner.eval_chunk(params, state, arrays, pool, size, keys, done + offset)
        done = mark
        states[name] = state
    step = jax.jit(runner.step)
    one = functools.partial(jax.tree.map, lambda x: x[0])
    p1, o1 = one(params), one(opt_state)
    calls = {}
    for name, mark in marks.items():
        batch = _batch((jnp.asarray(whole.src[0, mark]), jnp.asarray(whole.dst[0, mark]),
                        jnp.asarray(whole.t[0, mark]), jnp.asarray(whole.mask[0, mark])),
                       pool[0], size[0], jax.random.PRNGKey(mark))
        calls[name] = (one(states[name]), batch)
        jax.block_until_ready(step(p1, o1, calls[name][0], batch, jax.random.PRNGKey(0)))
    times = {name: [] for name in marks}
    for _ in range(config.timing_steps):
        for name, (st, batch) in calls.items():
            start = time.perf_counter()
            jax.block_until_ready(step(p1, o1, st, batch, jax.random.PRNGKey(1)))
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    return {"at_10_s": med["at_10"], "at_90_s": med["at_90"],
            "ratio": med["at_90"] / med["at_10"], "batches": marks}


# ----------------------------------------------------------------------------- run and claim
def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    datasets = [d.strip() for d in config.datasets.split(",") if d.strip()]
    if not datasets:
        raise ValueError(f"config.datasets names no dataset: {config.datasets!r}")
    results: dict = {"datasets": {}}
    metrics = open(workdir / "metrics.jsonl", "w")
    for dataset in datasets:
        edges = _load(dataset, config)
        streams = make_streams(edges, config.n_seeds, config.batch_size, config.seed,
                               config.time_unit_s)
        entry: dict = {"events": edges.num_events, "nodes": edges.num_nodes}
        for model in MODELS:
            runner = Runner(model, edges, config)
            start = time.perf_counter()
            trans = run_mode(runner, streams["transductive"], inductive=False)
            out = {"transductive": trans["test_auc"], "history": trans["history"]}
            if config.inductive:
                out["inductive"] = run_mode(runner, streams["inductive"],
                                            inductive=True)["test_auc"]
            out["train_eval_s"] = time.perf_counter() - start
            out["step_time"] = step_times(runner, trans["params"], trans["opt_state"], edges,
                                          config)
            entry[model] = out
            metrics.write(json.dumps({"dataset": dataset, "model": model,
                                      **{k: v for k, v in out.items()}}) + "\n")
            metrics.flush()
        results["datasets"][dataset] = entry
    metrics.close()
    results["plot"] = "nat.png"
    _plot(results, workdir / results["plot"])
    return results


def _plot(results: dict, path: pathlib.Path) -> None:
    names = list(results["datasets"])
    fig, (ax_auc, ax_time) = plt.subplots(1, 2, figsize=(10, 3.8))
    modes = ["transductive", "inductive"]
    labels, x = [], 0.0
    for d in names:
        for mode in modes:
            if mode not in results["datasets"][d]["nat"]:
                continue
            for j, model in enumerate(MODELS):
                aucs = results["datasets"][d][model][mode]
                ax_auc.bar(x + 0.4 * j, np.mean(aucs), 0.4, yerr=np.std(aucs),
                           color=f"C{j}", label=model if x == 0 else None)
            labels.append((x + 0.2, f"{d}\n{mode[:5]}"))
            x += 1.0
    ax_auc.set_xticks([p for p, _ in labels], [s for _, s in labels], fontsize=8)
    ax_auc.set_ylabel("test AUC (%)")
    ax_auc.set_ylim(40, 100)
    ax_auc.legend()
    for j, model in enumerate(MODELS):
        for k, mark in enumerate(("at_10_s", "at_90_s")):
            vals = [1e3 * results["datasets"][d][model]["step_time"][mark] for d in names]
            ax_time.bar(np.arange(len(names)) + 0.2 * (2 * j + k), vals, 0.2,
                        color=f"C{j}", alpha=1.0 if k == 0 else 0.5,
                        label=f"{model} {mark[3:5]} %")
    ax_time.set_xticks(np.arange(len(names)) + 0.3, names)
    ax_time.set_ylabel("ms per training step")
    ax_time.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def claim(results: dict) -> Claim:
    conditions, ours = [], []
    for d, entry in results["datasets"].items():
        nat, mem = np.mean(entry["nat"]["transductive"]), np.mean(entry["memory"]["transductive"])
        margin = SYNTHETIC_MARGIN if d == "triadic" else 0.0
        ratio = entry["nat"]["step_time"]["ratio"]
        conditions += [nat >= mem + margin, ratio <= MAX_STEP_RATIO]
        text = (f"{d}: transductive AUC NAT {plots.mean_std(entry['nat']['transductive'])} vs "
                f"memory {plots.mean_std(entry['memory']['transductive'])}")
        if "inductive" in entry["nat"]:
            text += (f", inductive NAT {plots.mean_std(entry['nat']['inductive'])} vs memory "
                     f"{plots.mean_std(entry['memory']['inductive'])}")
        text += (f"; NAT step time at 90 %/10 % of the stream {ratio:.2f} "
                 f"({1e3 * entry['nat']['step_time']['at_90_s']:.1f} vs "
                 f"{1e3 * entry['nat']['step_time']['at_10_s']:.1f} ms)")
        ours.append(text)
    return Claim(
        passed=bool(all(conditions)),
        text=(f"transductive test AUC: NAT >= memory baseline + {SYNTHETIC_MARGIN} points on the "
              f"triadic-closure stream and >= baseline on CollegeMsg; NAT training-step time at "
              f"90 % of the stream <= {MAX_STEP_RATIO} x at 10 % (inductive AUC reported, not "
              f"gated)"),
        paper=PAPER_RESULT,
        ours="; ".join(ours),
        plot=results["plot"],
    )
