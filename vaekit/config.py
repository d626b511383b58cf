"""Configs from YAML and back: parsing, dotted overrides, loud validation.

A config is a tree of frozen dataclasses, the sections of `vaekit.sections` (all re-exported here).
Sections whose class depends on a registered name (`model`, `model.encoder`, `model.likelihood`,
`model.prior`) are *polymorphic*: their base class names a registry, and the `name` key picks the
registered config class. Every key is checked: an unknown key or a wrong type raises `ConfigError`
naming the dotted path and the nearest valid key, and a number outside the range its class
declares (`vaekit.ranges`) names the key and range. Overrides are read by `vaekit.overrides`.

    cfg = load_config("configs/digits.yaml", ["model.latent_dim=8", "train.epochs=3"])
"""

from __future__ import annotations

import dataclasses
import numbers
import re
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, TypeVar, Union

import yaml

# Parsing picks a section's class by its registered name, so every built-in must be registered.
import vaekit.components  # noqa: F401
from vaekit.checks import check_int, check_path, check_real
from vaekit.errors import ConfigError, InputError
from vaekit.overrides import apply_overrides, check_overrides  # noqa: F401 (part of this module's API)
from vaekit.ranges import check_ranges, key_ranges  # noqa: F401 (key_ranges: part of this module's API)
from vaekit.registry import suggest
from vaekit.sections import (  # noqa: F401 (the sections are part of this module's API)
    AT_LEAST_1,
    MAX_IMAGE_SIDE,
    NON_NEGATIVE,
    POSITIVE,
    Config,
    DataConfig,
    EvalConfig,
    LikelihoodConfig,
    ModelConfig,
    NetworkConfig,
    ObjectiveConfig,
    PriorConfig,
    Range,
    TrainConfig,
)
from vaekit.yamlio import SECTIONS, describe, read_yaml

C = TypeVar("C")


# ----------------------------------------------------------------------------- parsing


def _elsewhere(cls: type, key: str, path: str) -> str:
    """'; it belongs to the data set 'images' (...)' when another class of `cls`'s registry has
    `key`: a key of one data set (or family) given to another."""
    registry = getattr(cls, "registry", None)
    if registry is None:
        return ""
    owners = [n for n in registry.names() if (c := registry.config_class(n)) is not None and c is not cls
              and key in {f.name for f in fields(c)}]
    if not owners:
        return ""
    return (f"; {path}.{key} belongs to the {registry.kind} '{owners[0]}' ({path}.name={owners[0]}), "
            f"not to the one chosen; remove it or set {path}.name={owners[0]}")


def from_dict(cls: type[C], data: Any, path: str = "") -> C:
    """Build the dataclass `cls` from a mapping, checking every key and type."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or 'config'}: expected a mapping of keys, got {_show(data)}")
    cls = _concrete(cls, data, path)
    known = {f.name: f for f in fields(cls) if f.init}
    for key in data:
        if key not in known:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(f"unknown config key '{where}'{_elsewhere(cls, str(key), path) or suggest(str(key), list(known))}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in known.items():
        if name in data:
            try:
                values[name] = _coerce(hints[name], data[name], f"{path}.{name}" if path else name)
            except ConfigError as e:
                if is_dataclass(hints[name]):  # a nested section has said what it had to say
                    raise
                raise ConfigError(f"{e}{_switch_hint(cls, name, data[name], path)}") from None
        elif _polymorphic_default(f):  # an absent section gets the class its default name picks
            default = f.default_factory()  # type: ignore[misc]
            values[name] = from_dict(hints[name], {"name": default.name}, f"{path}.{name}" if path else name)
    check_ranges(cls, values, path or "config")  # here with the exact dotted path; __post_init__ checks again
    return cls(**values)


def _polymorphic_default(f: dataclasses.Field) -> bool:
    """Whether a field's default is the bare base class of a polymorphic section (`Config.model`
    is a `ModelConfig`), which has none of the keys of the class its name picks."""
    if f.default_factory is dataclasses.MISSING:
        return False
    cls = f.default_factory
    return isinstance(cls, type) and "registry" in vars(cls)


def _switch_hint(cls: type, key: str, value: Any, path: str) -> str:
    """When a rejected value would fit the same key of another registered choice (an MLP's
    `hidden` list left under a conv encoder, say), say so: the section's name was switched."""
    registry = getattr(cls, "registry", None)
    if registry is None:
        return ""
    for other in registry.names():
        other_cls = registry.config_class(other)
        if other_cls is None or other_cls is cls or key not in {f.name for f in fields(other_cls)}:
            continue
        try:
            _coerce(typing.get_type_hints(other_cls)[key], value, key)
        except ConfigError:
            continue
        return f"; that value fits the {registry.kind} '{other}' (a key left over from switching {path}.name?)"
    return ""


def _concrete(cls: type, data: Mapping, path: str) -> type:
    """For a polymorphic base class, the registered config class that `data['name']` picks."""
    registry = getattr(cls, "registry", None)
    if registry is None:
        return cls
    name = data.get("name", cls().name)
    if not isinstance(name, str):
        raise ConfigError(f"{path}.name: expected a string, got {_show(name)}")
    try:
        concrete = registry.config_class(name)
    except ConfigError as e:
        raise ConfigError(f"{path}.name: {e}") from None
    return concrete or cls


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _coerce(option, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: {_show(value)} fits none of its types")
    if origin is Literal:
        if value in args:
            return value
        choices = [str(a) for a in args]
        hint = suggest(str(value), choices) if isinstance(value, str) else f" (choose one of: {', '.join(choices)})"
        raise ConfigError(f"{path}: {_show(value)} is not allowed{hint}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {_show(value)}")
        item = args[0] if args else Any
        return tuple(_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if is_dataclass(tp):
        return from_dict(tp, value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected true or false, got {_show(value)}")
    # numbers.Integral and numbers.Real take NumPy's scalars too (np.int64(4) from an array, say)
    if tp is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return check_int(value, path, error=ConfigError)  # what torch and NumPy can hold
        raise ConfigError(f"{path}: expected an integer, got {_show(value)}")
    if tp is float:
        if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # an integer beyond any float
                raise ConfigError(f"{path} must be a finite number, got an integer of {len(str(value))} digits") from None
            return check_real(value, path, error=ConfigError)  # no NaN or infinity: no setting means one
        raise ConfigError(f"{path}: expected a number, got {_show(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{path}: expected a string, got {_show(value)}")
    return value


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _show(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def to_dict(config: Any) -> dict:
    """The plain-data form of a config (lists, not tuples), as written to config.yaml."""

    def plain(v: Any) -> Any:
        if is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in fields(v) if f.init}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    return plain(config)


def parse_config(raw: Mapping | None, overrides: Sequence[str] = ()) -> Config:
    """A validated `Config` from a raw mapping (None: all defaults) plus dotted overrides."""
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"a config is a mapping of {SECTIONS}; got {describe(raw)}")
    return from_dict(Config, apply_overrides(dict(raw or {}), overrides))


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config file, apply dotted overrides and validate the result."""
    path = check_path(path, "load_config's path (of a YAML config file)")
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found; presets live in configs/")
    return parse_config(read_yaml(path), overrides)


def require_config(value: Any, fn: str) -> Config:
    """`value` if it is a Config; otherwise InputError saying how to make one of what was passed."""
    if isinstance(value, Config):
        return value
    if isinstance(value, (str, Path)):
        raise InputError(f"{fn} expects a Config, got the path {str(value)!r}; load it with "
                         f"vaekit.load_config({str(value)!r}) first")
    if isinstance(value, Mapping):
        raise InputError(f"{fn} expects a Config, got a {type(value).__name__}; make one with vaekit.parse_config(...) first")
    raise InputError(f"{fn} expects a Config (vaekit.load_config(path)), got {type(value).__name__}")


def dump_config(config: Config) -> str:
    """The YAML text of a config; `parse_config(yaml.safe_load(text))` gives it back."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def replace(config: C, **changes: Any) -> C:
    """A copy of a frozen config with some fields changed."""
    return dataclasses.replace(config, **changes)
