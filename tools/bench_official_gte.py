"""GTE side by side with the official code (HKUDS/GTE), run from a checkout.

Issue 12, item 5: the paper's own implementation and ours on the same interaction matrices.
The official code is a script, `main.py` (argparse in `parser.py` at import, `utils.py` for the
sparse conversion and Recall/NDCG), with the whole algorithm at module level; it has no
function to import. So this driver reads `main.py` from `--official PATH` (a checkout of
https://github.com/HKUDS/GTE; nothing of it is copied here) and cuts its source at two of its
own lines into three sections, run verbatim with `exec` in one namespace inside this process:
load (up to `start_time = time.time()`: unpickles `data/<name>/{train,test}_mat.pkl`, builds the
test labels), compute (from there to `pred = user_rep.cpu().numpy()`: one-hot items, zero users,
k rounds of `torch.sparse.mm`, a dense users x items score matrix) and evaluate (the rest: per
batch of 256 users, training items zeroed, argsort, `utils.metrics` at 20 and 40). `sys.argv`
is set to `main.py --data NAME --k K --device cpu` while `parser.py` is imported, the checkout is
on `sys.path` and the working directory is the folder holding `data/NAME` during `exec` only;
its prints are captured. Timing inside one process avoids charging Python's and torch's start-up
to the official side; nothing stands in for any of its imports (numpy, pickle, torch, time).

Ours: `jaxnets.models.gte` jitted exactly as `experiments/gte.py`'s `run_gte` does
(`gte_all_scores`: the sparse route, `gte_batch_scores_sparse` over user batches of 256 under
`lax.map`; R's two CSR orientations built on the host inside the timed call), compiled
ahead of time (`jit(...).lower(...).compile()`, reported as compile time apart), and its
evaluation `jaxnets.metrics.topn.evaluate_topn_targets` (training items excluded, Recall and
NDCG at 20 and 40), compiled the same way.

Data: ML-100K exactly as `experiments/gte.py` loads it (`get_config()`: ratings >= 3, seeded
random 80/10/10 split), written to a temporary folder in the official format (scipy COO
pickles: train = our training pairs, test = our test pairs; the validation pairs are in
neither, so the official evaluation does not mask them, and neither does our evaluation here;
the experiment's own protocol, training + validation masked, is reported apart); and the
checkout's `data/amazon_beauty` (22,363 users x 12,101 items), read by the official code from
the checkout and by us from the same pickles.

Protocol: same matrices, k = 3 (the official default, the experiment's `k`), threads pinned
equal on both sides (`tools/bench/machine.pin_threads`: CPU affinity and XLA's flags, and
`torch.set_num_threads`). Units timed: compute = every user's scores from the training pairs;
evaluate = Recall/NDCG@20/40 of every user from the score matrix. ML-100K: `--repeats` rounds
after one warm-up call per variant (`tools/bench/timing.time_interleaved`: rotated order,
median/min/max). Amazon-Beauty: `--beauty-repeats` rounds (default 1; the official call takes
~12 s on one core) in rotated order with no warm-up call on either side unless
`--beauty-warmup` (our side is compiled ahead of time, so no sample includes compilation). Equivalence: the max abs difference of the two score matrices over all
users (both are integer path counts in float32), the official evaluation run on both score
matrices (must agree exactly), and our top-n metrics, which average over users where the
official averages per-batch means, and break ties differently (the official zeroes training
items' scores and argsorts; ours excludes them and `lax.top_k` puts the lower item id first;
GTE's integer scores tie often: users with a tie at the cut-off are counted,
`users_reaching_ties`). So the official `utils.metrics` is also averaged over users
(`official_metrics_user_mean`), and over users on a ranking that breaks ties as ours
(`..._our_ties`), which must match our metrics to float rounding (`metrics_max_abs_diff`).
torch 2.x still runs the official `torch.sparse.FloatTensor` (with a deprecation warning).

Usage: JAXNETS_DATA=/work/shared/data python tools/bench_official_gte.py --official PATH
       [--datasets ml-100k amazon_beauty] [--repeats 3] [--beauty-repeats 1] [--beauty-warmup]
       [--threads 1] [--k 3] [--out runs/bench_official_gte.json]
(in an environment with torch, e.g. the `bench` extra.)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pathlib
import pickle
import statistics
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `tools.bench` importable
    sys.path.insert(0, str(REPO))

from tools.bench import machine  # noqa: E402  (imports no jax, so threads can be pinned first)

URL = "https://github.com/HKUDS/GTE"
OFFICIAL_FILES = ("main.py", "parser.py", "utils.py")
COMPUTE_START = "start_time = time.time()"        # first line of main.py's compute section
COMPUTE_END = "pred = user_rep.cpu().numpy()"     # last line of it
DATASETS = ("ml-100k", "amazon_beauty")
BATCH = 256        # users per batch: the official evaluation's `batch_user`, our `gte_batch`
KS = (20, 40)      # the official code's cut-offs


def check_checkout(path: pathlib.Path) -> pathlib.Path:
    """The checkout's folder if it holds main.py, parser.py and utils.py, else FileNotFoundError."""
    path = pathlib.Path(path)
    missing = [name for name in OFFICIAL_FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{', '.join(str(path / m) for m in missing)} not found: pass "
                                f"--official <checkout of {URL}>")
    return path


def split_main(source: str) -> tuple[str, str, str]:
    """main.py's source cut into (load, compute, evaluate) at whole lines; the line numbers of
    each section are kept (by blank-line padding) so tracebacks point into the official file."""
    lines = source.splitlines(keepends=True)
    stripped = [line.strip() for line in lines]
    for marker in (COMPUTE_START, COMPUTE_END):
        if stripped.count(marker) != 1:
            raise ValueError(f"main.py must contain the line {marker!r} exactly once (found "
                             f"{stripped.count(marker)}): not the expected {URL} main.py")
    start, end = stripped.index(COMPUTE_START), stripped.index(COMPUTE_END) + 1
    if start >= end:
        raise ValueError(f"{COMPUTE_START!r} must come before {COMPUTE_END!r} in main.py")
    pad = lambda n: "\n" * n
    return ("".join(lines[:start]), pad(start) + "".join(lines[start:end]),
            pad(end) + "".join(lines[end:]))


def pairs_from_matrix(matrix) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) int32, sorted, of a binary interaction matrix with no duplicate entries.

    The official code coalesces duplicates by summing them, ours treats the pairs as a set, so
    anything but distinct ones would make the two compute different things: ValueError."""
    coo = sp.coo_matrix(matrix)
    if coo.nnz and not np.all(coo.data == 1):
        raise ValueError("interaction matrix must be binary (every stored value 1)")
    keys = coo.row.astype(np.int64) * coo.shape[1] + coo.col
    unique = np.unique(keys)
    if unique.size != keys.size:
        raise ValueError(f"interaction matrix has {keys.size - unique.size} duplicate entries")
    return (unique // coo.shape[1]).astype(np.int32), (unique % coo.shape[1]).astype(np.int32)


def write_official_data(root: pathlib.Path, name: str, train: tuple, test: tuple,
                        num_users: int, num_items: int) -> pathlib.Path:
    """Writes `root/data/<name>/{train,test}_mat.pkl` (scipy COO, float64 ones, as in the
    checkout's data) from (users, items) pairs; returns `root`, the folder to run main.py in."""
    folder = pathlib.Path(root) / "data" / name
    folder.mkdir(parents=True, exist_ok=True)
    for part, (users, items) in (("train", train), ("test", test)):
        matrix = sp.coo_matrix((np.ones(len(users)), (np.asarray(users), np.asarray(items))),
                               shape=(num_users, num_items))
        with open(folder / f"{part}_mat.pkl", "wb") as f:
            pickle.dump(matrix, f)
    return pathlib.Path(root)


def read_official_data(root: pathlib.Path, name: str) -> dict:
    """The pairs of `root/data/<name>`'s pickles, for our side: train/test (users, items),
    num_users and num_items (the training matrix's shape, as the official code uses)."""
    folder = pathlib.Path(root) / "data" / name
    with open(folder / "train_mat.pkl", "rb") as f:
        train = pickle.load(f)
    with open(folder / "test_mat.pkl", "rb") as f:
        test = pickle.load(f)
    num_users, num_items = train.shape
    test_u, test_i = pairs_from_matrix(test)
    if test.shape[0] != num_users or (test_i.size and test_i.max() >= num_items):
        raise ValueError(f"{name}: test matrix {test.shape} does not fit the training matrix "
                         f"{train.shape}")
    return {"train": pairs_from_matrix(train), "test": (test_u, test_i),
            "num_users": int(num_users), "num_items": int(num_items)}


def movielens_pairs() -> dict:
    """ML-100K as `experiments/gte.py` loads it (its `get_config()`), in `read_official_data`'s
    form, plus `known`, the training + validation pairs its test evaluation excludes."""
    from experiments import gte as experiment
    from jaxnets.data.recsys import movielens_100k_interactions

    c = experiment.get_config()
    inter = movielens_100k_interactions(
        max_users=c.max_users, min_rating=c.min_rating, split=c.split, seed=c.split_seed,
        val_fraction=c.val_fraction, test_fraction=c.test_fraction)
    train_u, train_i = inter.pairs("train")
    val_u, val_i = inter.pairs("val")
    return {"train": (train_u, train_i), "test": inter.pairs("test"),
            "known": (np.concatenate([train_u, val_u]), np.concatenate([train_i, val_i])),
            "num_users": inter.num_users, "num_items": inter.num_items, "name": inter.name}


class Official:
    """main.py's three sections, run with `exec` in the checkout's import context."""

    def __init__(self, checkout: pathlib.Path):
        self.checkout = check_checkout(checkout)
        self.main_path = str(self.checkout / "main.py")
        sections = split_main((self.checkout / "main.py").read_text())
        self.load_code, self.compute_code, self.evaluate_code = (
            compile(s, self.main_path, "exec") for s in sections)

    @contextlib.contextmanager
    def _context(self, data_root: pathlib.Path, argv: list[str]):
        """Checkout on sys.path, its own `parser`/`utils` modules, argv, cwd; all restored."""
        saved = {name: sys.modules.pop(name, None) for name in ("parser", "utils")}
        saved_argv, saved_cwd = sys.argv, os.getcwd()
        sys.path.insert(0, str(self.checkout))
        sys.argv = [self.main_path, *argv]
        os.chdir(data_root)
        try:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                yield out
        finally:
            os.chdir(saved_cwd)
            sys.argv = saved_argv
            sys.path.remove(str(self.checkout))
            for name, module in saved.items():
                sys.modules.pop(name, None)
                if module is not None:
                    sys.modules[name] = module

    def load(self, data_root: pathlib.Path, name: str, k: int) -> dict:
        """Runs the load section (imports, args, pickles, test labels); returns its namespace."""
        namespace = {"__name__": "official_gte_main", "__file__": self.main_path}
        with self._context(data_root, ["--data", name, "--k", str(k), "--device", "cpu"]):
            exec(self.load_code, namespace)
        return namespace

    def compute(self, loaded: dict) -> dict:
        """The compute section in a copy of the loaded namespace; its namespace (`pred`)."""
        namespace = dict(loaded)
        with contextlib.redirect_stdout(io.StringIO()):
            exec(self.compute_code, namespace)
        return namespace

    def evaluate(self, loaded: dict, pred: np.ndarray) -> dict:
        """The evaluate section on the score matrix `pred`: Recall/NDCG@20/40 as it prints them
        (mean over user batches of the per-batch means)."""
        namespace = dict(loaded, pred=pred, start_time=time.time())   # it prints the total
        with contextlib.redirect_stdout(io.StringIO()):
            exec(self.evaluate_code, namespace)
        n = namespace["batch_no"]
        return {f"{m}@{k}": float(namespace[f"all_{m}_{k}"] / n)
                for m in ("recall", "ndcg") for k in KS}

    @staticmethod
    def user_mean(loaded: dict, pred: np.ndarray, stable: bool = False) -> dict:
        """The official `utils.metrics` in the official batches, averaged over users as ours is
        (each batch's mean weighted by its users with a test item), not over batch means.

        Ranking: the official one (training items' scores zeroed, `argsort`), or with
        `stable` ours (training items never ranked, ties to the lower item id, as `lax.top_k`
        breaks them): then it must match our metrics to float rounding."""
        labels, metrics = loaded["test_labels"], loaded["metrics"]
        mask = (loaded["train"] != 0).tocsr()
        sums, count = {f"{m}@{k}": 0.0 for m in ("recall", "ndcg") for k in KS}, 0
        for start in range(0, len(labels), BATCH):
            uids = np.arange(start, min(start + BATCH, len(labels)))
            n = sum(len(labels[u]) > 0 for u in uids)
            if not n:
                continue
            masked = mask[uids].toarray()
            if stable:
                ranking = np.argsort(-np.where(masked > 0, -np.inf, pred[uids]), kind="stable")
            else:
                ranking = (-(pred[uids] * (1 - masked))).argsort()
            for k in KS:
                recall, ndcg = metrics(uids, ranking, k, labels)
                sums[f"recall@{k}"] += recall * n
                sums[f"ndcg@{k}"] += ndcg * n
            count += n
        return {key: float(v / count) for key, v in sums.items()}


def jax_functions(data: dict, k: int, masked: tuple | None = None):
    """(scores, evaluate) jitted: `experiments/gte.py`'s scoring and our top-n metrics with
    `masked` pairs (default: the training pairs) excluded. `scores(props, users_P, items_P)`
    (props from `gte_propagations`) returns [batches, BATCH, I]; `evaluate(scores)` a dict of
    Recall/NDCG@20/40."""
    import jax
    import jax.numpy as jnp

    from jaxnets.metrics import topn
    from jaxnets.models import gte as gte_lib

    u, i = data["num_users"], data["num_items"]

    @jax.jit
    def all_scores(props, users_P, items_P):   # as experiments/gte.py's run_gte
        return gte_lib.gte_all_scores(props, users_P, items_P, u, BATCH, k)

    as_j = lambda a: jnp.asarray(a, jnp.int32)
    xu, xi = masked if masked is not None else data["train"]
    targets = {"test": (*map(as_j, data["test"]), as_j(xu), as_j(xi))}

    @jax.jit
    def evaluate(scores):
        s = scores.reshape(-1, i)
        out = topn.evaluate_topn_targets(lambda users: s[users], u, i, targets, KS, BATCH)
        return {f"{m}@{c}": out[f"test/{m}@{c}"] for m in ("recall", "ndcg") for c in KS}

    return all_scores, evaluate


def aot(fn, *args) -> tuple[object, float]:
    """(the compiled executable of jitted `fn` for `args`, seconds to lower and compile)."""
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    return compiled, time.perf_counter() - start


def measure(variants: dict, rounds: int, warmup: bool) -> dict:
    """name -> {first_call_s, median_s, min_s, max_s, calls_per_sample, rounds}. With a warm-up:
    `tools/bench/timing.time_interleaved` (first call apart, rotated rounds). Without: `rounds`
    single calls per variant in the same rotated order, first_call_s None."""
    import jax
    if warmup:
        from tools.bench.timing import time_interleaved
        timings = time_interleaved(variants, rounds)
        return {name: {"first_call_s": t.compile_s, **{key: v for key, v in t.as_dict().items()
                                                          if key != "compile_s"}}
                for name, t in timings.items()}
    samples = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            jax.block_until_ready(variants[name]())
            samples[name].append(time.perf_counter() - start)
    return {name: {"first_call_s": None, "median_s": statistics.median(s), "min_s": min(s),
                   "max_s": max(s), "calls_per_sample": 1, "rounds": rounds}
            for name, s in samples.items()}


def max_abs_diff(a_UxI: np.ndarray, b_UxI: np.ndarray, chunk: int = 4096) -> float:
    """max |a - b| over two equal-shape matrices, `chunk` rows at a time (bounded temporaries)."""
    if a_UxI.shape != b_UxI.shape:
        raise ValueError(f"score matrices differ in shape: {a_UxI.shape} vs {b_UxI.shape}")
    return max((float(np.abs(a_UxI[s:s + chunk] - b_UxI[s:s + chunk]).max())
                for s in range(0, a_UxI.shape[0], chunk)), default=0.0)


def tied_users(loaded: dict, pred: np.ndarray) -> dict:
    """How many users with a test item have a tie at a cut-off K: their K-th and (K+1)-th best
    scores outside their training items are equal, so which items make their top K depends on
    tie-breaking (the official `argsort` and our `top_k` break ties differently; GTE's scores
    are integer path counts, so ties are common)."""
    labels, mask = loaded["test_labels"], (loaded["train"] != 0).tocsr()
    evaluated = np.array([len(label) > 0 for label in labels])
    tied = {k: [] for k in KS}
    for s in range(0, len(labels), BATCH):
        scores = np.where(mask[s:s + BATCH].toarray() > 0, -np.inf, pred[s:s + BATCH])
        best = -np.sort(-scores, axis=1)[:, :max(KS) + 1]
        for k in KS:
            tied[k].append(best[:, k - 1] == best[:, k])
    return {"evaluated_users": int(evaluated.sum()),
            **{f"tie_at_{k}": int((evaluated & np.concatenate(tied[k])).sum()) for k in KS}}


def compare(official: Official, name: str, data: dict, data_root: pathlib.Path, k: int,
            rounds: int, warmup: bool, log=print) -> dict:
    """One dataset: both sides' compute and evaluate timed, scores and metrics compared."""
    import jax.numpy as jnp

    from jaxnets.models import gte as gte_lib

    u, i = data["num_users"], data["num_items"]
    start = time.perf_counter()
    loaded = official.load(data_root, name, k)
    load_s = time.perf_counter() - start
    if loaded["train"].shape != (u, i):
        raise ValueError(f"{name}: the official side read {loaded['train'].shape}, ours {(u, i)}")
    all_scores, evaluate = jax_functions(data, k)
    users_P, items_P = (jnp.asarray(a, jnp.int32) for a in data["train"])
    props = gte_lib.gte_propagations(*data["train"], u, i)
    scores_exe, scores_compile_s = aot(all_scores, props, users_P, items_P)
    log(f"  {name}: {u} users x {i} items, {len(data['train'][0])} training pairs; "
        f"jaxnets compute compiled in {scores_compile_s:.2f} s")
    last = {}

    def ours():   # building R's CSR orientations on the host is part of our compute
        last["jax"] = scores_exe(gte_lib.gte_propagations(*data["train"], u, i), users_P, items_P)
        return last["jax"]

    def theirs():
        last["official"] = official.compute(loaded)["pred"]
        return last["official"]

    compute = measure({"official": theirs, "jaxnets": ours}, rounds, warmup)
    ours_UxI = np.asarray(last["jax"]).reshape(-1, i)[:u]
    theirs_UxI = last["official"]
    log(f"  compute: official {compute['official']['median_s']:.3f} s, jaxnets "
        f"{compute['jaxnets']['median_s']:.3f} s")
    diff = max_abs_diff(ours_UxI, theirs_UxI)
    evaluate_exe, evaluate_compile_s = aot(evaluate, last["jax"])
    jax_scores = last["jax"]
    metrics = {}

    def ours_evaluate():
        metrics["jaxnets"] = evaluate_exe(jax_scores)
        return metrics["jaxnets"]

    def theirs_evaluate():
        metrics["official"] = official.evaluate(loaded, theirs_UxI)
        return metrics["official"]

    evaluation = measure({"official": theirs_evaluate, "jaxnets": ours_evaluate}, rounds, warmup)
    metrics["jaxnets"] = {key: float(v) for key, v in metrics["jaxnets"].items()}
    metrics["official_evaluate_on_jaxnets_scores"] = official.evaluate(loaded, ours_UxI)
    metrics["official_metrics_user_mean"] = official.user_mean(loaded, theirs_UxI)
    metrics["official_metrics_user_mean_our_ties"] = official.user_mean(loaded, theirs_UxI,
                                                                        stable=True)
    row = {
        "dataset": name, "users": u, "items": i, "train_pairs": int(len(data["train"][0])),
        "test_pairs": int(len(data["test"][0])), "k": k, "batch_users": BATCH,
        "rounds": rounds, "warmup": warmup, "official_load_s": load_s,
        "official": {"compute": compute["official"], "evaluate": evaluation["official"]},
        "jaxnets": {"compute": compute["jaxnets"], "evaluate": evaluation["jaxnets"],
                    "compile_s": {"compute": scores_compile_s, "evaluate": evaluate_compile_s}},
        "official_over_jax": {
            part: t["official"]["median_s"] / t["jaxnets"]["median_s"]
            for part, t in (("compute", compute), ("evaluate", evaluation))},
        "max_abs_diff": diff, "max_abs_score": float(np.abs(theirs_UxI).max()),
        "metrics": metrics,
        "users_reaching_ties": tied_users(loaded, theirs_UxI),
        "metrics_max_abs_diff": {   # same averaging and ties: official metrics vs ours
            key: abs(v - metrics["jaxnets"][key])
            for key, v in metrics["official_metrics_user_mean_our_ties"].items()},
    }
    if "known" in data:   # experiments/gte.py's own test protocol: training + validation masked
        _, evaluate_known = jax_functions(data, k, masked=data["known"])
        row["experiment_protocol_metrics"] = {
            key: float(v) for key, v in evaluate_known(jax_scores).items()}
    last.clear()   # the two score matrices (1 GB each on Amazon-Beauty)
    return row


def _fmt(t: dict) -> str:
    return f"{t['median_s']:.3g} [{t['min_s']:.3g}-{t['max_s']:.3g}]"


def markdown(rows: list[dict], load: float) -> str:
    """The timing table and the metrics table of `rows`."""
    out = [f"Seconds, median [min-max]; 1-min load average {load:.2f}.", "",
           "| dataset | users x items | train pairs | part | official (s) | jaxnets (s) | "
           "official / jaxnets | jaxnets compile (s) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for part in ("compute", "evaluate"):
            out.append(f"| {r['dataset']} | {r['users']} x {r['items']} | {r['train_pairs']} | "
                       f"{part} | {_fmt(r['official'][part])} | {_fmt(r['jaxnets'][part])} | "
                       f"{r['official_over_jax'][part]:.3g} | "
                       f"{r['jaxnets']['compile_s'][part]:.2f} |")
    out += ["", "| dataset | scores: max abs diff (max score) | metrics from | Recall@20 | "
            "NDCG@20 | Recall@40 | NDCG@40 |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        for side, m in r["metrics"].items():
            out.append(f"| {r['dataset']} | {r['max_abs_diff']:.3g} ({r['max_abs_score']:.0f}) | "
                       f"{side} | {m['recall@20']:.4f} | {m['ndcg@20']:.4f} | "
                       f"{m['recall@40']:.4f} | {m['ndcg@40']:.4f} |")
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", type=pathlib.Path, required=True,
                        help=f"a checkout of {URL}")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--repeats", type=int, default=3, help="ML-100K rounds (after warm-up)")
    parser.add_argument("--beauty-repeats", type=int, default=1, help="Amazon-Beauty rounds")
    parser.add_argument("--beauty-warmup", action="store_true",
                        help="one warm-up call per side before the Amazon-Beauty rounds")
    parser.add_argument("--threads", type=int, default=1, help="threads on each side")
    parser.add_argument("--k", type=int, default=3, help="GTE rounds (official default 3)")
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path("runs/bench_official_gte.json"))
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.beauty_repeats < 1 or args.k < 1:
        parser.error("--repeats, --beauty-repeats and --k must be >= 1")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    official = Official(args.official)            # fails before anything is pinned or loaded
    if "amazon_beauty" in args.datasets and not (
            args.official / "data" / "amazon_beauty" / "train_mat.pkl").is_file():
        raise FileNotFoundError(f"{args.official}/data/amazon_beauty/train_mat.pkl not found "
                                f"(the checkout of {URL} ships it)")
    load_at_start = os.getloadavg()[0]
    cores = machine.pin_threads(args.threads)     # before jax and torch are imported
    import jax
    import torch
    torch.set_num_threads(args.threads)
    print(f"GTE, official vs jaxnets: {args.threads} thread(s) each (cores {cores}), torch "
          f"{torch.__version__}, jax {jax.__version__}, load {load_at_start:.2f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gte_official_data_") as tmp:
        for name in args.datasets:
            if name == "ml-100k":
                data = movielens_pairs()
                root = write_official_data(pathlib.Path(tmp), name, data["train"], data["test"],
                                           data["num_users"], data["num_items"])
                rows.append(compare(official, name, data, root, args.k, args.repeats, True))
            else:
                data = read_official_data(args.official, name)
                rows.append(compare(official, name, data, args.official, args.k,
                                    args.beauty_repeats, args.beauty_warmup))
    described = machine.describe(args.threads)
    print(markdown(rows, described["load_average_1min"]))
    result = {"machine": described, "load_average_1min_at_start": load_at_start,
              "device": str(jax.devices()[0]), "official_path": str(args.official),
              "stand_in_modules": [], "command": " ".join(sys.argv), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
