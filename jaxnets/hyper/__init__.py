"""Hypernetworks over any Flax target, in the standard form and with Magnitude Invariant
Parametrizations (MIP; Ortiz, Guttag & Dalca, ICLR 2024).

    spec = TargetSpec.from_module(target_module, *example_inputs)   # shapes via eval_shape
    hypernet = mip_hypernetwork(spec)                               # or standard_hypernetwork
    phi = hypernet.init(key, gamma_K)["params"]
    theta = hypernet.apply({"params": phi}, gamma_K)                # the target's param pytree
    y = spec.apply(theta, *inputs)                                  # checked target apply
    thetas = generate_population(hypernet, phi, gamma_BxK)          # B targets in one call
"""
from jaxnets.hyper.encoding import ENCODINGS, check_unit_interval, encode, encoded_size
from jaxnets.hyper.hypernet import (
    HyperNetwork, generate_population, kaiming_gain, mip_hypernetwork, standard_hypernetwork)
from jaxnets.hyper.target import TargetSpec, TargetStructureError, leaf_path
from jaxnets.hyper.train import HyperTask, hyper_training

__all__ = [
    "ENCODINGS", "HyperNetwork", "HyperTask", "TargetSpec", "TargetStructureError",
    "check_unit_interval", "encode", "encoded_size", "generate_population", "hyper_training",
    "kaiming_gain", "leaf_path", "mip_hypernetwork", "standard_hypernetwork",
]
