"""Elastic (maskable) layers: one max-size set of weights, many sub-networks selected by masks.

A sub-network ("subnet") of a weight-sharing supernet is described by small integer arrays (an
*architecture*, see `jaxnets.supernet.space`); every layer here turns those integers into masks
at run time, so all shapes are the supernet's and a batch of K subnets runs under one `jax.vmap`
in one jitted call. With every mask at one the layers are plain dense layers.

Slicing convention (once-for-all / LightHuBERT, Wang et al. 2022, `scaling_linear.py`): a subnet
of width `w` uses the *first* `w` units of a layer (a prefix), so its weights are the top-left
block `W[:w_in, :w_out]` of the supernet's. The masked forward equals the forward of that
physically sliced small layer; `jaxnets.supernet.extract` cuts the small layer out for deployment.

Here: the masked dense and LayerNorm primitives, `ElasticMLP` (per-layer width, depth, activation)
and `ElasticGCN` (per-layer hidden width and depth over a `jraph.GraphsTuple`). The transformer
layers live in `jaxnets.nn.elastic_transformer`.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import jraph

from jaxnets.graph import gcn_norm, propagate
from jaxnets.nn._inputs import graph_inputs

__all__ = [
    "ACTIVATIONS", "ElasticDense", "ElasticGCN", "ElasticGCNConv", "ElasticMLP", "WidthDepthArch",
    "full_arch", "masked_layer_norm", "prefix_mask", "torch_linear_init",
]

# Activations an elastic MLP can switch between per subnet, by index (GradSign's search space).
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu, "tanh": jnp.tanh, "gelu": nn.gelu, "sigmoid": nn.sigmoid,
}


def prefix_mask(n: jax.Array, size: int, dtype: Any = jnp.float32) -> jax.Array:
    """`m[i] = 1 if i < n else 0` for `i in range(size)`; `n` may be traced (or batched).

    Args:
        n: int scalar (or array of shape [...]), the number of active units.
        size: the supernet width.
        dtype: of the mask.

    Returns:
        A mask of shape [..., size].
    """
    n = jnp.asarray(n)
    return (jnp.arange(size) < n[..., None]).astype(dtype)


def _expand_last(m: jax.Array, ndim: int) -> jax.Array:
    """Reshapes a [F] mask to broadcast against an array of rank `ndim` on its last axis."""
    return m.reshape((1,) * (ndim - 1) + m.shape)


def masked_layer_norm(x: jax.Array, mask_F: jax.Array, scale_F: jax.Array | None,
                      bias_F: jax.Array | None, eps: float = 1e-5) -> jax.Array:
    """LayerNorm over the active features only; inactive features come out as 0.

    LightHuBERT (Wang et al. 2022, `scaling_layernorm`): a subnet of width E normalises with the
    mean and variance of its first E features and uses the first E entries of the affine params,
    `mu = sum(x m) / E`, `var = sum((x - mu)^2 m) / E`, `y = (x - mu) / sqrt(var + eps) * g + b`.

    Args:
        x: [..., F] features (inactive ones may hold anything finite).
        mask_F: [F] 0/1 mask of active features (at least one active).
        scale_F, bias_F: [F] affine parameters, or None.
        eps: added to the variance.

    Returns:
        [..., F], zero on inactive features.
    """
    m = _expand_last(mask_F.astype(x.dtype), x.ndim)
    count = jnp.maximum(jnp.sum(mask_F.astype(x.dtype)), 1.0)
    # The masked sums are products with the mask vector (x @ m), not reductions of x * m:
    # with 16 transformer subnets vmapped at 8 x 32 tokens, XLA's CPU backend fused the
    # reductions into large YNNPACK fusions that were slower and grew the temporaries from
    # 22 to 48 MiB (past glibc's 32 MiB mmap threshold); BENCH.md section 2. HIGHEST keeps
    # them full float32 where a backend would otherwise multiply in TF32/bfloat16.
    mf = mask_F.astype(x.dtype)
    mean = jnp.matmul(x, mf, precision=jax.lax.Precision.HIGHEST)[..., None] / count
    centred = (x - mean) * m
    var = jnp.matmul(centred * centred, mf,
                     precision=jax.lax.Precision.HIGHEST)[..., None] / count
    y = centred * jax.lax.rsqrt(var + eps)
    if scale_F is not None:
        y = y * _expand_last(scale_F, x.ndim)
    if bias_F is not None:
        y = y + _expand_last(bias_F, x.ndim)
    return y * m


def torch_linear_init(fan_in: jax.Array) -> Callable:
    """PyTorch's default `nn.Linear` init, `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, for weights and
    biases alike, with a *traced* fan-in: a subnet is initialised as its own small network would
    be (the fan-in is its active width, not the supernet's)."""

    def init(key, shape, dtype=jnp.float32):
        bound = jax.lax.rsqrt(jnp.maximum(jnp.asarray(fan_in, dtype), 1.0))
        return jax.random.uniform(key, shape, dtype, -1.0, 1.0) * bound

    return init


class ElasticDense(nn.Module):
    """`y = ((x * m_in) W + b) * m_out` with max-size `W` [F, H] and `b` [H].

    Equals the dense layer `x[:, :f] W[:f, :h] + b[:h]` of a subnet using the first `f` inputs and
    first `h` outputs, zero-padded to H. The bias is masked too (it would otherwise leak into the
    inactive units).

    Attributes:
        features: H, the supernet's output width.
        use_bias: add a bias.
        kernel_init, bias_init: initialisers of the max-size parameters.
    """
    features: int
    use_bias: bool = True
    kernel_init: Callable = nn.initializers.glorot_uniform()
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array, in_mask: jax.Array | None = None,
                 out_mask: jax.Array | None = None) -> jax.Array:
        """Maps [..., F] to [..., H]; masks are [F] and [H] 0/1 arrays or None (all active)."""
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        if in_mask is not None:
            x = x * _expand_last(in_mask.astype(x.dtype), x.ndim)
        y = x @ kernel
        if self.use_bias:
            y = y + _expand_last(
                self.param("bias", self.bias_init, (self.features,), jnp.float32), y.ndim)
        if out_mask is not None:
            y = y * _expand_last(out_mask.astype(y.dtype), y.ndim)
        return y


@flax.struct.dataclass
class WidthDepthArch:
    """A subnet of an `ElasticMLP` or `ElasticGCN`, as arrays (a leading axis batches subnets).

    Attributes:
        widths: int32 [L], the active width of each hidden layer (1 <= widths[l] <= max width).
        depth: int32 [], how many hidden layers run, in [1, L] (the first `depth`; the output
            layer reads the last one that ran).
        activation: int32 [], index into the model's `activations`.
    """
    widths: jax.Array
    depth: jax.Array
    activation: jax.Array


def full_arch(hidden: Sequence[int]) -> WidthDepthArch:
    """The largest subnet of a width/depth supernet with max widths `hidden` (activation 0)."""
    return WidthDepthArch(jnp.asarray(hidden, jnp.int32), jnp.asarray(len(hidden), jnp.int32),
                          jnp.asarray(0, jnp.int32))


def _check_arch(name: str, arch: Any, num_layers: int) -> None:
    if not isinstance(arch, WidthDepthArch):
        raise TypeError(f"{name} expects arch to be a WidthDepthArch, got {type(arch).__name__}")
    if jnp.shape(arch.widths) != (num_layers,) or jnp.shape(arch.depth) != ():
        raise ValueError(f"{name}: arch.widths must have shape ({num_layers},) and arch.depth "
                         f"shape (); got {jnp.shape(arch.widths)} and {jnp.shape(arch.depth)} "
                         "(a batch of archs goes through jax.vmap)")


def _check_activations(name: str, activations: Sequence[str]) -> None:
    if not activations:
        raise ValueError(f"{name}.activations must name at least one activation")
    for act in activations:
        if act not in ACTIVATIONS:
            raise ValueError(f"{name}.activations: unknown {act!r}; choose from "
                             f"{sorted(ACTIVATIONS)}")


def _switch_activation(h: jax.Array, index: jax.Array, names: Sequence[str]) -> jax.Array:
    """`ACTIVATIONS[names[index]](h)` for a traced index (every candidate is computed; they are
    elementwise and cheap next to the matmuls)."""
    out = ACTIVATIONS[names[0]](h)
    for i, act in enumerate(names[1:], start=1):
        out = jnp.where(index == i, ACTIVATIONS[act](h), out)
    return out


def _pad_last(x: jax.Array, width: int) -> jax.Array:
    return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, width - x.shape[-1])])


def _select_depth(outputs: list[jax.Array], masks: list[jax.Array], depth: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
    """The output (and its mask) of hidden layer `depth - 1`, each zero-padded to the widest."""
    width = max(o.shape[-1] for o in outputs)
    index = jnp.clip(depth - 1, 0, len(outputs) - 1)
    out = jnp.stack([_pad_last(o, width) for o in outputs])[index]
    mask = jnp.stack([_pad_last(m, width) for m in masks])[index]
    return out, mask


class _WidthDepthSupernet(nn.Module):
    """Shared body of `ElasticMLP` and `ElasticGCN`: hidden layers with prefix width masks, every
    layer computed (static shapes), the output layer reading layer `depth - 1`."""

    def _inits(self, fan_in: jax.Array) -> dict:
        if not self.init_per_arch:
            return {}
        return dict(kernel_init=torch_linear_init(fan_in), bias_init=torch_linear_init(fan_in))

    def _run(self, layer: Callable, x: jax.Array, arch: WidthDepthArch | None) -> jax.Array:
        """`layer(name, features, inits, h, in_mask, out_mask)` builds and applies one layer.

        With an arch the head reads layer `depth - 1` zero-padded to `max(hidden)` (its kernel
        has max(hidden) rows); without one every layer runs and the head reads the last layer
        (hidden[-1] rows). The two agree for the usual uniform `hidden`; initialise a supernet
        with non-uniform `hidden` with an arch.
        """
        name = type(self).__name__
        _check_activations(name, self.activations)
        if not self.hidden:
            raise ValueError(f"{name}.hidden must list at least one hidden width")
        static_depth = arch is None
        if arch is None:
            arch = full_arch(self.hidden)
        _check_arch(name, arch, len(self.hidden))
        fan_in = jnp.asarray(x.shape[-1], jnp.int32)
        in_mask = None
        outputs, masks = [], []
        for i, width in enumerate(self.hidden):
            out_mask = prefix_mask(arch.widths[i], width)
            # The width mask is applied once, after the activation (the layer's own output mask
            # would be redundant: same values and gradients). Masking before the activation
            # too made XLA's CPU backward recompute the masked activation derivative in a
            # transposed copy for the weight gradient: a vmapped 8-subnet MLP's gradient ran
            # 2.2-2.6x slower (BENCH.md section 2).
            h = layer(f"dense_{i}", width, self._inits(fan_in), x, in_mask, None)
            x = _switch_activation(h, arch.activation, self.activations) * _expand_last(
                out_mask, h.ndim)
            outputs.append(x)
            masks.append(out_mask)
            in_mask, fan_in = out_mask, arch.widths[i]
        if static_depth:
            x, in_mask = outputs[-1], None
        else:
            x, in_mask = _select_depth(outputs, masks, arch.depth)
        head_fan_in = arch.widths[jnp.clip(arch.depth - 1, 0, len(self.hidden) - 1)]
        return layer("head", self.out_features, self._inits(head_fan_in), x, in_mask, None)


class ElasticMLP(_WidthDepthSupernet):
    """An MLP supernet: hidden widths, depth and activation chosen per call by a `WidthDepthArch`.

    Hidden layer l: `h_l = act(dense_l(h_{l-1} * m_{l-1})) * m_l` with `m_l = prefix(widths[l])`;
    logits `= head(h_{depth-1})`, the head's input sliced to `widths[depth-1]`. This equals the
    plain MLP with widths `widths[:depth]` whose weights are the top-left blocks of the
    supernet's (`jaxnets.supernet.extract_subnet`). With `init_per_arch=True` each weight is drawn
    as PyTorch initialises the *subnet's own* layer (fan-in = its active input width), which a
    benchmark of independent networks needs.

    Attributes:
        hidden: the supernet's (max) hidden widths, one per layer.
        out_features: output width C.
        activations: names in `ACTIVATIONS`, indexed by `arch.activation`.
        init_per_arch: initialise from the arch's own fan-ins (pass the arch to `init`).
    """
    hidden: Sequence[int]
    out_features: int
    activations: Sequence[str] = ("relu",)
    init_per_arch: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, arch: WidthDepthArch | None = None) -> jax.Array:
        """Maps x [..., F] to logits [..., C]; `arch=None` runs the whole supernet."""
        def dense(name, features, inits, h, in_mask, out_mask):
            return ElasticDense(features, name=name, **inits)(h, in_mask, out_mask)

        return self._run(dense, x, arch)


class ElasticGCN(_WidthDepthSupernet):
    """A GCN supernet (Kipf & Welling 2017, eq. 2 per layer) with elastic hidden width and depth.

    Layer l: `H_l = act(P (H_{l-1} m_{l-1}) W_l + b_l) * m_l` with `P = D~^-1/2 (A+I) D~^-1/2`
    (from `graph.edges` when `jaxnets.graph.gcn_preprocess` stored it, else `gcn_norm`); the output
    layer is a GCN layer too, reading layer `depth - 1`. Every layer projects before propagating.

    Attributes:
        hidden: max hidden widths, one per layer.
        out_features: number of classes C.
        activations: names in `ACTIVATIONS`, indexed by `arch.activation`.
        init_per_arch: initialise from the arch's own fan-ins.
    """
    hidden: Sequence[int]
    out_features: int
    activations: Sequence[str] = ("relu",)
    init_per_arch: bool = False

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: jax.Array,
                 arch: WidthDepthArch | None = None) -> jax.Array:
        """Maps node features x [N, F] (dense) to logits [N, C]."""
        senders, receivers, n = graph_inputs("ElasticGCN", graph, x)
        if graph.edges is None:
            senders, receivers, weight = gcn_norm(senders, receivers, n)
        else:
            weight = graph.edges

        def gcn_layer(name, features, inits, h, in_mask, out_mask):
            return ElasticGCNConv(features, name=name, **inits)(
                h, senders, receivers, weight, in_mask, out_mask)

        return self._run(gcn_layer, x, arch)


class ElasticGCNConv(nn.Module):
    """`H' = (P (H m_in) W + b) m_out`, the GCN layer of Kipf & Welling (2017), eq. 2, with prefix
    masks; params `kernel` [F, H] and `bias` [H] (named as in `ElasticDense`, so one slicing rule
    extracts both). X is projected before propagating (PERFORMANCE.md item 3).

    Attributes:
        features: max output width H.
        kernel_init, bias_init: initialisers.
    """
    features: int
    kernel_init: Callable = nn.initializers.glorot_uniform()
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, h: jax.Array, senders_E: jax.Array, receivers_E: jax.Array,
                 weight_E: jax.Array, in_mask: jax.Array | None = None,
                 out_mask: jax.Array | None = None) -> jax.Array:
        """Maps node features h [N, F] to [N, H] along the weighted edges senders -> receivers."""
        kernel = self.param("kernel", self.kernel_init, (h.shape[-1], self.features), jnp.float32)
        if in_mask is not None:
            h = h * _expand_last(in_mask.astype(h.dtype), h.ndim)
        out = propagate(h @ kernel, senders_E, receivers_E, h.shape[0], weight_E)
        bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
        out = out + _expand_last(bias, out.ndim)
        return out if out_mask is None else out * _expand_last(out_mask, out.ndim)
