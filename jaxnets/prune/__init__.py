"""Pruning: binary masks over parameter pytrees (magnitude pruning, random controls, masked
updates), lottery-ticket rounds, structured neuron pruning, G2G modular masks and dynamic sparse
training (prune/regrow), SNIP saliency for pruning at initialisation."""
from jaxnets.prune.dynamic import hebbian_score, prune_regrow
from jaxnets.prune.g2g import erdos_renyi_mask, g2g_mask, rescaled_init
from jaxnets.prune.lottery import (CONDITIONS, LotteryState, RoundResult, lth_rate,
                                   make_round_trainer, run_lottery)
from jaxnets.prune.masks import (Rate, apply_mask, default_prunable, density, layer_densities,
                                 magnitude_prune, mask_updates, masked_optimizer, ones_mask,
                                 path_name, random_mask_like)
from jaxnets.prune.saliency import snip_scores
from jaxnets.prune.structured import (group_lasso, group_norm_penalty, neuron_importance,
                                      neuron_keep_masks, neuron_param_mask, prune_neurons)

__all__ = [
    "CONDITIONS", "LotteryState", "Rate", "RoundResult", "apply_mask", "default_prunable",
    "density", "erdos_renyi_mask", "g2g_mask", "group_lasso", "group_norm_penalty",
    "hebbian_score", "layer_densities", "lth_rate", "magnitude_prune", "make_round_trainer",
    "mask_updates", "masked_optimizer", "neuron_importance", "neuron_keep_masks",
    "neuron_param_mask", "ones_mask", "path_name", "prune_neurons", "prune_regrow",
    "random_mask_like", "rescaled_init", "run_lottery", "snip_scores",
]
