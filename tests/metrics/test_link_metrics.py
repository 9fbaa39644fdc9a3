"""Link-prediction metrics against brute-force references (OGB definitions, sklearn's AUC)."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from jaxnets.metrics import link


def _hits_brute(pos, neg, k):
    if len(neg) < k:
        return 1.0
    kth = sorted(neg, reverse=True)[k - 1]
    return float(np.mean([p > kth for p in pos]))


@pytest.mark.parametrize("k", [1, 5, 20, 60])
def test_hits_at_k_matches_ogb_definition(rng, k):
    # Integer-valued scores force ties at the threshold: a tie is not a hit.
    pos = rng.integers(0, 30, size=40).astype(np.float32)
    neg = rng.integers(0, 30, size=50).astype(np.float32)
    assert float(link.hits_at_k(pos, neg, k)) == pytest.approx(_hits_brute(pos, neg, k))


def test_mrr_matches_brute_force_with_ties(rng):
    pos = rng.integers(0, 5, size=30).astype(np.float32)
    neg = rng.integers(0, 5, size=(30, 7)).astype(np.float32)
    ranks = [1 + 0.5 * (np.sum(n > p) + np.sum(n >= p)) for p, n in zip(pos, neg)]
    assert float(link.mrr(pos, neg)) == pytest.approx(np.mean(1.0 / np.array(ranks)), rel=1e-6)
    with pytest.raises(ValueError, match="neg_scores_PxQ"):
        link.mrr(pos, neg[:3])


def test_roc_auc_matches_sklearn_and_pair_counting(rng):
    pos = rng.integers(0, 10, size=37).astype(np.float32)
    neg = rng.integers(0, 10, size=53).astype(np.float32)
    pairs = np.mean((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None]))
    ours = float(link.roc_auc(pos, neg))
    assert ours == pytest.approx(pairs, abs=1e-6)
    labels = np.r_[np.ones(37), np.zeros(53)]
    assert ours == pytest.approx(roc_auc_score(labels, np.r_[pos, neg]), abs=1e-6)
    with pytest.raises(ValueError, match="at least one"):
        link.roc_auc(pos, neg[:0])


def test_node_hits_at_k_per_node(rng):
    pos = rng.normal(size=25).astype(np.float32)
    nodes = rng.integers(0, 6, size=25)
    neg = rng.normal(size=40).astype(np.float32)
    hits, count = link.node_hits_at_k(pos, nodes, neg, 10, 7)
    kth = np.sort(neg)[::-1][9]
    for v in range(7):
        sel = nodes == v
        assert count[v] == sel.sum()
        expected = np.mean(pos[sel] > kth) if sel.any() else 0.0
        assert float(hits[v]) == pytest.approx(expected)


def test_roc_auc_when_pairs_exceed_int32():
    """P * Q > 2**31 (CollegeMsg-sized): no overflow, and equal to scikit-learn's AUC."""
    from sklearn.metrics import roc_auc_score
    from jaxnets.metrics.link import roc_auc
    rng = np.random.default_rng(0)
    pos = rng.normal(0.3, 1.0, 50_000).astype(np.float32)
    neg = rng.normal(0.0, 1.0, 50_000).astype(np.float32)
    expected = roc_auc_score(np.r_[np.ones(50_000), np.zeros(50_000)], np.r_[pos, neg])
    assert abs(float(roc_auc(pos, neg)) - expected) < 1e-5
