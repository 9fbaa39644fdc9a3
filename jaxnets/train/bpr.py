"""Step builders for BPR training of graph recommenders (MF, LightGCN, Sheaf4Rec) under `fit`.

One step draws a batch with `jaxnets.data.recsys.sample_bpr` from the step's key, runs the model
over the whole training graph (every layer propagates all U + I nodes, as the official
Sheaf4Rec/LightGCN code does), and takes an optimizer step on `bpr_loss`. The graph and the
sampler tables are constants of the jitted step; seeds are a population axis
(`init_population`) and `fit` owns the loop, evaluations and checkpoints.

Evaluation ranks all items for every user (`jaxnets.metrics.topn.evaluate_topn`):
validation excludes the training items; test excludes the training items and, by default, the
validation items too (both are known interactions; Sheaf4Rec's code masks only the training
items, which turns validation items into false negatives for the test ranking).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets.data.recsys import Interactions, bpr_tables, sample_bpr
from jaxnets.metrics import topn
from jaxnets.models.recsys import RecGraph, bpr_loss
from jaxnets.train.loop import EarlyStopping, fit
from jaxnets.train.state import TrainState, init_population

PyTree = Any


def _opaque(tree: PyTree) -> PyTree:
    """The data arrays behind an optimization barrier inside the jitted step.

    They are constants of the traced step; without the barrier XLA constant-folds gathers and
    scatters over them at compile time (measured: seconds per compile on ML-100K).
    """
    return jax.lax.optimization_barrier(tree)


@dataclasses.dataclass(frozen=True)
class BPRTask:
    """The pure functions `fit` needs to train one recommender with BPR.

    Attributes:
      init: raw PRNG key -> TrainState.
      step: TrainState -> (TrainState, {"loss", "bpr", "reg"}); one BPR batch.
      evaluate: TrainState -> {"val/<metric>@K", "test/<metric>@K"}.
      embed: params -> (users_UxF, items_IxF) final representations.
    """

    init: Callable[[jax.Array], TrainState]
    step: Callable[[TrainState], tuple[TrainState, dict]]
    evaluate: Callable[[TrainState], dict]
    embed: Callable[[PyTree], tuple[jax.Array, jax.Array]]


def bpr_task(model: nn.Module, graph: RecGraph, inter: Interactions,
             tx: optax.GradientTransformation, *, batch_size: int = 1024,
             reg_weight: float = 1e-4, ks: Sequence[int] = (10, 20), eval_batch: int = 256,
             mask_val_in_test: bool = True) -> BPRTask:
    """Builds init/step/evaluate for BPR training of ``model`` on ``inter``'s training graph.

    Args:
      model: a module ``graph -> (emb0_NxD, out_NxF)`` over N = U + I nodes (``LightGCN``,
        ``Sheaf4Rec``, ``matrix_factorization``).
      graph: ``rec_graph(*bipartite_graph(inter))``.
      inter: the interactions (training pairs feed the sampler; val/test the evaluation).
      tx: optax transform (Adam 1e-3 in Sheaf4Rec).
      batch_size: BPR batch B (1024 in Sheaf4Rec).
      reg_weight: weight of the L2 term of ``bpr_loss``.
      ks: cut-offs of the evaluation metrics.
      eval_batch: users per evaluation batch.
      mask_val_in_test: exclude validation items from the test ranking too.
    """
    u_count, i_count = inter.num_users, inter.num_items
    tables = bpr_tables(inter)
    as_j = lambda a: jnp.asarray(a, jnp.int32)
    targets = {}
    for part in ("val", "test"):
        users, items = inter.pairs(part)
        excl_u, excl_i = inter.pairs("train")
        if part == "test" and mask_val_in_test:
            excl_u = np.concatenate([excl_u, inter.val_users_V])
            excl_i = np.concatenate([excl_i, inter.val_items_V])
        targets[part] = (as_j(users), as_j(items), as_j(excl_u), as_j(excl_i))

    def init(key: jax.Array) -> TrainState:
        params = model.init(key, graph)["params"]
        return TrainState.create(params, tx, key)

    def embed(params: PyTree, graph: RecGraph = graph) -> tuple[jax.Array, jax.Array]:
        _, out = model.apply({"params": params}, graph)
        return out[:u_count], out[u_count:]

    def step(state: TrainState) -> tuple[TrainState, dict]:
        graph_, tables_ = _opaque((graph, tables))
        users, pos, neg = sample_bpr(state.step_key(), tables_, i_count, batch_size)

        def loss_fn(params):
            emb0, out = model.apply({"params": params}, graph_)
            return bpr_loss(emb0, out, users, pos, neg, u_count, reg_weight)

        (loss, parts_), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        return state.apply_gradients(tx, grads), {"loss": loss, **parts_}

    def evaluate(state: TrainState) -> dict:
        graph_, targets_ = _opaque((graph, targets))
        users_UxF, items_IxF = embed(state.params, graph_)
        result = topn.evaluate_topn_targets(lambda u: users_UxF[u] @ items_IxF.T, u_count,
                                            i_count, targets_, ks, eval_batch)
        return {k: v for k, v in result.items() if not k.endswith("/num_users")}

    return BPRTask(init=init, step=step, evaluate=evaluate, embed=embed)


def train_recommender(model: nn.Module, graph: RecGraph, inter: Interactions, *,
                      seeds: Sequence[int], epochs: int, eval_every_epochs: int,
                      learning_rate: float = 1e-3, batch_size: int = 1024,
                      reg_weight: float = 1e-4, ks: Sequence[int] = (10, 20),
                      select_metric: str = "val/ndcg@10", workdir: str | None = None,
                      config: dict | None = None, description: str | None = None) -> dict:
    """Trains ``model`` with BPR and Adam for all ``seeds`` at once (``fit``, one population).

    An epoch is ``P // batch_size`` BPR steps (Sheaf4Rec: ``len(train) / 1024`` batches). The
    evaluation with the best ``select_metric`` (every ``eval_every_epochs`` epochs) is selected
    per seed, and its metrics are read from ``fit``'s history.

    Returns:
      ``{"val/...": [S], "test/...": [S]}`` at the selected evaluation, plus ``"best_step"``
      [S], ``"steps_per_epoch"``, ``"train_time_s"`` (wall time of ``fit``, compile included)
      and ``"history"`` (``fit``'s per-evaluation records).
    """
    if epochs < 1 or eval_every_epochs < 1 or epochs % eval_every_epochs:
        raise ValueError(f"need epochs >= 1 divisible by eval_every_epochs >= 1, got {epochs} "
                         f"and {eval_every_epochs}")
    steps_per_epoch = max(1, inter.num_train // batch_size)
    period = eval_every_epochs * steps_per_epoch
    evals = epochs // eval_every_epochs
    task = bpr_task(model, graph, inter, optax.adam(learning_rate), batch_size=batch_size,
                    reg_weight=reg_weight, ks=ks)
    start = time.perf_counter()
    result = fit(init_population(task.init, list(seeds)), task.step,
                 num_steps=epochs * steps_per_epoch, eval_fn=task.evaluate,
                 eval_every=period, steps_per_call=period,
                 checkpoint_every=period * max(1, evals // 4),
                 early_stopping=EarlyStopping(select_metric, "max"), workdir=workdir,
                 config=config, resume=workdir is not None, description=description)
    train_time = time.perf_counter() - start
    # The evaluation at each seed's best step is in the history (no re-evaluation needed).
    best = np.asarray(result.best_step).reshape(-1)
    by_step = {record["step"]: record for record in result.history}
    names = [k for k in result.history[-1] if k.startswith(("val/", "test/"))]
    out = {name: [float(np.asarray(by_step[int(b)][name]).reshape(-1)[s])
                  for s, b in enumerate(best)] for name in names}
    out.update(best_step=np.asarray(result.best_step).tolist(), steps_per_epoch=steps_per_epoch,
               train_time_s=train_time, history=result.history)
    return out
