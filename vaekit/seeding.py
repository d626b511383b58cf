"""Seeded randomness that leaves the caller's random stream alone."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Within the block the global RNG (and the CUDA one of `device`) starts from `seed`; after
    it, the RNG state is as before, so an evaluation in the middle of training does not change
    what training draws next. `seed=None` draws from the current stream instead."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        yield
