"""What the node-classification baselines share: data preparation, a seed population trained by
`fit`, the test accuracy at each seed's best validation epoch, and the plot.

Experiments supply a model factory and their optimiser settings; this module owns the rest so that
`gcn`, `gat` and later baselines differ only in what the papers differ in.
"""
from __future__ import annotations

import json
import pathlib
from typing import Any, Callable

import jax
import jraph
import ml_collections
import numpy as np
import optax
import scipy.sparse

from jaxnets import data as data_lib
from jaxnets import graph as graph_lib
from jaxnets import plots
from jaxnets import config as config_lib
from jaxnets.experiment import Claim
from jaxnets.train import EarlyStopping, fit, init_population
from jaxnets.train.supervised import node_classification


def row_normalize(features: Any) -> Any:
    """Divides each feature row by its sum (Kipf & Welling's `preprocess_features`); zero rows stay
    zero. Keeps scipy sparse matrices sparse."""
    if scipy.sparse.issparse(features):
        features = scipy.sparse.csr_matrix(features, dtype=np.float32)
        sums = np.asarray(features.sum(axis=1)).ravel()
        scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums != 0)
        return scipy.sparse.diags(scale.astype(np.float32)) @ features
    features = np.asarray(features, np.float32)
    sums = features.sum(axis=1, keepdims=True)
    return np.divide(features, sums, out=np.zeros_like(features), where=sums != 0)


def load(config: ml_collections.ConfigDict) -> data_lib.NodeDataset:
    """The dataset named by `config.dataset` (one split: `config.split` when it has several)."""
    kwargs = {}
    if config.dataset == "csbm":
        kwargs = dict(num_nodes=config.csbm_nodes, num_classes=4, avg_degree=6.0,
                      homophily=0.8, num_features=64, feature_signal=1.0, seed=0)
    dataset = data_lib.load_dataset(config.dataset, root=config.data_root or None, **kwargs)
    if dataset.num_splits > 1:
        dataset = dataset.split(config.split)
    return dataset


def run_population(
    config: ml_collections.ConfigDict,
    workdir: pathlib.Path,
    model_fn: Callable[[int], Any],
    tx: optax.GradientTransformation,
    *,
    graph_transform: Callable = lambda g: g,
    l2_penalty: Callable | None = None,
    title: str,
    paper_accuracy: float,
) -> dict:
    """Trains `config.n_seeds` seeds together and returns per-seed test accuracy at best val.

    Returns:
      results with "test_accuracy" [S], "val_accuracy" [S], "best_step" [S], "steps", the
      dataset sizes, and "plot" (file name in `workdir`).
    """
    dataset = load(config)
    features = dataset.features
    if config.normalize_features and features.min() >= 0:  # bag-of-words counts, not Gaussians
        features = row_normalize(features)
    x = graph_lib.to_bcoo(features) if scipy.sparse.issparse(features) else jax.numpy.asarray(features)
    graph = graph_transform(jraph.GraphsTuple(
        nodes=None, edges=None, globals=None,
        senders=jax.numpy.asarray(dataset.senders), receivers=jax.numpy.asarray(dataset.receivers),
        n_node=jax.numpy.asarray([dataset.num_nodes]), n_edge=jax.numpy.asarray([dataset.num_edges]),
    ))
    task = node_classification(
        model_fn(dataset.num_classes), graph, x, dataset.labels,
        dataset.train_mask, dataset.val_mask, dataset.test_mask, tx, l2_penalty=l2_penalty,
    )
    population = init_population(task.init, list(range(config.seed, config.seed + config.n_seeds)))
    result = fit(
        population, task.step, num_steps=config.epochs, eval_fn=task.evaluate,
        eval_every=config.eval_every,
        early_stopping=EarlyStopping("val/accuracy", "max", patience=config.patience or None),
        workdir=workdir, config=config_lib.to_dict(config), resume=True,
        description=title,
    )
    final = jax.jit(jax.vmap(task.evaluate))(result.best_state)
    plot = "curves.png"
    plots.plot_curves(result.history, ["val/accuracy", "test/accuracy"], workdir / plot,
                      title=f"{title} on {dataset.name}", reference=paper_accuracy / 100)
    results = {
        "dataset": dataset.name,
        "num_nodes": dataset.num_nodes,
        "num_edges": dataset.num_edges,
        "test_accuracy": np.asarray(final["test/accuracy"]).tolist(),
        "val_accuracy": np.asarray(final["val/accuracy"]).tolist(),
        "best_step": np.asarray(result.best_step).tolist(),
        "steps": int(np.max(np.asarray(result.state.step))),
        "stop_reason": result.stop_reason,
        "majority_rate": _majority_rate(dataset),
        "plot": plot,
    }
    (workdir / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _majority_rate(dataset: data_lib.NodeDataset) -> float:
    """Test accuracy of always predicting the most frequent training label."""
    train_labels = dataset.labels[np.asarray(dataset.train_mask, bool)]
    majority = np.bincount(train_labels[train_labels >= 0]).argmax()
    test_labels = dataset.labels[np.asarray(dataset.test_mask, bool)]
    return float(np.mean(test_labels == majority))


def accuracy_claim(results: dict, *, pass_accuracy: float, paper: str) -> Claim:
    """Passes when the mean test accuracy over seeds (in %) is at least `pass_accuracy`."""
    accuracies = [100 * a for a in results["test_accuracy"]]
    mean = sum(accuracies) / len(accuracies)
    return Claim(
        passed=mean >= pass_accuracy,
        text=(f"mean test accuracy on {results['dataset']} over {len(accuracies)} seeds "
              f">= {pass_accuracy}%: {mean:.1f}%"),
        paper=paper,
        ours=plots.mean_std(accuracies),
        plot=results["plot"],
    )
