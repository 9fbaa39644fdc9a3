"""The parts of tools/bench_official_ncn.py that are ours (no official checkout, no torch needed).

Argument and checkout errors, the data conversion to the official layout, the README Cora flags
mapped onto experiments/ncn.py's config, and the OGB Hits@K stand-in against jaxnets' Hits@K.
The torch conversion runs only where torch_geometric and torch_sparse are installed.
"""
import pathlib
import sys
import types

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools import bench_official_ncn as bench  # noqa: E402


def _split(n=6):
    pos = np.array([[0, 1], [1, 2], [0, 3], [2, 4]])
    return types.SimpleNamespace(
        num_nodes=n, train_pos=pos, val_pos=np.array([[3, 4]]), val_neg=np.array([[0, 5]]),
        test_pos=np.array([[1, 5], [2, 3]]), test_neg=np.array([[4, 5], [0, 2]]))


def test_missing_checkout_names_files_and_url(tmp_path):
    (tmp_path / "model.py").write_text("")
    with pytest.raises(FileNotFoundError) as err:
        bench.main(["--official", str(tmp_path)])
    text = str(err.value)
    assert "utils.py" in text and "NeighborOverlap.py" in text and "model.py" not in text
    assert bench.URL in text


def test_missing_packages_are_named(tmp_path, monkeypatch):
    for name in bench.OFFICIAL_FILES:
        (tmp_path / name).write_text("raise AssertionError('must not be imported')\n")
    real = bench.importlib.util.find_spec
    monkeypatch.setattr(bench.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch_sparse" else real(name, *a))
    with pytest.raises(ModuleNotFoundError, match="torch_sparse"):
        bench.import_official(tmp_path)


@pytest.mark.parametrize("argv, message", [(["--repeats", "0"], "--repeats"),
                                           (["--threads", "0"], "--threads"),
                                           (["--models", "gae"], "invalid choice")])
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--official", "x", *argv])
    assert message in capsys.readouterr().err


def test_official_inputs_layout():
    split = _split()
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    inputs = bench.official_inputs(split, x)
    ei = inputs["edge_index"]
    assert ei.shape == (2, 8) and inputs["num_nodes"] == 6
    pairs = set(map(tuple, ei.T))
    assert pairs == {(int(a), int(b)) for a, b in split.train_pos} | {
        (int(b), int(a)) for a, b in split.train_pos}
    flat = ei[0] * 6 + ei[1]
    assert np.all(np.diff(flat) > 0)  # coalesced: sorted by row, then column, no duplicates
    assert inputs["x"].dtype == np.float32 and np.array_equal(inputs["x"], x)
    np.testing.assert_array_equal(inputs["eval_train"], split.train_pos[:2])
    np.testing.assert_array_equal(inputs["test_neg"], split.test_neg)
    with pytest.raises(ValueError, match="rows"):
        bench.official_inputs(split, x[:5])


def test_readme_flags_configure_our_side():
    for variant in bench.VARIANTS:
        flags = bench.flags_for(variant, 32)
        config = bench.our_config(flags)
        for flag, key in bench.OUR_KEYS.items():
            assert config[key] == flags[flag], (variant, flag)
    assert bench.our_config(bench.flags_for("ncnc-cap", 32)).train_cap == 4


def test_experiment_defaults_are_the_readme_flags():
    import experiments.ncn as ncn
    config = ncn.get_config()
    differ = {flag for flag, key in bench.OUR_KEYS.items()
              if config[key] != bench.CORA_FLAGS[flag]}
    assert differ == set()
    assert (config.train_cap, config.test_cap) == (-1, -1)  # every completion candidate


def test_unsupported_flag_is_an_error():
    with pytest.raises(ValueError, match="gnnedp"):
        bench.our_overrides(dict(bench.CORA_FLAGS, gnnedp=0.25))


def test_hits_stand_in_matches_jaxnets():
    from jaxnets.metrics.link import hits_at_k
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(size=50), rng.normal(size=300)
    neg[:5] = neg[10]  # ties at the threshold count as misses in both
    pos[:3] = np.sort(neg)[-100]
    ev = bench.OGBHitsEvaluator()
    for k in (20, 100):
        ev.K = k
        got = ev.eval({"y_pred_pos": pos, "y_pred_neg": neg})[f"hits@{k}"]
        assert got == pytest.approx(float(hits_at_k(pos.astype(np.float32),
                                                    neg.astype(np.float32), k)))
    ev.K = 400  # fewer negatives than K
    assert ev.eval({"y_pred_pos": pos, "y_pred_neg": neg})["hits@400"] == 1.0


def test_official_data_in_torch_types():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    pytest.importorskip("torch_sparse")
    inputs = bench.official_inputs(_split(), np.eye(6))
    data, split_edge, eval_split = bench.official_data(inputs)
    assert data.adj_t.sizes() == [6, 6] and data.adj_t.nnz() == 8
    assert torch.equal(data.adj_t.to_dense(), data.adj_t.to_dense().t())
    assert split_edge["train"]["edge"].shape == (4, 2)
    assert eval_split["train"]["edge"].shape == (2, 2)
    assert eval_split["test"] is split_edge["test"]


class _T:
    """A stand-in torch tensor: `.detach().cpu().numpy()`."""

    def __init__(self, a):
        self.a = np.asarray(a, np.float32)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


def test_official_weights_map_onto_our_tree():
    rng = np.random.default_rng(0)

    def lin(i, o):
        return types.SimpleNamespace(weight=_T(rng.normal(size=(o, i))),
                                     bias=_T(rng.normal(size=o)))

    ln = types.SimpleNamespace(weight=_T(np.full(3, 2.0)), bias=_T(np.full(3, -1.0)))
    model = types.SimpleNamespace(xemb=[None, lin(5, 3)], jkparams=_T([0.5]))
    predictor = types.SimpleNamespace(beta=_T([1.0]),
                                      xijlin=[lin(3, 3), ln, None, None, lin(3, 3)],
                                      lin=[lin(3, 3), ln] + [None] * 6 + [lin(3, 1)])
    dense = {"kernel": 0, "bias": 0}
    ours = {"params": {"encoder": {"kernel": 0, "bias": 0, "jk": 0},
                       "predictor": {"beta": 0, "xij1": {"Dense_0": dense,
                                                         "LayerNorm_0": {"scale": 0, "bias": 0}},
                                     "xij_out": dense, "lin_out": dense,
                                     "lin1": {"Dense_0": dense,
                                              "LayerNorm_0": {"scale": 0, "bias": 0}}}}}
    got = bench.official_params_as_ours(model, predictor, ours)["params"]
    assert set(got["predictor"]) == set(ours["params"]["predictor"])  # cn0: no xlin / xcn
    np.testing.assert_array_equal(got["encoder"]["kernel"], model.xemb[1].weight.a.T)
    np.testing.assert_array_equal(got["predictor"]["xij_out"]["kernel"],
                                  predictor.xijlin[4].weight.a.T)
    np.testing.assert_array_equal(got["predictor"]["lin_out"]["bias"], predictor.lin[8].bias.a)
    np.testing.assert_array_equal(got["predictor"]["lin1"]["LayerNorm_0"]["scale"],
                                  np.full(3, 2.0))
