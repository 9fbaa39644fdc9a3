"""Cutting a subnet out of a supernet: a standalone small model and its params, for deployment.

`extract_subnet(model, params, arch)` slices every weight exactly as the masks select it
(prefix widths; LightHuBERT's chunked FFN units; the kept layers, renumbered) and returns a plain
model of the subnet's sizes, so `small.apply(small_params, x)` equals
`model.apply(params, x, arch)` up to float rounding, with a fraction of the memory and compute.
The architecture must be concrete (numpy or a device array outside `jit`): shapes depend on it.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import numpy as np

from jaxnets.nn.elastic import ElasticGCN, ElasticMLP, WidthDepthArch
from jaxnets.nn.elastic_transformer import (ElasticTransformer, TransformerArch,
                                            lighthubert_ffn_mask)

__all__ = ["extract_subnet", "num_params"]

PyTree = Any


def _concrete(arch: Any) -> Any:
    for leaf in jax.tree.leaves(arch):
        if isinstance(leaf, jax.core.Tracer):
            raise TypeError("extract_subnet needs a concrete arch (its sizes become array "
                            "shapes); call it outside jit/vmap")
    return jax.tree.map(np.asarray, arch)


def _variables(params: PyTree) -> tuple[dict, bool]:
    """Accepts `{"params": ...}` (as returned by `init`) or the bare params dict."""
    if isinstance(params, dict) and "params" in params and len(params) == 1:
        return params["params"], True
    return params, False


def _dense(p: dict, rows: Any, cols: Any) -> dict:
    """Slices a `{"kernel": [F, H], "bias": [H]}` dict to kernel[rows][:, cols], bias[cols]."""
    out = {"kernel": np.asarray(p["kernel"])[rows][:, cols]}
    if "bias" in p:
        out["bias"] = np.asarray(p["bias"])[cols]
    return out


def extract_subnet(model: nn.Module, params: PyTree, arch: Any) -> tuple[nn.Module, PyTree]:
    """The subnet `arch` of `model` as a standalone (smaller) model and its params.

    Args:
        model: an `ElasticMLP`, `ElasticGCN` or `ElasticTransformer` supernet.
        params: its params (`{"params": ...}` or the inner dict).
        arch: one concrete `WidthDepthArch` / `TransformerArch` (no batch axis).

    Returns:
        `(small_model, small_params)`, the params wrapped like the input. Call the small model
        without an arch.
    """
    inner, wrapped = _variables(params)
    arch = _concrete(arch)
    if isinstance(model, (ElasticMLP, ElasticGCN)):
        small, small_params = _extract_width_depth(model, inner, arch)
    elif isinstance(model, ElasticTransformer):
        small, small_params = _extract_transformer(model, inner, arch)
    else:
        raise TypeError(f"extract_subnet: unsupported model {type(model).__name__}; expected "
                        "ElasticMLP, ElasticGCN or ElasticTransformer")
    small_params = jax.tree.map(jax.numpy.asarray, small_params)
    return small, ({"params": small_params} if wrapped else small_params)


def _extract_width_depth(model, params, arch):
    if not isinstance(arch, WidthDepthArch):
        raise TypeError(f"arch must be a WidthDepthArch for {type(model).__name__}, got "
                        f"{type(arch).__name__}")
    depth, widths = int(arch.depth), [int(w) for w in arch.widths]
    if not 1 <= depth <= len(model.hidden):
        raise ValueError(f"arch.depth must be in [1, {len(model.hidden)}], got {depth}")
    for layer in range(depth):
        if not 1 <= widths[layer] <= model.hidden[layer]:
            raise ValueError(f"arch.widths[{layer}] must be in [1, {model.hidden[layer]}], got "
                             f"{widths[layer]}")
    activation = model.activations[int(arch.activation)]
    small = type(model)(hidden=tuple(widths[:depth]), out_features=model.out_features,
                        activations=(activation,))
    rows = slice(None)
    out = {}
    for layer in range(depth):
        out[f"dense_{layer}"] = _dense(params[f"dense_{layer}"], rows, slice(0, widths[layer]))
        rows = slice(0, widths[layer])
    out["head"] = _dense(params["head"], rows, slice(None))
    return small, out


def _extract_transformer(model: ElasticTransformer, params, arch):
    if not isinstance(arch, TransformerArch):
        raise TypeError(f"arch must be a TransformerArch for ElasticTransformer, got "
                        f"{type(arch).__name__}")
    d, e = model.embed_dim, int(arch.embed)
    if not 1 <= e <= d:
        raise ValueError(f"arch.embed must be in [1, {d}], got {e}")
    kept = [layer for layer in range(len(model.num_heads)) if bool(arch.layers[layer])]
    embed = slice(0, e)
    heads, ffns, out = [], [], {}
    out["in_proj"] = _dense(params["in_proj"], slice(None), embed)
    out["pos_embed"] = np.asarray(params["pos_embed"])[:, embed]
    out["norm"] = {k: np.asarray(v)[embed] for k, v in params["norm"].items()}
    for new, layer in enumerate(kept):
        h, f = int(arch.heads[layer]), int(arch.ffn[layer])
        if not 1 <= h <= model.num_heads[layer]:
            raise ValueError(f"arch.heads[{layer}] must be in [1, {model.num_heads[layer]}], "
                             f"got {h}")
        if model.ffn_slicing == "chunked":
            units = np.flatnonzero(np.asarray(lighthubert_ffn_mask(
                e, f, d, model.ffn_hidden[layer])))
        else:
            units = np.arange(f)
        if len(units) != f or f < 1:
            raise ValueError(f"arch.ffn[{layer}] = {f} does not fit the supernet (at most "
                             f"{model.ffn_hidden[layer] // d} chunks of E={e} units)")
        block = params[f"block_{layer}"]
        width = slice(0, h * model.head_dim)
        small = {name: _dense(block[name], embed, width) for name in "qkv"}
        small["out"] = _dense(block["out"], width, embed)
        small["fc1"] = _dense(block["fc1"], embed, units)
        small["fc2"] = _dense(block["fc2"], units, embed)
        for norm in ("norm1", "norm2"):
            small[norm] = {k: np.asarray(v)[embed] for k, v in block[norm].items()}
        out[f"block_{new}"] = small
        heads.append(h)
        ffns.append(f)
    out["head"] = _dense(params["head"], embed, slice(None))
    small_model = ElasticTransformer(
        embed_dim=e, num_heads=tuple(heads), ffn_hidden=tuple(ffns), head_dim=model.head_dim,
        out_features=model.out_features, max_len=model.max_len, pre_norm=model.pre_norm,
        ffn_slicing="prefix")
    return small_model, out


def num_params(params: PyTree) -> int:
    """Number of scalars in a params pytree (e.g. of an extracted subnet)."""
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
