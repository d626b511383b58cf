"""The training state in the run directory: preparing the folder, saving and restoring what
`--resume` needs (weights, optimizers, EMA, random streams, counters), and metrics.jsonl.

Every write goes through `vaekit.files` (atomic, umask modes, OutputError on a full disk), by way
of `vaekit.train.checkpoint`; `Counters` is the loop's progress, saved with the state.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from vaekit import run as rundir
from vaekit.errors import CheckpointError, OutputError
from vaekit import files, weights
from vaekit.train import checkpoint


@dataclass
class Counters:
    """The loop's progress, saved in train_state.pt."""

    epoch: int = 0  # completed epochs
    step: int = 0
    best_val: float = -math.inf  # the best validation score: the ELBO, or minus the objective
    best_epoch: int = 0
    epochs_since_best: int = 0
    plateau_scale: float = 1.0
    skipped_steps: int = 0
    elapsed: float = 0.0  # seconds of training so far, over all sessions of the run
    # train.aggressive (vaekit.train.aggressive): whether the aggressive phase has ended, and the
    # validation I(x;z) after its last epoch, which the next must not fall below.
    aggressive_ended: bool = False
    last_mi: float = 0.0


def prepare_dir(out: Path, resume: bool, overwrite: bool, write_probe: bool = True) -> Path:
    """The run directory, checked writable before any work (a resumed one too, whose first
    checkpoint would otherwise fail an epoch later); resuming clears the temporary files of
    writes killed mid-way. `write_probe=False` (the processes of a distributed run that do not
    write) only checks what is there."""
    if resume:
        if not (out / rundir.STATE).is_file():
            raise CheckpointError(f"no run to resume in '{out}' (no {rundir.STATE}); start it with vaekit train")
    elif (out / rundir.STATE).exists() or (out / rundir.WEIGHTS).exists():
        if not overwrite:
            raise OutputError(f"'{out}' already holds a run; continue it with --resume {out}, "
                              "start again with --overwrite, or choose another --out")
    fix = "make it writable" if resume else "choose another --out"
    if not write_probe:
        return out
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
        if resume:
            files.remove_temp_files(out)
    except OSError as e:
        raise OutputError(f"cannot write the run directory '{out}' ({(e.strerror or 'write failed').lower()}); "
                          f"{fix}") from None
    return out


def save_state(out: Path, model, optimizers, ema, gen, counters: Counters) -> None:
    state = {
        "model": {k: v.detach().cpu() for k, v in weights.unwrap(model).state_dict().items()},
        "optimizer": optimizers[0].state_dict(),
        "aux_optimizer": optimizers[1].state_dict() if len(optimizers) > 1 else None,
        "ema": ema.state_dict() if ema is not None else None,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "data_rng": gen.get_state(),
        "counters": asdict(counters),
    }
    checkpoint.save_state(state, out / rundir.STATE)


def restore(out: Path, model, optimizers, ema, gen, data_shape, truncate: bool = True) -> Counters:
    """Load the training state of the run in `out` (checked finite by `load_state`) into the
    model, optimizers, EMA and generators; its metrics.jsonl is cut back to the state's epoch
    (by the process that writes, `truncate`)."""
    weights_meta(out, data_shape)
    state = checkpoint.load_state(out / rundir.STATE)
    try:
        model_state, counters = state["model"], Counters(**state["counters"])
    except (KeyError, TypeError):
        raise CheckpointError(f"training state '{out / rundir.STATE}' is damaged (it lacks the model or its "
                              f"counters); restart the run with --overwrite") from None
    weights.load_into(model, model_state, str(out))
    optimizers[0].load_state_dict(state["optimizer"])
    if len(optimizers) > 1 and state.get("aux_optimizer") is not None:
        optimizers[1].load_state_dict(state["aux_optimizer"])
    if ema is not None and state.get("ema") is not None:
        ema.load_state_dict(state["ema"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    gen.set_state(state["data_rng"])
    if truncate:
        truncate_metrics(out, counters.epoch)
    return counters


def weights_meta(out: Path, data_shape: tuple[int, ...]) -> dict[str, str]:
    """The metadata of the weights of the run in `out` ({} without weights), checked to describe
    data of `data_shape`."""
    meta = rundir.weights_metadata(out / rundir.WEIGHTS) if (out / rundir.WEIGHTS).exists() else {}
    try:
        shape = json.loads(meta["data_shape"]) if "data_shape" in meta else None
    except ValueError:
        shape = None  # damaged metadata: the weights are replaced at the first better epoch anyway
    if shape is not None and tuple(shape) != tuple(data_shape):
        raise CheckpointError(f"the run in '{out}' was trained on data of shape {shape}, "
                              f"not {list(data_shape)}; resume it with its own data config")
    return meta


def append_metrics(out: Path, record: dict) -> None:
    files.append_text(out / rundir.METRICS, json.dumps(record) + "\n")


def truncate_metrics(out: Path, epoch: int) -> None:
    """Drop metric lines of epochs after the saved state (a run killed between the two writes),
    and a last line cut off mid-write, rewriting the file whole."""
    path = out / rundir.METRICS
    if path.is_file():
        lines = [line for line, record in rundir.read_metrics(path) if record["epoch"] <= epoch]
        files.write_text(path, "".join(line + "\n" for line in lines))
