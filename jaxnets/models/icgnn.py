"""ICGNN (Sun, Wu, Wang, Liu, Li & Zhang, "A Homogeneous Graph Neural Network for Precoding and
Power Allocation in Scalable Wireless Networks", arXiv 2408.17252): the virtual homogeneous
graph, the information-carrying GNN, and its matrix-inverse-free CG precoder.

1. Virtual homogeneous graph (§III-A). The bipartite TX-antenna / user network has two node
   types with different features; the paper abstracts it into a graph whose nodes are all of one
   kind so that one network serves every node. Here a node is a link (user k, antenna m) with the
   features of h_km (`link_features`: Re, Im, |h|, and the SNR P / sigma^2 in dB); two nodes are
   joined when they share a user or share an antenna (`homogeneous_graph`, two edge classes).
   The node set grows with K x M, so one set of weights serves any (K, M).
2. Information-carrying layer (§III-B): each layer updates node i from its own state, the mean
   over each neighbour class (same user / same antenna, self excluded) and the *raw input
   features carried into every layer*; shared MLPs, mean aggregation, so the layer is
   permutation-equivariant over users and over antennas and agnostic to their numbers. On the
   complete "rook" graph the neighbour-class means are means along the two grid axes
   (`neighbour_means`), which a test checks against segment means over the edge list.
3. Precoding head (§IV, cellular MU-MIMO): per-user readouts (mean over the user's link nodes)
   give a_k, c_k > 0 and a global readout gives mu > 0; the precoder is the WMMSE fixed-point
   form W ∝ (H^H diag(a) H + mu I_M)^{-1} H^H diag(c), solved by T conjugate-gradient iterations
   (`jaxnets.wireless.structured_precoder`: no matrix inverse) and scaled to the power budget.
   Training is unsupervised on the negative sum spectral efficiency, gradients through the
   unrolled CG.

Reconstruction notes: the paper's full text (layer equations, feature list, output scaling) was
not retrievable here; the design follows its abstract and `shared/research` §5. mu is predicted
relative to the RZF regulariser K sigma^2 / P and a, c around 1, so an untrained network starts
near RZF (a = c = 1, mu = K sigma^2 / P is exactly RZF); the GNN learns the per-user corrections.
The cell-free power-allocation head of the paper is not implemented.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.wireless import precoding

__all__ = ["ICGNN", "homogeneous_graph", "icgnn_precoder", "link_features", "neighbour_means"]

NUM_FEATURES = 4


def link_features(H: jax.Array, power: float, noise: float) -> jax.Array:
    """Node features [K, M, 4] of the virtual graph: (Re h_km, Im h_km, |h_km|, 10 log10(P /
    sigma^2) / 10) for the link node (k, m)."""
    precoding._check_channel(H)
    snr = jnp.full(H.shape, jnp.log10(power / noise), jnp.float32)
    return jnp.stack([jnp.real(H), jnp.imag(H), jnp.abs(H), snr], axis=-1).astype(jnp.float32)


def homogeneous_graph(num_users: int, num_antennas: int) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """Edge list of the virtual homogeneous graph on K x M link nodes (node id k * M + m).

    Returns:
      (senders_E, receivers_E, kind_E): directed edges between distinct nodes that share a user
      (kind 0) or share an antenna (kind 1); E = K M (M - 1) + M K (K - 1).
    """
    k, m = np.divmod(np.arange(num_users * num_antennas), num_antennas)
    same_user = (k[:, None] == k[None, :])
    same_ant = (m[:, None] == m[None, :])
    off = ~np.eye(len(k), dtype=bool)
    s_u, r_u = np.nonzero(same_user & off)
    s_a, r_a = np.nonzero(same_ant & off)
    senders = np.concatenate([s_u, s_a]).astype(np.int32)
    receivers = np.concatenate([r_u, r_a]).astype(np.int32)
    kind = np.concatenate([np.zeros(len(s_u)), np.ones(len(s_a))]).astype(np.int32)
    return senders, receivers, kind


def neighbour_means(h_KxMxD: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean of the neighbours' states per class, self excluded: (same user: mean over m' != m,
    same antenna: mean over k' != k), each [K, M, D]; 0 where a class is empty (M = 1 or K = 1).
    Equal to segment means over `homogeneous_graph`'s edges of each kind."""
    K, M = h_KxMxD.shape[:2]
    user = (jnp.sum(h_KxMxD, axis=1, keepdims=True) - h_KxMxD) / max(M - 1, 1)
    ant = (jnp.sum(h_KxMxD, axis=0, keepdims=True) - h_KxMxD) / max(K - 1, 1)
    return user, ant


class _MLP(nn.Module):
    features: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for i, f in enumerate(self.features):
            x = nn.Dense(f)(x)
            if i < len(self.features) - 1:
                x = nn.relu(x)
        return x


class ICGNN(nn.Module):
    """The information-carrying GNN with the precoding head.

    Attributes:
      hidden: node state width D.
      num_layers: message-passing layers.
    """

    hidden: int = 32
    num_layers: int = 3

    @nn.compact
    def __call__(self, x_KxMxF: jax.Array, base_mu: jax.Array
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Args: node features [K, M, F]; base_mu, the RZF regulariser K sigma^2 / P (scalar).

        Returns:
          (a [K], c [K], mu []): positive precoder parameters.
        """
        h = nn.Dense(self.hidden)(x_KxMxF)
        for _ in range(self.num_layers):
            user, ant = neighbour_means(h)
            update = _MLP((self.hidden, self.hidden))(
                jnp.concatenate([h, user, ant, x_KxMxF], axis=-1))
            h = h + nn.relu(update)                  # residual; raw features carried in
        per_user = jnp.mean(h, axis=1)              # [K, D]: pooled over the user's links
        user_out = _MLP((self.hidden, 2))(per_user)
        glob = _MLP((self.hidden, 1))(jnp.mean(h, axis=(0, 1)))
        softplus1 = lambda z: jax.nn.softplus(z + jnp.log(jnp.e - 1.0))   # = 1 at z = 0
        a, c = softplus1(user_out[:, 0]), softplus1(user_out[:, 1])
        mu = base_mu * jnp.exp(glob[0])
        return a, c, mu


def icgnn_precoder(model: ICGNN, params, H: jax.Array, power: float, noise: float,
                   num_iters: int | None = None) -> jax.Array:
    """ICGNN + CG precoder W [M, K] for channel H [K, M] with ||W||_F^2 = P; `num_iters` CG
    iterations (None: K)."""
    K = H.shape[0]
    a, c, mu = model.apply(params, link_features(H, power, noise),
                           jnp.float32(K * noise / power))
    return precoding.structured_precoder(H, a, c, mu, power, num_iters)
