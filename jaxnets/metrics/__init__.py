"""Evaluation metrics, each checked against a brute-force reference (see tests/metrics).

* ``link``: Hits@K and MRR as OGB defines them, ROC-AUC, per-node Hits@K.
"""
from jaxnets.metrics.link import hits_at_k, kth_negative_threshold, mrr, node_hits_at_k, roc_auc

__all__ = ["hits_at_k", "kth_negative_threshold", "mrr", "node_hits_at_k", "roc_auc"]
