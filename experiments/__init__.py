"""The registry of jaxnets experiments: one module per paper (see `jaxnets.experiment`)."""
from __future__ import annotations

import importlib
from types import ModuleType

from jaxnets.experiment import check_module

# slug -> module name in this package. Order is the order of `jaxnets list` and REPORT.md.
_MODULES: dict[str, str] = {
    "gcn": "gcn",
    "gat": "gat",
    "forward_algorithms": "forward_algorithms",
    "counter_current": "counter_current",
    "forward_gnn": "forward_gnn",
    "guidance": "guidance",
    "cgs": "cgs",
    "cgs_graph": "cgs_graph",
    "mip_hypernet": "mip_hypernet",
    "gradsign": "gradsign",
    "lighthubert": "lighthubert",
    "tas": "tas",
    "n2n": "n2n",
    "variant": "variant",
    "lottery_ticket": "lottery_ticket",
    "meta_pruning": "meta_pruning",
    "g2gnet": "g2gnet",
    "factor_moe": "factor_moe",
    "sparsing_law": "sparsing_law",
    "ncn": "ncn",
    "topo_concentration": "topo_concentration",
    "netinfof": "netinfof",
    "fastrp": "fastrp",
    "sheaf_rec": "sheaf_rec",
    "gte": "gte",
    "tangnn": "tangnn",
    "rphgnn": "rphgnn",
    "robust_fidelity": "robust_fidelity",
    "powerlaw_degrees": "powerlaw_degrees",
    "adpa": "adpa",
    "hei": "hei",
    "flag_aggregator": "flag_aggregator",
    "fedzip": "fedzip",
    "fl_network_time": "fl_network_time",
    "icgnn": "icgnn",
    "graph_rlearner": "graph_rlearner",
    "information_plane": "information_plane",
    "criticality": "criticality",
    "relp": "relp",
    "fedpub": "fedpub",
    "qlora_telecom": "qlora_telecom",
    "ais_forecast": "ais_forecast",
    "gnodeformer": "gnodeformer",
    "netllm_abr": "netllm_abr",
    "nat": "nat",
}


# Papers with an issue filed but no experiment registered yet: slug -> (paper, issue number).
# `jaxnets report` lists them in README's table as not implemented, so the table never
# overstates what the library covers.
PLANNED: dict[str, tuple[str, int]] = {
    "forward_algorithms": ("Beyond Backpropagation (FF, CaFo, MF)", 3),
    "counter_current": ("Counter-Current Learning", 3),
    "cgs": ("Convergent Graph Solvers (CGS)", 4),
    "mip_hypernet": ("Magnitude Invariant Parametrizations for hypernetworks (MIP)", 4),
    "forward_gnn": ("Forward Learning of GNNs (ForwardGNN)", 3),
    "guidance": ("Training the Untrainable (guidance)", 3),
    "lighthubert": ("LightHuBERT", 5),
    "variant": ("VARiant (progressive supernet)", 5),
    "tas": ("Network Pruning via Transformable Architecture Search (TAS)", 5),
    "n2n": ("N2N learning", 5),
    "gradsign": ("GradSign", 5),
    "lottery_ticket": ("Lottery Ticket Hypothesis", 6),
    "meta_pruning": ("Meta Pruning via Graph Metanetworks", 6),
    "g2gnet": ("G2GNet", 6),
    "factor_moe": ("FactorLLM", 6),
    "sparsing_law": ("Sparsing Law", 6),
    "ncn": ("Neural Common Neighbor with Completion", 7),
    "topo_concentration": ("Topological Concentration (TC/ATC)", 7),
    "netinfof": ("NetInfoF", 7),
    "fastrp": ("FastRP", 7),
    "sheaf_rec": ("Sheaf Neural Networks for recommendation", 7),
    "gte": ("GTE (learning-less recommender)", 7),
    "adpa": ("AMUD / ADPA", 8),
    "hei": ("HEI", 8),
    "tangnn": ("TANGNN", 8),
    "rphgnn": ("RpHGNN", 8),
    "robust_fidelity": ("Robust Fidelity (Fid_alpha+/−, Fid_Delta)", 8),
    "powerlaw_degrees": ("Capital network power laws", 8),
    "fedpub": ("FED-PUB (personalised subgraph FL)", 9),
    "flag_aggregator": ("Flag Aggregator", 9),
    "fedzip": ("FedZip", 9),
    "fl_network_time": ("FL over 5G, WiFi and Ethernet", 9),
    "gnodeformer": ("Fed-GNODEFormer", 9),
    "nat": ("NAT (neighbourhood-aware temporal networks)", 10),
    "icgnn": ("ICGNN (homogeneous GNN for precoding and power allocation)", 10),
    "graph_rlearner": ("The Final-Stage Bottleneck (Graph R-Learner)", 10),
    "ais_forecast": ("AIS transmission behaviour (vessel movement)", 10),
    "qlora_telecom": ("TSLAM-Mini (QLoRA on telecom data)", 11),
    "netllm_abr": ("NetLLM (LLM adaptation for networking)", 11),
    "relp": ("RelP (relevance patching)", 11),
    "information_plane": ("Information Bottleneck via lossy compression", 11),
    "criticality": ("Principles of Deep Learning Theory", 11),
}


class UnknownExperimentError(KeyError):
    """No experiment is registered under the requested name."""


def names() -> list[str]:
    """Slugs of all registered experiments."""
    return list(_MODULES)


def get(name: str) -> ModuleType:
    """The experiment module for `name`; raises KeyError listing the valid names."""
    if name not in _MODULES:
        raise UnknownExperimentError(f"unknown experiment {name!r}; known: {', '.join(_MODULES)}")
    module = importlib.import_module(f"experiments.{_MODULES[name]}")
    check_module(module)
    return module
