"""Model weights on disk: safetensors files written atomically, read back checked (whole, finite,
of the model's shapes and kinds), and the plain module inside torch.compile and DDP wrappers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from vaekit.errors import CheckpointError
from vaekit.files import atomic_write, read_error


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
    """Read a safetensors file. A missing, unreadable or damaged file, or one holding NaN or an
    infinity, raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights at '{path}'; train the run first (vaekit train) or check the path")
    fix = "retrain or restore it from a copy"
    try:
        state = load_file(str(path))
    except PermissionError as e:
        raise read_error(path, e, fix) from None
    except (SafetensorError, OSError, ValueError):
        raise CheckpointError(f"weights file '{path}' is damaged (not a whole safetensors file); {fix}") from None
    check_finite(state, f"weights file '{path}'", "retrain, or resume from an earlier copy")
    return state


def tensors_in(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor in nested dicts, lists and tuples; names join keys with
    dots and give list positions in brackets ('optimizer.state.0.exp_avg', 'ema[3]')."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from tensors_in(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from tensors_in(v, f"{prefix}[{i}]")


def check_finite(obj: Any, what: str, fix: str) -> None:
    """CheckpointError naming the first tensor in `obj` (see `tensors_in`) that holds NaN or an
    infinity: loaded weights like that give NaN figures and blank samples, never an error."""
    for name, t in tensors_in(obj):
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            kind = "NaN" if bool(torch.isnan(t).any()) else "an infinity"
            raise CheckpointError(f"{what} holds {kind} in '{name}'; the run diverged or the file is damaged: {fix}")


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
    # A tensor of another kind (integers where the model holds floats) would be cast without a
    # word, into a model of rounded weights; a float of another width (float16 weights) casts
    # exactly or nearly so, and loads. Integer buffers (a counter) are integers in the model too.
    for k in own:
        if isinstance(own[k], torch.Tensor) and isinstance(state[k], torch.Tensor) and _kind(own[k]) != _kind(state[k]):
            raise CheckpointError(f"the checkpoint in '{source}' holds '{k}' as {_dtype(state[k])}, but the model "
                                  f"holds it as {_dtype(own[k])}: the file was converted or damaged; retrain, or "
                                  f"restore it from a copy")
    unwrap(model).load_state_dict(state)


def _kind(t: torch.Tensor) -> str:
    if t.dtype == torch.bool:
        return "bool"
    return "complex" if t.is_complex() else "float" if t.is_floating_point() else "int"


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")
