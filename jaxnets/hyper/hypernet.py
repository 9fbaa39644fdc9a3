"""Hypernetworks over any Flax target: the standard form and Magnitude Invariant
Parametrizations (MIP; Ortiz, Guttag & Dalca, ICLR 2024).

A hypernetwork `h(gamma; phi)` maps a conditioning vector gamma [K] (a hyperparameter, a loss
weight, a task code) to all P parameters of a target network, `theta = h(gamma; phi)` (eq. 1),
and the target is applied with them: `y = f(x; theta)`. `jax.vmap` over gamma gives a population
of target networks in one call.

`HyperNetwork` is an MLP with LeakyReLU hidden layers whose last layer is split into one block
per target leaf (`TargetSpec.blocks`). Two formulations, built by `standard_hypernetwork` and
`mip_hypernetwork`:

* standard: raw input gamma, Kaiming-normal fan-in weights, zero biases, `theta = W_out z + b`
  with b = 0 at initialisation. With zero biases every layer is positively homogeneous, hence
  `theta(c gamma) = c theta(gamma)` for c > 0 (the magnitude proportionality, sec. 3).
* MIP (sec. 4): (1) the input encoding E_L2 (`jaxnets.hyper.encoding`), of constant norm;
  (2) the residual form `theta = theta_0 + Delta theta(E(gamma))` (sec. 4.2) where theta_0 are
  independent learnable parameters initialised like an ordinary target network (here: by the
  target's own initialisers) — as in the paper's code, theta_0 is the bias of the output layer,
  so MIP adds no parameters over a hypernetwork with an output bias; (3) the initialisation of
  the paper's code: hidden layers Kaiming-normal with fan-out, and the output layer initialised
  block by block, each target leaf's block Kaiming-normal with the fan-out of that block (so the
  output width P does not shrink the predicted weights).

The Kaiming gain is PyTorch's LeakyReLU gain sqrt(2 / (1 + slope^2)) with slope 0.01.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.hyper.encoding import encode
from jaxnets.hyper.target import TargetSpec

PyTree = Any

__all__ = ["HyperNetwork", "mip_hypernetwork", "standard_hypernetwork", "kaiming_gain"]

OUTPUT_INITS = ("split_fan_out", "fan_in", "zeros")
HIDDEN_INITS = ("fan_out", "fan_in")


def kaiming_gain(negative_slope: float) -> float:
    """He et al. (2015) gain of a LeakyReLU: sqrt(2 / (1 + slope^2))."""
    return math.sqrt(2.0 / (1.0 + negative_slope ** 2))


def _split_fan_out_init(sizes: Sequence[int], gain: float):
    """Output kernel [H, P] whose block of each target leaf (n_i columns) is N(0, gain^2 / n_i):
    Kaiming-normal with the fan-out of that block alone, as if each leaf had its own layer."""
    std_P = np.repeat(gain / np.sqrt(np.asarray(sizes, np.float64)), sizes).astype(np.float32)

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return (jax.random.normal(key, shape, dtype) * std_P.reshape(1, -1)).astype(dtype)

    return init


class HyperNetwork(nn.Module):
    """theta = h(gamma): a conditioning vector gamma [K] -> the target's parameter pytree.

    Use `standard_hypernetwork` or `mip_hypernetwork` rather than setting the fields by hand.

    Attributes:
      target: the target's `TargetSpec` (from `TargetSpec.from_module`).
      hidden_sizes: widths of the hidden layers, e.g. (16, 64, 128) as in the paper's code.
      encoding: "identity" (standard), "cos|sin" (MIP) or "z|1-z".
      residual: MIP's theta = theta_0 + Delta theta, theta_0 (param "theta0") initialised by the
        target's initialisers; otherwise the output bias (param "output_bias") starts at zero.
      hidden_init: Kaiming-normal "fan_in" (standard) or "fan_out" (MIP) for hidden kernels.
      output_init: "fan_in" (standard), "split_fan_out" (MIP) or "zeros" (then theta = theta_0).
      negative_slope: slope of the LeakyReLU (0 gives ReLU).
    """

    target: TargetSpec
    hidden_sizes: Sequence[int] = (16, 64, 128)
    encoding: str = "cos|sin"
    residual: bool = True
    hidden_init: str = "fan_out"
    output_init: str = "split_fan_out"
    negative_slope: float = 0.01

    def _check_fields(self) -> None:
        if not isinstance(self.target, TargetSpec):
            raise TypeError(f"target must be a TargetSpec, got {type(self.target).__name__}")
        if self.hidden_init not in HIDDEN_INITS:
            raise ValueError(f"hidden_init must be one of {HIDDEN_INITS}, got {self.hidden_init!r}")
        if self.output_init not in OUTPUT_INITS:
            raise ValueError(f"output_init must be one of {OUTPUT_INITS}, got {self.output_init!r}")
        if any(int(w) < 1 for w in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {tuple(self.hidden_sizes)}")
        if self.residual and self.target.init_fn is None:
            raise ValueError("residual=True initialises theta_0 with the target's initialisers; "
                             "build the target with TargetSpec.from_module")

    @nn.compact
    def flat(self, gamma_K: jax.Array) -> jax.Array:
        """The flat parameter vector theta [P] for one conditioning vector gamma [K]."""
        self._check_fields()
        if jnp.ndim(gamma_K) != 1:
            raise ValueError(f"gamma must have shape [K] (one conditioning vector; vmap for a "
                             f"batch), got shape {tuple(jnp.shape(gamma_K))}")
        gain = kaiming_gain(self.negative_slope)
        z = encode(gamma_K, self.encoding)
        for i, width in enumerate(self.hidden_sizes):
            kernel_init = nn.initializers.variance_scaling(gain ** 2, self.hidden_init, "normal")
            z = nn.Dense(int(width), kernel_init=kernel_init, name=f"hidden_{i}")(z)
            z = nn.leaky_relu(z, self.negative_slope)
        num_params = self.target.num_params
        if self.output_init == "split_fan_out":
            kernel_init = _split_fan_out_init(self.target.sizes, gain)
        elif self.output_init == "fan_in":
            kernel_init = nn.initializers.variance_scaling(gain ** 2, "fan_in", "normal")
        else:
            kernel_init = nn.initializers.zeros_init()
        kernel_HxP = self.param("output_kernel", kernel_init, (z.shape[-1], num_params),
                                jnp.float32)
        if self.residual:
            bias_P = self.param("theta0", lambda key: self.target.ravel(self.target.init(key)))
        else:
            bias_P = self.param("output_bias", nn.initializers.zeros_init(), (num_params,),
                                jnp.float32)
        return z @ kernel_HxP + bias_P

    def __call__(self, gamma_K: jax.Array) -> PyTree:
        """The target's parameter pytree for one conditioning vector gamma [K]."""
        return self.target.unravel(self.flat(gamma_K))


def standard_hypernetwork(target: TargetSpec, hidden_sizes: Sequence[int] = (16, 64, 128),
                          negative_slope: float = 0.01) -> HyperNetwork:
    """The default hypernetwork of the paper's comparisons: raw gamma input, Kaiming-normal
    fan-in init, zero biases, no residual theta_0."""
    return HyperNetwork(target=target, hidden_sizes=tuple(hidden_sizes), encoding="identity",
                        residual=False, hidden_init="fan_in", output_init="fan_in",
                        negative_slope=negative_slope)


def mip_hypernetwork(target: TargetSpec, hidden_sizes: Sequence[int] = (16, 64, 128),
                     encoding: str = "cos|sin", negative_slope: float = 0.01) -> HyperNetwork:
    """MIP (Ortiz et al. 2024, sec. 4): constant-norm input encoding, residual theta_0 initialised
    as the target, fan-out hidden init and block-wise fan-out output init."""
    return HyperNetwork(target=target, hidden_sizes=tuple(hidden_sizes), encoding=encoding,
                        residual=True, hidden_init="fan_out", output_init="split_fan_out",
                        negative_slope=negative_slope)


def generate_population(hypernet: HyperNetwork, hyper_params: PyTree,
                        gamma_BxK: jax.Array) -> PyTree:
    """One target parameter pytree per row of gamma [B, K], stacked on a leading axis of size B
    (`jax.vmap` of the hypernetwork); apply it with `jax.vmap` of the target's apply."""
    if jnp.ndim(gamma_BxK) != 2:
        raise ValueError(f"gamma_BxK must have shape [B, K], got {tuple(jnp.shape(gamma_BxK))}")
    return jax.vmap(lambda g: hypernet.apply({"params": hyper_params}, g))(gamma_BxK)
