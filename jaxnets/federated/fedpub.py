"""FED-PUB (Baek, Jeong, Jin, Yoon & Hwang, "Personalized Subgraph Federated Learning", ICML 2023)
as pure functions on a client axis.

The method, per round (Sec. 4, Algorithm 1 of the paper; `models/fedpub/{client,server}.py` of
the official code):
  1. Client i receives its personalised weights theta_bar_i (round 0: the global init). Its sparse
     mask mu_i (one entry per weight-matrix entry, initialised to ones) never leaves the client.
  2. It trains (theta_i, mu_i) on its subgraph with the local objective (paper, Sec. 4.2)
        CE(f(G_i; theta_i * mu_i)) + lambda1 ||mu_i||_1 + lambda2 ||theta_i - theta_bar_i||_2^2
     (`fedpub_client_update`; `regularizers_active=False` reproduces the official code, where
     both terms are read from detached tensors and so add no gradient).
  3. It uploads theta_i and its functional embedding h_i = mean over the nodes of a random proxy
     graph of its masked model's hidden output (`functional_embedding`, eq. 3; the proxy graph is
     drawn once by the server and shared: `proxy_graph`).
  4. The server computes S_ij = cos(h_i, h_j) and alpha_ij = exp(tau S_ij) / sum_k exp(tau S_ik)
     (`similarity_weights`, eq. 4) and sends each client theta_bar_i = sum_j alpha_ij theta_j
     (`personalised_aggregate`, eq. 5); the global model is the size-weighted mean (FedAvg).

Personalised models are a client-axis pytree [K, ...], so a round is one jitted call:
`make_personalised_round` vmaps the clients and applies the aggregation. It follows the shapes of
`jaxnets.federated.simulator` (client_update(params, client_state, client_data, key, hp);
NaN clients excluded), but each client starts from its own row of the stacked personalised
params, where `simulator.make_round` broadcasts one global model.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import optax

from jaxnets.federated.simulator import check_same_structure, finite_rows, select_rows

Params = Any
Masks = dict
WEIGHTINGS = ("similarity", "uniform", "local")


class ProxyGraph(NamedTuple):
    """The server's random input graph (numpy arrays).

    Attributes:
      x: [Np, F] float32 node features ~ N(0, 1).
      senders, receivers: [E] int32, both directions of every undirected edge.
    """

    x: np.ndarray
    senders: np.ndarray
    receivers: np.ndarray


def proxy_graph(num_features: int, seed: int, num_blocks: int = 5, block_size: int = 100,
                p_in: float = 0.1) -> ProxyGraph:
    """FED-PUB's proxy graph (Sec. 4.1; official `server.get_proxy_data`): a random partition
    graph of `num_blocks` blocks of `block_size` nodes, edge probability `p_in` inside a block
    and 0 across (networkx `random_partition_graph`), with standard-normal features."""
    if num_features < 1 or num_blocks < 1 or block_size < 1 or not 0 <= p_in <= 1:
        raise ValueError(f"need num_features, num_blocks, block_size >= 1 and p_in in [0, 1], "
                         f"got {num_features}, {num_blocks}, {block_size}, {p_in}")
    graph = nx.random_partition_graph([block_size] * num_blocks, p_in, 0.0, seed=seed)
    edges = np.asarray(list(graph.edges()), np.int32).reshape(-1, 2)
    senders = np.concatenate([edges[:, 0], edges[:, 1]])
    receivers = np.concatenate([edges[:, 1], edges[:, 0]])
    x = np.random.default_rng(seed).standard_normal(
        (num_blocks * block_size, num_features)).astype(np.float32)
    return ProxyGraph(x, senders, receivers)


def functional_embedding(hidden_NxD: jax.Array) -> jax.Array:
    """h_i = (1/Np) sum_v f_i(G_proxy)_v (paper eq. 3): the mean over proxy nodes [Np, D] -> [D]."""
    if hidden_NxD.ndim != 2:
        raise ValueError(f"hidden_NxD must have shape [Np, D], got {hidden_NxD.shape}")
    return jnp.mean(hidden_NxD, axis=0)


def cosine_similarity(embeddings_KxD: jax.Array) -> jax.Array:
    """[K, K] cosine similarities of the rows (0 where a row is all zeros)."""
    norms = jnp.linalg.norm(embeddings_KxD, axis=1)
    unit = embeddings_KxD / jnp.where(norms > 0, norms, 1.0)[:, None]
    return unit @ unit.T


def similarity_weights(embeddings_KxD: jax.Array, tau: float,
                       include_K: jax.Array | None = None) -> jax.Array:
    """alpha_ij = exp(tau S_ij) / sum_{k included} exp(tau S_ik), S = cosine (paper eq. 4).

    Excluded clients (`include_K` False: a NaN update) get alpha_ij = 0 as sources; an excluded
    client's own row is the same softmax over the included clients. tau = 0 gives uniform
    weights 1/K_included (the uniform-similarity ablation).

    Args:
      embeddings_KxD: functional embeddings h_i.
      tau: the temperature (the paper's `norm_scale`; 3 in the official Cora scripts).
      include_K: optional bool [K].

    Returns:
      alpha [K, K], rows summing to 1.
    """
    if embeddings_KxD.ndim != 2:
        raise ValueError(f"embeddings_KxD must have shape [K, D], got {embeddings_KxD.shape}")
    num = embeddings_KxD.shape[0]
    include = jnp.ones((num,), bool) if include_K is None else jnp.asarray(include_K, bool)
    if include.shape != (num,):
        raise ValueError(f"include_K must have shape [{num}], got {include.shape}")
    logits = tau * cosine_similarity(embeddings_KxD)
    logits = jnp.where(include[None, :], logits, -jnp.inf)
    return jax.nn.softmax(logits, axis=1)


def aggregation_weights(weighting: str, embeddings_KxD: jax.Array, tau: float,
                        include_K: jax.Array) -> jax.Array:
    """The [K, K] personalised aggregation matrix: "similarity" (FED-PUB, eq. 4), "uniform"
    (the ablation: 1 / K_included for every pair) or "local" (identity: no collaboration)."""
    if weighting == "similarity":
        return similarity_weights(embeddings_KxD, tau, include_K)
    if weighting == "uniform":
        return similarity_weights(embeddings_KxD, 0.0, include_K)
    if weighting == "local":
        return jnp.eye(embeddings_KxD.shape[0], dtype=jnp.float32)
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")


def personalised_aggregate(stacked_params: Params, alpha_KxK: jax.Array) -> Params:
    """theta_bar_i = sum_j alpha_ij theta_j for every client i (paper eq. 5).

    Args:
      stacked_params: pytree with leaves [K, ...].
      alpha_KxK: aggregation weights, row i for client i.

    Returns:
      The personalised models, leaves [K, ...].
    """
    num = alpha_KxK.shape[0]
    if alpha_KxK.shape != (num, num):
        raise ValueError(f"alpha_KxK must be square, got {alpha_KxK.shape}")
    for leaf in jax.tree.leaves(stacked_params):
        if leaf.shape[:1] != (num,):
            raise ValueError(f"stacked_params leaves need a leading client axis of size {num}, "
                             f"got shape {leaf.shape}")
    return jax.tree.map(lambda p: jnp.tensordot(alpha_KxK, p, axes=1).astype(p.dtype),
                        stacked_params)


def weighted_average(stacked_params: Params, weights_K: jax.Array) -> Params:
    """The global model sum_j n_j theta_j / sum_j n_j (FedAvg; official `server.update`)."""
    total = jnp.sum(weights_K)
    scale = weights_K / jnp.where(total > 0, total, 1.0)
    return jax.tree.map(lambda p: jnp.tensordot(scale, p, axes=1).astype(p.dtype), stacked_params)


# ------------------------------------------------------------------------------ sparse masks

def _is_kernel(path: str, leaf: jax.Array) -> bool:
    return path.endswith("kernel") and jnp.ndim(leaf) >= 2


def init_masks(params: Params, predicate: Callable[[str, jax.Array], bool] = _is_kernel
               ) -> Masks:
    """Mask mu (ones, the official `--laye-mask-one --clsf-mask-one`) for every weight matrix.

    Returns:
      {"/"-joined param path: ones like that leaf} for the leaves where `predicate(path, leaf)`
      (default: leaves named "kernel" with >= 2 dims; biases carry no mask).
    """
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params), sep="/")
    masks = {path: jnp.ones_like(leaf) for path, leaf in flat.items() if predicate(path, leaf)}
    if not masks:
        raise ValueError("no parameter matched the mask predicate (expected leaves named "
                         "'kernel'); pass another predicate")
    return masks


def prune_masks(masks: Masks, threshold: float) -> Masks:
    """Entries with |mu| < threshold set to 0 (the official eval-time pruning, threshold l1)."""
    return {path: jnp.where(jnp.abs(m) < threshold, 0.0, m).astype(m.dtype)
            for path, m in masks.items()}


def apply_masks(params: Params, masks: Masks) -> Params:
    """theta * mu: every masked leaf multiplied elementwise by its mask (shapes must match)."""
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params), sep="/")
    unknown = sorted(set(masks) - set(flat))
    if unknown:
        raise ValueError(f"masks name parameters the model lacks: {unknown}")
    out = {}
    for path, leaf in flat.items():
        if path in masks:
            if masks[path].shape != leaf.shape:
                raise ValueError(f"mask {path} has shape {masks[path].shape}, the parameter "
                                 f"{leaf.shape}")
            leaf = leaf * masks[path]
        out[path] = leaf
    return flax.traverse_util.unflatten_dict(out, sep="/")


def mask_l1(masks: Masks) -> jax.Array:
    """||mu||_1 summed over all masks (the sparsity term of the local objective)."""
    return sum(jnp.sum(jnp.abs(m)) for m in masks.values())


def mask_sparsity(masks: Masks, threshold: float) -> jax.Array:
    """Fraction of mask entries with |mu| < threshold (pruned at evaluation)."""
    pruned = sum(jnp.sum(jnp.abs(m) < threshold) for m in masks.values())
    total = sum(m.size for m in masks.values())
    return pruned / total


def squared_distance(a: Params, b: Params) -> jax.Array:
    """||a - b||_2^2 over all leaves."""
    return sum(jnp.sum(jnp.square(x - y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# ------------------------------------------------------------------------------ client / server

class ClientState(NamedTuple):
    """What persists on a FED-PUB client between rounds (a pytree)."""

    masks: Masks
    opt_state: Any


def init_client_state(params: Params, optimizer: optax.GradientTransformation) -> ClientState:
    """Ones masks and a fresh optimizer state over (params, masks)."""
    masks = init_masks(params)
    return ClientState(masks, optimizer.init({"params": params, "masks": masks}))


def fedpub_client_update(
    loss_fn: Callable[[Params, Any, jax.Array], jax.Array],
    embed_fn: Callable[[Params], jax.Array],
    eval_fn: Callable[[Params, Any], dict],
    optimizer: optax.GradientTransformation,
    *,
    local_epochs: int = 1,
    l1: float = 1e-3,
    loc_l2: float = 1e-3,
    regularizers_active: bool = True,
) -> Callable:
    """FED-PUB's client (paper Sec. 4.2; official `models/fedpub/client.py`).

    Starting from the received theta_bar (the client's own mask and optimizer state kept), runs
    `local_epochs` optimizer steps on (theta, mu) jointly for
        loss_fn(theta * mu, data, key) + l1 ||mu||_1 + loc_l2 ||theta - theta_bar||_2^2,
    then evaluates and embeds the trained model with its mask pruned at |mu| < l1 (eval mode).
    With `regularizers_active=False` the two penalties are computed under `stop_gradient`: they
    change the reported loss but not the gradient, which is what the official code does.

    Args:
      loss_fn: `loss_fn(masked_params, client_data, key) -> scalar` task loss (training mode).
      embed_fn: `embed_fn(masked_params) -> [Np, D]` hidden output on the proxy graph (eval mode).
      eval_fn: `eval_fn(masked_params, client_data) -> dict of scalars` (eval mode).
      optimizer: over the pytree {"params": theta, "masks": mu}.
      local_epochs: optimizer steps per round (full batch).
      l1: lambda1, also the pruning threshold (official `--l1`, 1e-3).
      loc_l2: lambda2 (official `--loc-l2`, 1e-3).
      regularizers_active: see above.

    Returns:
      `client_update(personal_params, client_state: ClientState, client_data, key, hp)
      -> (theta_i, client_state, metrics)` with metrics {"loss", "embedding" [D], "sparsity",
      and eval_fn's}.
    """
    if local_epochs < 1:
        raise ValueError(f"local_epochs must be >= 1, got {local_epochs}")

    def objective(variables, anchor, data, key):
        task = loss_fn(apply_masks(variables["params"], variables["masks"]), data, key)
        penalty = l1 * mask_l1(variables["masks"]) + loc_l2 * squared_distance(
            variables["params"], anchor)
        if not regularizers_active:
            penalty = jax.lax.stop_gradient(penalty)
        return task + penalty

    def client_update(personal_params, client_state, client_data, key, hp):
        del hp

        def step(carry, step_key):
            variables, opt_state = carry
            loss, grads = jax.value_and_grad(objective)(variables, personal_params, client_data,
                                                        step_key)
            updates, opt_state = optimizer.update(grads, opt_state, variables)
            return (optax.apply_updates(variables, updates), opt_state), loss

        start = {"params": personal_params, "masks": client_state.masks}
        (variables, opt_state), losses = jax.lax.scan(
            step, (start, client_state.opt_state), jax.random.split(key, local_epochs))
        pruned = apply_masks(variables["params"], prune_masks(variables["masks"], l1))
        metrics = {"loss": losses[-1],
                   "embedding": functional_embedding(embed_fn(pruned)),
                   "sparsity": mask_sparsity(variables["masks"], l1),
                   **eval_fn(pruned, client_data)}
        return variables["params"], ClientState(variables["masks"], opt_state), metrics

    return client_update


def fedpub_server_aggregate(weighting: str = "similarity", tau: float | None = 3.0) -> Callable:
    """FED-PUB's server (paper Sec. 4.1; official `models/fedpub/server.py`).

    Args:
      weighting: "similarity" (FED-PUB), "uniform" or "local" (see `aggregation_weights`).
      tau: the temperature; None reads it from `hp["tau"]` at call time (a traced value, so
        one compiled round serves several temperatures, tau = 0 being the uniform ablation).

    Returns:
      `server_aggregate(stacked_params [K, ...], embeddings [K, D], weights [K], hp)
      -> (global_params, personalised [K, ...], {"alpha": [K, K]})`; weight 0 excludes a client
      as a source (its row still receives a model).
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")

    def server_aggregate(stacked_params, embeddings_KxD, weights_K, hp):
        if tau is None and not (isinstance(hp, dict) and "tau" in hp):
            raise ValueError("fedpub_server_aggregate(tau=None) reads the temperature from "
                             "hp['tau'], but hp has none")
        temperature = hp["tau"] if tau is None else tau
        alpha = aggregation_weights(weighting, embeddings_KxD, temperature, weights_K > 0)
        return (weighted_average(stacked_params, weights_K),
                personalised_aggregate(stacked_params, alpha), {"alpha": alpha})

    return server_aggregate


def make_personalised_round(client_update: Callable, server_aggregate: Callable) -> Callable:
    """One FED-PUB round as a jitted function of stacked personalised params.

    Returns:
      `round_fn(personal_params [K, ...], client_state [K, ...], client_data [K, ...],
      weights [K], key, hp) -> (global_params, personal_params, client_state, metrics)`:
      clients run under `jax.vmap`, each from its own personalised row (`hp` goes to both the
      clients and `server_aggregate(params, embeddings, weights, hp)`); a client whose trained
      params or embedding hold a NaN/inf is excluded (weight 0, its params and state kept;
      counted in metrics["num_nonfinite"]); then the server aggregates.
      metrics = {"clients": per-client metrics [K], "server": {"alpha"}, "finite": [K],
      "num_nonfinite", "weights": [K]}.
    """
    def round_fn(personal_params, client_state, client_data, weights, key, hp):
        weights = jnp.asarray(weights, jnp.float32)
        if weights.ndim != 1:
            raise ValueError(f"weights must have shape [K], got {weights.shape}")
        num = weights.shape[0]
        template = jax.tree.map(lambda p: p[0], personal_params)
        check_same_structure(template, personal_params, "personal_params", leading_axis=num)
        keys = jax.random.split(key, num)
        params, new_state, client_metrics = jax.vmap(
            client_update, in_axes=(0, 0, 0, 0, None))(
                personal_params, client_state, client_data, keys, hp)
        check_same_structure(template, params, "the client params", leading_axis=num)
        finite = finite_rows(params) & finite_rows(client_metrics["embedding"])
        params = select_rows(finite, params, personal_params)
        new_state = select_rows(finite, new_state, client_state)
        used = jnp.where(finite, weights, 0.0)
        embeddings = jnp.where(finite[:, None], client_metrics["embedding"], 0.0)
        global_params, personal, server_metrics = server_aggregate(params, embeddings, used, hp)
        metrics = {"clients": client_metrics, "server": server_metrics, "finite": finite,
                   "num_nonfinite": num - jnp.sum(finite), "weights": used}
        return global_params, personal, new_state, metrics

    return jax.jit(round_fn)
