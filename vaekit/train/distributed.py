"""The distributed layer as the trainer sees it, for one process: every method is the no-op it
is there. The multi-process layer (DistributedDataParallel under torchrun) keeps this interface."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch


class Distributed:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.rank, self.world_size, self.enabled = 0, 1, False

    @classmethod
    def from_env(cls, device: torch.device) -> "Distributed":
        return cls(device)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model):
        return model

    def all_ok(self, ok) -> bool:
        return bool(ok)

    def reduce_sums(self, d: dict[str, Any]) -> dict[str, float]:
        return {k: float(v) for k, v in d.items()}

    def broadcast(self, obj):
        return obj

    def barrier(self) -> None:
        pass

    def check_batch_size(self, batch_size: int, n: int) -> None:
        pass

    @contextlib.contextmanager
    def guard(self, out: Path):
        yield

    def close(self) -> None:
        pass
