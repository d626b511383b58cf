"""Dotted overrides, `key.path=value`: the command line's `--train.epochs=5` and the `overrides`
list of `load_config`, `parse_config` and `load_run`. Each value is read as YAML (through
`vaekit.yamlio`, as strictly as a config file) and set in the raw mapping before validation.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import yaml

from vaekit.errors import ConfigError
from vaekit.yamlio import load_yaml


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """Apply `a.b.c=value` overrides to a raw config mapping; values are read as YAML scalars."""
    raw = _deepcopy(raw)
    for item in check_overrides(overrides):
        item = item[2:] if item.startswith("--") else item
        if "=" not in item:
            raise ConfigError(f"override '{item}' needs the form key.path=value (for example train.epochs=5)")
        key, text = item.split("=", 1)
        try:
            value = load_yaml(text, f"override '{key}'") if text != "" else ""
        except yaml.YAMLError:
            value = text
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override '{key}': '{part}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return raw


def check_overrides(overrides: Any) -> list[str]:
    """The overrides as a list of strings; ConfigError for one string (which would be read letter by
    letter) or an item that is not a string."""
    if isinstance(overrides, (str, bytes)):
        text = overrides if isinstance(overrides, str) else overrides.decode("utf-8", "replace")
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ConfigError(f"overrides are a list of 'key.path=value' strings, got the single string {shown!r}; "
                          f"pass a list such as ['train.epochs=3']")
    if isinstance(overrides, Mapping) or not isinstance(overrides, Sequence):
        raise ConfigError(f"overrides are a list of 'key.path=value' strings, got {_show(overrides)}; "
                          f"pass a list such as ['train.epochs=3']")
    for item in overrides:
        if not isinstance(item, str):
            raise ConfigError(f"override {_show(item)} is not a string; write it as 'key.path=value', "
                              f"for example 'train.epochs=3'")
    return list(overrides)


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def _show(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"
