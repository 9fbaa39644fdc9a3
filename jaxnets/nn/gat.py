"""Multi-head graph attention, Velickovic et al. (2018), eqs. 1-6."""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from jaxnets.graph import add_self_loops, is_self_loop, propagate, segment_softmax
from jaxnets.nn._inputs import graph_inputs
from jaxnets.nn.dropout import Dropout
from jaxnets.nn.linear import Initializer, Linear, add_bias

__all__ = ["GATConv"]


class GATConv(nn.Module):
    """Graph attention layer with K heads (Velickovic et al. 2018).

    Per head k: `z_j = W^k h_j` (eq. 1's shared linear map), logits
    `e_ij = LeakyReLU(a^k . [z_i || z_j])` for each edge j -> i (eq. 3, slope 0.2), normalised
    over i's neighbourhood with `segment_softmax` (eq. 2), attention dropout on `alpha_ij`
    (sec. 3.3), and `h_i' = sum_j alpha_ij z_j` (eq. 4). Heads are concatenated (eq. 5) or
    averaged (eq. 6, the output layer). The nonlinearity sigma is left to the caller.

    The neighbourhood includes i itself, as in the paper: with `add_self_loops` one loop per
    node is appended and any loops already in the graph are masked out of the softmax, so each
    node attends to itself exactly once.

    Attributes:
        features: output width F' per head.
        heads: number of heads K.
        concat: concatenate heads ([N, K F']) if True, else average them ([N, F']).
        negative_slope: LeakyReLU slope (0.2 in the paper).
        attention_dropout: dropout rate on the attention coefficients (0.6 on Cora).
        add_self_loops: include i in N(i).
        use_bias: add a bias after aggregation.
        kernel_init: initialiser of W and of the attention vectors.
    """
    features: int
    heads: int = 1
    concat: bool = True
    negative_slope: float = 0.2
    attention_dropout: float = 0.0
    add_self_loops: bool = True
    use_bias: bool = True
    kernel_init: Initializer = nn.initializers.glorot_uniform()

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x: Any, *, deterministic: bool = True
                 ) -> jax.Array:
        """Maps node features x [N, F] (dense or `BCOO`) to [N, K F'] (concat) or [N, F'].

        Args:
            graph: senders/receivers/n_node (edge features are ignored).
            x: node features [N, F].
            deterministic: disables attention dropout when True.
        """
        senders, receivers, n = graph_inputs("GATConv", graph, x)
        k, f = self.heads, self.features
        z_NxKxF = Linear(k * f, use_bias=False, kernel_init=self.kernel_init)(x).reshape(n, k, f)
        a_src = self.param("att_src", self.kernel_init, (k, f), jnp.float32)
        a_dst = self.param("att_dst", self.kernel_init, (k, f), jnp.float32)
        score_src_NxK = jnp.sum(z_NxKxF * a_src[None], axis=-1)
        score_dst_NxK = jnp.sum(z_NxKxF * a_dst[None], axis=-1)
        mask_E = None
        if self.add_self_loops:
            mask_E = jnp.concatenate([~is_self_loop(senders, receivers), jnp.ones((n,), bool)])
            senders, receivers, _ = add_self_loops(senders, receivers, n)
        logits_ExK = nn.leaky_relu(score_dst_NxK[receivers] + score_src_NxK[senders],
                                   self.negative_slope)
        alpha_ExK = segment_softmax(logits_ExK, receivers, n, mask_E=mask_E)
        alpha_ExK = Dropout(self.attention_dropout)(alpha_ExK, deterministic=deterministic)
        out_NxKxF = propagate(z_NxKxF, senders, receivers, n, alpha_ExK)
        out = out_NxKxF.reshape(n, k * f) if self.concat else jnp.mean(out_NxKxF, axis=1)
        if self.use_bias:
            out = add_bias(out, self.param("bias", nn.initializers.zeros_init(),
                                           (out.shape[-1],), jnp.float32))
        return out
