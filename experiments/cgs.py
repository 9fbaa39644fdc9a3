"""CGS on graph value iteration: IFT vs unrolled gradients vs a plain MPNN (Park et al. 2022).

Task (paper Sec. 5, released generator; `jaxnets.models.cgs_tasks`): predict the optimal state
values of random MDP graphs; report per-graph MAPE and policy accuracy (greedy edge under the
predicted values equals the true greedy edge). At CPU scale (notes
`shared/research/papers-solvers-fed-net.md` Sec. 1 "Mini-reproduction"): nS in [10, 20), nA in
[3, 5), 64 graphs per batch, a fresh batch every 32 updates, Adam 1e-3 with cosine warm restarts
(T0 = 32) as in the released `gvi_train.py`; test sets of 200 graphs of the training sizes and
200 larger graphs (nS in [30, 50)). Models: CGS with IFT gradients (max_iter 50, tol 1e-6), the
same CGS trained by backprop through exactly 50 unrolled iterations, and a plain 3-layer
attention MPNN of equal width. Each trains 3 seeds together under `vmap` with `fit`.

Claim (our shape of the paper's "tractable analytical gradient"): IFT training matches unrolled
training (policy accuracy within 1 point, MAPE within 10 % relative) while the backward's memory
does not grow with the iteration budget (XLA temp bytes of the solver block's gradient identical
for max_iter 20 and 80; the unrolled one grows >= 3x); and CGS >= the plain MPNN in policy
accuracy on the larger test graphs. The paper's GVI table could not be retrieved (notes: n/r).
"""
from __future__ import annotations

import json
import math
import pathlib
import time

import jax
import jax.numpy as jnp
import jraph
import ml_collections
import numpy as np
import optax

from jaxnets import config as config_lib
from jaxnets import graph as graph_lib
from jaxnets import plots
from jaxnets.experiment import Claim, Paper
from jaxnets.models import CGS, MPNN, CGSConfig, cgs_fixed_point
from jaxnets.models import cgs_tasks as tasks
from jaxnets.train import TrainState, fit, init_population

PAPER = Paper(title="Convergent Graph Solvers", authors="Park, Choo & Park", venue="ICLR 2022")
DESCRIPTION = "CGS on graph value iteration: IFT vs unrolled gradients vs plain MPNN (3 seeds)"
PAPER_NUMBERS = "GVI MAPE / policy accuracy: n/r (paper table not retrieved)"
VARIANTS = ("ift", "unrolled", "mpnn")


def get_config() -> ml_collections.ConfigDict:
    return config_lib.locked(dict(
        seed=0, n_seeds=3, data_seed=0,
        states_min=10, states_max=20, actions_min=3, actions_max=5,   # half-open ranges
        large_states_min=30, large_states_max=50,
        discount=0.9,
        batch_size=64, regenerate_every=32, num_steps=320, eval_every=32,
        val_graphs=64, test_graphs=200, eval_batch=50,
        heads=16, hidden=32, encoder_layers=2, mlp_hidden=64, gamma=0.5,
        tol=1e-6, max_iter=50, orientation="receiver",
        mpnn_layers=3,
        learning_rate=1e-3, restart_period=32,
        memory_iters_low=20, memory_iters_high=80,
        memory_whole_model=True,   # also compile the whole model's gradient for the memory table
    ))


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    return config_lib.apply_overrides(config, [
        "n_seeds=2", "batch_size=16", "num_steps=8", "eval_every=8", "regenerate_every=4",
        "val_graphs=16", "test_graphs=20", "eval_batch=10", "heads=4", "hidden=8",
        "mlp_hidden=8", "large_states_min=20", "large_states_max=25",
        "memory_whole_model=False",
    ])


def _models(config) -> dict:
    cgs_config = CGSConfig(heads=config.heads, hidden=config.hidden,
                           encoder_layers=config.encoder_layers, mlp_hidden=(config.mlp_hidden,),
                           gamma=config.gamma, tol=config.tol, max_iter=config.max_iter,
                           orientation=config.orientation)
    return {
        "ift": CGS(cgs_config),
        "unrolled": CGS(CGSConfig(**{**cgs_config.__dict__, "solver": "unrolled"})),
        "mpnn": MPNN(hidden=config.hidden, out_width=config.heads, num_layers=config.mpnn_layers,
                     mlp_hidden=(config.mlp_hidden,)),
    }


def _inputs(batch: jraph.GraphsTuple) -> tuple[jraph.GraphsTuple, jax.Array]:
    """The model's view of a GVI batch: edge features = rewards, node features = ones."""
    return batch._replace(edges=batch.edges["reward"], nodes=None), batch.nodes["x"]


def _predict(model, params, batch):
    graph, x = _inputs(batch)
    y, inter = model.apply({"params": params}, graph, x, mutable=["intermediates"])
    return y[:, 0], inter


def _metrics(model, params, batch, discount) -> dict:
    pred, _ = _predict(model, params, batch)
    mask = graph_lib.node_mask(batch, pred.shape[0])
    err = jnp.where(mask, pred - batch.nodes["value"], 0.0)
    return {"mse": jnp.sum(err**2) / jnp.sum(mask),
            "mape": tasks.value_mape(pred, batch),
            "policy_acc": 100 * tasks.policy_accuracy(pred, batch, discount)}


def _task(model, config, train_batches, val_batch):
    """init / step / evaluate for `fit`; step t trains on batch t // regenerate_every."""
    train_batches = jax.tree.map(jnp.asarray, train_batches)
    val_batch = jax.tree.map(jnp.asarray, val_batch)
    num_batches = train_batches.n_node.shape[0]
    restart = config.restart_period
    # CosineAnnealingWarmRestarts(T_0=restart), as the released gvi_train.py.
    def schedule(t):
        return config.learning_rate * 0.5 * (1 + jnp.cos(jnp.pi * (t % restart) / restart))

    tx = optax.adam(schedule)
    example = jax.tree.map(lambda a: a[0], train_batches)

    def init(key):
        graph, x = _inputs(example)
        params = model.init(key, graph, x)["params"]
        return TrainState.create(params, tx, key)

    def step(state):
        index = (state.step // config.regenerate_every) % num_batches
        batch = jax.tree.map(lambda a: a[index], train_batches)
        mask = graph_lib.node_mask(batch, batch.nodes["value"].shape[0])

        def loss_fn(params):
            pred, inter = _predict(model, params, batch)
            err = jnp.where(mask, pred - batch.nodes["value"], 0.0)
            return jnp.sum(err**2) / jnp.sum(mask), inter

        (loss, inter), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        metrics = {"loss": loss}
        block = inter.get("intermediates", {}).get("block", {})
        if "fixed_point_iterations" in block:
            metrics["fixed_point_iterations"] = block["fixed_point_iterations"][0]
        return state.apply_gradients(tx, grads), metrics

    def evaluate(state):
        return {f"val/{k}": v for k, v in
                _metrics(model, state.params, val_batch, config.discount).items()}

    return init, step, evaluate


def _test(model, params_S, batches, discount) -> dict:
    """Per-seed metrics, averaged over stacked test batches (each holds eval_batch real graphs,
    so the per-graph mean over the set is the mean of the batch means)."""
    fn = jax.jit(jax.vmap(lambda p, b: _metrics(model, p, b, discount), in_axes=(0, None)))
    rows = [jax.device_get(fn(params_S, jax.tree.map(lambda a: a[i], batches)))
            for i in range(batches.n_node.shape[0])]
    return {k: np.mean(np.stack([r[k] for r in rows]), axis=0).tolist() for k in rows[0]}


def solver_memory(model: CGS, params, batch, iterations: int, whole_model: bool = True) -> dict:
    """XLA temp bytes of the compiled gradient, with `iterations` as max_iter (IFT) or K (unrolled).

    "block": the solver block alone, d loss / d (encoder outputs), i.e. the fixed point and the
    decoder; "model": the whole model's parameter gradient (its encoder's activations do not
    depend on the iteration budget and dilute the ratio).
    """
    graph, x = _inputs(batch)
    mask = graph_lib.node_mask(batch, x.shape[0])
    target = batch.nodes["value"]
    raw, b = jax.jit(lambda p: model.apply({"params": p}, graph, x, method=CGS.encode))(params)
    c = model.config

    def block_loss(raw_b):
        z, _ = cgs_fixed_point(*raw_b, graph.senders, graph.receivers, gamma=c.gamma,
                               solver=c.solver, tol=0.0, max_iter=iterations,
                               orientation=c.orientation)
        pred = model.apply({"params": params}, z, graph, method=CGS.decode)[:, 0]
        return jnp.sum(jnp.where(mask, pred - target, 0.0) ** 2)

    big = CGS(CGSConfig(**{**c.__dict__, "max_iter": iterations, "tol": 0.0}),
              model.out_features, model.decoder_hidden, model.readout)

    def model_loss(p):
        pred = big.apply({"params": p}, graph, x)[:, 0]
        return jnp.sum(jnp.where(mask, pred - target, 0.0) ** 2)

    def temp(fn, arg):
        return int(jax.jit(jax.grad(fn)).lower(arg).compile().memory_analysis().temp_size_in_bytes)

    out = {"block": temp(block_loss, (raw, b))}
    if whole_model:
        out["model"] = temp(model_loss, params)
    return out


def run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    sizes = dict(states_range=(config.states_min, config.states_max),
                 actions_range=(config.actions_min, config.actions_max))
    num_train = math.ceil(config.num_steps / config.regenerate_every) * config.batch_size
    seed = config.data_seed * 4  # four independent graph streams per data seed
    train = tasks.batch_and_pad(tasks.gvi_graphs(seed, num_train, discount=config.discount,
                                                 **sizes), config.batch_size)
    val = jax.tree.map(lambda a: a[0], tasks.batch_and_pad(
        tasks.gvi_graphs(seed + 1, config.val_graphs, discount=config.discount, **sizes),
        config.val_graphs))
    test_graphs = tasks.gvi_graphs(seed + 2, config.test_graphs, discount=config.discount, **sizes)
    large_graphs = tasks.gvi_graphs(
        seed + 3, config.test_graphs, discount=config.discount,
        states_range=(config.large_states_min, config.large_states_max),
        actions_range=sizes["actions_range"])
    # One padding budget for both test sets: one compiled evaluation per model.
    budget = graph_lib.padding_budget(
        [jraph.batch(g[i:i + config.eval_batch]) for g in (test_graphs, large_graphs)
         for i in range(0, len(g), config.eval_batch)], 1, round_to=64)
    test = tasks.batch_and_pad(test_graphs, config.eval_batch, budget)
    large = tasks.batch_and_pad(large_graphs, config.eval_batch, budget)

    seeds = list(range(config.seed, config.seed + config.n_seeds))
    results: dict = {"seeds": seeds, "train_graphs": num_train, "test_graphs": config.test_graphs}
    # Context for policy accuracy: constant predicted values make the greedy edge the
    # highest-reward edge, which is often already the optimal one.
    greedy = jax.jit(lambda b: 100 * tasks.policy_accuracy(
        jnp.zeros(b.nodes["value"].shape[0]), b, config.discount))
    results["reward_greedy_policy_acc"] = {
        split: float(np.mean([greedy(jax.tree.map(lambda a: a[i], batches))
                              for i in range(batches.n_node.shape[0])]))
        for split, batches in (("test", test), ("large_test", large))}
    histories = {}
    populations = {}
    for name, model in _models(config).items():
        init, step, evaluate = _task(model, config, train, val)
        # IFT and unrolled CGS share their initial parameters: they differ only in the gradient.
        key = "cgs" if name in ("ift", "unrolled") else name
        if key not in populations:
            populations[key] = init_population(init, seeds)
        population = populations[key]
        start = time.perf_counter()
        fitted = fit(population, step, num_steps=config.num_steps, eval_fn=evaluate,
                     eval_every=config.eval_every, workdir=workdir / name,
                     config=config_lib.to_dict(config), resume=True, description=f"CGS/{name}")
        params = fitted.state.params
        results[name] = {
            "train_time_s": time.perf_counter() - start,
            "num_params": int(sum(np.prod(p.shape[1:]) for p in jax.tree.leaves(params))),
            "test": _test(model, params, test, config.discount),
            "large_test": _test(model, params, large, config.discount),
        }
        iters = [r["train/fixed_point_iterations"] for r in fitted.history
                 if "train/fixed_point_iterations" in r]
        if iters:
            results[name]["mean_fixed_point_iterations"] = float(np.mean(iters))
        histories[name] = fitted.history
        if name == "ift":
            first = jax.tree.map(lambda a: a[0], params)
            example = jax.tree.map(lambda a: a[0], train)
            models = _models(config)
            results["memory_bytes"] = {
                solver: {str(k): solver_memory(models[solver], first, example, k,
                                               config.memory_whole_model)
                         for k in (config.memory_iters_low, config.memory_iters_high)}
                for solver in ("ift", "unrolled")
            }

    plot = "policy_accuracy.png"
    plots.plot_histories({n: histories[n] for n in VARIANTS}, "val/policy_acc", workdir / plot,
                         title="CGS on graph value iteration (validation)")
    results["plot"] = plot
    (workdir / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def claim(results: dict) -> Claim:
    def mean(name, split, key):
        return float(np.mean(results[name][split][key]))

    acc_gap = abs(mean("ift", "test", "policy_acc") - mean("unrolled", "test", "policy_acc"))
    mape_ift, mape_unr = mean("ift", "test", "mape"), mean("unrolled", "test", "mape")
    mape_rel = abs(mape_ift - mape_unr) / max(mape_unr, 1e-12)
    mem = results["memory_bytes"]
    low, high = sorted(mem["ift"], key=int)
    ift_same = mem["ift"][low]["block"] == mem["ift"][high]["block"]
    unr_ratio = mem["unrolled"][high]["block"] / max(mem["unrolled"][low]["block"], 1)
    large_cgs, large_mpnn = mean("ift", "large_test", "policy_acc"), mean("mpnn", "large_test",
                                                                          "policy_acc")
    greedy = results["reward_greedy_policy_acc"]
    checks = [acc_gap <= 1.0, mape_rel <= 0.10, ift_same, unr_ratio >= 3.0, large_cgs >= large_mpnn]
    whole = ("" if "model" not in mem["ift"][low] else
             f"; whole-model temp bytes IFT {mem['ift'][low]['model']}/{mem['ift'][high]['model']},"
             f" unrolled {mem['unrolled'][low]['model']}/{mem['unrolled'][high]['model']}")
    text = (
        f"IFT vs unrolled policy accuracy gap {acc_gap:.2f} pts (<= 1) and MAPE relative gap "
        f"{100 * mape_rel:.1f}% (<= 10%); solver-block backward temp bytes IFT "
        f"{mem['ift'][low]['block']} vs {mem['ift'][high]['block']} for max_iter {low}/{high} "
        f"(equal), unrolled grows {unr_ratio:.1f}x (>= 3){whole}; larger graphs policy accuracy "
        f"CGS {large_cgs:.1f} vs MPNN {large_mpnn:.1f} (CGS >= MPNN); reward-greedy policy "
        f"(constant values) {greedy['test']:.1f} / {greedy['large_test']:.1f} on test / larger"
    )
    ours = "; ".join(
        f"{n}: acc {plots.mean_std(results[n]['test']['policy_acc'])}, "
        f"MAPE {plots.mean_std(results[n]['test']['mape'], digits=2)}, "
        f"large acc {plots.mean_std(results[n]['large_test']['policy_acc'])}"
        for n in VARIANTS)
    return Claim(passed=all(checks), text=text, paper=PAPER_NUMBERS, ours=ours,
                 plot=results["plot"])
