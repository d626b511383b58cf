"""Range checks for the numbers a user passes, written once: the command line's option types
(`vaekit.cli`), the Python API's arguments (`vaekit.sample`) and the config's integers
(`vaekit.config`) all call these, so a range and its wording live in one place.

Each check returns the value (an `int` or a `float`; a `Path`, a device name) or raises `error`
(InputError unless the caller names another type) with a one-line message that names the
argument, its range and the value given. An empty `name` leaves the message to start at "must"
(argparse names the option).
"""

from __future__ import annotations

import argparse
import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable, NoReturn

from vaekit.errors import ConfigError, InputError, VaekitError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what torch and NumPy hold in a long
SEED_MAX = INT64_MAX  # torch.manual_seed and numpy.random.default_rng both take 0..2**63-1


def check_int(value: Any, name: str, *, min: int | None = None, max: int | None = None,
              error: type[VaekitError] = InputError) -> int:
    """`value` as an int within [min, max] (each bound optional); never beyond a 64-bit integer,
    the widest that torch and NumPy take."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(f"{name} must be an integer, got {_show(value)}".strip())
    value = int(value)
    low = INT64_MIN if min is None else min
    high = INT64_MAX if max is None else max
    if value < low:
        raise error(f"{name} must be at least {low}, got {value}".strip())
    if value > high:
        top = "2**63-1 (the largest 64-bit integer)" if high == INT64_MAX else f"{high}"
        raise error(f"{name} must be at most {top}, got {_short(value)}".strip())
    return value


def check_seed(value: Any, name: str = "seed", *, max: int = SEED_MAX,
               error: type[VaekitError] = InputError) -> int:
    """A seed: an integer in [0, max], 2**63-1 unless a consumer takes fewer bits."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and not 0 <= value <= max:
        top = "2**63-1" if max == SEED_MAX else f"{max}"
        raise error(f"{name} must be an integer from 0 to {top}, got {_short(int(value))}".strip())
    return check_int(value, name, min=0, max=max, error=error)


def check_real(value: Any, name: str, *, min: float | None = None, min_exclusive: float | None = None,
               max: float | None = None, error: type[VaekitError] = InputError) -> float:
    """`value` as a finite float within the bounds given (NaN and infinities are never allowed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{name} must be a number, got {_show(value)}".strip())
    value = float(value)
    if not math.isfinite(value):
        raise error(f"{name} must be a finite number, got {value}".strip())
    if min_exclusive is not None and value <= min_exclusive:
        what = "positive" if min_exclusive == 0 else f"greater than {min_exclusive:g}"
        raise error(f"{name} must be {what}, got {value:g}".strip())
    if min is not None and value < min:
        raise error(f"{name} must be at least {min:g}, got {value:g}".strip())
    if max is not None and value > max:
        raise error(f"{name} must be at most {max:g}, got {value:g}".strip())
    return value


def check_path(value: Any, name: str, *, error: type[VaekitError] = InputError) -> Path:
    """`value` as a Path: a non-empty str or os.PathLike (pathlib.Path) naming a file or folder."""
    text = os.fspath(value) if isinstance(value, (str, os.PathLike)) else value
    if isinstance(text, bytes):
        raise error(f"{name} must be a path as text (a str or pathlib.Path), got bytes; decode it first, "
                    f"for example path.decode()".strip())
    if not isinstance(text, str):
        raise error(f"{name} must be a path (a str or pathlib.Path), got {_show(value)}".strip())
    if not text:
        raise error(f"{name} must name a file or folder, got an empty string".strip())
    return Path(text)


def check_device(value: Any, name: str = "device", *, error: type[VaekitError] = ConfigError) -> str:
    """`value` (a str or torch.device) as the name of a device this machine has: 'auto', 'cpu',
    'cuda' or 'cuda:N' with CUDA present, 'mps' on Apple silicon."""
    import torch

    if not isinstance(value, (str, torch.device)):
        raise InputError(f"{name} must be a device name such as 'cpu' or 'cuda', got {_show(value)}")
    text = str(value)
    if text == "auto":
        return text
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        shown = text if len(text) <= 30 else text[:27] + "..."
        raise error(f"{name} {shown!r} is not a device vaekit runs on; use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise error(f"{name} {text!r} asked for, but no CUDA device is available; use 'cpu'")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise error(f"{name} {text!r} asked for, but this machine has {torch.cuda.device_count()} CUDA device(s), "
                    f"numbered from 0; use one of those")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise error(f"{name} 'mps' asked for, but no Apple GPU is available; use 'cpu'")
    return text


# ----------------------------------------------------------------------------- command-line types
# Every number a `vaekit` option takes is parsed by one of these, which run the checks above: an
# out-of-range value is an argparse error, before anything is loaded or written. The upper bounds
# keep a typo from exhausting memory or running for days; each is far beyond any useful value.

MAX_IMAGES = 100_000  # examples one command draws or decodes into one picture or array
MAX_PAIRS, MAX_STEPS = 1_000, 100  # interpolate: at most MAX_IMAGES decodings in all
MAX_TEMPERATURE = 1_000.0  # prior scale; beyond it codes leave anything the decoder has seen, towards overflow
MAX_K = 1_000_000  # importance samples per example (papers use 5,000)
MAX_COMPONENTS = 1_000  # mixture components of the gmm sampler
MAX_GRID = 1_000  # samples per grid of a leaderboard page
MAX_MAP_POINTS = 20_000  # points of vaekit explore's map: drawn and sent to the page at once
TSNE_SEED_MAX = 2**32 - 1  # scikit-learn's t-SNE takes a 32-bit seed


def _typed(check: Callable[[Any], Any], parse: Callable[[str], Any], kind: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            shown = text if len(text) <= 30 else text[:27] + "..."
            raise argparse.ArgumentTypeError(f"expected {kind}, got {shown!r}") from None
        try:
            return check(value)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = kind  # what argparse calls the type in its own messages
    return convert


def count(min: int = 1, max: int | None = None) -> Callable[[str], int]:
    """An option type: an integer in [min, max] (max: a 64-bit integer's)."""
    return _typed(lambda v: check_int(v, "", min=min, max=max), int, "an integer")


def finite(min: float | None = None, min_exclusive: float | None = None, max: float | None = None) -> Callable[[str], float]:
    """An option type: a finite number within the bounds given (never NaN or an infinity)."""
    return _typed(lambda v: check_real(v, "", min=min, min_exclusive=min_exclusive, max=max), float, "a number")


def seed(max: int = SEED_MAX) -> Callable[[str], int]:
    """An option type: a seed, an integer in [0, max]."""
    return _typed(lambda v: check_seed(v, "", max=max), int, "an integer seed")


label = count(min=0)  # a class label


class Parser(argparse.ArgumentParser):
    """argparse with vaekit's error format: one line, exit code 2, and where to read more."""

    def error(self, message: str) -> NoReturn:
        line = " ".join(message.split())
        self.exit(2, f"vaekit: error: {line}; see {self.prog} --help\n")


def _short(value: int) -> str:
    """An integer as typed, or abridged when it is longer than a line should quote."""
    text = str(value)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"


def _show(value: Any) -> str:
    text = repr(value)
    return f"{text[:40]}... ({type(value).__name__})" if len(text) > 40 else f"{text} ({type(value).__name__})"
