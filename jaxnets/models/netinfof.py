"""NetInfoF_Act for link prediction (Lee et al., "NetInfoF Framework: Measuring and Exploiting
Network Usable Information", ICLR 2024, §4.3).

Given the five post-processed embedding families X_c (``netinfof_embed``) and their compatibility
matrices H_c (``netinfof_compat``), NetInfoF_Act scores a pair (i, j) with one linear layer per
family on the adjusted element-wise similarity,

    logit(i, j) = Σ_c w_cᵀ ((X_c H_c)[i] ⊙ X_c[j]) + b_c,

5 · (d + 1) parameters in all. Training: binary cross-entropy on the training edges (i < j) against
as many fresh uniform random pairs per objective evaluation, plus ``λ1 Σ|w| + λ2 Σ_c ‖w_c‖₂``
(lasso + group lasso over families, paper eq. 4); L-BFGS with learning rate 0.1 and no line search
(the official ``torch.optim.LBFGS`` defaults), 20 iterations per epoch, at most 100 epochs, early
stopping with patience 5 on validation Hits@K; λ1, λ2 picked on validation Hits@K from a grid.

Here one λ setting trains in a single jitted call (``lax.while_loop`` over epochs of ``lax.scan``
L-BFGS iterations, best-on-validation parameters kept in the carry) and the grid is a ``vmap``.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets.explain import usable_information
from jaxnets.metrics.link import hits_at_k
from jaxnets.models.netinfof_compat import compatibility_matrix
from jaxnets.models.netinfof_embed import FAMILIES, embedding_families


class NetInfoFBackbone(NamedTuple):
    """Embeddings shared by NetInfoF_Probe and NetInfoF_Act.

    Attributes:
      names: family names, e.g. ("U", "R", "F", "P", "S").
      xt_CxNxD: the post-processed embeddings X_c.
      xc_CxNxD: the adjusted embeddings X_c H_c.
      h_CxDxD: the compatibility matrices.
    """

    names: tuple[str, ...]
    xt_CxNxD: jax.Array
    xc_CxNxD: jax.Array
    h_CxDxD: jax.Array


def build_backbone(key: jax.Array, features_NxF: Any, train_pos_Mx2: Any, num_nodes: int, *,
                   dim: int = 128, num_walks: int = 50, walk_length: int = 3,
                   families: Sequence[str] = FAMILIES, **compat_kwargs: Any) -> NetInfoFBackbone:
    """Embeddings (§4.1) and compatibility matrices (§4.2) of every family.

    Args:
      key: PRNG key.
      features_NxF: dense node features.
      train_pos_Mx2: [M, 2] undirected training edges.
      num_nodes: N.
      dim: cap on the embedding dimension (128).
      num_walks: T walks per node (R family).
      walk_length: nodes per walk (3).
      families: which families.
      **compat_kwargs: passed to ``compatibility_matrix``.

    Returns:
      A ``NetInfoFBackbone``.
    """
    k_emb, k_cm = jax.random.split(key)
    emb = embedding_families(k_emb, features_NxF, train_pos_Mx2, num_nodes, dim=dim,
                             num_walks=num_walks, walk_length=walk_length,
                             families=tuple(families))
    names = tuple(emb)
    hs = [compatibility_matrix(k, emb[n], train_pos_Mx2, **compat_kwargs)[0]
          for k, n in zip(jax.random.split(k_cm, len(names)), names)]
    xt = jnp.stack([emb[n] for n in names])
    h = jnp.stack(hs)
    return NetInfoFBackbone(names, xt, jnp.einsum("cnd,cde->cne", xt, h), h)


def init_act(key: jax.Array, num_families: int, dim: int) -> dict[str, jax.Array]:
    """``nn.Linear(d, 1)`` per family: weights and bias uniform in ±1/√d (PyTorch's default)."""
    k_w, k_b = jax.random.split(key)
    bound = 1.0 / np.sqrt(dim)
    return {"w": jax.random.uniform(k_w, (num_families, dim), minval=-bound, maxval=bound),
            "b": jax.random.uniform(k_b, (num_families,), minval=-bound, maxval=bound)}


def act_logits(params: dict[str, jax.Array], xc_CxNxD: jax.Array, xt_CxNxD: jax.Array,
               pairs_Bx2: jax.Array) -> jax.Array:
    """``Σ_c w_cᵀ (x_c[i] ⊙ x_t[j]) + b_c`` for each pair (i, j) [B]."""
    i, j = pairs_Bx2[:, 0], pairs_Bx2[:, 1]
    sim = xc_CxNxD[:, i, :] * xt_CxNxD[:, j, :]  # [C, B, D]
    return jnp.einsum("cbd,cd->b", sim, params["w"]) + jnp.sum(params["b"])


def act_regularizer(params: dict[str, jax.Array], lambda1: Any, lambda2: Any) -> jax.Array:
    """``λ1 Σ|w| + λ2 Σ_c ‖w_c‖₂`` (biases are not penalised, as in the official code)."""
    w = params["w"]
    group = jnp.sqrt(jnp.sum(w * w, axis=1) + 1e-12)
    return lambda1 * jnp.sum(jnp.abs(w)) + lambda2 * jnp.sum(group)


def act_loss(params, xc, xt, pos_Px2, neg_Px2, lambda1, lambda2) -> jax.Array:
    """Mean BCE over positives and negatives + the regulariser (paper eq. 4)."""
    logits = act_logits(params, xc, xt, jnp.concatenate([pos_Px2, neg_Px2]))
    labels = jnp.concatenate([jnp.ones(pos_Px2.shape[0]), jnp.zeros(neg_Px2.shape[0])])
    bce = optax.sigmoid_binary_cross_entropy(logits, labels).mean()
    return bce + act_regularizer(params, lambda1, lambda2)


class ActResult(NamedTuple):
    """Best-on-validation parameters of one training run and its bookkeeping."""

    params: dict[str, jax.Array]
    best_val_hits: jax.Array
    best_epoch: jax.Array
    epochs_run: jax.Array


@functools.partial(jax.jit, static_argnames=("num_nodes", "max_epochs", "iters_per_epoch",
                                             "patience", "hits_k", "memory_size"))
def train_act(key: jax.Array, xc_CxNxD: jax.Array, xt_CxNxD: jax.Array, train_pos_Px2: jax.Array,
              val_pos: jax.Array, val_neg: jax.Array, lambda1: Any, lambda2: Any, *,
              num_nodes: int, learning_rate: float = 0.1, max_epochs: int = 100,
              iters_per_epoch: int = 20, patience: int = 5, hits_k: int = 100,
              memory_size: int = 100) -> ActResult:
    """Trains NetInfoF_Act for one (λ1, λ2) with L-BFGS and validation early stopping.

    Each L-BFGS iteration draws fresh uniform random negative pairs (as many as positives; the
    official closure does the same), so the objective is stochastic, as in the paper's code.

    Args:
      key: PRNG key (init, negatives).
      xc_CxNxD, xt_CxNxD: the backbone.
      train_pos_Px2: training edges (i < j).
      val_pos, val_neg: validation pairs.
      lambda1, lambda2: regularisation weights (traced: vmap over a grid).
      num_nodes: N.
      learning_rate: L-BFGS step (0.1).
      max_epochs: epochs after the first (official loop runs ``max_epochs + 1``).
      iters_per_epoch: L-BFGS iterations per epoch (``torch.optim.LBFGS`` max_iter = 20).
      patience: epochs without a new best validation Hits@K before stopping.
      hits_k: K.
      memory_size: L-BFGS history (torch default 100).

    Returns:
      ``ActResult`` with the best-validation parameters.
    """
    c, _, d = xt_CxNxD.shape
    k_init, k_neg = jax.random.split(key)
    params = init_act(k_init, c, d)
    opt = optax.lbfgs(learning_rate=learning_rate, memory_size=memory_size, linesearch=None)
    opt_state = opt.init(params)
    num_pos = train_pos_Px2.shape[0]

    def loss_at(p, it):
        neg = jax.random.randint(jax.random.fold_in(k_neg, it), (num_pos, 2), 0, num_nodes)
        return act_loss(p, xc_CxNxD, xt_CxNxD, train_pos_Px2, neg, lambda1, lambda2)

    def val_hits(p):
        return hits_at_k(act_logits(p, xc_CxNxD, xt_CxNxD, val_pos),
                         act_logits(p, xc_CxNxD, xt_CxNxD, val_neg), hits_k)

    def iteration(carry, it):
        p, s = carry
        value, grad = jax.value_and_grad(loss_at)(p, it)
        updates, s = opt.update(grad, s, p, value=value, grad=grad,
                                value_fn=lambda q: loss_at(q, it))
        return (optax.apply_updates(p, updates), s), None

    def epoch(st):
        e, p, s, best_p, best_hits, best_epoch = st
        its = e * iters_per_epoch + jnp.arange(iters_per_epoch)
        (p, s), _ = jax.lax.scan(iteration, (p, s), its)
        hits = val_hits(p)
        better = hits > best_hits
        best_p = jax.tree.map(lambda a, b: jnp.where(better, a, b), p, best_p)
        return (e + 1, p, s, best_p, jnp.where(better, hits, best_hits),
                jnp.where(better, e, best_epoch))

    def keep_going(st):
        e, _, _, _, _, best_epoch = st
        return (e <= max_epochs) & ~((e > 0) & (e - 1 >= best_epoch + patience))

    init = (jnp.int32(0), params, opt_state, params, jnp.float32(0.0), jnp.int32(-1))
    e, _, _, best_p, best_hits, best_epoch = jax.lax.while_loop(keep_going, epoch, init)
    return ActResult(best_p, best_hits, best_epoch, e)


def fit_act_grid(key: jax.Array, backbone: NetInfoFBackbone, train_pos_Px2: Any, val_pos: Any,
                 val_neg: Any, *, num_nodes: int, lambda1_grid: Sequence[float] = (1e-4, 1e-5),
                 lambda2_grid: Sequence[float] = (1e-3, 1e-4, 1e-5, 1e-6),
                 **train_kwargs: Any) -> tuple[dict[str, jax.Array], dict[str, Any]]:
    """Trains Act for every (λ1, λ2) of the grid (one vmapped call) and keeps the best on
    validation Hits@K (official grid: λ1 ∈ {1e-4, 1e-5}, λ2 ∈ {1e-3, ..., 1e-6}).

    Returns:
      ``(params, info)`` with info holding the grid's validation Hits@K and the chosen λs.
    """
    grid = np.array([(a, b) for a in lambda1_grid for b in lambda2_grid], np.float32)
    if grid.size == 0:
        raise ValueError("the λ grid is empty")
    keys = jax.random.split(key, grid.shape[0])
    run = jax.vmap(lambda k, l1, l2: train_act(
        k, backbone.xc_CxNxD, backbone.xt_CxNxD, jnp.asarray(train_pos_Px2),
        jnp.asarray(val_pos), jnp.asarray(val_neg), l1, l2, num_nodes=num_nodes,
        **train_kwargs))
    res = run(keys, jnp.asarray(grid[:, 0]), jnp.asarray(grid[:, 1]))
    best = int(jnp.argmax(res.best_val_hits))  # first best, as np.argmax in the official code
    params = jax.tree.map(lambda a: a[best], res.params)
    info = {"grid": grid.tolist(), "val_hits": np.asarray(res.best_val_hits).tolist(),
            "epochs": np.asarray(res.epochs_run).tolist(), "lambda1": float(grid[best, 0]),
            "lambda2": float(grid[best, 1]), "best_val_hits": float(res.best_val_hits[best])}
    return params, info


def act_scores(params: dict[str, jax.Array], backbone: NetInfoFBackbone,
               pairs_Bx2: Any) -> jax.Array:
    """Act logits of pairs under a backbone [B]."""
    return act_logits(params, backbone.xc_CxNxD, backbone.xt_CxNxD, jnp.asarray(pairs_Bx2))


def probe_backbone(key: jax.Array, backbone: NetInfoFBackbone, train_pos_Mx2: Any,
                   eval_pos: Any, eval_neg: Any) -> dict[str, dict[str, float]]:
    """NetInfoF_Probe of every family on the evaluation edges + as many non-edges (§4.1).

    Returns:
      ``{family: {"score", "bin_accuracy", "threshold_accuracy", "entropy_bits"}}``.
    """
    pairs = jnp.concatenate([jnp.asarray(eval_pos), jnp.asarray(eval_neg)])
    labels = jnp.concatenate([jnp.ones(np.shape(eval_pos)[0]), jnp.zeros(np.shape(eval_neg)[0])])
    out = {}
    for k, name, xc, xt in zip(jax.random.split(key, len(backbone.names)), backbone.names,
                               backbone.xc_CxNxD, backbone.xt_CxNxD):
        res = usable_information.probe(k, xc, xt, jnp.asarray(train_pos_Mx2), pairs, labels)
        out[name] = {m: float(v) for m, v in res.items()}
    return out
