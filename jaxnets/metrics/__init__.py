"""Evaluation metrics, each checked against a brute-force reference (see tests/metrics).

* ``link``: Hits@K and MRR as OGB defines them, ROC-AUC, per-node Hits@K.
* ``topn``: Recall/Precision/F1/NDCG/MRR@K of ranked items with training items masked.
"""
from jaxnets.metrics import topn
from jaxnets.metrics.link import hits_at_k, kth_negative_threshold, mrr, node_hits_at_k, roc_auc

__all__ = ["hits_at_k", "kth_negative_threshold", "mrr", "node_hits_at_k", "roc_auc", "topn"]
