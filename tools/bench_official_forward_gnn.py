"""ForwardGNN (SF-GCN, and FF+LA per layer) beside the official code (facebookresearch/forwardgnn).

Issue 12, item 5: the paper's own implementation and ours on the same graph, split and
hyper-parameters. The official modules `forward_learning/nodeclass/gnn_sf.py` (SF:
`GNNSingleForward`, `GraphAugmenter`) and `gnn_ff_with_label_appending.py` (FF+LA:
`GNNLabelAppendingFF`) are imported from `--official PATH/src` (a checkout of
https://github.com/facebookresearch/forwardgnn; nothing of it is copied here). Their package
`gnn` also imports the cached GCN/SAGE convolutions, which need torch_scatter and torch_sparse at
import time; the GCN path uses PyG's own `GCNConv` and neither package, so absent ones are
replaced by stand-in modules during the import only (reported), and the root-logger settings its
`utils.log_utils` changes on import are restored after it. The official loader downloads
CitationFull; here its `Data` object is built from our arrays (`official_data`), and its
`ResultManager` (which writes result files) is replaced by a no-op object passed as an argument.
The official epoch loops run under tqdm; `TQDM_DISABLE=1` (set before anything imports tqdm)
turns the bars off, as our side runs without its progress bar.

Data and settings (`experiments/forward_gnn.py`): Planetoid Cora from $JAXNETS_DATA, its one
random 64/16/20 split (`_load(get_config())`), raw binary features (the official
`NormalizeFeatures` only rescales rows, which every layer's row L2 normalisation undoes),
2 layers of 128 (row L2 norm -> GCNConv -> ReLU), each with its own Adam(1e-3); SF: virtual-node
features N(0, 1), T = 1; FF+LA: theta 2, 6 negatives (C - 1; the official draws the wrong labels
once before training, ours draws fresh ones every step, as the experiment does, and computes
x W_x once for the 7 copies from sparse features). The official optimiser has
weight_decay 5e-4 (torch's L2-in-gradient); ours gets the same through
`optax.chain(add_decayed_weights, adam)` (`--weight-decay`; the experiment itself uses 0).
Early stopping is off on both sides (official `patience=-1`, ours without `eval_fn`), so both
train exactly `--epochs` full-batch epochs per layer.

Measured in one process with the same thread count on both sides (`--threads`, default 1: CPU
affinity and XLA flags through `tools/bench/machine.pin_threads` before jax is imported, and
`torch.set_num_threads`), by `tools/bench/timing.time_interleaved` (first call reported apart as
compile / warm-up, then `--repeats` interleaved rounds; median, min, max):
  * one layer-epoch (one full-batch forward + backward + Adam step of one layer on its detached
    input), layers 1 and 2: official `GNNSingleForwardLayer.forward_train` /
    `GNNFFLayer.forward_train`; ours, the same unit (`local_step` on a one-layer stack), and, for
    reference, the experiment's sequential `local_step` of the whole stack (every layer's
    forward in each step, the active layer's backward and update: a `lax.switch`);
  * SF only, the whole fit of `--epochs` per layer: official `GNNSingleForward.forward_train`
    (augmenting the graph, training, its per-layer test evaluation) on a fresh model; ours from a
    fresh state in one jitted `lax.scan`, twice: the experiment's sequential step for
    2 x epochs steps, and layer-wise (`layerwise_fit`: each layer alone on the fixed output of
    the layers below, the official loop's structure; the same updates). Both sides' test
    accuracies after the fit are reported (different inits: comparable, not identical), and one
    call of `jaxnets.train.fit` (the experiment's loop, compilation included) for reference.
Equivalence (SF): both sides start from the same weights (the official initialisation copied
into our parameters) and the same virtual-node features and train `--check-epochs` epochs per
layer; the largest differences of the initial layer outputs, the trained weights and the test
probabilities, and the share of test predictions that agree, are reported.

Usage: JAXNETS_DATA=/path/to/data python tools/bench_official_forward_gnn.py
       --official /path/to/forwardgnn [--epochs 100] [--repeats 5] [--threads 1]
       [--check-epochs 10] [--skip-ff] [--out runs/bench_official_forward_gnn.json]
(in an environment with torch and torch_geometric, e.g. the `bench` extra).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import logging
import os
import pathlib
import sys
import time
import types

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from tools.bench import machine  # noqa: E402  (imports no jax)

OFFICIAL_URL = "https://github.com/facebookresearch/forwardgnn"
OFFICIAL_FILE = pathlib.Path("src/forward_learning/nodeclass/gnn_sf.py")
# Imported at the top of the official `gnn/cached_*_conv.py`; used only by the Cached* layers.
IMPORT_ONLY = {"torch_scatter": ("scatter_add", "gather_csr"),
               "torch_sparse": ("fill_diag", "matmul", "mul", "sum")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", type=pathlib.Path, required=True,
                        help=f"checkout of {OFFICIAL_URL}")
    parser.add_argument("--epochs", type=int, default=100, help="epochs per layer of the fit")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="threads on each side")
    parser.add_argument("--check-epochs", type=int, default=10,
                        help="epochs per layer of the same-init equivalence check")
    parser.add_argument("--weight-decay", type=float, default=5e-4,
                        help="both sides (the official default; our experiment uses 0)")
    parser.add_argument("--skip-ff", action="store_true", help="time SF only, not FF+LA")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path("runs/bench_official_forward_gnn.json"))
    args = parser.parse_args(argv)
    for name in ("epochs", "repeats", "threads", "check_epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def check_official(path: pathlib.Path) -> pathlib.Path:
    """PATH/src of a forwardgnn checkout; FileNotFoundError naming the repository otherwise."""
    if not (path / OFFICIAL_FILE).is_file():
        raise FileNotFoundError(f"{path / OFFICIAL_FILE} not found: pass --official <checkout of "
                                f"{OFFICIAL_URL}>")
    return path / "src"


if __name__ == "__main__":  # threads are pinned before jax is imported (machine.pin_threads)
    ARGS = parse_args()
    check_official(ARGS.official)
    machine.pin_threads(ARGS.threads)
    os.environ.setdefault("TQDM_DISABLE", "1")  # read by tqdm when it is first imported

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import experiments.forward_gnn as experiment  # noqa: E402
from jaxnets.graph import RowStack, to_csr  # noqa: E402
from jaxnets.train import TrainState, fit  # noqa: E402
from jaxnets.train import local  # noqa: E402
from jaxnets.train.local import forward_gnn as fg  # noqa: E402
from tools.bench.timing import time_interleaved  # noqa: E402


# --- data: ours, and the official Data object built from it ----------------------------------

@dataclasses.dataclass(frozen=True)
class Arrays:
    """The experiment's graph and split as numpy arrays (what both sides are given)."""
    x_NxF: np.ndarray          # float32 raw features
    labels_N: np.ndarray       # int64, all in [0, C)
    senders_E: np.ndarray      # int64; the edge list holds both directions
    receivers_E: np.ndarray
    train_N: np.ndarray        # bool masks
    val_N: np.ndarray
    test_N: np.ndarray
    num_classes: int
    name: str

    @property
    def num_nodes(self) -> int:
        return self.x_NxF.shape[0]


def load_arrays(config) -> Arrays:
    """`experiments/forward_gnn.py`'s data (`_load`) for `config`, as numpy."""
    ds, x, train, val, test = experiment._load(config)
    labels = np.asarray(ds.labels, np.int64)
    if labels.min() < 0:
        raise ValueError("the official GraphAugmenter needs every node labelled (labels >= 0)")
    return Arrays(np.asarray(x, np.float32), labels, np.asarray(ds.senders, np.int64),
                  np.asarray(ds.receivers, np.int64), np.asarray(train, bool),
                  np.asarray(val, bool), np.asarray(test, bool), int(ds.num_classes), ds.name)


def official_data(arrays: Arrays):
    """The torch_geometric `Data` the official `load_node_classification_data` would return:
    x, y, edge_index (row 0 = source = our senders), train/val/test masks, num_classes."""
    import torch
    from torch_geometric.data import Data
    data = Data(x=torch.from_numpy(arrays.x_NxF.copy()), y=torch.from_numpy(arrays.labels_N),
                edge_index=torch.from_numpy(np.stack([arrays.senders_E, arrays.receivers_E])))
    data.train_mask = torch.from_numpy(arrays.train_N.copy())
    data.val_mask = torch.from_numpy(arrays.val_N.copy())
    data.test_mask = torch.from_numpy(arrays.test_N.copy())
    data.num_classes = arrays.num_classes
    return data


# --- the official side -----------------------------------------------------------------------

@contextlib.contextmanager
def _import_stand_ins():
    """Stand-in modules for IMPORT_ONLY packages that are not installed, and the root logger's
    level and handlers restored, for the duration of the official import; yields the names."""
    import torch_geometric.nn  # noqa: F401  (loaded first: PyG must see the real packages)
    stand_ins = []
    for name, functions in IMPORT_ONLY.items():
        if importlib.util.find_spec(name) is None:
            module = types.ModuleType(name)
            module.SparseTensor = type("SparseTensor", (), {})
            for function in functions:
                setattr(module, function, _unavailable(name, function))
            sys.modules[name] = module
            stand_ins.append(name)
    root = logging.getLogger()
    level, handlers, propagate = root.level, list(root.handlers), root.propagate
    try:
        yield stand_ins
    finally:
        for name in stand_ins:
            del sys.modules[name]
        root.setLevel(level)
        root.handlers[:] = handlers
        root.propagate = propagate


def _unavailable(module: str, function: str):
    def fail(*args, **kwargs):
        raise RuntimeError(f"{module}.{function} is a stand-in (only the Cached* layers use it)")
    return fail


def import_official(path: pathlib.Path) -> tuple[types.SimpleNamespace, list[str]]:
    """Imports `forward_learning.nodeclass.gnn_sf` (`.sf`) and `gnn_ff_with_label_appending`
    (`.ff`) from PATH/src; returns them and the stand-in modules used."""
    src = check_official(path)
    sys.path.insert(0, str(src))
    try:
        with _import_stand_ins() as stand_ins:
            import forward_learning.nodeclass.gnn_ff_with_label_appending as ff
            import forward_learning.nodeclass.gnn_sf as sf
    finally:  # its top-level package names (`utils`, `gnn`, `datasets`) must not shadow others
        sys.path.remove(str(src))
    return types.SimpleNamespace(sf=sf, ff=ff), stand_ins


def official_args(epochs: int) -> argparse.Namespace:
    """The `train_forward.py` arguments the SF classes read: no early stopping (patience -1),
    no label appending, bidirectional virtual edges, T = 1, CPU."""
    import torch
    return argparse.Namespace(epochs=epochs, patience=-1, val_every=2, val_from=0,
                              append_label=None, temperature=1.0,
                              aug_edge_direction="bidirection", device=torch.device("cpu"))


class _NoResults:
    """Stands in for the official `ResultManager` (which writes result files)."""

    def save_run_result(self, *args, **kwargs) -> None:
        pass


def official_model(gnn_sf, arrays: Arrays, hidden, lr: float, weight_decay: float,
                   epochs: int):
    """`train_forward.build_node_classification_model` for "GNN_SingleForward-GCN"."""
    return gnn_sf.GNNSingleForward(
        layer_sizes=[arrays.x_NxF.shape[1], *hidden], optimizer_name="Adam",
        optimizer_kwargs={"lr": lr, "weight_decay": weight_decay},
        num_classes=arrays.num_classes, gnn="GCN", args=official_args(epochs))


def official_weights(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(W [in, out], b [out])] of each layer's PyG `GCNConv` (its `lin.weight` is [out, in])."""
    out = []
    for layer in model.layers:
        conv = layer.gnn_layer.gnn
        out.append((conv.lin.weight.detach().numpy().T.copy(), conv.bias.detach().numpy().copy()))
    return out


# --- our side --------------------------------------------------------------------------------

def params_from_weights(weights) -> tuple:
    """Our `sf_stack` parameters holding the given [(W [in, out], b [out])] per layer."""
    return tuple({"module": {"GCNConv_0": {"Linear_0": {"kernel": jnp.asarray(w)},
                                           "bias": jnp.asarray(b)}}} for w, b in weights)


@dataclasses.dataclass(frozen=True)
class Ours:
    """Our SF model on `arrays`, built as `experiments/forward_gnn.py` builds it."""
    arrays: Arrays
    hidden: tuple
    opt: optax.GradientTransformation    # each layer's own copy: `tx(groups)`
    graph: object                         # the virtual-node graph, GCN-normalised
    labels: jax.Array
    masks: dict

    @classmethod
    def build(cls, arrays: Arrays, hidden, lr: float, weight_decay: float) -> "Ours":
        opt = optax.adam(lr)
        if weight_decay:  # torch's Adam(weight_decay): the L2 term joins the gradient
            opt = optax.chain(optax.add_decayed_weights(weight_decay), opt)
        graph = fg.add_virtual_nodes(arrays.senders_E, arrays.receivers_E, arrays.num_nodes,
                                     arrays.labels_N, arrays.train_N, arrays.num_classes)
        masks = {k: jnp.asarray(getattr(arrays, f"{k}_N")) for k in ("train", "val", "test")}
        return cls(arrays, tuple(int(h) for h in hidden), opt, graph,
                   jnp.asarray(arrays.labels_N, jnp.int32), masks)

    def tx(self, groups: int) -> optax.GradientTransformation:
        return local.per_layer(self.opt, groups)

    def stack(self, hidden=None):
        return fg.sf_stack(self.hidden if hidden is None else hidden, self.arrays.num_nodes)

    def input(self, virtual_CxF) -> RowStack:
        """[N + C, F] as the experiment feeds it: the node features kept sparse (`CSRMatrix`)
        over the virtual nodes' dense features."""
        return RowStack(to_csr(np.asarray(self.arrays.x_NxF)),
                        jnp.asarray(virtual_CxF, jnp.float32))

    def batch(self, x_MxF) -> dict:
        return {"x": x_MxF, "context": (self.graph,), "labels": self.labels,
                "mask": self.masks["train"]}

    def init(self, key, x_MxF) -> tuple:
        params, _ = self.stack().init(key, self.batch(x_MxF))
        return params

    def state(self, params: tuple, x_MxF, seed: int = 0) -> TrainState:
        return TrainState.create(params, self.tx(len(params)), jax.random.key(seed),
                                 {"x": x_MxF, "stack": ({},) * len(params)})

    def sequential_step(self, epochs: int):
        """The experiment's step: sequential schedule, `epochs` steps per layer, every layer's
        forward computed in each step."""
        stack = self.stack()
        return local.local_step(lambda p, ms, b, k: stack.losses(p, ms["stack"], b, k),
                                self.tx(len(self.hidden)),
                                batch_fn=lambda s: self.batch(s.model_state["x"]),
                                schedule="sequential", steps_per_layer=epochs)

    def layer_step(self, width: int):
        """One layer alone on its (detached) input in `model_state["x"]`: the official unit."""
        stack = self.stack((width,))
        return local.local_step(lambda p, ms, b, k: stack.losses(p, ms["stack"], b, k),
                                self.tx(1), batch_fn=lambda s: self.batch(s.model_state["x"]))

    def outputs(self, params: tuple, x_MxF, hidden=None) -> list:
        ys, _ = self.stack(hidden).apply(params, ({},) * len(params), self.batch(x_MxF))
        return ys

    def probabilities(self, params: tuple, x_MxF) -> jax.Array:
        return fg.sf_probabilities(self.stack(), params, ({},) * len(params), self.batch(x_MxF),
                                   self.arrays.num_nodes)

    def test_accuracy(self, params: tuple, x_MxF) -> float:
        pred = jnp.argmax(self.probabilities(params, x_MxF), axis=-1)
        test = self.masks["test"]
        return float(100 * jnp.sum((pred == self.labels) & test) / jnp.sum(test))


def run_steps(step, state: TrainState, num_steps: int) -> TrainState:
    """`num_steps` applications of `step` in one `lax.scan` (losses dropped)."""
    return jax.lax.scan(lambda s, _: (step(s)[0], None), state, None, length=num_steps)[0]


def layerwise_fit(ours: Ours, params: tuple, x_MxF, epochs: int, seed: int) -> tuple:
    """The official loop's structure with our pieces: layer l alone (`layer_step`) for `epochs`
    steps on the fixed output of the trained layers below. Same updates as the sequential step
    (which recomputes the frozen layers every step), so the same parameters up to rounding."""
    h, trained = x_MxF, []
    for width, group in zip(ours.hidden, params):
        state = run_steps(ours.layer_step(width), ours.state((group,), h, seed), epochs)
        trained.append(state.params[0])
        h = jax.lax.stop_gradient(ours.outputs(state.params, h, (width,))[0])
    return tuple(trained)


# --- equivalence and timing ------------------------------------------------------------------

def equivalence(gnn_sf, arrays: Arrays, ours: Ours, lr: float, weight_decay: float,
                epochs: int, seed: int) -> dict:
    """Both sides from the official initial weights and virtual-node features, `epochs` per layer:
    max |difference| of the initial layer outputs, the trained weights and the test
    probabilities, and the share of test nodes predicted alike."""
    import torch
    torch.manual_seed(seed)
    model = official_model(gnn_sf, arrays, ours.hidden, lr, weight_decay, epochs)
    start = official_weights(model)
    data = official_data(arrays)
    model.forward_train(data, _NoResults(), 0)      # draws the virtual features, then trains
    virtual = model.graph_augmenter.virtual_node_feats.numpy()
    x = ours.input(virtual)
    params0 = params_from_weights(start)
    # initial outputs: the official layers with the initial weights restored
    trained = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for layer, (w, b) in zip(model.layers, start):
            layer.gnn_layer.gnn.lin.weight.copy_(torch.from_numpy(w.T))
            layer.gnn_layer.gnn.bias.copy_(torch.from_numpy(b))
        aug = model.aug_graph
        h, theirs0 = aug.x, []
        for layer in model.layers:
            h = layer(h, aug.edge_index)
            theirs0.append(h.numpy())
        for p, t in zip(model.parameters(), trained):
            p.copy_(t)
    ours0 = ours.outputs(params0, x)
    final = jax.jit(lambda s: run_steps(ours.sequential_step(epochs), s, epochs * len(ours.hidden))
                    )(ours.state(params0, x, seed))
    theirs_w = official_weights(model)
    ours_w = [(np.asarray(g["module"]["GCNConv_0"]["Linear_0"]["kernel"]),
               np.asarray(g["module"]["GCNConv_0"]["bias"])) for g in final.params]
    official_acc, probs = model.eval_model(eval_mask=data.test_mask)
    theirs_p = sum(p.numpy() for p in probs)
    ours_p = np.asarray(ours.probabilities(final.params, x))[arrays.test_N]
    return {
        "epochs_per_layer": epochs,
        "max_abs_diff_initial_outputs": max(float(np.abs(np.asarray(a) - b).max())
                                            for a, b in zip(ours0, theirs0)),
        "max_abs_initial_output": max(float(np.abs(b).max()) for b in theirs0),
        "max_abs_diff_trained_weights": max(float(np.abs(a - b).max()) for pair in
                                            zip(ours_w, theirs_w) for a, b in zip(*pair)),
        "max_abs_diff_test_probabilities": float(np.abs(ours_p - theirs_p).max()),
        "test_predictions_agree": float(np.mean(ours_p.argmax(1) == theirs_p.argmax(1))),
        "official_test_accuracy": float(official_acc),
        "ours_test_accuracy": ours.test_accuracy(final.params, x),
    }


def _official_layer_epochs(gnn_sf, arrays: Arrays, hidden, lr, weight_decay, seed: int) -> dict:
    """name -> callable running one official SF layer-epoch (layer 1, layer 2)."""
    import torch
    torch.manual_seed(seed)
    model = official_model(gnn_sf, arrays, hidden, lr, weight_decay, 1)
    data = official_data(arrays)
    augmenter = gnn_sf.GraphAugmenter(data=data, append_label=None,
                                      aug_edge_direction="bidirection",
                                      device=torch.device("cpu"))
    aug = augmenter.augment(y=data.y, aug_node_mask=data.train_mask)
    inputs = [aug.x]
    with torch.no_grad():
        for layer in model.layers[:-1]:
            inputs.append(layer(inputs[-1], aug.edge_index).detach())

    def epoch(layer, feats):
        def run():
            layer.forward_train(feats, augmenter, data.train_mask, aug.edge_index, aug.edge_type)
        return run

    model.train()
    return {f"official layer {i + 1}": epoch(layer, feats)
            for i, (layer, feats) in enumerate(zip(model.layers, inputs))}


def _carried(step, state: TrainState):
    """A zero-argument call that applies `step` to the state it carries from call to call."""
    box = [state]

    def run():
        box[0] = step(box[0])[0]
        return box[0].params
    return run


def _our_layer_epochs(ours: Ours, seed: int, epochs: int) -> dict:
    """name -> callable running one of our layer-epochs (each layer alone; the experiment's
    sequential step of the whole stack), each carrying its state from call to call."""
    x = ours.input(fg.virtual_node_features(jax.random.key(seed + 1), ours.arrays.num_classes,
                                            ours.arrays.x_NxF.shape[1]))
    params = ours.init(jax.random.key(seed), x)
    inputs = [x] + [jax.lax.stop_gradient(y) for y in ours.outputs(params, x)[:-1]]
    variants = {}
    for i, (width, h) in enumerate(zip(ours.hidden, inputs)):
        variants[f"jaxnets layer {i + 1}"] = _carried(jax.jit(ours.layer_step(width)),
                                                      ours.state(params[i:i + 1], h, seed))
    variants["jaxnets sequential step"] = _carried(jax.jit(ours.sequential_step(epochs)),
                                                   ours.state(params, x, seed))
    return variants


def time_layer_epochs(gnn_sf, arrays, ours, lr, weight_decay, repeats, seed, epochs) -> dict:
    variants = dict(_official_layer_epochs(gnn_sf, arrays, ours.hidden, lr, weight_decay, seed))
    variants.update(_our_layer_epochs(ours, seed, epochs))
    timings = time_interleaved(variants, repeats, min_sample_s=0.2)
    return {name: t.as_dict() for name, t in timings.items()}


def time_fits(gnn_sf, arrays, ours, lr, weight_decay, epochs, repeats, seed) -> dict:
    """The whole sequential fit on both sides (fresh model / state each call); accuracies."""
    import torch
    data = official_data(arrays)
    official_acc, ours_acc = [], []

    def official_fit():
        model = official_model(gnn_sf, arrays, ours.hidden, lr, weight_decay, epochs)
        model.forward_train(data, _NoResults(), 0)
        official_acc.append(float(model.eval_model(eval_mask=data.test_mask)[0]))

    torch.manual_seed(seed)
    x = ours.input(fg.virtual_node_features(jax.random.key(seed + 1), arrays.num_classes,
                                            arrays.x_NxF.shape[1]))
    start = ours.state(ours.init(jax.random.key(seed), x), x, seed)
    step = ours.sequential_step(epochs)
    fit_scan = jax.jit(lambda s: run_steps(step, s, epochs * len(ours.hidden)))
    fit_layerwise = jax.jit(lambda p: layerwise_fit(ours, p, x, epochs, seed))

    def ours_fit():
        return fit_scan(start).params

    def ours_fit_layerwise():
        return fit_layerwise(start.params)

    timings = time_interleaved({"official fit": official_fit, "jaxnets fit": ours_fit,
                                "jaxnets fit, layer-wise": ours_fit_layerwise}, repeats,
                               min_sample_s=0.0, max_calls=1)
    sequential, layerwise = ours_fit(), ours_fit_layerwise()
    ours_acc.append(ours.test_accuracy(sequential, x))
    t0 = time.perf_counter()   # the experiment's own loop, once, compilation included
    result = fit(start, step, num_steps=epochs * len(ours.hidden), progress=False)
    jax.block_until_ready(result.state.params)
    fit_call_s = time.perf_counter() - t0
    return {"timings": {k: t.as_dict() for k, t in timings.items()},
            "official_test_accuracy": official_acc, "ours_test_accuracy": ours_acc[0],
            "ours_layerwise_test_accuracy": ours.test_accuracy(layerwise, x),
            "max_abs_diff_sequential_vs_layerwise_params": max(
                float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(sequential),
                                                            jax.tree.leaves(layerwise))),
            "ours_fit_loop_call_s_incl_compile": fit_call_s,
            "ours_fit_loop_test_accuracy": ours.test_accuracy(result.state.params, x)}


# --- FF+LA: one layer-epoch on each side -----------------------------------------------------

def _official_ff_layer_epochs(ff, arrays: Arrays, hidden, lr, weight_decay, theta: float,
                              num_negatives: int, seed: int) -> dict:
    """name -> one official FF+LA layer-epoch (`GNNFFLayer.forward_train` on the normalised
    positive and negative inputs, which the official loop computes once per layer)."""
    import torch
    torch.manual_seed(seed)
    args = official_args(1)
    args.ff_theta, args.num_negs = theta, num_negatives
    model = ff.GNNLabelAppendingFF(
        layer_sizes=[arrays.x_NxF.shape[1], *hidden], optimizer_name="Adam",
        optimizer_kwargs={"lr": lr, "weight_decay": weight_decay},
        loss_fn_name="forwardforward_loss_fn", num_classes=arrays.num_classes, gnn="GCN",
        args=args)
    data = official_data(arrays)
    pos, negs = model.label_appender.append_for_train(data.x, data.y, train_mask=data.train_mask,
                                                      num_negs=num_negatives)
    variants = {}

    def epoch(layer, pos, negs):
        def run():
            layer.forward_train(data.train_mask, pos, negs, theta, data.edge_index,
                                data.edge_index)
        return run

    model.train()
    with torch.no_grad():
        for layer in model.layers:
            if layer.requires_training:
                variants[f"official FF+LA layer {len(variants) + 1}"] = epoch(layer, pos, negs)
                pos, negs = layer(pos, data.edge_index), [layer(n, data.edge_index) for n in negs]
            else:  # the row normalisation between the GCN layers
                pos, negs = layer(pos), [layer(n) for n in negs]
    return variants


def _our_ff_layer_epochs(ours: Ours, theta: float, num_negatives: int, seed: int,
                         epochs: int) -> dict:
    """name -> one of our FF+LA layer-epochs, built as `experiments/forward_gnn.py` does: layer 1
    alone (the label-appending layer, x W_x once for the positive and negative copies, fresh wrong
    labels every step), layer 2 alone on a fixed detached layer-1 output, and the experiment's
    sequential step of the whole stack."""
    import jraph
    from jaxnets import graph as graph_lib
    a = ours.arrays
    n, c = a.num_nodes, a.num_classes
    graph = graph_lib.gcn_preprocess(jraph.GraphsTuple(
        nodes=None, edges=None, globals=None, senders=jnp.asarray(a.senders_E, jnp.int32),
        receivers=jnp.asarray(a.receivers_E, jnp.int32), n_node=jnp.asarray([n]),
        n_edge=jnp.asarray([a.senders_E.size])), num_nodes=n, csr=True)  # as the experiment
    x_sparse = graph_lib.to_bcoo(a.x_NxF)
    batches = fg.ff_la_batches(x_sparse, graph, ours.labels, ours.masks["train"], c,
                               num_negatives)
    full = fg.ff_la_stack(ours.hidden, n, theta)
    first = fg.ff_la_input(x_sparse, fg.label_part(ours.labels, ours.masks["train"], c))
    params, frozen = full.init(jax.random.key(seed), {"x": first, "context": (graph,)})
    key = jax.random.key(seed)
    state = TrainState.create(params, ours.tx(len(params)), key, frozen)
    variants = {}
    one = fg.ff_la_stack(ours.hidden[:1], n, theta)
    variants["jaxnets FF+LA layer 1"] = _carried(
        jax.jit(local.local_step(one.losses, ours.tx(1), batch_fn=batches)),
        TrainState.create(params[:1], ours.tx(1), key, frozen[:1]))
    batch = batches(state)
    h1 = jax.lax.stop_gradient(full.apply(params, frozen, batch)[0][0])   # [(1 + K) N, H]
    second = fg.forward_gnn_stack(ours.hidden[1:2], fg.ff_la_loss(n, theta), n)
    variants["jaxnets FF+LA layer 2"] = _carried(
        jax.jit(local.local_step(
            lambda p, ms, b, k: second.losses(p, ({},), b, k), ours.tx(1),
            batch_fn=lambda s: {"x": s.model_state, "context": (graph,),
                                "mask": ours.masks["train"]})),
        TrainState.create(params[1:2], ours.tx(1), key, h1))
    variants["jaxnets FF+LA sequential step"] = _carried(
        jax.jit(local.local_step(full.losses, ours.tx(len(params)), batch_fn=batches,
                                 schedule="sequential", steps_per_layer=epochs)), state)
    return variants


def time_ff_layer_epochs(ff, arrays, ours, lr, weight_decay, theta, num_negatives, repeats,
                         seed, epochs) -> dict:
    variants = _official_ff_layer_epochs(ff, arrays, ours.hidden, lr, weight_decay, theta,
                                         num_negatives, seed)
    variants.update(_our_ff_layer_epochs(ours, theta, num_negatives, seed, epochs))
    timings = time_interleaved(variants, repeats, min_sample_s=0.2)
    return {name: t.as_dict() for name, t in timings.items()}


def _ms(t: dict) -> str:
    return f"{1e3 * t['median_s']:.2f} [{1e3 * t['min_s']:.2f}, {1e3 * t['max_s']:.2f}]"


def main(args: argparse.Namespace) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    official, stand_ins = import_official(args.official)
    gnn_sf = official.sf
    config = experiment.get_config()
    arrays = load_arrays(config)
    lr, hidden = float(config.learning_rate), tuple(config.hidden)
    ours = Ours.build(arrays, hidden, lr, args.weight_decay)
    check = equivalence(gnn_sf, arrays, ours, lr, args.weight_decay, args.check_epochs, args.seed)
    print(f"equivalence ({args.check_epochs} epochs/layer from the same init): "
          f"{json.dumps(check)}", flush=True)
    layer = time_layer_epochs(gnn_sf, arrays, ours, lr, args.weight_decay, args.repeats,
                              args.seed, args.epochs)
    fits = time_fits(gnn_sf, arrays, ours, lr, args.weight_decay, args.epochs, args.repeats,
                     args.seed)
    ff = None
    if not args.skip_ff:
        ff = time_ff_layer_epochs(official.ff, arrays, ours, lr, args.weight_decay,
                                  float(config.ff_theta), int(config.num_negatives),
                                  args.repeats, args.seed, args.epochs)
    load_end = os.getloadavg()[0]
    ratio = lambda o, j: o["median_s"] / j["median_s"]  # noqa: E731
    rows = [(f"layer-epoch, layer {i + 1} alone", layer[f"official layer {i + 1}"],
             layer[f"jaxnets layer {i + 1}"]) for i in range(len(hidden))]
    rows.append((f"whole fit, {args.epochs} epochs x {len(hidden)} layers, sequential step",
                 fits["timings"]["official fit"], fits["timings"]["jaxnets fit"]))
    rows.append((f"whole fit, {args.epochs} epochs x {len(hidden)} layers, layer-wise",
                 fits["timings"]["official fit"], fits["timings"]["jaxnets fit, layer-wise"]))
    print(f"\nSF-GCN on {arrays.name} ({arrays.num_nodes} nodes, {arrays.senders_E.size} arcs), "
          f"hidden {hidden}, {args.threads} thread(s) each side, load (1 min) {load_start:.1f} -> "
          f"{load_end:.1f}; ms, median [min, max] of {args.repeats}; stand-in modules "
          f"{stand_ins or 'none'}")
    print("| unit | official (ms) | jaxnets (ms) | official / jaxnets | jaxnets compile (s) |")
    print("|---|---|---|---|---|")
    for name, o, j in rows:
        print(f"| {name} | {_ms(o)} | {_ms(j)} | {ratio(o, j):.2f}x | {j['compile_s']:.2f} |")
    if ff is not None:
        for i in range(len(hidden)):
            o, j = ff[f"official FF+LA layer {i + 1}"], ff[f"jaxnets FF+LA layer {i + 1}"]
            rows.append((f"FF+LA layer-epoch, layer {i + 1} alone", o, j))
            print(f"| {rows[-1][0]} | {_ms(o)} | {_ms(j)} | {ratio(o, j):.2f}x | "
                  f"{j['compile_s']:.2f} |")
        seq = ff["jaxnets FF+LA sequential step"]
        print(f"jaxnets FF+LA, the experiment's sequential step: {_ms(seq)} ms, compile "
              f"{seq['compile_s']:.2f} s")
    seq = layer["jaxnets sequential step"]
    print(f"jaxnets, the experiment's sequential step (every layer's forward, the active layer's "
          f"backward and update): {_ms(seq)} ms, compile {seq['compile_s']:.2f} s")
    print(f"test accuracy after the fit: official {fits['official_test_accuracy']}, jaxnets "
          f"{fits['ours_test_accuracy']:.2f} (layer-wise {fits['ours_layerwise_test_accuracy']:.2f}"
          f"); jaxnets.train.fit once (compile included) "
          f"{fits['ours_fit_loop_call_s_incl_compile']:.2f} s")
    result = {"dataset": arrays.name, "nodes": arrays.num_nodes, "arcs": int(arrays.senders_E.size),
              "split_sizes": [int(arrays.train_N.sum()), int(arrays.val_N.sum()),
                              int(arrays.test_N.sum())],
              "hidden": list(hidden), "learning_rate": lr, "weight_decay": args.weight_decay,
              "epochs_per_layer": args.epochs, "repeats": args.repeats,
              "machine": machine.describe(args.threads),
              "torch_threads": torch.get_num_threads(), "jax_device": str(jax.devices()[0]),
              "load_average_1min_start": load_start, "load_average_1min_end": load_end,
              "official_path": str(args.official), "stand_in_modules": stand_ins,
              "tqdm_disable": os.environ.get("TQDM_DISABLE"),
              "ff_theta": float(config.ff_theta), "ff_negatives": int(config.num_negatives),
              "equivalence": check, "layer_epoch": layer, "fit": fits, "ff_la_layer_epoch": ff,
              "ratios_official_over_jaxnets": {name: ratio(o, j) for name, o, j in rows}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(ARGS)
