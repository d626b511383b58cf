"""Training checkpoints: the training state (`train_state.pt`: weights, optimizers, EMA, random
generators, counters) saved atomically and loaded back checked. The run directory's other files
are written by `vaekit.files`, the weights by `vaekit.weights`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vaekit.errors import CheckpointError
from vaekit.files import atomic_write, read_error
from vaekit.weights import check_finite


def save_state(state: dict[str, Any], path: str | Path) -> None:
    """Atomically save the training state (tensors and plain data only)."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: str | Path) -> dict[str, Any]:
    """The training state saved by `save_state`. A missing, unreadable or damaged file, or one whose
    weights (the model's, the EMA's) hold NaN or an infinity, raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no training state at '{path}'; nothing to resume (start the run with vaekit train)")
    fix = "restart the run with --overwrite"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as e:
        raise read_error(path, e, fix) from None
    except Exception as e:  # torch raises many types for a damaged file
        raise CheckpointError(f"training state '{path}' is damaged ({type(e).__name__}); {fix}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"training state '{path}' is damaged (not a training state); {fix}")
    # The weights only: an optimizer's second moment may hold an infinity the run lives with
    # (an overflowed square divides the step to 0), and NaN in it reaches the weights at once.
    weights = {k: state.get(k) for k in ("model", "ema")}
    check_finite(weights, f"training state '{path}'", f"{fix}, or resume from an earlier copy")
    return state
