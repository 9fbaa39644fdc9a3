"""Sizes of each benchmark in the three modes: default (~5 min idle), quick, tiny (tests)."""
from __future__ import annotations

MODES = ("default", "quick", "tiny")

SETTINGS = {
    "default": {
        "gnn": {"synthetic_scale": 10, "rounds": 7, "scan_epochs": 50,
                "models": ("gcn", "sage", "gat")},
        "gap": {"rounds": 7},
        "propagation": {"sizes": (512, 2048, 8192), "width": 16, "rounds": 7},
        "populations": {"k": 16, "rounds": 7,
                        "subnets": [{"k": 16, "train_k": 4, "batch": 1, "seq": 8, "repeats": 10},
                                    {"k": 16, "train_k": 4, "batch": 8, "seq": 32, "repeats": 5}],
                        "clients": [{"clients": 16, "local_steps": 5, "batch": 16, "hidden": 64,
                                     "repeats": 7},
                                    {"clients": 100, "local_steps": 5, "batch": 16, "hidden": 64,
                                     "repeats": 5}]},
        "implicit": {"nodes": 2000, "arcs": 16000, "heads": 16, "caps": (16, 64, 256),
                     "rounds": 5},
        "fastrp": {"nodes": 100_000, "edges": 1_000_000, "dim": 128, "repeats": 3},
    },
    "quick": {
        "gnn": {"synthetic_scale": 10, "rounds": 3, "scan_epochs": 20,
                "models": ("gcn", "sage", "gat")},
        "gap": {"rounds": 5},
        "propagation": {"sizes": (512, 4096), "width": 16, "rounds": 3},
        "populations": {"k": 16, "rounds": 3,
                        "subnets": [{"k": 16, "train_k": 4, "batch": 1, "seq": 8, "repeats": 5}],
                        "clients": [{"clients": 16, "local_steps": 5, "batch": 16, "hidden": 64,
                                     "repeats": 5}]},
        "implicit": {"nodes": 1000, "arcs": 8000, "heads": 16, "caps": (16, 128), "rounds": 3},
        "fastrp": {"nodes": 20_000, "edges": 200_000, "dim": 128, "repeats": 2},
    },
    "tiny": {  # toy sizes, for the suite's own test: checks plumbing, not speed
        "gnn": {"synthetic_scale": 0, "rounds": 1, "scan_epochs": 0, "models": ("gcn",)},
        "gap": None,  # skipped
        "propagation": {"sizes": (32,), "width": 4, "rounds": 1},
        "populations": {"k": 2, "rounds": 1, "subnets": [],
                        "clients": [{"clients": 2, "local_steps": 1, "batch": 4, "hidden": 8,
                                     "repeats": 1}]},
        "implicit": {"nodes": 16, "arcs": 48, "heads": 2, "caps": (2,), "rounds": 1},
        "fastrp": {"nodes": 200, "edges": 800, "dim": 8, "repeats": 1},
    },
}
