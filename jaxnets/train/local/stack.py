"""A network as a sequence of Flax layers, each with its own local loss: `LocalStack`.

Layer l computes, for the batch's input `h_0 = batch["x"]`,

    y_l   = activation_l(module_l(*context, sg(h_{l-1})))     the layer output, fed forward
    out_l = head_l(y_l)  (or y_l without a head)              what the local loss reads
    loss_l = loss_fn_l(out_l, batch)

where `sg` is `jax.lax.stop_gradient` and `context = batch.get("context", ())` holds the extra
leading arguments of every layer: nothing for an MLP or a CNN (`module(h)`), `(graph,)` for the
`jaxnets.nn` graph layers (`module(graph, h)`). Because of `sg`, loss l reaches only layer l's
module and head: one sum of the losses, one backward pass, and every layer is updated by its own
local loss (`jaxnets.train.local.trainer`).

Parameters are a tuple with one group per layer, `{"module": ..., "head": ...}`. A layer marked
`trainable=False` keeps its module's parameters in the (never differentiated) model state instead
(CaFo's random blocks); its head is still trained. Modules whose `__call__` takes a
`deterministic` keyword get `deterministic=False` during training and a "dropout" rng.

Example (Mono-Forward on an MLP, a 2-layer GCN with a local CE per layer):

    stack = LocalStack((LocalLayer(nn.Dense(256), head=nn.Dense(10, use_bias=False),
                                   loss=cross_entropy_loss, activation=nn.relu), ...))
    gcn = LocalStack((LocalLayer(GCNConv(16), head=Linear(C), activation=nn.relu,
                                 loss=masked_ce), LocalLayer(GCNConv(C), loss=masked_ce)))
    params, model_state = stack.init(key, batch)
    step = local_step(stack.losses, per_layer(optax.adam(1e-3), len(stack)), batch_fn=...)
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnets.train.supervised import masked_cross_entropy

PyTree = Any
LossFn = Callable[[jax.Array, dict], jax.Array]


@dataclasses.dataclass(frozen=True)
class LocalLayer:
    """One layer of a `LocalStack`.

    Attributes:
      module: a Flax module called as `module(*context, h)` (plus `deterministic=` when its
        `__call__` has that keyword).
      loss: `(out, batch) -> scalar` local loss of this layer; `out` is the head's output, or the
        layer output when there is no head.
      head: optional Flax module on the layer output trained only by this layer's loss (Mono-
        Forward's projection M_l, CaFo's predictor, a per-layer classifier for a GNN).
      activation: optional function applied to the module output (the result is fed forward).
      trainable: False freezes the module (its params live in the model state); the head trains.
    """

    module: nn.Module
    loss: LossFn
    head: nn.Module | None = None
    activation: Callable[[jax.Array], jax.Array] | None = None
    trainable: bool = True


def _takes_deterministic(module: nn.Module) -> bool:
    try:
        return "deterministic" in inspect.signature(type(module).__call__).parameters
    except (TypeError, ValueError):
        return False


def _call(module: nn.Module, variables: dict, args: tuple, *, train: bool,
          key: jax.Array | None) -> jax.Array:
    kwargs = {}
    if _takes_deterministic(module):
        kwargs["deterministic"] = not train
    rngs = {"dropout": key} if train and key is not None else None
    return module.apply(variables, *args, rngs=rngs, **kwargs)


def _init(module: nn.Module, key: jax.Array, args: tuple) -> PyTree:
    kwargs = {"deterministic": True} if _takes_deterministic(module) else {}
    return module.init(key, *args, **kwargs)["params"]


@dataclasses.dataclass(frozen=True)
class LocalStack:
    """A sequence of `LocalLayer`s trained with local losses (see the module docstring).

    Attributes:
      layers: the layers, input first.
    """

    layers: tuple[LocalLayer, ...]

    def __post_init__(self):
        layers = tuple(self.layers)
        if not layers:
            raise ValueError("LocalStack needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, LocalLayer):
                raise TypeError(f"layers[{i}] must be a LocalLayer, got {type(layer).__name__}")
            if not isinstance(layer.module, nn.Module):
                raise TypeError(f"layers[{i}].module must be a flax.linen Module")
            if layer.head is not None and not isinstance(layer.head, nn.Module):
                raise TypeError(f"layers[{i}].head must be a flax.linen Module or None")
            if not callable(layer.loss):
                raise TypeError(f"layers[{i}].loss must be callable (out, batch) -> scalar")
        object.__setattr__(self, "layers", layers)

    def __len__(self) -> int:
        return len(self.layers)

    def init(self, key: jax.Array, batch: dict) -> tuple[tuple, tuple]:
        """Initialises every layer on the outputs of the previous ones.

        Args:
          key: raw PRNG key; layer l uses `fold_in(key, 2l)` (module) and `fold_in(key, 2l+1)`
            (head).
          batch: a batch with "x" (and "context" for graph layers); only shapes matter.

        Returns:
          (params, model_state): the per-layer trainable groups and the frozen modules.
        """
        _check_batch(batch)
        context = tuple(batch.get("context", ()))
        h = batch["x"]
        params, frozen = [], []
        for l, layer in enumerate(self.layers):
            module_params = _init(layer.module, jax.random.fold_in(key, 2 * l), context + (h,))
            y = self._layer_output(layer, module_params, context, h, train=False, key=None)
            group = {}
            if layer.trainable:
                group["module"] = module_params
                frozen.append({})
            else:
                frozen.append({"module": module_params})
            if layer.head is not None:
                group["head"] = _init(layer.head, jax.random.fold_in(key, 2 * l + 1), (y,))
            params.append(group)
            h = y
        return tuple(params), tuple(frozen)

    def _layer_output(self, layer, module_params, context, h, *, train, key):
        y = _call(layer.module, {"params": module_params}, context + (jax.lax.stop_gradient(h),),
                  train=train, key=key)
        return layer.activation(y) if layer.activation is not None else y

    def apply(self, params: tuple, model_state: tuple, batch: dict, *, train: bool = False,
              key: jax.Array | None = None) -> tuple[list[jax.Array], list[jax.Array]]:
        """Runs the stack: returns the layer outputs `[y_1..y_L]` and local outputs
        `[out_1..out_L]` (head outputs, or the layer outputs for layers without a head)."""
        _check_batch(batch)
        if len(params) != len(self.layers) or len(model_state) != len(self.layers):
            raise ValueError(f"params and model_state need one entry per layer ({len(self.layers)}),"
                             f" got {len(params)} and {len(model_state)}")
        context = tuple(batch.get("context", ()))
        h = batch["x"]
        ys, outs = [], []
        for l, (layer, group, frozen) in enumerate(zip(self.layers, params, model_state)):
            module_params = group["module"] if layer.trainable else frozen["module"]
            layer_key = None if key is None else jax.random.fold_in(key, l)
            y = self._layer_output(layer, module_params, context, h, train=train, key=layer_key)
            out = y
            if layer.head is not None:
                head_key = None if key is None else jax.random.fold_in(layer_key, 1)
                out = _call(layer.head, {"params": group["head"]}, (y,), train=train,
                            key=head_key)
            ys.append(y)
            outs.append(out)
            h = y
        return ys, outs

    def losses(self, params: tuple, model_state: tuple, batch: dict, key: jax.Array) -> jax.Array:
        """The [L] local losses; the `losses_fn` of `jaxnets.train.local.local_step`."""
        _, outs = self.apply(params, model_state, batch, train=True, key=key)
        return jnp.stack([jnp.asarray(layer.loss(out, batch), jnp.float32)
                          for layer, out in zip(self.layers, outs)])


def _check_batch(batch: Any) -> None:
    if not isinstance(batch, dict) or "x" not in batch:
        raise ValueError("a LocalStack batch must be a dict with the first layer's input under "
                         "'x' (and graph layers' extra arguments as a tuple under 'context')")


def cross_entropy_loss(logits_BxC: jax.Array, batch: dict) -> jax.Array:
    """Mean softmax cross-entropy against `batch["labels"]` (Mono-Forward's local loss, CaFo's
    CE predictor loss); with `batch["mask"]` the mean runs over the masked rows only."""
    labels = batch["labels"]
    if logits_BxC.shape[:1] != labels.shape[:1]:
        raise ValueError(f"logits {logits_BxC.shape} and labels {labels.shape} disagree on the "
                         "batch size")
    mask = batch.get("mask")
    if mask is None:
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits_BxC, labels))
    return masked_cross_entropy(logits_BxC, labels, mask)

