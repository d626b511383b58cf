"""Ranges of numeric config keys, declared once per config class and checked in one place.

A config class names the range of each numeric key it bounds, `ranges = {"sigma": POSITIVE}`;
`vaekit.config` checks them with the key's dotted path when it parses a config, and again when a
config is built or replaced in Python. A list key's every item must lie in its range. The
wording is that of `vaekit.checks`: `model.likelihood.sigma must be positive, got 0`.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, fields
from typing import Any, Mapping

from vaekit.checks import check_int, check_real
from vaekit.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """The values a numeric config key may take; a list key's every item must lie in it."""

    min: float | None = None
    min_exclusive: float | None = None
    max: float | None = None


AT_LEAST_1 = Range(min=1)  # sizes and counts
NON_NEGATIVE = Range(min=0)  # weights of loss terms, spreads, sizes where 0 means none
POSITIVE = Range(min_exclusive=0)  # scales that are divided by or logged


def key_ranges(cls: type) -> dict[str, Range]:
    """The ranges `cls` and its bases declare (a subclass's own win), key -> Range."""
    out: dict[str, Range] = {}
    for klass in reversed(cls.__mro__):
        out.update(vars(klass).get("ranges", {}))
    return out


def check_ranges(cls: type, values: Mapping[str, Any], where: str) -> None:
    """ConfigError naming `where.key` for the first value of `values` outside its key's range."""
    declared = key_ranges(cls)
    hints = typing.get_type_hints(cls) if declared else {}
    for key, r in declared.items():
        if key not in values or values[key] is None:
            continue
        value = values[key]
        items = enumerate(value) if isinstance(value, (tuple, list)) else [(None, value)]
        for i, item in items:
            name = f"{where}.{key}" if i is None else f"{where}.{key}[{i}]"
            if _holds_int(hints.get(key)):  # an integer key: its bounds as the integers they allow
                low = r.min if r.min_exclusive is None else math.floor(r.min_exclusive) + 1
                check_int(item, name, min=None if low is None else math.ceil(low),
                          max=None if r.max is None else math.floor(r.max), error=ConfigError)
            else:
                check_real(item, name, min=r.min, min_exclusive=r.min_exclusive, max=r.max, error=ConfigError)


def check_own_ranges(config: Any, where: str) -> None:
    """`check_ranges` on a built config's own values (a dataclass instance)."""
    check_ranges(type(config), {f.name: getattr(config, f.name) for f in fields(config)}, where)


def _holds_int(tp: Any) -> bool:
    return tp is int or any(_holds_int(a) for a in typing.get_args(tp))
