"""tools/bench_official_fastrp.py: the driver's own pieces, without the checkout.

The official GTmac/FastRP code is not here (and is never copied): a toy stand-in checkout written
by the tests (a `fastrp.py` with the official entry point's name and signature, computing FastRP
in float64 with NumPy/SciPy from the tests' own reading of Alg. 1) exercises the import plumbing
(notebook-only modules stood in) and `compare`, whose jaxnets side
must reproduce the stand-in's embeddings from the same scikit-learn projection.
"""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest
import scipy.sparse as sp

REPO = pathlib.Path(__file__).resolve().parents[2]

TOY_FASTRP = """\
import numpy as np
import scipy.sparse as sp
from sklearn import random_projection
from sklearn.preprocessing import scale
import gensim  # notebook-only in the official module: the driver stands it in when absent


def fastrp_wrapper(A, conf):
    transformer = random_projection.SparseRandomProjection(n_components=conf["dim"],
                                                           random_state=42)
    R = transformer.fit(A).components_.T.toarray()
    deg = np.asarray(A.sum(axis=1)).ravel()
    M = sp.diags(1.0 / deg) @ A
    cur = M @ (sp.diags(deg ** conf["alpha"]) @ R)
    out = np.zeros_like(cur)
    for k, w in enumerate(conf["weights"]):
        if k:
            cur = M @ cur
        out += w * cur
    return scale(out)
"""


@pytest.fixture(scope="module")
def driver():
    sys.path.insert(0, str(REPO / "tools"))
    spec = importlib.util.spec_from_file_location(
        "bench_official_fastrp", REPO / "tools" / "bench_official_fastrp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_checkout_is_named(driver, tmp_path):
    with pytest.raises(FileNotFoundError, match="GTmac/FastRP"):
        driver.import_official(tmp_path)


def test_compare_matches_a_stand_in_official_code_on_its_projection(driver, tmp_path):
    (tmp_path / "fastrp.py").write_text(TOY_FASTRP)
    official, stand_ins = driver.import_official(tmp_path)
    if importlib.util.find_spec("gensim") is None:
        assert "gensim" in stand_ins and "gensim" not in sys.modules
    rng = np.random.default_rng(0)
    n = 60
    upper = sp.triu(sp.random(n, n, density=0.1, random_state=rng), k=1)
    a = ((upper + upper.T) > 0).astype(np.float64)
    a = sp.csr_matrix(a + sp.diags(np.ones(n)))        # no isolated node: finite official run
    row = driver.compare(official, "toy", a, dim=16, repeats=1)
    assert row["nodes"] == n and row["arcs"] == a.nnz
    assert row["max_abs_diff"] < 1e-4 * max(1.0, row["max_abs_value"])
    assert row["max_abs_diff_csr"] < 1e-4 * max(1.0, row["max_abs_value"])
    assert row["official_s"] > 0 and row["jax_csr_s"] > 0
