"""What a leaderboard is made of: the `Budget` every entry trains for, and the `Entry` row that
each config becomes. The runner fills entries in; the tables rank and write them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaekit.errors import ConfigError

# A time budget stops on train.max_minutes; the epoch cap only has to be out of reach. A cosine
# schedule spans the cap, so under a time budget it stays at train.lr (see docs/leaderboard.md).
TIME_BUDGET_EPOCHS = 1_000_000
# Figures of evaluate's base result that have a column of their own, or are bookkeeping.
_BASE_KEYS = {"split", "num_examples", "importance_samples", "elbo", "elbo_stderr", "recon", "kl", "nll",
              "nll_stderr", "nll_nats_per_dim", "nll_bits_per_dim", "active_units", "latent_dim", "num_dims",
              "seconds", "metrics", "kl_per_dim", "collapse_warning", "bound",
              "mutual_information_raw", "measured", "weights_sha256"}  # evaluate's bookkeeping, not columns

_BUDGET = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)\s*", re.IGNORECASE)
_UNITS = {**dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1 / 60),
          **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 1.0),
          **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 60.0)}
_EPOCHS = {"ep", "eps", "epoch", "epochs"}


@dataclass(frozen=True)
class Budget:
    """What every entry trains for: `minutes` of training time or a number of `epochs`."""

    minutes: float | None = None
    epochs: int | None = None

    def overrides(self) -> list[str]:
        """The dotted overrides that impose the budget on a config."""
        if self.epochs is not None:  # exactly this many epochs: drop any time budget of the config
            return [f"train.epochs={self.epochs}", "train.max_minutes=0"]
        return [f"train.max_minutes={self.minutes!r}", f"train.epochs={TIME_BUDGET_EPOCHS}"]

    def __str__(self) -> str:
        if self.epochs is not None:
            return f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        return f"{self.minutes:g} min"


def parse_budget(text: str) -> Budget:
    """A budget from text: a time such as '90s', '10m' or '1.5h', or epochs such as '20ep' or
    '20 epochs'. Anything else is a ConfigError that shows those examples."""
    match = _BUDGET.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match and unit in _EPOCHS and match.group(1).isdigit() and int(match.group(1)) > 0:
        return Budget(epochs=int(match.group(1)))
    if match and unit in _UNITS and float(match.group(1)) > 0:
        return Budget(minutes=float(match.group(1)) * _UNITS[unit])
    raise ConfigError(f"budget '{text}' is not understood; give a time such as 90s, 10m or 1.5h, "
                      "or a whole number of epochs such as 20ep or '20 epochs'")


@dataclass
class Entry:
    """One config's row: how it trained, what it measured, and where it ranks."""

    name: str  # the run directory's name, OUT/<name>
    config: str  # the config file
    run_dir: Path
    status: str = "pending"  # trained, resumed, reused; or failed, diverged
    error: str | None = None  # why it failed (one line), or why some figures are missing
    family: str | None = None
    params: int | None = None
    epochs: int | None = None
    minutes: float | None = None  # training time, validation and checkpoints aside
    images_per_sec: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # the test-split evaluation
    rank: int | None = None  # None: failed, or no value to rank by
    test_split: str | None = None  # a fingerprint of the test split the entry was evaluated on
    samples: bytes | None = field(default=None, repr=False)  # a PNG sample grid (image data)
    sentences: list[str] | None = field(default=None, repr=False)  # samples of a text run

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "diverged")

    def value(self, column: str) -> float | None:
        """A numeric column's value, None where it is missing or not finite."""
        if column in ("params", "epochs", "minutes", "images_per_sec"):
            v = getattr(self, column)
        else:
            v = self.metrics.get("nll_bits_per_dim" if column == "bits_per_dim" else column)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        return v

    def extras(self) -> dict[str, float]:
        """Figures beyond evaluate's base ones (from its metric groups), nested keys dotted."""
        return {k: v for k, v in _flatten(self.metrics).items() if k.split(".")[0] not in _BASE_KEYS}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = v
    return out
