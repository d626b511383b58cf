"""The hooks the epoch loop calls (`vaekit.train.loop`): the `Callback` protocol, what its start
and end hooks receive (`TrainInfo`), and how they are called. The loop calls `on_epoch_end`
itself, where StopTraining is caught."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from vaekit.config import Config
from vaekit.errors import VaekitError


class Callback(Protocol):
    """Hooks the loop calls; implement any subset (a hook a callback lacks is not called). Every
    process of a distributed run calls them; `TrainInfo.is_main` tells the one that writes."""

    def on_train_start(self, info: "TrainInfo") -> None: ...  # before the session's first epoch

    def on_epoch_end(self, record: dict[str, Any]) -> None: ...  # the epoch's metrics.jsonl record

    def on_train_end(self, info: "TrainInfo") -> None: ...  # however the session ends, if it started


@dataclass(frozen=True)
class TrainInfo:
    """What `on_train_start` and `on_train_end` receive."""

    config: Config
    run_dir: Path
    start_epoch: int  # epochs completed before this session: 0, or where a resumed run picks up
    records: tuple[dict[str, Any], ...]  # metrics.jsonl's records of those epochs (() where not is_main)
    is_main: bool  # the process that writes the run directory (the only one, outside torchrun)
    summary: dict[str, Any] | None = None  # on_train_end: summary.json, when training finished (is_main)
    error: BaseException | None = None  # on_train_end: what ended the session early, if anything


def start(callbacks: Sequence[Any], info: TrainInfo, started: list[Any]) -> None:
    """on_train_start of each callback that has it, in order; `started` collects those reached,
    so that the ones before a failure still get on_train_end."""
    for cb in callbacks:
        if hasattr(cb, "on_train_start"):
            cb.on_train_start(info)
        started.append(cb)


def end(callbacks: Sequence[Any], info: TrainInfo, log: Callable[[str], None]) -> None:
    """on_train_end of the callbacks that started. The run is saved by now, so a hook that fails
    with a VaekitError is a warning; while an error ends the session, a failing hook must not
    hide that error, and is a warning too."""
    for cb in callbacks:
        if not hasattr(cb, "on_train_end"):
            continue
        try:
            cb.on_train_end(info)
        except VaekitError as e:
            log(f"warning: {e}")
        except Exception as e:
            if info.error is None:
                raise
            log(f"warning: {type(cb).__name__}.on_train_end failed too: {type(e).__name__}: {e}")
