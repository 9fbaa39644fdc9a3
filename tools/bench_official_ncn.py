"""NCN / NCNC side by side with the official code (GraphPKU/NeuralCommonNeighbor), from a checkout.

Issue 12, item 5: the paper's own implementation and ours on the same Cora split. The official
`model.py` (`GCN` with "puregcn", `CN0LinkPredictor` = GAE "cn0", `CNLinkPredictor` = NCN "cn1",
`IncompleteCN1Predictor` = NCNC "incn1cn1"), `utils.py` (`adjoverlap`, `PermIterator`) and the
`train` / `test` functions of `NeighborOverlap.py` are imported from `--official PATH` (a
checkout of https://github.com/GraphPKU/NeuralCommonNeighbor; nothing of it is copied here) and
called directly; the models are built the way its `main()` builds them. The official code needs
torch_sparse and torch_scatter (a clear error names a missing one). Stand-ins, during the import
only and reported: `torch.utils.tensorboard` when tensorboard is absent (`SummaryWriter` is used by
`main()` only), and `ogb.linkproppred` when ogb is absent: `PygLinkPropPredDataset` (downloads;
never called here) and `Evaluator`, replaced by OGB's Hits@K rule (positives strictly above the
K-th highest negative; 1.0 with fewer than K negatives), which `test()` calls for its Hits@K.

Data: Cora from jaxnets' Planetoid loader (`JAXNETS_DATA`) and one 70/10/20 edge split
(`experiments/ncn.py`'s `load_data`, `--seed`); the official `data` / `split_edge` are built from
those same arrays as its `loaddataset` builds them (undirected, coalesced `edge_index`;
`adj_t = SparseTensor.from_edge_index(...).to_symmetric().coalesce()`; dense float features).
Hyper-parameters: the README's Cora command for both sides (`CORA_FLAGS`), ours through
`--set`-style overrides of `experiments/ncn.py`'s config; `--hidden` (default 64, a quick pass;
the README and our experiment use 256) is set on both. Rows: cn0, ncn, ncnc (all completion candidates,
as the README's Cora command and our experiment: `trndeg = tstdeg = -1`) and ncnc-cap (the caps
our experiment used before its ragged completion, 4 in training / 16 in evaluation, on both
sides: the official `--trndeg 4 --tstdeg 16`).

Protocol: one unit is one training epoch (official: `train(model, predictor, data, split_edge,
optimizer, batch_size, maskinput=True)`, which draws its negatives and drops the last partial
batch: floor(M / B) steps; ours: the experiment's jitted epoch, ceil(M / B) steps with the last
one padded) and one evaluation pass (official: `test()` with `split_edge["train"]` cut to two
pairs, so both sides score the same validation and test pairs; the full `test()` also scores
every training positive for a train Hits@K that is not reported). Both sides are timed interleaved
(`tools/bench/timing.py`: each side's first call, ours with compilation, reported apart, then
`--repeats` rounds in rotated order; median, min and max). Threads are equal: the process is
pinned to `--threads` cores (`tools/bench/machine.pin_threads`, which sizes XLA's pool) and
`torch.set_num_threads(threads)`. Equivalence: the official model's weights (at initialisation
and again after training) are copied into our parameter tree and both sides' evaluation logits on
the validation and test pairs are compared (max abs difference; cn0 and NCN agree to float32 /
LayerNorm-epsilon round-off, NCNC's completion differs by design, see experiments/ncn.py).
Comparability: both sides keep training to `--epochs` epochs in total (the timed epochs count)
and report validation / test Hits@K on the same pairs, each from its own initialisation.

Usage (in the venv with torch, torch_geometric, torch_sparse, torch_scatter and jaxnets):
  JAXNETS_DATA=/path/to/data python tools/bench_official_ncn.py --official /path/to/checkout
      [--models cn0 ncn ncnc ncnc-cap] [--hidden 64] [--repeats 3] [--epochs 10] [--threads 1]
      [--seed 0] [--no-eval] [--out runs/bench_official_ncn.json]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import types

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from tools.bench import machine  # noqa: E402  (imports no jax: threads are pinned first)

URL = "https://github.com/GraphPKU/NeuralCommonNeighbor"
OFFICIAL_FILES = ("model.py", "utils.py", "ogbdataset.py", "NeighborOverlap.py")
OFFICIAL_MODULES = ("utils", "model", "ogbdataset", "NeighborOverlap")  # import order
NEEDED_PACKAGES = ("torch", "torch_geometric", "torch_scatter", "torch_sparse")

# The README's Cora command, plus the parseargs defaults it leaves alone (official flag names).
CORA_FLAGS = {
    "xdp": 0.7, "tdp": 0.3, "pt": 0.75, "gnnedp": 0.0, "preedp": 0.4, "predp": 0.05,
    "gnndp": 0.05, "probscale": 4.3, "proboffset": 2.8, "alpha": 1.0, "gnnlr": 0.0043,
    "prelr": 0.0024, "batch_size": 1152, "ln": True, "lnnn": True, "model": "puregcn",
    "hiddim": 256, "mplayers": 1, "testbs": 8192, "maskinput": True, "jk": True,
    "use_xlin": True, "tailact": True,
    # defaults
    "twolayerlin": False, "beta": 1.0, "res": False, "nnlayers": 3, "cndeg": -1, "depth": 1,
    "splitsize": -1, "trndeg": -1, "tstdeg": -1, "learnpt": False, "use_valedges_as_input": False,
}
# What our config (experiments/ncn.py) fixes and the official code makes a flag: the values
# our side implements. `check_supported` rejects flags outside them.
FIXED_ON_OUR_SIDE = {"gnnedp": 0.0, "model": "puregcn", "mplayers": 1, "res": False,
                     "beta": 1.0, "cndeg": -1, "depth": 1, "learnpt": False, "ln": True,
                     "use_valedges_as_input": False}
# official flag -> our config key (experiments/ncn.py get_config)
OUR_KEYS = {"hiddim": "hidden", "batch_size": "batch_size", "gnnlr": "gnnlr", "prelr": "prelr",
            "xdp": "xdp", "gnndp": "gnndp", "tdp": "tdp", "jk": "jk", "predp": "predp",
            "preedp": "preedp", "lnnn": "ln", "use_xlin": "use_xlin", "tailact": "tailact",
            "twolayerlin": "twolayerlin", "alpha": "alpha", "probscale": "probscale",
            "proboffset": "proboffset", "pt": "pt", "trndeg": "train_cap", "tstdeg": "test_cap",
            "maskinput": "mask_input"}
# row -> (our predictor kind, official --predictor, official flag changes)
# The official main() forwards use_xlin / tailact / twolayerlin / beta to cn1 and incn1cn1
# only, so its cn0 runs with its constructor's defaults (tailact False: xijlin ends in a Linear).
VARIANTS = {
    "cn0": ("cn0", "cn0", {"use_xlin": False, "tailact": False}),
    "ncn": ("ncn", "cn1", {}),
    "ncnc": ("ncnc", "incn1cn1", {}),                                 # README: all candidates
    "ncnc-cap": ("ncnc", "incn1cn1", {"trndeg": 4, "tstdeg": 16}),   # the experiment's old caps
}
EVAL_BATCH = 1024  # ours (experiments/ncn.py eval_batch); the official side uses --testbs


# ---------------------------------------------------------------------------------- config ---

def flags_for(variant: str, hidden: int) -> dict:
    """The README Cora flags for one row, at width `hidden`."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown model {variant!r}; choose from {tuple(VARIANTS)}")
    return dict(CORA_FLAGS, hiddim=hidden, **VARIANTS[variant][2])


def check_supported(flags: dict) -> None:
    """Raises ValueError for a flag value our side does not implement (no silent mismatch)."""
    bad = {k: flags[k] for k, v in FIXED_ON_OUR_SIDE.items() if flags[k] != v}
    if bad:
        raise ValueError(f"official flags {bad} have no counterpart in experiments/ncn.py "
                         f"(it implements {FIXED_ON_OUR_SIDE})")


def our_overrides(flags: dict) -> list[str]:
    """`--set`-style overrides that configure experiments/ncn.py like the official flags."""
    check_supported(flags)
    return [f"{OUR_KEYS[k]}={flags[k]!r}" for k in OUR_KEYS]


def our_config(flags: dict):
    """experiments/ncn.py's config with the official flags applied."""
    import experiments.ncn as ncn
    from jaxnets import experiment
    return experiment.build_config(ncn, our_overrides(flags) + [f"eval_batch={EVAL_BATCH}"])


# ------------------------------------------------------------------------------------ data ---

def official_inputs(split, features_NxF: np.ndarray) -> dict:
    """The arrays of the official `data` / `split_edge` for one of our splits (numpy).

    As `ogbdataset.loaddataset` builds them: `edge_index` = both directions of the training
    edges, coalesced (sorted by row then column, duplicates removed); each split's pairs as
    [P, 2]. `eval_train` is the first two training pairs only (see the module docstring; one
    pair would squeeze to a 0-d tensor that `test()` cannot concatenate).
    """
    pos = np.asarray(split.train_pos, np.int64)
    n = int(split.num_nodes)
    both = np.concatenate([pos, pos[:, ::-1]])
    flat = np.unique(both[:, 0] * n + both[:, 1])
    edge_index = np.stack([flat // n, flat % n])
    if features_NxF.shape[0] != n:
        raise ValueError(f"features have {features_NxF.shape[0]} rows, the split {n} nodes")
    x = np.array(features_NxF, np.float32)  # a writable copy, for torch.from_numpy
    return {"x": x, "num_nodes": n, "edge_index": edge_index,
            "train": pos, "eval_train": pos[:2],
            "valid": np.asarray(split.val_pos, np.int64),
            "valid_neg": np.asarray(split.val_neg, np.int64),
            "test": np.asarray(split.test_pos, np.int64),
            "test_neg": np.asarray(split.test_neg, np.int64)}


def official_data(inputs: dict):
    """`(data, split_edge, eval_split_edge)` in the official code's types (torch, SparseTensor)."""
    import torch
    from torch_geometric.data import Data
    from torch_sparse import SparseTensor
    n = inputs["num_nodes"]
    edge_index = torch.from_numpy(inputs["edge_index"])
    data = Data(x=torch.from_numpy(inputs["x"]), edge_index=edge_index)
    data.num_nodes = n
    data.edge_weight = None
    data.adj_t = SparseTensor.from_edge_index(edge_index, sparse_sizes=(n, n))
    data.adj_t = data.adj_t.to_symmetric().coalesce()
    data.max_x = -1
    data.full_adj_t = data.adj_t

    def edges(key):
        return torch.from_numpy(inputs[key])

    split_edge = {"train": {"edge": edges("train")},
                  "valid": {"edge": edges("valid"), "edge_neg": edges("valid_neg")},
                  "test": {"edge": edges("test"), "edge_neg": edges("test_neg")}}
    eval_split = dict(split_edge, train={"edge": edges("eval_train")})
    return data, split_edge, eval_split


# ------------------------------------------------------------------------- official import ---

class OGBHitsEvaluator:
    """Stand-in for `ogb.linkproppred.Evaluator` (Hits@K only, the rule of OGB's `_eval_hits`)."""

    def __init__(self, name: str = "ogbl-ppa"):
        self.name, self.K = name, 100

    def eval(self, input_dict: dict) -> dict:
        pos = np.asarray(input_dict["y_pred_pos"], np.float64).reshape(-1)
        neg = np.asarray(input_dict["y_pred_neg"], np.float64).reshape(-1)
        if neg.size < self.K:
            return {f"hits@{self.K}": 1.0}
        kth = np.sort(neg)[-self.K]
        return {f"hits@{self.K}": float(np.mean(pos > kth))}


def _no_download(*args, **kwargs):
    raise RuntimeError("stand-in PygLinkPropPredDataset: the benchmark builds its data itself")


def _stand_ins() -> dict[str, types.ModuleType]:
    """Modules to stand in for during the import (only those not installed)."""
    out = {}
    if importlib.util.find_spec("tensorboard") is None:
        tb = types.ModuleType("torch.utils.tensorboard")
        tb.SummaryWriter = _no_download
        out["torch.utils.tensorboard"] = tb
    if importlib.util.find_spec("ogb") is None:
        ogb, lpp = types.ModuleType("ogb"), types.ModuleType("ogb.linkproppred")
        lpp.Evaluator, lpp.PygLinkPropPredDataset = OGBHitsEvaluator, _no_download
        ogb.linkproppred = lpp
        out.update({"ogb": ogb, "ogb.linkproppred": lpp})
    return out


def check_checkout(path: pathlib.Path) -> None:
    """FileNotFoundError naming the missing files and where the checkout comes from."""
    missing = [f for f in OFFICIAL_FILES if not (pathlib.Path(path) / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{path} lacks {', '.join(missing)}: pass --official <checkout of "
                                f"{URL}> (git clone {URL})")


def check_packages() -> None:
    """ModuleNotFoundError naming every package the official code needs and this venv lacks."""
    missing = [p for p in NEEDED_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        raise ModuleNotFoundError(
            f"the official NCN code needs {', '.join(missing)} (not installed in "
            f"{sys.prefix}); torch_scatter / torch_sparse build from their sdists: "
            "FORCE_ONLY_CPU=1 pip install --no-build-isolation torch_scatter torch_sparse")


def import_official(path: pathlib.Path) -> tuple[dict[str, types.ModuleType], list[str]]:
    """Imports the official modules from a checkout; returns them by name and the stand-ins.

    They import each other by bare name (`from model import ...`), so the checkout goes first
    on `sys.path` during the import; bare names already in `sys.modules` are set aside and put
    back afterwards, and the official modules are removed from `sys.modules` again.
    """
    path = pathlib.Path(path).resolve()
    check_checkout(path)
    check_packages()
    stand_ins = _stand_ins()
    saved = {n: sys.modules.pop(n) for n in (*OFFICIAL_MODULES, *stand_ins) if n in sys.modules}
    sys.modules.update(stand_ins)
    sys.path.insert(0, str(path))
    modules = {}
    try:
        for name in OFFICIAL_MODULES:
            spec = importlib.util.spec_from_file_location(name, path / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            modules[name] = module
    finally:
        sys.path.remove(str(path))
        for name in (*OFFICIAL_MODULES, *stand_ins):
            sys.modules.pop(name, None)
        sys.modules.update(saved)
    return modules, sorted(stand_ins)


def build_official(modules: dict, official_kind: str, flags: dict, num_features: int):
    """`(model, predictor, optimizer)` as the official `main()` builds them."""
    import functools

    import torch
    m = modules["model"]
    predfn = m.predictor_dict[official_kind]
    if official_kind != "cn0":
        predfn = functools.partial(predfn, cndeg=flags["cndeg"])
    if official_kind in ("cn1", "incn1cn1"):
        predfn = functools.partial(predfn, use_xlin=flags["use_xlin"], tailact=flags["tailact"],
                                   twolayerlin=flags["twolayerlin"], beta=flags["beta"])
    if official_kind == "incn1cn1":
        predfn = functools.partial(
            predfn, depth=flags["depth"], splitsize=flags["splitsize"],
            scale=flags["probscale"], offset=flags["proboffset"], trainresdeg=flags["trndeg"],
            testresdeg=flags["tstdeg"], pt=flags["pt"], learnablept=flags["learnpt"],
            alpha=flags["alpha"])
    h = flags["hiddim"]
    model = m.GCN(num_features, h, h, flags["mplayers"], flags["gnndp"], flags["ln"],
                  flags["res"], -1, flags["model"], flags["jk"], flags["gnnedp"],
                  xdropout=flags["xdp"], taildropout=flags["tdp"], noinputlin=False)
    predictor = predfn(h, h, 1, flags["nnlayers"], flags["predp"], flags["preedp"],
                       flags["lnnn"])
    optimizer = torch.optim.Adam([{"params": model.parameters(), "lr": flags["gnnlr"]},
                                  {"params": predictor.parameters(), "lr": flags["prelr"]}])
    return model, predictor, optimizer


# our parameter path -> official (module attribute, index in its nn.Sequential); Dense kernels
# are the transposed torch weights.
_PARAM_MAP = {("predictor", "xlin1", "Dense_0"): ("xlin", 0),
              ("predictor", "xlin2", "Dense_0"): ("xlin", 3),
              ("predictor", "xlin2", "LayerNorm_0"): ("xlin", 4),
              ("predictor", "xcn1", "Dense_0"): ("xcnlin", 0),
              ("predictor", "xcn2", "Dense_0"): ("xcnlin", 3),
              ("predictor", "xcn2", "LayerNorm_0"): ("xcnlin", 4),
              ("predictor", "xij1", "Dense_0"): ("xijlin", 0),
              ("predictor", "xij1", "LayerNorm_0"): ("xijlin", 1),
              ("predictor", "xij_out"): ("xijlin", 4),
              ("predictor", "xcn_out"): ("xcnlin", 7),
              ("predictor", "lin1", "Dense_0"): ("lin", 0),
              ("predictor", "lin1", "LayerNorm_0"): ("lin", 1),
              ("predictor", "lin_out"): ("lin", 8)}


def official_params_as_ours(model, predictor, params: dict) -> dict:
    """Our parameter tree holding the official model's weights (same shapes, numpy)."""
    def t(tensor):
        return tensor.detach().cpu().numpy()

    out = {"encoder": {"kernel": t(model.xemb[1].weight).T, "bias": t(model.xemb[1].bias),
                       "jk": t(model.jkparams)},
           "predictor": {"beta": t(predictor.beta)}}
    for path, (attr, index) in _PARAM_MAP.items():
        node = params["params"]
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None:  # a layer this predictor does not use (cn0)
            continue
        layer = getattr(predictor, attr)[index]
        leaf = ({"kernel": t(layer.weight).T, "bias": t(layer.bias)} if "kernel" in node
                else {"scale": t(layer.weight), "bias": t(layer.bias)})
        target = out
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = leaf
    return {"params": out}


def logit_check(model, predictor, tdata, kind: str, config, data: dict, params) -> dict:
    """Evaluation logits of both sides with the official model's weights on the val/test pairs.

    Both in evaluation mode (no dropout, no edge dropout, full training graph). The max abs
    difference is float32 round-off (and LayerNorm's epsilon: torch 1e-5, flax 1e-6) where the
    computations agree; NCNC's completion differs by design (see experiments/ncn.py).
    """
    import jax
    import jax.numpy as jnp
    import torch

    import experiments.ncn as ncn
    ours_model = ncn.build_model(config, kind)
    copied = jax.tree.map(jnp.asarray, official_params_as_ours(model, predictor, params))
    if jax.tree.structure(copied) != jax.tree.structure(params):
        raise ValueError("parameter trees differ: "
                         f"{jax.tree.structure(copied)} vs {jax.tree.structure(params)}")
    s = data["split"]
    pairs = np.concatenate([s.val_pos, s.val_neg, s.test_pos, s.test_neg]).astype(np.int32)
    ours = np.asarray(ncn.make_batch_logits(ours_model, ncn._arrays(data))(
        copied, jnp.asarray(pairs), None, None))
    model.eval()
    predictor.eval()
    with torch.no_grad():
        h = model(tdata.x, tdata.adj_t)
        theirs = predictor(h, tdata.adj_t, torch.from_numpy(pairs.T.astype(np.int64)))
    theirs = theirs.reshape(-1).numpy()
    return {"pairs": int(pairs.shape[0]),
            "max_abs_diff": float(np.abs(ours - theirs).max()),
            "max_abs_logit": float(np.abs(theirs).max())}



def official_commit(path: pathlib.Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# ------------------------------------------------------------------------------- benchmark ---

def compare(variant: str, modules: dict, data: dict, inputs: dict, args) -> dict:
    """One row: both sides' epoch (and evaluation) timings and Hits@K after `args.epochs`."""
    import jax
    import torch

    import experiments.ncn as ncn
    from tools.bench.timing import time_interleaved

    kind, official_kind, _ = VARIANTS[variant]
    flags = flags_for(variant, args.hidden)
    config = our_config(flags)
    nb = modules["NeighborOverlap"]
    # official side, seeded as its main() seeds a run
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    tdata, split_edge, eval_split = official_data(inputs)
    model, predictor, optimizer = build_official(modules, official_kind, flags,
                                                 inputs["x"].shape[1])
    evaluator = nb.Evaluator(name="ogbl-ppa")
    # our side
    arrays = ncn._arrays(data)
    init, train, evaluate = ncn.make_functions(config, kind, data["num_nodes"])
    state = list(init(jax.random.PRNGKey(args.seed), arrays))
    check = logit_check(model, predictor, tdata, kind, config, data, state[0])
    epochs = {"official": 0, "jaxnets": 0}
    run_key = jax.random.PRNGKey(args.seed + 1)

    def official_epoch():
        epochs["official"] += 1
        return nb.train(model, predictor, tdata, split_edge, optimizer, flags["batch_size"],
                        flags["maskinput"], [], None)

    def our_epoch():
        state[0], state[1], loss = train(state[0], state[1], run_key, epochs["jaxnets"],
                                         arrays, 1)
        epochs["jaxnets"] += 1
        return loss

    def official_eval():
        return nb.test(model, predictor, tdata, eval_split, evaluator, flags["testbs"],
                       flags["use_valedges_as_input"])[0]

    def our_eval():
        return evaluate(state[0], arrays)

    timing = time_interleaved({"official": official_epoch, "jaxnets": our_epoch}, args.repeats,
                              min_sample_s=0.0, max_calls=1)
    while epochs["official"] < args.epochs:
        official_epoch()
    while epochs["jaxnets"] < args.epochs:
        jax.block_until_ready(our_epoch())
    eval_timing = None
    if args.eval:
        eval_timing = time_interleaved({"official": official_eval, "jaxnets": our_eval},
                                       args.repeats, min_sample_s=0.0, max_calls=1)
    theirs, ours = official_eval(), jax.device_get(our_eval())
    m = inputs["train"].shape[0]
    b = flags["batch_size"]
    steps = {"official": m // b, "jaxnets": -(-m // b)}
    row = {"model": variant, "official_predictor": official_kind, "our_kind": kind,
           "trndeg": flags["trndeg"], "tstdeg": flags["tstdeg"],
           "epoch": {k: v.as_dict() for k, v in timing.items()},
           "official_over_jax_epoch": timing["official"].median_s / timing["jaxnets"].median_s,
           "steps_per_epoch": steps,
           "official_over_jax_step": (timing["official"].median_s / steps["official"])
           / (timing["jaxnets"].median_s / steps["jaxnets"]),
           "epochs_trained": dict(epochs), "logit_check_official_init": check,
           "logit_check_official_trained": logit_check(model, predictor, tdata, kind, config,
                                                       data, state[0]),
           "hits": {"official": {f"{s}_hits@{k}": float(theirs[f"Hits@{k}"][i])
                                 for k in (20, 50, 100) for i, s in ((1, "val"), (2, "test"))},
                    "jaxnets": {k: float(v) for k, v in ours.items()}}}
    if eval_timing is not None:
        row["eval"] = {k: v.as_dict() for k, v in eval_timing.items()}
        row["official_over_jax_eval"] = (eval_timing["official"].median_s
                                         / eval_timing["jaxnets"].median_s)
    return row


def _fmt(t: dict) -> str:
    return f"{t['median_s']:.3f} ({t['min_s']:.3f}-{t['max_s']:.3f})"


def markdown(rows: list[dict], load: float, threads: int) -> str:
    """The rows as a markdown table (seconds, median (min-max) of the rounds)."""
    lines = [f"1-min load average {load:.2f}; {threads} thread(s) each side; seconds, median "
             "(min-max)", "",
             "| model | official epoch | jaxnets epoch | official / jaxnets | per step | "
             "jaxnets compile + 1st | official eval | jaxnets eval | eval ratio | "
             "val / test Hits@100 official | val / test Hits@100 jaxnets | epochs | "
             "logit diff, official init (max abs logit) | same, official trained |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ev = r.get("eval")
        o, j = r["hits"]["official"], r["hits"]["jaxnets"]
        cells = [r["model"], _fmt(r["epoch"]["official"]), _fmt(r["epoch"]["jaxnets"]),
                 f"{r['official_over_jax_epoch']:.2f}", f"{r['official_over_jax_step']:.2f}",
                 f"{r['epoch']['jaxnets']['compile_s']:.1f}",
                 _fmt(ev["official"]) if ev else "-", _fmt(ev["jaxnets"]) if ev else "-",
                 f"{r['official_over_jax_eval']:.2f}" if ev else "-",
                 f"{100 * o['val_hits@100']:.1f} / {100 * o['test_hits@100']:.1f}",
                 f"{100 * j['val_hits@100']:.1f} / {100 * j['test_hits@100']:.1f}",
                 str(r["epochs_trained"]["official"]),
                 f"{r['logit_check_official_init']['max_abs_diff']:.1e} "
                 f"({r['logit_check_official_init']['max_abs_logit']:.2f})",
                 f"{r['logit_check_official_trained']['max_abs_diff']:.1e} "
                 f"({r['logit_check_official_trained']['max_abs_logit']:.2f})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", type=pathlib.Path, required=True,
                        help=f"a checkout of {URL}")
    parser.add_argument("--models", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs each side trains in total (timed ones included) before the "
                             "Hits@K check")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-eval", dest="eval", action="store_false",
                        help="skip timing the evaluation pass")
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path("runs/bench_official_ncn.json"))
    args = parser.parse_args(argv)
    for name in ("repeats", "hidden", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.epochs < 0:
        parser.error(f"--epochs must be >= 0, got {args.epochs}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    check_checkout(args.official)
    check_packages()
    load_at_start = os.getloadavg()[0]
    cores = machine.pin_threads(args.threads)  # before jax (XLA's pool) and torch start
    import torch
    torch.set_num_threads(args.threads)
    import jax

    import experiments.ncn as ncn
    from jaxnets import experiment
    modules, stand_ins = import_official(args.official)
    data = ncn.load_data(experiment.build_config(ncn), args.seed)
    inputs = official_inputs(data["split"], np.asarray(data["x"].todense()))
    rows = []
    for variant in args.models:
        rows.append(compare(variant, modules, data, inputs, args))
        print(f"{variant}: {json.dumps(rows[-1])}", flush=True)
    info = machine.describe(args.threads)
    info["load_average_1min_at_start"] = load_at_start
    info["load_average_1min_at_end"] = info.pop("load_average_1min")
    info["versions"].update({p: machine.version(p.replace("_", "-")) or machine.version(p)
                             for p in ("torch_sparse", "torch_scatter", "ogb")})
    result = {"machine": info, "cores": cores, "device": str(jax.devices()[0]),
              "official_path": str(args.official),
              "official_commit": official_commit(args.official),
              "stand_in_modules": stand_ins, "seed": args.seed, "hidden": args.hidden,
              "repeats": args.repeats, "epochs": args.epochs, "eval_batch_jaxnets": EVAL_BATCH,
              "cora_flags": CORA_FLAGS, "rows": rows}
    print(markdown(rows, info["load_average_1min_at_end"], args.threads))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
