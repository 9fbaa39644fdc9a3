"""Local-loss training: every layer learns from its own loss, with `stop_gradient` between layers.

The trainer (`local_step`, `grouped`/`per_layer`, `locality_matrix`) turns a vector of per-layer
losses over a tuple of parameter groups into a `step_fn` for `jaxnets.train.fit`, with a
simultaneous or a sequential (greedy layer-wise) schedule. `LocalStack` builds those losses for any
sequence of Flax layers (MLP, CNN or GNN layers over a GraphsTuple). The methods:
  * `mono_forward`: Mono-Forward (per-layer projection to class logits, local CE);
  * `forward_forward`: Forward-Forward (goodness, label-embedded negatives, multi-pass inference);
  * `cafo`: Cascaded-Forward (random or DFA-trained blocks, per-block predictors);
  * `counter_current`: Counter-Current Learning (anti-parallel forward/feedback networks);
  * `baseline`: the backpropagation baseline they are compared against.
"""
from jaxnets.train.local.baseline import accuracy, backprop_step
from jaxnets.train.local.batches import array_batches, data_key, full_batch
from jaxnets.train.local.stack import LocalLayer, LocalStack, cross_entropy_loss
from jaxnets.train.local.trainer import (
    SCHEDULES,
    active_group,
    grouped,
    local_step,
    locality_matrix,
    per_layer,
)

__all__ = [
    "LocalLayer",
    "LocalStack",
    "SCHEDULES",
    "accuracy",
    "active_group",
    "array_batches",
    "backprop_step",
    "cross_entropy_loss",
    "data_key",
    "full_batch",
    "grouped",
    "local_step",
    "locality_matrix",
    "per_layer",
]

# ForwardGNN (SF, top-down SF, FF+LA, link prediction) and guidance by representational alignment.
from jaxnets.train.local import forward_gnn, guidance  # noqa: E402

__all__ += ["forward_gnn", "guidance"]
