"""Pieces shared by the federated experiments (`flag_aggregator`, `fedzip`)."""
from __future__ import annotations

import flax.linen as nn
import jax


class DigitsMLP(nn.Module):
    """The one-hidden-layer ReLU classifier both experiments train on digits: [B, 64] -> [B, 10].

    Attributes:
      hidden: hidden width.
      classes: output classes.
    """

    hidden: int
    classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(self.classes)(nn.relu(nn.Dense(self.hidden)(x)))
