"""What the tests of the bench scripts (tests/bench/) share: importing a script from bench/ by name."""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

BENCH = Path(__file__).resolve().parents[1] / "bench"


@contextlib.contextmanager
def bench_modules(*names: str) -> Iterator[tuple[ModuleType, ...]]:
    """The bench scripts `names`, imported with bench/ on sys.path for as long as the block runs
    (the scripts import their neighbours, `common`, `tabular_baselines`, by name)."""
    sys.path.insert(0, str(BENCH))
    try:
        yield tuple(importlib.import_module(name) for name in names)
    finally:
        sys.path.remove(str(BENCH))
