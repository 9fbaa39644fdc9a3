"""Weight-sharing supernets: architecture spaces, subnet sampling as masks, vmap over subnets,
sandwich/progressive training, subnet extraction, and zero-cost proxies (GradSign).

The elastic layers themselves live in `jaxnets.nn.elastic` and `jaxnets.nn.elastic_transformer`.
"""
from jaxnets.supernet.extract import extract_subnet, num_params
from jaxnets.supernet.sampling import (PiecewiseSchedule, concat_archs, index_arch,
                                       sample_progressive, sample_sandwich, sample_uniform,
                                       stack_archs)
from jaxnets.supernet.space import (DEPTH_RULES, TransformerSpace, WidthDepthSpace, depth_table,
                                    equidistant_layers, lighthubert_layers)
from jaxnets.supernet.train import build_supernet_step, soft_cross_entropy
from jaxnets.supernet.zero_cost import grad_norm, gradsign, is_kernel, per_sample_gradients, snip

__all__ = [
    "DEPTH_RULES", "PiecewiseSchedule", "TransformerSpace", "WidthDepthSpace",
    "build_supernet_step", "concat_archs", "depth_table", "equidistant_layers", "extract_subnet",
    "grad_norm", "gradsign", "index_arch", "is_kernel", "lighthubert_layers", "num_params",
    "per_sample_gradients", "sample_progressive", "sample_sandwich", "sample_uniform", "snip",
    "soft_cross_entropy", "stack_archs",
]
