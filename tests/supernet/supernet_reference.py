"""Float64 numpy forwards of *physically sliced* small networks, written independently of the
library's masks: each weight is cut with explicit index lists, then a plain network runs."""
import numpy as np
import scipy.special


def chunk_units(embed, ffn, embed_max, ffn_max):
    """LightHuBERT's FFN unit indices by the chunk loop of `scaling_linear.py` (split slicing)."""
    units = []
    for chunk in range(ffn_max // embed_max):
        keep = min(embed, ffn - chunk * embed)
        if keep > 0:
            units.extend(range(chunk * embed_max, chunk * embed_max + keep))
    return np.array(units, dtype=int)


def layer_norm(x, scale, bias, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


def gelu(x):
    return 0.5 * x * (1.0 + scipy.special.erf(x / np.sqrt(2.0)))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def f64(tree):
    if isinstance(tree, dict):
        return {k: f64(v) for k, v in tree.items()}
    return np.asarray(tree, np.float64)


def transformer(params, arch, x, *, head_dim, pre_norm, embed_max, ffn_max):
    """Sliced-network forward of one `TransformerArch` (numpy values), x [B, T, F_in]."""
    p = f64(params["params"])
    e = int(arch["embed"])
    E = slice(0, e)
    h = np.asarray(x, np.float64) @ p["in_proj"]["kernel"][:, E] + p["in_proj"]["bias"][E]
    h = h + p["pos_embed"][: x.shape[1], E]
    if not pre_norm:
        h = layer_norm(h, p["norm"]["scale"][E], p["norm"]["bias"][E])
    for layer, keep in enumerate(arch["layers"]):
        if not keep:
            continue
        b = p[f"block_{layer}"]
        heads = int(arch["heads"][layer])
        W = slice(0, heads * head_dim)
        units = chunk_units(e, int(arch["ffn"][layer]), embed_max, ffn_max)

        def attention(z):
            q, k, v = (z @ b[n]["kernel"][E, W] + b[n]["bias"][W] for n in "qkv")
            split = z.shape[:-1] + (heads, head_dim)
            q, k, v = (a.reshape(split) for a in (q, k, v))
            att = softmax(np.einsum("bthd,bshd->bhts", q, k) / np.sqrt(head_dim))
            o = np.einsum("bhts,bshd->bthd", att, v).reshape(z.shape[:-1] + (heads * head_dim,))
            return o @ b["out"]["kernel"][W, E] + b["out"]["bias"][E]

        def ffn(z):
            hidden = gelu(z @ b["fc1"]["kernel"][E][:, units] + b["fc1"]["bias"][units])
            return hidden @ b["fc2"]["kernel"][units][:, E] + b["fc2"]["bias"][E]

        n1 = lambda z: layer_norm(z, b["norm1"]["scale"][E], b["norm1"]["bias"][E])  # noqa: E731
        n2 = lambda z: layer_norm(z, b["norm2"]["scale"][E], b["norm2"]["bias"][E])  # noqa: E731
        if pre_norm:
            h = h + attention(n1(h))
            h = h + ffn(n2(h))
        else:
            h = n1(h + attention(h))
            h = n2(h + ffn(h))
    if pre_norm:
        h = layer_norm(h, p["norm"]["scale"][E], p["norm"]["bias"][E])
    return h @ p["head"]["kernel"][E] + p["head"]["bias"]


ACTS = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh,
        "sigmoid": lambda z: 1 / (1 + np.exp(-z))}


def mlp(params, widths, depth, activation, x, propagate=None):
    """Sliced MLP (or GCN when `propagate` is a dense [N, N] operator) forward."""
    p = f64(params["params"])
    h = np.asarray(x, np.float64)
    rows = slice(None)
    prop = (lambda z: z) if propagate is None else (lambda z: propagate @ z)
    for layer in range(depth):
        cols = slice(0, widths[layer])
        h = ACTS[activation](prop(h @ p[f"dense_{layer}"]["kernel"][rows, cols])
                             + p[f"dense_{layer}"]["bias"][cols])
        rows = cols
    return prop(h @ p["head"]["kernel"][rows]) + p["head"]["bias"]


def gcn_operator(senders, receivers, n):
    """D~^-1/2 (A + I) D~^-1/2 with A[i, j] = 1 for each edge j -> i."""
    a = np.eye(n)
    a[receivers, senders] += 1.0
    d = a.sum(1)
    return a / np.sqrt(d)[:, None] / np.sqrt(d)[None, :]


def perturb(params, rng, scale=0.3):
    """Adds noise to every leaf (so LayerNorm scales/biases and zero biases are not trivial)."""
    import jax
    return jax.tree.map(lambda v: v + scale * rng.standard_normal(v.shape).astype(v.dtype),
                        params)
