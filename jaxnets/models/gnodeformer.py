"""GNODEFormer (Gurumurthy, Pal & Sharma, "Federated Spectral Graph Transformers Meet Neural
Ordinary Differential Equations for Non-IID Graphs", TMLR 2025): a Specformer-style spectral graph
transformer whose encoder blocks are Runge-Kutta steps of a neural ODE.

Per client (or graph) the pipeline is
  1. L = I - D^-1/2 A D^-1/2 = U diag(lambda) U^T, a full eigendecomposition computed once on the
     host (`laplacian_spectrum`, `client_spectra`; spectra never leave a client);
  2. eigenvalue encoding rho(lambda) = W [lambda, sin(100 lambda w_j), cos(100 lambda w_j)]_j + b,
     w_j = 10000^(-2j/d) (`SineEncoding`, the paper's eq. for the eigen-tokens);
  3. an ODE-transformer encoder over the n eigen-tokens: each of `num_blocks` pre-LN transformer
     blocks f_l is one explicit Runge-Kutta step of dh/dt = f_l(h) with unit step
     (`runge_kutta_step`), and a residual history accumulates h <- h + LN_l(RK_l(h))
     (`ODETransformerEncoder`);
  4. a decoder Linear(d -> heads) gives new filter values gamma [n, heads]: the refined
     Laplacians L_new,i = U diag(gamma_:,i) U^T;
  5. `num_layers` spectral convolutions h <- sum_i w_i * B_i over the bases B_0 = h,
     B_i = U diag(gamma_:,i) U^T h (`spectral_filter`), on h_0 = MLP(x) in class space
     (the official `norm="none"` path, the default of the federated runner).

Details fixed by the official code (SpringWiz11/Fed-GNODEFormer, `src/Fed_GNODEFormer/model.py`):
f_l is the whole pre-LN block including its own residual connections (as in the ODE Transformer
of Li et al. 2022 that the paper builds on), so the RK-2 step is x + (f(x) + f(x + f(x))) / 2;
RK-3 here is Kutta's textbook scheme (the official branch uses k2 where Kutta has k1; its default
RK-2 is unaffected). Dropouts: `tran_dropout` on the attention weights and after attention, 0.1
inside the FFN, `feat_dropout` before and after the feature MLP, `prop_dropout` on the bases.
Linear layers use PyTorch's default initialisation (the official code's), the q/k/v projection of
the attention Xavier-uniform with zero biases (torch's MultiheadAttention), the base weights ones.

Padding: clients are padded to a common size n_max. Padded eigen-tokens are masked out of the
attention keys and padded columns/rows of U are zero, so the logits of the real nodes equal those
of the unpadded graph (tested).
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.nn.dropout import Dropout

__all__ = ["GNODEFormer", "ODEBlock", "ODETransformerEncoder", "SelfAttention", "SineEncoding",
           "TransformerBlock", "client_spectra", "laplacian_spectrum", "masked_attention_weights",
           "runge_kutta_step", "spectral_filter"]

RK_ORDERS = (1, 2, 3, 4)


def laplacian_spectrum(senders: np.ndarray, receivers: np.ndarray, num_nodes: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition of the symmetric normalised Laplacian, on the host (numpy `eigh`).

    A is symmetrised and binarised (self-loops kept, as the official `normalize_graph`);
    L = I - D^-1/2 A D^-1/2 with degree 0 replaced by 1 (an isolated node gets L_ii = 1).

    Args:
      senders, receivers: [E] int edge endpoints in [0, num_nodes).
      num_nodes: n.

    Returns:
      (eigvals [n] ascending, eigvecs [n, n] with L = U diag(eigvals) U^T), float32.
    """
    senders, receivers = np.asarray(senders, np.int64), np.asarray(receivers, np.int64)
    if senders.shape != receivers.shape or senders.ndim != 1:
        raise ValueError(f"senders and receivers must be [E] arrays of one shape, got "
                         f"{senders.shape}, {receivers.shape}")
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    if senders.size and (min(senders.min(), receivers.min()) < 0
                         or max(senders.max(), receivers.max()) >= num_nodes):
        raise ValueError(f"edge endpoints must lie in [0, {num_nodes})")
    adjacency = np.zeros((num_nodes, num_nodes))
    adjacency[senders, receivers] = 1.0
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    degree = adjacency.sum(axis=1)
    degree[degree == 0] = 1.0
    scale = degree ** -0.5
    laplacian = np.eye(num_nodes) - scale[:, None] * adjacency * scale[None, :]
    eigvals, eigvecs = np.linalg.eigh(laplacian)
    return eigvals.astype(np.float32), eigvecs.astype(np.float32)


def client_spectra(senders_KxE: np.ndarray, receivers_KxE: np.ndarray, edge_mask_KxE: np.ndarray,
                   num_nodes_K: np.ndarray, capacity: int) -> dict[str, np.ndarray]:
    """Each client's Laplacian spectrum, padded to `capacity` and stacked on a client axis.

    Args:
      senders_KxE, receivers_KxE: [K, E] local edge endpoints (e.g. `ClientSubgraphs`).
      edge_mask_KxE: [K, E] bool real edges.
      num_nodes_K: [K] real nodes per client; client k's nodes are slots 0..n_k-1.
      capacity: padded size n_max >= max(num_nodes_K).

    Returns:
      {"eigvals": [K, n_max], "eigvecs": [K, n_max, n_max] (zero outside the real n_k x n_k
      block), "token_mask": [K, n_max] bool real eigen-tokens}.
    """
    num_nodes_K = np.asarray(num_nodes_K)
    if int(num_nodes_K.max(initial=0)) > capacity:
        raise ValueError(f"capacity {capacity} is smaller than the largest client "
                         f"({int(num_nodes_K.max())} nodes)")
    k = len(num_nodes_K)
    eigvals = np.zeros((k, capacity), np.float32)
    eigvecs = np.zeros((k, capacity, capacity), np.float32)
    for i, n in enumerate(num_nodes_K.tolist()):
        keep = np.asarray(edge_mask_KxE[i], bool)
        vals, vecs = laplacian_spectrum(np.asarray(senders_KxE[i])[keep],
                                        np.asarray(receivers_KxE[i])[keep], max(n, 1))
        eigvals[i, :n], eigvecs[i, :n, :n] = vals[:n], vecs[:n, :n]
    token_mask = np.arange(capacity)[None, :] < num_nodes_K[:, None]
    return {"eigvals": eigvals, "eigvecs": eigvecs, "token_mask": token_mask}


def spectral_filter(eigvecs_NxN: jax.Array, gamma_N: jax.Array, x_NxF: jax.Array) -> jax.Array:
    """U diag(gamma) U^T x in O(n^2 F) without forming the n x n filter (the paper's spectral
    convolution with the refined Laplacian L_new = U diag(gamma) U^T).

    Args:
      eigvecs_NxN: U, eigenvectors as columns.
      gamma_N: filter value per eigenvalue.
      x_NxF: node signals.
    """
    if eigvecs_NxN.ndim != 2 or eigvecs_NxN.shape[0] != eigvecs_NxN.shape[1]:
        raise ValueError(f"eigvecs must have shape [N, N], got {eigvecs_NxN.shape}")
    n = eigvecs_NxN.shape[0]
    if gamma_N.shape != (n,) or x_NxF.ndim != 2 or x_NxF.shape[0] != n:
        raise ValueError(f"expected gamma [{n}] and x [{n}, F], got {gamma_N.shape} and "
                         f"{x_NxF.shape}")
    return eigvecs_NxN @ (gamma_N[:, None] * (eigvecs_NxN.T @ x_NxF))


def runge_kutta_step(f: Callable[[jax.Array], jax.Array], x: jax.Array, order: int,
                     step: float = 1.0) -> jax.Array:
    """One explicit Runge-Kutta step of dx/dt = f(x) (autonomous), step size `step`.

    Order 1: Euler. 2: Heun, x + h/2 (k1 + k2), k2 = f(x + h k1) (the ODE Transformer's RK-2).
    3: Kutta, k2 = f(x + h/2 k1), k3 = f(x - h k1 + 2h k2), x + h/6 (k1 + 4 k2 + k3).
    4: classic, k2 = f(x + h/2 k1), k3 = f(x + h/2 k2), k4 = f(x + h k3),
    x + h/6 (k1 + 2 k2 + 2 k3 + k4).
    """
    if order not in RK_ORDERS:
        raise ValueError(f"Runge-Kutta order must be one of {RK_ORDERS}, got {order}")
    h = step
    k1 = f(x)
    if order == 1:
        return x + h * k1
    if order == 2:
        k2 = f(x + h * k1)
        return x + (h / 2) * (k1 + k2)
    k2 = f(x + (h / 2) * k1)
    if order == 3:
        k3 = f(x - h * k1 + 2 * h * k2)
        return x + (h / 6) * (k1 + 4 * k2 + k3)
    k3 = f(x + (h / 2) * k2)
    k4 = f(x + h * k3)
    return x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)


class Dense(nn.Module):
    """`x W + b` with PyTorch's default `nn.Linear` initialisation (the official code's)."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        fan_in = x.shape[-1]
        bound = 1.0 / np.sqrt(max(fan_in, 1))

        def init(key, shape, dtype=jnp.float32):
            return jax.random.uniform(key, shape, dtype, -bound, bound)

        kernel = self.param("kernel", init, (fan_in, self.features))
        bias = self.param("bias", init, (self.features,))
        return x @ kernel + bias.reshape((1,) * (x.ndim - 1) + (self.features,))


class SineEncoding(nn.Module):
    """Eigenvalue encoding rho(lambda) = Linear_{(d+1) -> d}([lambda, sin(100 lambda w),
    cos(100 lambda w)]), w_j = 10000^(-2j/d), j < d/2 (Specformer's encoding, used by the paper).

    Attributes:
      hidden: d (even).
      constant: the eigenvalue scale (100).
    """

    hidden: int
    constant: float = 100.0

    @nn.compact
    def __call__(self, eigvals_N: jax.Array) -> jax.Array:
        """[N] eigenvalues -> [N, d] tokens."""
        if self.hidden % 2:
            raise ValueError(f"SineEncoding needs an even hidden size, got {self.hidden}")
        if eigvals_N.ndim != 1:
            raise ValueError(f"eigvals must have shape [N], got {eigvals_N.shape}")
        freqs = jnp.exp(jnp.arange(0, self.hidden, 2, dtype=jnp.float32)
                        * (-np.log(10000.0) / self.hidden))
        phase = (self.constant * eigvals_N)[:, None] * freqs[None, :]
        tokens = jnp.concatenate([eigvals_N[:, None], jnp.sin(phase), jnp.cos(phase)], axis=1)
        return Dense(self.hidden, name="eig_w")(tokens)


def masked_attention_weights(q_NxHxD: jax.Array, k_NxHxD: jax.Array, key_mask_N: jax.Array
                             ) -> jax.Array:
    """softmax_k(q_h . k_h / sqrt(D)) per head [H, N, N], padded keys (mask False) weighted 0.

    At least one key must be real (a client has >= 1 node)."""
    depth = q_NxHxD.shape[-1]
    logits = jnp.einsum("qhd,khd->hqk", q_NxHxD, k_NxHxD) / np.sqrt(depth)
    logits = jnp.where(key_mask_N[None, None, :], logits, -1e30)
    return jax.nn.softmax(logits, axis=-1)


class SelfAttention(nn.Module):
    """Multi-head self-attention as torch's `nn.MultiheadAttention` (Xavier-uniform q/k/v
    projection, zero biases, dropout on the attention weights), with padded keys masked. The
    output projection is Xavier-uniform too (torch keeps its Linear default U(+-1/sqrt d) there;
    a small deviation kept so the recorded results match this code).
    Dropout uses jaxnets' cheap masks (`jaxnets.nn.dropout`), the dominant cost otherwise.

    Attributes:
      hidden: model width d.
      heads: heads (divides d).
      dropout_rate: dropout on the attention weights.
    """

    hidden: int
    heads: int
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x_NxD: jax.Array, key_mask_N: jax.Array, *, deterministic: bool = True
                 ) -> jax.Array:
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} must be divisible by heads {self.heads}")
        n, depth = x_NxD.shape[0], self.hidden // self.heads
        kernel = self.param("qkv_kernel", nn.initializers.xavier_uniform(),
                            (self.hidden, 3 * self.hidden))
        bias = self.param("qkv_bias", nn.initializers.zeros_init(), (3 * self.hidden,))
        qkv = (x_NxD @ kernel + bias[None, :]).reshape(n, 3, self.heads, depth)
        weights = masked_attention_weights(qkv[:, 0], qkv[:, 1], key_mask_N)
        weights = Dropout(self.dropout_rate)(weights, deterministic=deterministic)
        out = jnp.einsum("hqk,khd->qhd", weights, qkv[:, 2]).reshape(n, self.hidden)
        out_kernel = self.param("out_kernel", nn.initializers.xavier_uniform(),
                                (self.hidden, self.hidden))
        out_bias = self.param("out_bias", nn.initializers.zeros_init(), (self.hidden,))
        return out @ out_kernel + out_bias[None, :]


class TransformerBlock(nn.Module):
    """Pre-LN transformer block f(x) = y + FFN(LN(y)), y = x + MHA(LN(x)) over eigen-tokens.

    MHA with `heads` heads (`SelfAttention`, dropout on the attention weights and on its
    output), FFN d -> d -> d with ReLU and dropout 0.1 (the official layer).

    Attributes:
      hidden: d.
      heads: attention heads (divides d).
      dropout_rate: attention dropout (the official `tran_dropout`).
    """

    hidden: int
    heads: int
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x_NxD: jax.Array, token_mask_N: jax.Array, *, deterministic: bool = True
                 ) -> jax.Array:
        norm = nn.LayerNorm(epsilon=1e-5, name="ln_attention")(x_NxD)
        y = SelfAttention(self.hidden, self.heads, self.dropout_rate, name="attention")(
            norm, token_mask_N, deterministic=deterministic)
        y = Dropout(self.dropout_rate)(y, deterministic=deterministic)
        x_NxD = x_NxD + y
        y = nn.LayerNorm(epsilon=1e-5, name="ln_ffn")(x_NxD)
        y = nn.relu(Dense(self.hidden, name="fc1")(y))
        y = Dropout(0.1)(y, deterministic=deterministic)
        y = Dense(self.hidden, name="fc2")(y)
        y = Dropout(0.1)(y, deterministic=deterministic)
        return x_NxD + y


class ODEBlock(nn.Module):
    """One layer of the ODE-transformer encoder: h + LN(RK(f, h)) with f a `TransformerBlock`.

    Written as a scan body (carry h, no output) so the encoder scans over its layers and
    compiles one block, not `num_blocks` copies.
    """

    hidden: int
    heads: int
    rk_order: int = 2
    dropout_rate: float = 0.0
    deterministic: bool = True

    @nn.compact
    def __call__(self, h_NxD: jax.Array, token_mask_N: jax.Array) -> tuple[jax.Array, None]:
        block = TransformerBlock(self.hidden, self.heads, self.dropout_rate, name="block")
        updated = runge_kutta_step(
            lambda z: block(z, token_mask_N, deterministic=self.deterministic), h_NxD,
            self.rk_order)
        return h_NxD + nn.LayerNorm(epsilon=1e-5, name="history_ln")(updated), None


class ODETransformerEncoder(nn.Module):
    """Eigen-token encoder of the paper: h_0 = rho(lambda); h_{l+1} = h_l + LN_l(RK_l(h_l)),
    RK_l one Runge-Kutta step (order `rk_order`, unit step) of dh/dt = f_l(h) with f_l a
    `TransformerBlock` (own parameters per layer, stacked on a leading layer axis); output
    LN(h_L).

    Attributes:
      hidden, heads, dropout_rate: of the blocks.
      num_blocks: ODE blocks (6 in the paper's code).
      rk_order: 1, 2 (default, the paper's RK-2), 3 or 4 (RK-4).
    """

    hidden: int
    heads: int
    num_blocks: int = 6
    rk_order: int = 2
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, eigvals_N: jax.Array, token_mask_N: jax.Array, *,
                 deterministic: bool = True) -> jax.Array:
        if self.num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {self.num_blocks}")
        h = SineEncoding(self.hidden, name="encoding")(eigvals_N)
        layers = nn.scan(ODEBlock, variable_axes={"params": 0},
                         split_rngs={"params": True, "dropout": True},
                         in_axes=nn.broadcast, length=self.num_blocks)
        h, _ = layers(self.hidden, self.heads, self.rk_order, self.dropout_rate,
                      deterministic, name="layers")(h, token_mask_N)
        return nn.LayerNorm(epsilon=1e-5, name="final_ln")(h)


class GNODEFormer(nn.Module):
    """GNODEFormer node classifier on one graph's spectrum (see the module docstring).

    Attributes:
      num_classes: C.
      hidden: d of the eigen-token encoder and the feature MLP (32 in the paper's runner).
      heads: attention heads = number of learned spectral filters (2).
      num_layers: spectral convolution layers (2).
      num_blocks: ODE transformer blocks (6).
      rk_order: Runge-Kutta order of each block (2).
      tran_dropout, feat_dropout, prop_dropout: 0.2, 0.6, 0.2 in the paper's runner.
    """

    num_classes: int
    hidden: int = 32
    heads: int = 2
    num_layers: int = 2
    num_blocks: int = 6
    rk_order: int = 2
    tran_dropout: float = 0.2
    feat_dropout: float = 0.6
    prop_dropout: float = 0.2

    @nn.compact
    def __call__(self, eigvals_N: jax.Array, eigvecs_NxN: jax.Array, x_NxF: jax.Array,
                 token_mask_N: jax.Array | None = None, *, deterministic: bool = True
                 ) -> jax.Array:
        """Logits [N, C] from the spectrum (eigvals [N], eigvecs [N, N]) and features [N, F].

        `token_mask_N` marks real eigen-tokens of a padded client (all real when None).
        """
        n = eigvals_N.shape[0]
        if eigvals_N.ndim != 1 or eigvecs_NxN.shape != (n, n):
            raise ValueError(f"expected eigvals [N] and eigvecs [N, N], got {eigvals_N.shape} "
                             f"and {eigvecs_NxN.shape}")
        if x_NxF.ndim != 2 or x_NxF.shape[0] != n:
            raise ValueError(f"x must have shape [{n}, F], got {x_NxF.shape}")
        if token_mask_N is None:
            token_mask_N = jnp.ones((n,), bool)
        elif token_mask_N.shape != (n,):
            raise ValueError(f"token_mask must have shape [{n}], got {token_mask_N.shape}")
        h = Dropout(self.feat_dropout)(x_NxF, deterministic=deterministic)
        h = Dense(self.num_classes, name="feat_out")(nn.relu(Dense(self.hidden, name="feat_in")(h)))
        h = Dropout(self.feat_dropout)(h, deterministic=deterministic)
        encoded = ODETransformerEncoder(self.hidden, self.heads, self.num_blocks, self.rk_order,
                                        self.tran_dropout, name="encoder")(
            eigvals_N, token_mask_N, deterministic=deterministic)
        gamma_NxH = Dense(self.heads, name="decoder")(encoded)
        gamma_NxH = jnp.where(token_mask_N[:, None], gamma_NxH, 0.0)
        for layer in range(self.num_layers):
            bases = [h] + [spectral_filter(eigvecs_NxN, gamma_NxH[:, i], h)
                           for i in range(self.heads)]
            bases_NxBxC = jnp.stack(bases, axis=1)
            bases_NxBxC = Dropout(self.prop_dropout)(bases_NxBxC, deterministic=deterministic)
            weight = self.param(f"spec_weight_{layer}", nn.initializers.ones,
                                (self.heads + 1, self.num_classes))
            h = jnp.sum(bases_NxBxC * weight[None], axis=1)
        return h
