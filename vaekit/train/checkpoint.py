"""Atomic checkpoint files: write to a temporary file beside the target, fsync, then rename.

A run killed mid-write leaves the previous checkpoint intact, never a truncated one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from vaekit.errors import CheckpointError, OutputError


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)`, then atomically move the result to `path`."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"cannot write to '{path.parent}' ({e.strerror}); choose another output directory") from None
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Atomically write a text file."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside torch.compile and DistributedDataParallel wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def save_weights(model: nn.Module, path: str | Path, metadata: dict[str, str]) -> None:
    """Save the model's tensors as safetensors, with string metadata, atomically."""
    state = {k: v.detach().contiguous().cpu() for k, v in unwrap(model).state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing or damaged file raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights at '{path}'; train the run first (vaekit train) or check the path")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"weights file '{path}' is damaged ({e}); retrain or restore it from a copy") from None


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a state dict, with a one-line error naming the first mismatch if it does not fit."""
    own = unwrap(model).state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or extra or wrong:
        if wrong:
            k = wrong[0]
            what = f"'{k}' has shape {tuple(state[k].shape)} there but {tuple(own[k].shape)} in the model"
        else:
            what = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        raise CheckpointError(
            f"the checkpoint in '{source}' does not fit this config ({what}); use the config.yaml saved with that run"
        )
    unwrap(model).load_state_dict(state)


def save_state(state: dict[str, Any], path: str | Path) -> None:
    """Atomically save the training state (tensors and plain data only)."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no training state at '{path}'; nothing to resume (start the run with vaekit train)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file
        raise CheckpointError(f"training state '{path}' is damaged ({type(e).__name__}); restart the run with --overwrite") from None
