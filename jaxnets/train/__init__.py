"""Training: the state, the one `fit` loop, checkpoints and data order.

Local-loss trainers (Forward-Forward and friends) build step functions for the same `fit`.
"""
from jaxnets.train.checkpoint import CheckpointError, Checkpointer
from jaxnets.train.data import batch_indices, steps_per_epoch
from jaxnets.train.distill import kd_loss, kl_to_teacher
from jaxnets.train.loop import EarlyStopping, FitResult, LoopState, NonFiniteLossError, fit
from jaxnets.train.state import TrainState, init_population, population_size

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "EarlyStopping",
    "FitResult",
    "LoopState",
    "NonFiniteLossError",
    "TrainState",
    "batch_indices",
    "fit",
    "init_population",
    "kd_loss",
    "kl_to_teacher",
    "population_size",
    "steps_per_epoch",
]
