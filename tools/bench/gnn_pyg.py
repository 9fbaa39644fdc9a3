"""The PyTorch Geometric side of the GNN epoch benchmark (runs only with the `bench` extra).

PyG's own example models, built from `GCNConv` (cached normalisation, as in PyG's `gcn.py`
example), `SAGEConv` (mean) and `GATConv`, with the widths, dropout and optimiser of
`gnn_jax`. Node features are a dense float32 tensor, as PyG's layers take them (their linear
maps are `torch.nn.Linear`-style and take no sparse input); so input dropout runs over all
N x F entries here, while the JAX side drops only the stored values. Everything is built from
the same `GraphArrays` as the JAX side.
"""
from __future__ import annotations

from typing import Callable

from tools.bench.gnn_data import GraphArrays
from tools.bench.gnn_jax import LEARNING_RATE, WEIGHT_DECAY


def available(device: str = "cpu") -> tuple[bool, str]:
    """(True, versions) if torch and torch_geometric import (and, for ``device="cuda"``, torch
    sees a CUDA device), else (False, the reason)."""
    try:
        import torch
        import torch_geometric
    except ImportError as err:
        return False, f"PyG skipped: {err} (install the `bench` extra: pip install -e '.[bench]')"
    versions = f"torch {torch.__version__}, torch_geometric {torch_geometric.__version__}"
    if device == "cuda":
        if not torch.cuda.is_available():
            return False, f"PyG skipped: {versions} sees no CUDA device (a CPU-only torch build?)"
        return True, f"{versions}, on {torch.cuda.get_device_name(0)}"
    return True, versions


def set_threads(threads: int) -> None:
    """`torch.set_num_threads(threads)` (intra-op), the same count as XLA's pool."""
    import torch
    torch.set_num_threads(threads)


def _model(kind: str, num_features: int, num_classes: int):
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import GATConv, GCNConv, SAGEConv

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if kind == "gcn":
                self.conv1 = GCNConv(num_features, 16, cached=True)
                self.conv2 = GCNConv(16, num_classes, cached=True)
                self.p, self.act = 0.5, F.relu
            elif kind == "sage":
                self.conv1 = SAGEConv(num_features, 64)
                self.conv2 = SAGEConv(64, num_classes)
                self.p, self.act = 0.5, F.relu
            elif kind == "gat":
                self.conv1 = GATConv(num_features, 8, heads=8, dropout=0.6)
                self.conv2 = GATConv(64, num_classes, heads=1, concat=False, dropout=0.6)
                self.p, self.act = 0.6, F.elu
            else:
                raise ValueError(f"unknown model {kind!r}")

        def forward(self, x, edge_index):
            x = F.dropout(x, p=self.p, training=self.training)
            x = self.act(self.conv1(x, edge_index))
            x = F.dropout(x, p=self.p, training=self.training)
            return self.conv2(x, edge_index)

    return Net()


def epoch_fn(kind: str, data: GraphArrays, seed: int = 0,
             device: str = "cpu") -> Callable[[], float]:
    """A zero-argument callable running one full-batch training epoch of PyG's `kind` model.

    Forward (training mode), cross-entropy on the training nodes, backward, Adam with L2
    weight decay 5e-4; returns the loss as a float (which also waits for the work: on a CUDA
    ``device`` the copy to the host synchronises the stream).
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    dev = torch.device(device)
    x = torch.from_numpy(np.asarray(data.features.toarray(), np.float32)).to(dev)
    edge_index = torch.from_numpy(np.stack([data.senders, data.receivers]).astype(np.int64)
                                  ).to(dev)
    y = torch.from_numpy(data.labels.astype(np.int64)).to(dev)
    mask = torch.from_numpy(data.train_mask).to(dev)
    model = _model(kind, x.shape[1], data.num_classes).to(dev)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE[kind], weight_decay=WEIGHT_DECAY)

    def epoch() -> float:
        opt.zero_grad()
        out = model(x, edge_index)
        loss = F.cross_entropy(out[mask], y[mask])
        loss.backward()
        opt.step()
        return float(loss.detach())

    return epoch
