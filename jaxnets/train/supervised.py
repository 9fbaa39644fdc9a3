"""Step builders for supervised full-batch node classification (GCN, GAT and the many papers
that compare against them).

The whole graph and its features are closed over as constants of the jitted step, so an epoch is
one forward and backward pass with no host transfer; seeds are a population axis added by
`init_population`, and `fit` runs the loop. The model follows the `jaxnets.nn` calling convention
`model.apply(variables, graph, x, deterministic=..., rngs={"dropout": key})`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import optax

from jaxnets.train.state import TrainState

PyTree = Any


def masked_cross_entropy(logits_NxC: jax.Array, labels_N: jax.Array, mask_N: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy over the nodes in `mask_N` (labels of other nodes are ignored,
    so -1 marks an unlabelled node)."""
    safe = jnp.where(mask_N, labels_N, 0)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits_NxC, safe)
    return jnp.sum(jnp.where(mask_N, losses, 0.0)) / jnp.maximum(jnp.sum(mask_N), 1)


def masked_accuracy(logits_NxC: jax.Array, labels_N: jax.Array, mask_N: jax.Array) -> jax.Array:
    """Fraction of the nodes in `mask_N` whose arg-max logit is their label."""
    correct = (jnp.argmax(logits_NxC, axis=-1) == labels_N) & mask_N
    return jnp.sum(correct) / jnp.maximum(jnp.sum(mask_N), 1)


@dataclasses.dataclass(frozen=True)
class NodeClassificationTask:
    """The pure functions `fit` needs for one node-classification problem.

    Attributes:
      init: raw PRNG key -> TrainState.
      step: TrainState -> (TrainState, {"loss": ...}); one full-batch epoch.
      evaluate: TrainState -> {"train/accuracy", "val/accuracy", "val/loss", "test/accuracy"}.
      logits: params -> [N, C] deterministic logits.
    """

    init: Callable[[jax.Array], TrainState]
    step: Callable[[TrainState], tuple[TrainState, dict]]
    evaluate: Callable[[TrainState], dict]
    logits: Callable[[PyTree], jax.Array]


def node_classification(
    model: nn.Module,
    graph: jraph.GraphsTuple,
    x: Any,
    labels_N: jax.Array,
    train_mask_N: jax.Array,
    val_mask_N: jax.Array,
    test_mask_N: jax.Array,
    tx: optax.GradientTransformation,
    *,
    l2_penalty: Callable[[PyTree], jax.Array] | None = None,
) -> NodeClassificationTask:
    """Builds init/step/evaluate for semi-supervised node classification on one graph.

    The loss is the cross-entropy on the training nodes plus `l2_penalty(params)` — e.g.
    Kipf & Welling (2017) put 5e-4 * ||W1||^2 / 2 on the first layer only.

    Args:
      model: a `jaxnets.nn`-convention module returning [N, C] logits.
      graph: the graph the model propagates over (already preprocessed, e.g. `gcn_preprocess`).
      x: [N, F] node features, dense or BCOO.
      labels_N: int labels (-1 allowed outside the masks).
      train_mask_N, val_mask_N, test_mask_N: boolean node masks.
      tx: the optax transform.
      l2_penalty: optional explicit regulariser on the params.
    """
    labels_N = jnp.asarray(labels_N, jnp.int32)
    masks = {name: jnp.asarray(m, bool) for name, m in
             (("train", train_mask_N), ("val", val_mask_N), ("test", test_mask_N))}

    def init(key: jax.Array) -> TrainState:
        params = model.init(key, graph, x, deterministic=True)["params"]
        return TrainState.create(params, tx, key)

    def logits(params: PyTree) -> jax.Array:
        return model.apply({"params": params}, graph, x, deterministic=True)

    def step(state: TrainState) -> tuple[TrainState, dict]:
        def loss_fn(params):
            out = model.apply({"params": params}, graph, x, deterministic=False,
                              rngs={"dropout": state.step_key()})
            loss = masked_cross_entropy(out, labels_N, masks["train"])
            if l2_penalty is not None:
                loss = loss + l2_penalty(params)
            return loss

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(tx, grads), {"loss": loss}

    def evaluate(state: TrainState) -> dict:
        out = logits(state.params)
        metrics = {f"{name}/accuracy": masked_accuracy(out, labels_N, m) for name, m in masks.items()}
        metrics["val/loss"] = masked_cross_entropy(out, labels_N, masks["val"])
        return metrics

    return NodeClassificationTask(init=init, step=step, evaluate=evaluate, logits=logits)


def l2_on(select: Callable[[str], bool], coefficient: float) -> Callable[[PyTree], jax.Array]:
    """`coefficient * sum ||w||^2 / 2` over the params whose '/'-joined path satisfies `select`.

    Example: `l2_on(lambda p: p.startswith("conv_0/") and p.endswith("kernel"), 5e-4)`.
    """

    def penalty(params: PyTree) -> jax.Array:
        flat, _ = jax.tree_util.tree_flatten_with_path(params)
        total = jnp.zeros((), jnp.float32)
        for path, leaf in flat:
            name = "/".join(str(getattr(k, "key", k)) for k in path)
            if select(name):
                total = total + 0.5 * jnp.sum(jnp.square(leaf))
        return coefficient * total

    return penalty
