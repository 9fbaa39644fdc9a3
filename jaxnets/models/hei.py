"""HEI (Yang et al., "Leveraging Invariant Principle for Heterophilic Graph Structure Distribution
Shifts", WWW 2025): invariant learning across environments inferred from each node's neighbour
pattern, on a standard backbone.

1. Neighbour pattern without labels (`neighbor_pattern_score`): `s_i = mean_{j in N(i)}
   ||x_i - x_j||_2`, the feature distance to the neighbours that stands in for the unknown
   node homophily; standardised over the training nodes (`standardize_on`).
2. Environment inference (ZIN, Lin et al. 2022): `q_i = softmax(MLP(s_i))`, an MLP
   1 -> 16 -> K with ReLU and Xavier init (`EnvironmentInference`).
3. IRMv1 (Arjovsky et al. 2019, eq. "IRMv1") over the soft environments: with a dummy scale w
   on the classifier, `R_e(w) = mean_i q_ie l_i(w)` and `P = sum_e (dR_e/dw |_{w=1})^2`
   (`soft_irm_penalty`).
4. Schedule (`hei_step`): for the first `anneal_epochs` epochs the environment net takes a
   gradient-*ascent* step on P (it looks for the split on which the predictor is least
   invariant) and the backbone trains on `mean l + l2 ||theta||^2`; afterwards the environment
   net is frozen and the backbone minimises `(mean l + l2 ||theta||^2 + lambda max(P, 0)) /
   (1 + lambda)`.
5. Evaluation under structure shift (`homophily_groups`): the test nodes split at the median
   node homophily into Test_Max (homophilous) and Test_Min (heterophilous).

Where the dummy scale sits: IRMv1 (and ZIN) scale the logits, `l_i(w) = CE(softmax(w z_i), y_i)`
(`irm_scale="logits"`, the default). The official HEI code multiplies the *log-softmax output*
before `NLLLoss`, so `l_i(w) = w l_i` and the penalty reduces to `sum_e R_e^2`
(`irm_scale="log_probs"`, available to reproduce that code).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets.graph.validate import check_edge_index
from jaxnets.nn.linear import Linear
from jaxnets.train.state import TrainState

PyTree = Any
IRM_SCALES = ("logits", "log_probs")

__all__ = ["EnvironmentInference", "HEIConfig", "environment_risks", "hei_losses", "hei_step",
           "homophily_groups", "neighbor_pattern_score", "node_homophily", "soft_irm_penalty",
           "standardize_on", "squared_l2"]


def neighbor_pattern_score(x_NxF: Any, senders_E: Any, receivers_E: Any, num_nodes: int, *,
                           method: str = "norm2", edge_chunk: int = 8192) -> jax.Array:
    """HEI's label-free neighbour-pattern estimate: per node, the mean over its edges of the
    feature distance (`"norm2"`: `||x_i - x_j||_2`) or similarity (`"cos"`: `x_i . x_j`).

    The mean runs over the edges whose *sender* is i (the reference's `scatter_mean(dist, src)`);
    for a symmetric edge list that is i's neighbourhood. Nodes without edges get 0. Edges are
    processed in chunks of `edge_chunk` so no [E, F] array is built.

    Args:
      x_NxF: dense node features [N, F].
      senders_E, receivers_E: int edge list [E].
      num_nodes: N.
      method: "norm2" or "cos".
      edge_chunk: edges per chunk.

    Returns:
      [N] float32 scores.
    """
    if method not in ("norm2", "cos"):
        raise ValueError(f"method must be 'norm2' or 'cos', got {method!r}")
    x = jnp.asarray(x_NxF, jnp.float32)
    if x.ndim != 2 or x.shape[0] != num_nodes:
        raise ValueError(f"x_NxF must have shape [N={num_nodes}, F], got {x.shape}")
    check_edge_index(senders_E, receivers_E, num_nodes)
    senders = jnp.asarray(senders_E, jnp.int32)
    receivers = jnp.asarray(receivers_E, jnp.int32)
    num_edges = senders.shape[0]
    chunk = max(1, min(edge_chunk, num_edges))
    pad = -num_edges % chunk
    src = jnp.pad(senders, (0, pad)).reshape(-1, chunk)
    dst = jnp.pad(receivers, (0, pad)).reshape(-1, chunk)

    def edge_values(pair):
        s, r = pair
        if method == "norm2":
            return jnp.sqrt(jnp.sum(jnp.square(x[s] - x[r]), axis=-1))
        return jnp.sum(x[s] * x[r], axis=-1)

    values = jax.lax.map(edge_values, (src, dst)).reshape(-1)[:num_edges]
    total = jax.ops.segment_sum(values, senders, num_segments=num_nodes)
    count = jax.ops.segment_sum(jnp.ones_like(values), senders, num_segments=num_nodes)
    return total / jnp.maximum(count, 1.0)


def standardize_on(s_N: Any, mask_N: Any) -> jax.Array:
    """`(s - mean) / std` with mean and (unbiased, as torch's) std over the nodes in `mask_N`."""
    s = jnp.asarray(s_N, jnp.float32)
    mask = jnp.asarray(mask_N, bool)
    count = jnp.sum(mask)
    mean = jnp.sum(jnp.where(mask, s, 0.0)) / jnp.maximum(count, 1)
    var = jnp.sum(jnp.where(mask, jnp.square(s - mean), 0.0)) / jnp.maximum(count - 1, 1)
    return (s - mean) / jnp.maximum(jnp.sqrt(var), 1e-12)


class EnvironmentInference(nn.Module):
    """ZIN's environment-inference net: `q = softmax(W2 ReLU(W1 s + b1) + b2)`, Xavier-uniform
    weights, zero biases (Lin et al. 2022; HEI's `InferEnvMultiClass`).

    Attributes:
      num_envs: K, the number of environments (`z_class_num`, 4 by default).
      hidden: width of the hidden layer (`hidden_dim_infer`, 16).
    """
    num_envs: int = 4
    hidden: int = 16

    @nn.compact
    def __call__(self, z_NxD: jax.Array) -> jax.Array:
        """[N, D] environment inputs (D = 1 for HEI's score) -> [N, K] soft assignments."""
        h = nn.relu(Linear(self.hidden)(z_NxD))
        return jax.nn.softmax(Linear(self.num_envs)(h), axis=-1)


def _per_node_nll(logits_NxC: jax.Array, labels_N: jax.Array, scale: jax.Array,
                  irm_scale: str) -> jax.Array:
    log_probs = jax.nn.log_softmax(logits_NxC, axis=-1)
    if irm_scale == "logits":
        log_probs = jax.nn.log_softmax(scale * logits_NxC, axis=-1)
    elif irm_scale == "log_probs":
        log_probs = scale * log_probs
    else:
        raise ValueError(f"irm_scale must be one of {IRM_SCALES}, got {irm_scale!r}")
    safe = jnp.maximum(labels_N, 0)
    return -jnp.take_along_axis(log_probs, safe[:, None], axis=-1)[:, 0]


def environment_risks(logits_NxC: jax.Array, labels_N: jax.Array, env_NxK: jax.Array,
                      mask_N: jax.Array, scale: jax.Array | float = 1.0, *,
                      irm_scale: str = "logits") -> jax.Array:
    """`R_e(w) = (1/|train|) sum_{i in train} q_ie l_i(w)` for every environment e, [K].

    `l_i(w)` is the cross-entropy of node i with the dummy classifier w applied as `irm_scale`
    says (see the module docstring).
    """
    nll = _per_node_nll(logits_NxC, labels_N, jnp.asarray(scale, jnp.float32), irm_scale)
    weights = jnp.asarray(mask_N, jnp.float32)
    weighted = (weights * nll)[:, None] * env_NxK
    return jnp.sum(weighted, axis=0) / jnp.maximum(jnp.sum(weights), 1.0)


def soft_irm_penalty(logits_NxC: jax.Array, labels_N: jax.Array, env_NxK: jax.Array,
                     mask_N: jax.Array, *, irm_scale: str = "logits") -> jax.Array:
    """IRMv1 over soft environments: `P = sum_e (d R_e(w) / dw |_{w=1})^2` (a scalar).

    The derivative in the dummy scale is taken by one forward-mode product (`jax.jvp`), so P
    stays differentiable in the logits (for the backbone) and in `env_NxK` (for the ascent).
    """
    if env_NxK.ndim != 2 or env_NxK.shape[0] != logits_NxC.shape[0]:
        raise ValueError(f"env_NxK must have shape [N={logits_NxC.shape[0]}, K], got "
                         f"{env_NxK.shape}")
    risks = lambda w: environment_risks(logits_NxC, labels_N, env_NxK, mask_N, w,
                                        irm_scale=irm_scale)
    _, grads_K = jax.jvp(risks, (jnp.ones((), jnp.float32),), (jnp.ones((), jnp.float32),))
    return jnp.sum(jnp.square(grads_K))


def squared_l2(params: PyTree) -> jax.Array:
    """`sum ||theta||^2` over every leaf (the reference's `weight_norm`, biases included)."""
    return sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(params))


@dataclasses.dataclass(frozen=True)
class HEIConfig:
    """HEI's hyperparameters (the reference's defaults).

    Attributes:
      penalty_weight: lambda (1e4); 0 turns the step into plain ERM.
      l2: weight of `sum ||theta||^2` in the backbone loss (1e-3).
      anneal_epochs: epochs of environment ascent with lambda = 0 (`penalty_anneal_iters`, 5).
      irm_scale: "logits" (IRMv1) or "log_probs" (the reference code), see the module docstring.
    """
    penalty_weight: float = 1e4
    l2: float = 1e-3
    anneal_epochs: int = 5
    irm_scale: str = "logits"

    def __post_init__(self):
        if self.irm_scale not in IRM_SCALES:
            raise ValueError(f"irm_scale must be one of {IRM_SCALES}, got {self.irm_scale!r}")
        if self.penalty_weight < 0 or self.l2 < 0 or self.anneal_epochs < 0:
            raise ValueError(f"penalty_weight, l2 and anneal_epochs must be >= 0, got {self}")


def hei_losses(logits_NxC: jax.Array, labels_N: jax.Array, env_NxK: jax.Array,
               train_mask_N: jax.Array, backbone_params: PyTree, epoch: jax.Array,
               config: HEIConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The backbone objective of HEI at `epoch`, with its parts.

    Returns:
      (backbone_loss, mean_nll, penalty): `(nll + l2 ||theta||^2 + lam max(P, 0)) / (1 + lam)`
      with `lam = penalty_weight` once `epoch >= anneal_epochs` (0 before; the division only when
      lam > 1, as in the reference).
    """
    mask = jnp.asarray(train_mask_N, jnp.float32)
    nll = _per_node_nll(logits_NxC, labels_N, jnp.ones((), jnp.float32), config.irm_scale)
    mean_nll = jnp.sum(mask * nll) / jnp.maximum(jnp.sum(mask), 1.0)
    penalty = soft_irm_penalty(logits_NxC, labels_N, env_NxK, train_mask_N,
                               irm_scale=config.irm_scale)
    lam = jnp.where(epoch >= config.anneal_epochs, config.penalty_weight, 0.0)
    loss = mean_nll + config.l2 * squared_l2(backbone_params) + lam * jnp.maximum(penalty, 0.0)
    loss = jnp.where(lam > 1.0, loss / (1.0 + lam), loss)
    return loss, mean_nll, penalty


def hei_step(
    logits_fn: Callable[[PyTree, jax.Array], jax.Array],
    env_model: EnvironmentInference,
    backbone_tx: optax.GradientTransformation,
    env_tx: optax.GradientTransformation,
    labels_N: jax.Array,
    config: HEIConfig,
) -> Callable[[TrainState], tuple[TrainState, dict]]:
    """The HEI training step (one full-batch epoch) for `jaxnets.train.fit`.

    The state's `params` are `{"backbone": ..., "env": ...}`, its `opt_state` the matching
    `{"backbone": backbone_tx state, "env": env_tx state}`, and its `model_state` a dict with
    `"train"` (the [N] training mask) and `"env_input"` [N, 1] (the standardised neighbour-pattern score), so a
    population may carry one split per member.

    One forward pass gives both gradients: the backbone descends on `hei_losses`; while
    `epoch < anneal_epochs` the environment net ascends on the penalty (descends on -P); after
    that its parameters and optimiser state are left untouched (frozen, as the reference stops
    calling its optimiser).

    Args:
      logits_fn: (backbone params, dropout key) -> [N, C] training-mode logits.
      env_model: the environment-inference net.
      backbone_tx, env_tx: optimisers (AdamW 1e-2 / Adam 1e-3 in the reference).
      labels_N: int labels.
      config: `HEIConfig`.
    """
    labels_N = jnp.asarray(labels_N, jnp.int32)

    def step(state: TrainState) -> tuple[TrainState, dict]:
        mask = state.model_state["train"]
        env_input = state.model_state["env_input"]
        epoch = state.step

        def objectives(params):
            logits = logits_fn(params["backbone"], state.step_key())
            env = env_model.apply({"params": params["env"]}, env_input)
            loss, nll, penalty = hei_losses(logits, labels_N, env, mask, params["backbone"],
                                            epoch, config)
            return (loss, penalty), nll

        (loss, penalty), vjp_fn, nll = jax.vjp(objectives, state.params, has_aux=True)
        backbone_grads = vjp_fn((jnp.ones_like(loss), jnp.zeros_like(penalty)))[0]["backbone"]
        env_grads = vjp_fn((jnp.zeros_like(loss), -jnp.ones_like(penalty)))[0]["env"]

        updates, backbone_opt = backbone_tx.update(
            backbone_grads, state.opt_state["backbone"], state.params["backbone"])
        backbone = optax.apply_updates(state.params["backbone"], updates)
        env_updates, env_opt = env_tx.update(env_grads, state.opt_state["env"],
                                             state.params["env"])
        ascend = epoch < config.anneal_epochs
        keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(ascend, n, o), new, old)
        env = keep(optax.apply_updates(state.params["env"], env_updates), state.params["env"])
        env_opt = keep(env_opt, state.opt_state["env"])
        new_state = state.replace(step=state.step + 1,
                                  params={"backbone": backbone, "env": env},
                                  opt_state={"backbone": backbone_opt, "env": env_opt})
        return new_state, {"loss": loss, "nll": nll, "penalty": penalty}

    return step


def node_homophily(senders_E: np.ndarray, receivers_E: np.ndarray, labels_N: np.ndarray,
                   num_nodes: int) -> np.ndarray:
    """Per node, the fraction of its (sender-side) edges whose other end shares its label, self
    loops removed; NaN for a node without edges (the reference's `node_homophily_edge_idx`).

    Returns:
      [N] float64.
    """
    senders = np.asarray(senders_E, np.int64)
    receivers = np.asarray(receivers_E, np.int64)
    labels = np.asarray(labels_N)
    if senders.shape != receivers.shape or senders.ndim != 1:
        raise ValueError(f"senders_E {senders.shape} and receivers_E {receivers.shape} must be "
                         "equal-length 1-D arrays")
    if senders.size and (min(senders.min(), receivers.min()) < 0
                         or max(senders.max(), receivers.max()) >= num_nodes):
        raise ValueError(f"edge endpoints must lie in [0, {num_nodes})")
    keep = senders != receivers
    senders, receivers = senders[keep], receivers[keep]
    same = (labels[senders] == labels[receivers]).astype(np.float64)
    matches = np.bincount(senders, weights=same, minlength=num_nodes)
    degree = np.bincount(senders, minlength=num_nodes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return matches / degree


def homophily_groups(homophily_N: np.ndarray, test_mask_N: np.ndarray, ratio: float = 0.5
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Test_Max / Test_Min masks: the reference's `get_idx_list` on the test nodes.

    The test nodes' homophily values are sorted (NaN last); with L of them, the thresholds are
    `t_min = sorted[round(ratio L)]` and `t_max = sorted[round((1 - ratio) L)]` (Python's
    `round`); Test_Max holds the test nodes with `h >= t_max`, Test_Min those with `h < t_min`.
    Nodes with NaN homophily fall in neither.

    Returns:
      (test_max_N, test_min_N) boolean masks.
    """
    h = np.asarray(homophily_N, np.float64)
    mask = np.asarray(test_mask_N, bool)
    if h.shape != mask.shape or h.ndim != 1:
        raise ValueError(f"homophily_N {h.shape} and test_mask_N {mask.shape} must be equal [N]")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must lie in [0, 1], got {ratio}")
    values = np.sort(np.where(np.isnan(h[mask]), np.inf, h[mask]))
    length = values.size
    if length == 0:
        raise ValueError("test_mask_N selects no node")
    t_min = values[min(round(ratio * length), length - 1)]
    t_max = values[min(round((1 - ratio) * length), length - 1)]
    with np.errstate(invalid="ignore"):
        return mask & (h >= t_max), mask & (h < t_min)
