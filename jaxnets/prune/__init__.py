"""Pruning: binary masks over parameter pytrees (magnitude pruning, random controls, masked
updates), iterative pruning rounds, and dynamic sparse training (prune/regrow)."""
from jaxnets.prune.masks import (Rate, apply_mask, default_prunable, density, layer_densities,
                                 magnitude_prune, mask_updates, masked_optimizer, ones_mask,
                                 path_name, random_mask_like)

__all__ = [
    "Rate", "apply_mask", "default_prunable", "density", "layer_densities", "magnitude_prune",
    "mask_updates", "masked_optimizer", "ones_mask", "path_name", "random_mask_like",
]
