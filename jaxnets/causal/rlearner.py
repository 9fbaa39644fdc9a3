"""The R-learner on a graph: cross-fitted nuisances, the R-loss, final stages, a GNN T-learner.

Sairam S, Girdhar & Soni, "The Final-Stage Bottleneck: R-Learner for Network Causal Inference"
(arXiv 2511.13018), after the R-learner of Nie & Wager (Biometrika 2021):

  1. nuisances, K-fold cross-fitted: m(x) = E[Y | X] (MSE) and e(x) = P(T = 1 | X) (BCE), each
     an MLP or a GCN; node i's prediction comes from the model fitted on the other folds. A GCN
     sees the whole graph's features, its loss only the training folds' labels (paper's code);
  2. residuals  Y~ = Y - m^(x),  T~ = T - e^(x);
  3. final stage: tau^ = argmin_tau  (1/n) sum_i (Y~_i - tau(x_i) T~_i)^2   (the R-loss, Nie &
     Wager eq. 4 without the regulariser), with tau an MLP / GCN (trained by Adam), or linear:
     sklearn-style Ridge of Y~ on X * T~ (`linear_final_stage`).
The "GNN T-learner" of the paper is one GCN on [X, T] fitted to Y; tau^ = f(X, 1) - f(X, 0).

All models here map `(graph, x_NxF)` to a score [N]; a graph-blind model ignores the graph.
Training is full-batch Adam, every epoch inside one `lax.scan`; functions are pure in a `key`
and `vmap` over seeds.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import optax

from jaxnets.nn.gcn import GCNConv
from jaxnets.nn.linear import Linear

__all__ = ["NodeMLP", "NodeGCN", "fold_assignment", "fit_node_model", "cross_fit",
           "nuisances", "r_loss", "fit_final_stage", "ridge", "linear_final_stage",
           "t_learner"]

# torch.nn.Linear's default weights, U(+-1/sqrt(fan_in)), as in the paper's MLPs.
_TORCH_LINEAR_INIT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


class NodeMLP(nn.Module):
    """Graph-blind model: `num_layers` hidden ReLU layers of width `hidden`, then a scalar.

    The paper's `MLP(in_dim, hidden_dim=32, num_layers=2)`. Returns [N].
    """
    hidden: int = 32
    num_layers: int = 2

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple | None, x_NxF: jax.Array) -> jax.Array:
        h = x_NxF
        for _ in range(self.num_layers):
            h = nn.relu(Linear(self.hidden, kernel_init=_TORCH_LINEAR_INIT)(h))
        return Linear(1, kernel_init=_TORCH_LINEAR_INIT)(h)[:, 0]


class NodeGCN(nn.Module):
    """Graph-aware model: `num_layers` GCN layers (Kipf & Welling eq. 2), ReLU between, width 1 out.

    The paper's `GNN(in_dim, hidden_dim=32, out_dim=1, num_layers=2)`. Returns [N].
    """
    hidden: int = 32
    num_layers: int = 2

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, x_NxF: jax.Array) -> jax.Array:
        if self.num_layers < 1:
            raise ValueError(f"NodeGCN needs num_layers >= 1, got {self.num_layers}")
        h = x_NxF
        for _ in range(self.num_layers - 1):
            h = nn.relu(GCNConv(self.hidden)(graph, h))
        return GCNConv(1)(graph, h)[:, 0]


def fold_assignment(key: jax.Array, num_nodes: int, num_folds: int) -> jax.Array:
    """Shuffled K-fold labels [N] in {0..K-1}, fold sizes differing by at most one (KFold)."""
    if not 2 <= num_folds <= num_nodes:
        raise ValueError(f"need 2 <= num_folds <= num_nodes, got {num_folds}, {num_nodes}")
    order = jax.random.permutation(key, num_nodes)
    return jnp.zeros(num_nodes, jnp.int32).at[order].set(
        (jnp.arange(num_nodes) * num_folds // num_nodes).astype(jnp.int32))


def _check_nodes(name: str, a: jax.Array, n: int) -> None:
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape [N] = ({n},), got {a.shape}")


def _weighted_mean(v_N: jax.Array, w_N: jax.Array) -> jax.Array:
    return jnp.sum(v_N * w_N) / jnp.maximum(jnp.sum(w_N), 1.0)


def _node_loss(kind: str, score_N: jax.Array, target_N: jax.Array) -> jax.Array:
    if kind == "mse":
        return (score_N - target_N) ** 2
    if kind == "bce":
        return optax.sigmoid_binary_cross_entropy(score_N, target_N)
    raise ValueError(f"loss must be 'mse' or 'bce', got {kind!r}")


def fit_node_model(model: nn.Module, graph: jraph.GraphsTuple, x_NxF: jax.Array, key: jax.Array,
                   loss_fn, *, epochs: int, learning_rate: float) -> Any:
    """Full-batch Adam on `loss_fn(scores_N) -> scalar` for `epochs` steps; returns the params.

    The whole loop is one `lax.scan`; `loss_fn` closes over targets and masks.
    """
    params = model.init(key, graph, x_NxF)
    tx = optax.adam(learning_rate)

    def step(carry, _):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(lambda p: loss_fn(model.apply(p, graph, x_NxF)))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=epochs)
    return params


def cross_fit(model: nn.Module, graph: jraph.GraphsTuple, x_NxF: jax.Array, target_N: jax.Array,
              fold_N: jax.Array, num_folds: int, key: jax.Array, *, loss: str = "mse",
              epochs: int = 150, learning_rate: float = 1e-3) -> jax.Array:
    """Out-of-fold predictions [N]: node i's from the model fitted with fold(i) held out.

    One model per fold, trained under `vmap` with loss only on nodes of the other folds (the
    graph and all features stay visible to a GCN, as in the paper's code). For `loss="bce"` the
    prediction is the probability sigmoid(score).

    Args:
        model: a `NodeMLP` / `NodeGCN` (or any `(graph, x) -> [N]` module).
        graph: the graph (ignored by graph-blind models).
        x_NxF: covariates.
        target_N: Y (mse) or T in {0, 1} (bce).
        fold_N: fold label of each node, in [0, num_folds).
        num_folds: K.
        key: one key; fold k's model is initialised from `fold_in(key, k)`.
        loss: "mse" or "bce".
        epochs, learning_rate: Adam, full batch (150 and 1e-3 in the paper).
    """
    n = x_NxF.shape[0]
    _check_nodes("target_N", target_N, n)
    _check_nodes("fold_N", fold_N, n)
    _node_loss(loss, target_N, target_N)  # validates `loss`

    def fit_predict(k):
        train_N = (fold_N != k).astype(x_NxF.dtype)
        params = fit_node_model(
            model, graph, x_NxF, jax.random.fold_in(key, k),
            lambda s: _weighted_mean(_node_loss(loss, s, target_N), train_N),
            epochs=epochs, learning_rate=learning_rate)
        score = model.apply(params, graph, x_NxF)
        return jax.nn.sigmoid(score) if loss == "bce" else score

    preds_KxN = jax.vmap(fit_predict)(jnp.arange(num_folds))
    return jnp.take_along_axis(preds_KxN, fold_N[None, :], axis=0)[0]


def nuisances(model: nn.Module, graph: jraph.GraphsTuple, x_NxF: jax.Array, t_N: jax.Array,
              y_N: jax.Array, fold_N: jax.Array, num_folds: int, key: jax.Array, *,
              epochs: int = 150, learning_rate: float = 1e-3) -> tuple[jax.Array, jax.Array]:
    """Cross-fitted `(m^(x), e^(x))`, each [N]: E[Y | X] by MSE and P(T = 1 | X) by BCE."""
    k_m, k_e = jax.random.split(key)
    m = cross_fit(model, graph, x_NxF, y_N, fold_N, num_folds, k_m, loss="mse",
                  epochs=epochs, learning_rate=learning_rate)
    e = cross_fit(model, graph, x_NxF, t_N, fold_N, num_folds, k_e, loss="bce",
                  epochs=epochs, learning_rate=learning_rate)
    return m, e


def r_loss(tau_N: jax.Array, y_res_N: jax.Array, t_res_N: jax.Array) -> jax.Array:
    """The R-loss (1/n) sum_i (Y~_i - tau_i T~_i)^2 (Nie & Wager 2021, eq. 4; paper sec. 3)."""
    n = tau_N.shape[0]
    _check_nodes("y_res_N", y_res_N, n)
    _check_nodes("t_res_N", t_res_N, n)
    return jnp.mean((y_res_N - tau_N * t_res_N) ** 2)


def fit_final_stage(model: nn.Module, graph: jraph.GraphsTuple, x_NxF: jax.Array,
                    y_res_N: jax.Array, t_res_N: jax.Array, key: jax.Array, *,
                    epochs: int = 200, learning_rate: float = 1e-3) -> jax.Array:
    """tau^ [N] from a model trained on the R-loss over all nodes (paper: 200 Adam epochs).

    A `NodeGCN` gives the Graph R-learner's graph-aware final stage; a `NodeMLP` a graph-blind,
    nonlinear one.
    """
    params = fit_node_model(model, graph, x_NxF, key,
                            lambda tau: r_loss(tau, y_res_N, t_res_N),
                            epochs=epochs, learning_rate=learning_rate)
    return model.apply(params, graph, x_NxF)


def ridge(z_NxP: jax.Array, y_N: jax.Array, alpha: float, *, fit_intercept: bool = True
          ) -> tuple[jax.Array, jax.Array]:
    """Ridge regression `min ||y - z w - b||^2 + alpha ||w||^2` in closed form, as sklearn's Ridge.

    The intercept b is not penalised (columns and y are centred first).

    Returns:
        (w_P, b); b = 0 when not `fit_intercept`.
    """
    if z_NxP.ndim != 2 or y_N.shape != (z_NxP.shape[0],):
        raise ValueError(f"ridge expects z [N, P] and y [N], got {z_NxP.shape}, {y_N.shape}")
    if fit_intercept:
        z_mean, y_mean = jnp.mean(z_NxP, axis=0), jnp.mean(y_N)
    else:
        z_mean, y_mean = jnp.zeros(z_NxP.shape[1], z_NxP.dtype), jnp.zeros((), y_N.dtype)
    zc, yc = z_NxP - z_mean[None, :], y_N - y_mean
    gram = zc.T @ zc + alpha * jnp.eye(z_NxP.shape[1], dtype=z_NxP.dtype)
    w = jnp.linalg.solve(gram, zc.T @ yc)
    return w, y_mean - z_mean @ w


def linear_final_stage(x_NxD: jax.Array, y_res_N: jax.Array, t_res_N: jax.Array, *,
                       alpha: float = 0.1, treatment_column: bool = False) -> jax.Array:
    """Graph-blind linear final stage; tau^ [N].

    `treatment_column=False` is the paper's code: Ridge(alpha) of Y~ on the design X * T~ (no T~
    column) and tau^(x) = w.x + b, where Ridge's intercept b, fitted as an additive constant on
    Y~, is added to tau^. That design cannot represent the constant part of tau.
    `treatment_column=True` is our ablation: design [X * T~, T~], so tau^(x) = w.x + w0 is the
    linear R-learner with the intercept inside tau; Ridge's own intercept stays an additive
    constant on Y~ and is not part of tau^.
    """
    n = x_NxD.shape[0]
    _check_nodes("y_res_N", y_res_N, n)
    _check_nodes("t_res_N", t_res_N, n)
    design = x_NxD * t_res_N[:, None]
    if not treatment_column:
        w, b = ridge(design, y_res_N, alpha)
        return x_NxD @ w + b
    w, _ = ridge(jnp.concatenate([design, t_res_N[:, None]], axis=1), y_res_N, alpha)
    return x_NxD @ w[:-1] + w[-1]


def t_learner(model: nn.Module, graph: jraph.GraphsTuple, x_NxF: jax.Array, t_N: jax.Array,
              y_N: jax.Array, key: jax.Array, *, epochs: int = 150,
              learning_rate: float = 1e-3) -> jax.Array:
    """The paper's "GNN T-learner": one model f on [X, T] fitted to Y (MSE, all nodes);
    tau^ = f([X, 1]) - f([X, 0]), [N].

    It is a single network with T as an input (S-learner form), and with a GCN the neighbours'
    treatments enter through aggregation; kept as the paper codes it.
    """
    n = x_NxF.shape[0]
    _check_nodes("t_N", t_N, n)
    _check_nodes("y_N", y_N, n)
    xt = jnp.concatenate([x_NxF, t_N[:, None]], axis=1)
    params = fit_node_model(model, graph, xt, key, lambda s: jnp.mean((s - y_N) ** 2),
                            epochs=epochs, learning_rate=learning_rate)
    ones = jnp.ones((n, 1), x_NxF.dtype)
    f1 = model.apply(params, graph, jnp.concatenate([x_NxF, ones], axis=1))
    f0 = model.apply(params, graph, jnp.concatenate([x_NxF, 0 * ones], axis=1))
    return f1 - f0
