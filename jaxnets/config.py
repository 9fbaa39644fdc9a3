"""Experiment configs: locked `ml_collections.ConfigDict`s with typed `key=value` overrides.

A config is locked so that a mistyped key is an error, and an override is parsed into the type of
the value it replaces, so `--set epochs=ten` fails with a message naming the key and the type.
"""
from __future__ import annotations

import ast
import hashlib
import json
from typing import Any, Iterable

import ml_collections


class ConfigError(ValueError):
    """An override names an unknown key or a value of the wrong type."""


def _flat_keys(config: ml_collections.ConfigDict, prefix: str = "") -> dict[str, Any]:
    keys = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict):
            keys.update(_flat_keys(value, name + "."))
        else:
            keys[name] = value
    return keys


def _parse(key: str, text: str, current: Any) -> Any:
    """Parses `text` into the type of `current`; raises ConfigError naming `key` otherwise."""
    expected = type(current)
    try:
        if isinstance(current, bool):
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return lowered in ("true", "1", "yes")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
        if isinstance(current, str):
            return text
        if current is None:
            return ast.literal_eval(text) if text not in ("", "None") else None
        value = ast.literal_eval(text)
        if isinstance(current, (list, tuple)) and isinstance(value, (list, tuple)):
            return expected(value)
        if not isinstance(value, expected):
            raise ValueError(text)
        return value
    except (ValueError, SyntaxError) as err:
        raise ConfigError(
            f"--set {key}={text!r}: expected a value of type {expected.__name__} "
            f"(the default is {current!r})"
        ) from err


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]) -> ml_collections.ConfigDict:
    """Returns a copy of `config` with each "key=value" (dotted keys for nesting) applied.

    Raises:
      ConfigError: for a malformed override, an unknown key (the message lists the valid keys),
        or a value that does not parse as the type of the default.
    """
    config = ml_collections.ConfigDict(config.to_dict())
    valid = _flat_keys(config)
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"--set expects key=value, got {override!r}")
        key, text = override.split("=", 1)
        key = key.strip()
        if key not in valid:
            raise ConfigError(
                f"unknown config key {key!r}; valid keys: {', '.join(sorted(valid))}"
            )
        value = _parse(key, text, valid[key])
        node = config
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node[parent]
        with node.unlocked():
            node[leaf] = value
    config.lock()
    return config


def locked(values: dict) -> ml_collections.ConfigDict:
    """A locked ConfigDict from a plain dict."""
    config = ml_collections.ConfigDict(values)
    config.lock()
    return config


def to_dict(config: ml_collections.ConfigDict) -> dict:
    """A JSON-able plain dict (tuples become lists)."""
    return json.loads(json.dumps(config.to_dict()))


def config_hash(config: ml_collections.ConfigDict) -> str:
    """A short stable hash of the config, written next to results."""
    blob = json.dumps(to_dict(config), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
