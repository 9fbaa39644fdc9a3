"""tools/bench_official_gte.py: the driver's own pieces, without torch and without the checkout.

The official HKUDS/GTE code is not here (and is never copied): a toy stand-in checkout written
by the tests (numpy only, the same file names, argparse at import and the two marker lines
the driver cuts `main.py` at) exercises the exec plumbing; our side is checked against GTE's
closed form ``3R + R R^T R``.
"""
import importlib.util
import os
import pathlib
import pickle
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from jaxnets.models.gte import gte_closed_form

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def driver():
    spec = importlib.util.spec_from_file_location(
        "bench_official_gte", REPO / "tools" / "bench_official_gte.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOY_PARSER = """\
import argparse
parser = argparse.ArgumentParser()
parser.add_argument('--k', default=3, type=int)
parser.add_argument('--data', default='none', type=str)
parser.add_argument('--device', default='cpu', type=str)
args = parser.parse_args()
"""
TOY_UTILS = """\
import numpy as np

class Dense:
    def __init__(self, a):
        self.a = a
    def cpu(self):
        return self
    def numpy(self):
        return self.a

def metrics(uids, predictions, topk, test_labels):
    hits = [len(set(test_labels[u]) & set(predictions[j][:topk])) / len(test_labels[u])
            for j, u in enumerate(uids) if test_labels[u]]
    return float(np.mean(hits)), 0.5
"""
TOY_MAIN = """\
import pickle
import time
import numpy as np
from parser import args
from utils import Dense, metrics
with open('data/' + args.data + '/train_mat.pkl', 'rb') as f:
    train = pickle.load(f)
with open('data/' + args.data + '/test_mat.pkl', 'rb') as f:
    test = pickle.load(f)
test_labels = [list(test.col[test.row == u]) for u in range(test.shape[0])]
start_time = time.time()
r = train.toarray().astype(np.float32)
users, items = np.zeros_like(r), np.eye(r.shape[1], dtype=np.float32)
for _ in range(args.k):
    users, items = r @ items + users, r.T @ users + items
user_rep = Dense(users)
pred = user_rep.cpu().numpy()
ranking = (-(pred * (1 - train.toarray()))).argsort()
batch_no = 2
all_recall_20, all_ndcg_20 = metrics(np.arange(train.shape[0]), ranking, 20, test_labels)
all_recall_40, all_ndcg_40 = metrics(np.arange(train.shape[0]), ranking, 40, test_labels)
print('total', time.time() - start_time)
"""


def _toy_pairs(num_users=30, num_items=50, seed=0):
    rng = np.random.default_rng(seed)
    dense = rng.random((num_users, num_items)) < 0.15
    held = dense & (rng.random(dense.shape) < 0.3)
    return np.nonzero(dense & ~held), np.nonzero(held), dense & ~held


@pytest.fixture
def toy_checkout(tmp_path):
    root = tmp_path / "GTE"
    root.mkdir()
    for name, text in (("main.py", TOY_MAIN), ("parser.py", TOY_PARSER), ("utils.py", TOY_UTILS)):
        (root / name).write_text(text)
    return root


def test_missing_official_checkout_names_the_repository(driver, tmp_path):
    affinity = os.sched_getaffinity(0)
    with pytest.raises(FileNotFoundError, match=r"main\.py.*github\.com/HKUDS/GTE"):
        driver.main(["--official", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o.json")])
    assert os.sched_getaffinity(0) == affinity        # failed before pinning threads
    assert not (tmp_path / "o.json").exists()


def test_checkout_without_amazon_beauty_is_an_error(driver, toy_checkout, tmp_path):
    with pytest.raises(FileNotFoundError, match="amazon_beauty/train_mat.pkl"):
        driver.main(["--official", str(toy_checkout), "--datasets", "amazon_beauty",
                     "--out", str(tmp_path / "o.json")])


def test_bad_repeats_is_an_argument_error(driver, toy_checkout):
    with pytest.raises(SystemExit):
        driver.parse_args(["--official", str(toy_checkout), "--repeats", "0"])


def test_split_main_cuts_at_the_markers_and_keeps_line_numbers(driver):
    load, compute, evaluate = driver.split_main(TOY_MAIN)
    lines = TOY_MAIN.splitlines()
    start = lines.index(driver.COMPUTE_START)
    end = lines.index(driver.COMPUTE_END) + 1
    assert load.splitlines() == lines[:start]
    assert compute.splitlines()[start:] == lines[start:end]
    assert compute.splitlines()[:start] == [""] * start
    assert evaluate.splitlines()[end:] == lines[end:]
    assert len(evaluate.splitlines()) == len(lines)
    with pytest.raises(ValueError, match="exactly once"):
        driver.split_main(TOY_MAIN.replace(driver.COMPUTE_END, "pred = 0"))
    with pytest.raises(ValueError, match="exactly once"):
        driver.split_main(TOY_MAIN + driver.COMPUTE_START + "\n")
    with pytest.raises(ValueError, match="before"):
        driver.split_main(f"{driver.COMPUTE_END}\n{driver.COMPUTE_START}\n")


def test_official_data_round_trip_and_checks(driver, tmp_path):
    train, test, _ = _toy_pairs()
    root = driver.write_official_data(tmp_path, "toy", train, test, 30, 50)
    with open(root / "data" / "toy" / "train_mat.pkl", "rb") as f:
        matrix = pickle.load(f)
    assert sp.issparse(matrix) and matrix.format == "coo" and matrix.shape == (30, 50)
    data = driver.read_official_data(root, "toy")
    assert (data["num_users"], data["num_items"]) == (30, 50)
    for part, pairs in (("train", train), ("test", test)):
        np.testing.assert_array_equal(data[part][0], pairs[0])
        np.testing.assert_array_equal(data[part][1], pairs[1])
        assert data[part][0].dtype == np.int32
    twice = sp.coo_matrix((np.ones(2), ([0, 0], [1, 1])), shape=(2, 2))
    with pytest.raises(ValueError, match="duplicate"):
        driver.pairs_from_matrix(twice)
    with pytest.raises(ValueError, match="binary"):
        driver.pairs_from_matrix(sp.coo_matrix(np.array([[0.0, 2.0]])))


def test_official_sections_run_in_the_checkout_context(driver, toy_checkout, tmp_path):
    train, test, r = _toy_pairs()
    root = driver.write_official_data(tmp_path / "run", "toy", train, test, 30, 50)
    argv, cwd, path = list(sys.argv), os.getcwd(), list(sys.path)
    parser_before = sys.modules.get("parser")
    official = driver.Official(toy_checkout)
    loaded = official.load(root, "toy", 3)
    assert (loaded["args"].data, loaded["args"].k, loaded["args"].device) == ("toy", 3, "cpu")
    assert (sys.argv, os.getcwd(), sys.path) == (argv, cwd, path)
    assert sys.modules.get("parser") is parser_before and "start_time" not in loaded
    pred = official.compute(loaded)["pred"]
    np.testing.assert_array_equal(pred, gte_closed_form(r))      # k = 3 rounds, closed form
    got = official.evaluate(loaded, pred)
    ranking = (-(pred * (1 - r))).argsort()
    recall = np.mean([len(set(t[1][t[0] == u]) & set(ranking[u, :20])) / (t[0] == u).sum()
                      for t in [test] for u in np.unique(test[0])])
    assert got["recall@20"] == pytest.approx(recall / 2) and got["ndcg@40"] == 0.25
    assert official.user_mean(loaded, pred)["recall@20"] == pytest.approx(recall)


def _recall(uids, predictions, topk, test_labels):   # utils.metrics' signature, recall only
    hits = [len(set(test_labels[u]) & set(predictions[j][:topk])) / len(test_labels[u])
            for j, u in enumerate(uids) if test_labels[u]]
    return float(np.mean(hits)), 0.0


def test_user_mean_with_our_tie_breaking_and_tie_counts(driver):
    # 4 users x 50 items; user 2 has no test item. User 0: all scores 0 (ties everywhere),
    # test item 45: ties to the lower id put items 0..39 first, so no hit at 20 or 40.
    # User 1: scores 49..0 by item, test item 3 (rank 4). User 3: like user 1 but item 29
    # raised to tie item 30 at the 20th place, and item 29 is a training item (no tie left).
    pred = np.zeros((4, 50), np.float32)
    pred[1] = pred[3] = np.arange(50)[::-1]
    pred[3, 20] = pred[3, 19]
    train = sp.coo_matrix((np.ones(2), ([3, 3], [20, 49])), shape=(4, 50))
    loaded = {"test_labels": [[45], [3], [], [5]], "metrics": _recall, "train": train}
    got = driver.Official.user_mean(loaded, pred, stable=True)
    assert got["recall@20"] == pytest.approx(2 / 3) and got["recall@40"] == pytest.approx(2 / 3)
    ties = driver.tied_users(loaded, pred)
    assert ties == {"evaluated_users": 3, "tie_at_20": 1, "tie_at_40": 1}


def test_jax_side_is_gte_closed_form(driver):
    train, test, r = _toy_pairs()
    data = {"train": train, "test": test, "num_users": 30, "num_items": 50}
    scores, evaluate = driver.jax_functions(data, 3)
    from jaxnets.models.gte import gte_propagations
    props = gte_propagations(*train, 30, 50)
    out = scores(props, *(np.asarray(a, np.int32) for a in train))
    assert out.shape == (1, driver.BATCH, 50)
    np.testing.assert_array_equal(np.asarray(out).reshape(-1, 50)[:30], gte_closed_form(r))
    metrics = {k: float(v) for k, v in evaluate(out).items()}
    assert set(metrics) == {"recall@20", "ndcg@20", "recall@40", "ndcg@40"}
    assert 0 < metrics["recall@20"] <= metrics["recall@40"] <= 1


def test_measure_without_warmup_and_max_abs_diff(driver):
    calls = []
    timings = driver.measure({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                             rounds=3, warmup=False)
    assert calls == ["a", "b", "b", "a", "a", "b"]          # rotated order, no warm-up call
    assert timings["a"]["rounds"] == 3 and timings["a"]["first_call_s"] is None
    assert timings["a"]["min_s"] <= timings["a"]["median_s"] <= timings["a"]["max_s"]
    a = np.zeros((10, 3), np.float32)
    b = a.copy()
    b[7, 2] = -2.5
    assert driver.max_abs_diff(a, b, chunk=3) == 2.5
    with pytest.raises(ValueError, match="shape"):
        driver.max_abs_diff(a, b[:9])
