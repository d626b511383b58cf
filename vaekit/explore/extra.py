"""The explorer's optional dependencies (the `explore` extra): checked before they are imported,
so a missing one is a one-line error naming the extra. Its own module, so that the package's
`__init__` and the modules that need the check import it without importing each other."""

from __future__ import annotations

import importlib

from vaekit.errors import ConfigError

EXTRA = 'pip install "vaekit[explore]"'


def require(*modules: str) -> None:
    """ConfigError naming the extra when one of `modules` (starlette, uvicorn) is not installed."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ConfigError(f"vaekit explore needs {name}, which is not installed; install the explorer's "
                              f"dependencies with: {EXTRA}") from None
