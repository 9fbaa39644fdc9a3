"""Wireless networks: simulated channels and downlink precoding (ICGNN, Sun et al.,
arXiv 2408.17252)."""
from jaxnets.wireless.channels import large_scale_fading, path_loss_db, rayleigh
from jaxnets.wireless.precoding import (complex_cg, direct_precoder, mrt, normalize_power, rzf,
                                        sinr, structured_precoder, sum_rate, wmmse,
                                        wmmse_multistart, zf)

__all__ = ["complex_cg", "direct_precoder", "large_scale_fading", "mrt", "normalize_power",
           "path_loss_db", "rayleigh", "rzf", "sinr", "structured_precoder", "sum_rate", "wmmse",
           "wmmse_multistart", "zf"]
