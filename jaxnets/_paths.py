"""Names of pytree leaves, shared by the modules that select parameters by path."""
from __future__ import annotations

__all__ = ["path_name"]


def path_name(path: tuple) -> str:
    """'Dense_0/kernel' for a `tree_flatten_with_path` path (dict keys, attributes, indices)."""
    parts = []
    for entry in path:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts)
