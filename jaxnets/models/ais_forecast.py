"""AIS message forecasting (Spadon, Ferreira, Soares & Matwin, "Unfolding AIS transmission behavior
for vessel movement modeling on noisy data leveraging machine learning", IEEE Access 2023,
arXiv 2202.13867): the paper's convolution + feed-forward + recurrent forecaster, its Elman / GRU /
LSTM baselines, and the Relative Percentage Difference (RPD) it reports.

Every model maps a window of L past messages `x_BxLxF` to the next H messages' targets
`y_BxHxT` (z-scored). The paper's text beyond its abstract was not reachable offline, so the
layer sizes follow the research notes' reconstruction (`shared/research/papers-solvers-fed-net.md`
§10): Conv1D(k = 3) -> Dense -> 2-layer bidirectional GRU -> Dense -> Dense(H * T), hidden 64;
the baselines are one recurrent layer of the same width read out by a Dense layer.
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

CELLS: dict[str, Callable[[int], nn.RNNCellBase]] = {
    "elman": lambda hidden: nn.SimpleCell(hidden),   # h' = tanh(W_i x + b + W_h h)  (Elman 1990)
    "gru": lambda hidden: nn.GRUCell(hidden),
    "lstm": lambda hidden: nn.OptimizedLSTMCell(hidden),
}


def relative_percentage_difference(y: jax.Array, y_hat: jax.Array) -> jax.Array:
    """Elementwise RPD = 100 * 2 |y - y_hat| / (|y| + |y_hat|), in [0, 200] (0 where both are 0).

    The paper's metric: symmetric, scale-free (RPD(a y, a y_hat) = RPD(y, y_hat) for a != 0) and
    bounded by 200 % (reached whenever exactly one of the two is 0 or their signs differ).

    Args:
      y, y_hat: arrays of the same shape, in the targets' own (not z-scored) units.

    Returns:
      The elementwise RPD in percent, same shape.
    """
    y, y_hat = jnp.asarray(y), jnp.asarray(y_hat)
    if y.shape != y_hat.shape:
        raise ValueError(f"y and y_hat must have the same shape, got {y.shape} and {y_hat.shape}")
    denominator = jnp.abs(y) + jnp.abs(y_hat)
    safe = jnp.where(denominator > 0, denominator, 1.0)
    return jnp.where(denominator > 0, 200.0 * jnp.abs(y - y_hat) / safe, 0.0)


def _check_input(x_BxLxF: jax.Array) -> None:
    if x_BxLxF.ndim != 3:
        raise ValueError(f"x_BxLxF must be [batch, messages, features], got shape {x_BxLxF.shape}")


class RecurrentForecaster(nn.Module):
    """A baseline: one recurrent layer (`cell` in CELLS) over the L messages, its last hidden
    state read out by a Dense layer to H x T targets.

    Attributes:
      cell: "elman", "gru" or "lstm".
      hidden: recurrent width.
      horizon: H, messages forecast.
      num_targets: T, values per forecast message.
    """

    cell: str
    hidden: int
    horizon: int
    num_targets: int

    @nn.compact
    def __call__(self, x_BxLxF: jax.Array) -> jax.Array:
        _check_input(x_BxLxF)
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        h_BxLxD = nn.RNN(CELLS[self.cell](self.hidden), name="rnn")(x_BxLxF)
        out = nn.Dense(self.horizon * self.num_targets, name="readout")(h_BxLxD[:, -1])
        return out.reshape(x_BxLxF.shape[0], self.horizon, self.num_targets)


class ConvFFNRNNForecaster(nn.Module):
    """The paper's model: convolutional feature extraction over the message sequence, a
    feed-forward layer per message, stacked bidirectional recurrent layers, and a feed-forward
    read-out of both directions' final states.

    x [B, L, F] -> Conv1D(hidden, kernel, 'SAME') -> ReLU -> Dense(hidden) -> ReLU
      -> `rnn_layers` x BiGRU(hidden) (sequences between layers)
      -> [forward final state || backward final state] -> Dense(hidden) -> ReLU -> Dense(H * T).

    Attributes:
      hidden: width of every layer.
      horizon: H; num_targets: T.
      kernel_size: convolution width over messages.
      rnn_layers: stacked bidirectional GRU layers.
    """

    hidden: int
    horizon: int
    num_targets: int
    kernel_size: int = 3
    rnn_layers: int = 2

    @nn.compact
    def __call__(self, x_BxLxF: jax.Array) -> jax.Array:
        _check_input(x_BxLxF)
        h = nn.relu(nn.Conv(self.hidden, (self.kernel_size,), padding="SAME", name="conv")(x_BxLxF))
        h = nn.relu(nn.Dense(self.hidden, name="ffn")(h))
        for layer in range(self.rnn_layers):
            birnn = nn.Bidirectional(nn.RNN(nn.GRUCell(self.hidden)),
                                     nn.RNN(nn.GRUCell(self.hidden)), return_carry=True,
                                     name=f"bigru_{layer}")
            (final_fwd, final_bwd), h = birnn(h)
        h = jnp.concatenate([final_fwd, final_bwd], axis=-1)
        h = nn.relu(nn.Dense(self.hidden, name="head")(h))
        out = nn.Dense(self.horizon * self.num_targets, name="readout")(h)
        return out.reshape(x_BxLxF.shape[0], self.horizon, self.num_targets)


MODELS = ("proposed", "elman", "gru", "lstm")


def build_model(name: str, hidden: int, horizon: int, num_targets: int) -> nn.Module:
    """"proposed" (ConvFFNRNNForecaster) or a RecurrentForecaster baseline by cell name."""
    if name == "proposed":
        return ConvFFNRNNForecaster(hidden, horizon, num_targets)
    if name in CELLS:
        return RecurrentForecaster(name, hidden, horizon, num_targets)
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")
