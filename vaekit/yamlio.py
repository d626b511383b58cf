"""Reading YAML config files: one reader for every config a user writes (a preset, a run's
config.yaml, the value of a dotted override), stricter than `yaml.safe_load` where YAML is silent.

A key set twice in one mapping, at any depth, is an error naming it and both lines (YAML keeps the
last one without a word); so is a file that is empty or holds something other than a mapping of
sections, an anchor that contains itself, aliases that expand beyond any config's size, a tag
that no plain value has (`!!python/object/...`: nothing is ever constructed from one), and
nesting too deep to read. Every error is a one-line `ConfigError` naming the file.

The JSON files of a run (summary.json, codec.json, eval_SPLIT.json, metrics.jsonl) are read with
the same rule through `loads_json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from vaekit.errors import ConfigError

SECTIONS = "sections data:, model:, objective:, train:, eval:"
_YAML_TAG = "tag:yaml.org,2002:"  # the prefix `!!` stands for
_PLAIN_TAGS = {*yaml.SafeLoader.yaml_constructors, _YAML_TAG + "merge"}  # what safe_load builds; `<<` merges anchors
MAX_YAML_VALUES = 100_000  # a config holds a few hundred; more is an alias bomb, not settings


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"the key '{twice}' appears twice")
    return dict(pairs)


def loads_json(text: str) -> Any:
    """json.loads that refuses an object with the same key twice (the standard library keeps the
    last one silently): a ValueError, like any other malformed JSON."""
    return json.loads(text, object_pairs_hook=_unique_keys)


def read_yaml(path: str | Path) -> dict:
    """The top-level mapping of a YAML config file: every reader of config files (a preset, a
    run's config.yaml) goes through here. ConfigError, naming the file, when it cannot be read,
    is not YAML, sets a key twice at any depth, is empty or holds something other than a mapping."""
    where = f"config file '{path}'"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not UTF-8 text; pass a YAML file") from None
    except OSError as e:
        raise ConfigError(f"cannot read {where} ({e.strerror}); check the path and its permissions") from None
    try:
        raw = load_yaml(text, where)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where} is not valid YAML{at}; check its indentation and colons") from None
    if raw is None:
        raise ConfigError(f"{where} is empty; write the settings that differ from the defaults as {SECTIONS} "
                          f"(presets live in configs/)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} holds {describe(raw)}, not settings; a config is a mapping of {SECTIONS}")
    return raw


def load_yaml(text: str, where: str) -> Any:
    """YAML text as data, like `yaml.safe_load`, but a mapping that sets a key twice (YAML keeps the
    last silently), an anchor that contains itself, aliases that expand to more than
    MAX_YAML_VALUES values and nesting too deep to read are ConfigErrors naming the problem."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _check_node(node, where, "", set(), {}) > MAX_YAML_VALUES:
            raise ConfigError(f"{where} expands to more than {MAX_YAML_VALUES:,} values through its aliases; "
                              f"write the settings out")
        return loader.construct_document(node)
    except RecursionError:
        raise ConfigError(f"{where} nests its values too deeply to read; write the settings as sections") from None
    finally:
        loader.dispose()


def _check_node(node: yaml.Node, where: str, path: str, ancestors: set[int], sizes: dict[int, int]) -> int:
    """Check one node and all below it for keys set twice and anchors that contain themselves;
    returns how many values it expands to (`sizes` remembers each node, so aliases cost once)."""
    if id(node) in ancestors:
        raise ConfigError(f"{where}: '{path}' contains itself (a recursive YAML anchor); write the values out")
    if id(node) in sizes:  # an alias of a node checked already
        return sizes[id(node)]
    ancestors.add(id(node))
    if node.tag not in _PLAIN_TAGS:  # !!python/object/..., !custom: never constructed
        tag = "!!" + node.tag[len(_YAML_TAG):] if node.tag.startswith(_YAML_TAG) else node.tag
        what = f"gives '{path}'" if path else "uses"
        raise ConfigError(f"{where} {what} the YAML tag {tag} (line {node.start_mark.line + 1}), which vaekit does not "
                          f"read; a config holds plain values (numbers, text, true/false, lists, mappings): remove the tag")
    size = 1
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            dotted = f"{path}.{key}" if path and key is not None else (key or path)
            if key is not None and key != "<<":  # `<<` merges anchors, by design more than once
                line = key_node.start_mark.line + 1
                if key in lines:  # (no line numbers for one line: an override, a {flow: mapping})
                    at = f" (lines {lines[key]} and {line})" if line != lines[key] else ""
                    raise ConfigError(f"{where} sets '{dotted}' twice{at}; keep one")
                lines[key] = line
            size += _check_node(key_node, where, dotted, ancestors, sizes)
            size += _check_node(value_node, where, dotted, ancestors, sizes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            size += _check_node(item, where, f"{path}[{i}]", ancestors, sizes)
    ancestors.discard(id(node))
    sizes[id(node)] = size
    return size


def describe(value: Any) -> str:
    """What a YAML document holds, in words, for a message about it."""
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"the number {value!r}"[:60]
    return f"{value!r} ({type(value).__name__})"[:60]
