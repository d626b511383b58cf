"""Minibatches from in-memory tensors: seeded shuffling, optional dynamic binarization, and the
share of each batch that one process of a distributed run takes.

A torch.Generator drives the order (and the binarization draws), so its state, saved in the
training state at each epoch end, is all a resumed run needs to see the same batches. In a
distributed run every process draws the same order and the same binarization from the same
generator and keeps its contiguous part of each global batch: the processes together see exactly
the batches one process would, so their averaged gradients are the single-process gradient.
"""

from __future__ import annotations

from typing import Iterator

import torch

from vaekit.contract import Batch
from vaekit.data import Split


def batches(split: Split, batch_size: int, generator: torch.Generator, device: torch.device,
            dynamic_binarize: bool = False, drop_last: bool = True, rank: int = 0,
            world_size: int = 1) -> Iterator[Batch]:
    """Yield shuffled batches of `batch_size` examples (the global batch: this process's share is
    batch_size / world_size of them) on `device`; the last partial batch is dropped when there
    are enough examples, so compiled steps see one shape."""
    n = len(split)
    order = torch.randperm(n, generator=generator)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield _cut(split, order[start : start + batch_size], generator, device, dynamic_binarize, rank, world_size)


def random_batch(split: Split, batch_size: int, generator: torch.Generator, device: torch.device,
                 dynamic_binarize: bool = False, rank: int = 0, world_size: int = 1) -> Batch:
    """One batch of `batch_size` distinct examples drawn at random (aggressive training's fresh
    minibatches), this process's share of it, from `generator`: the epoch order's generator, whose
    saved state makes a resumed run draw them again."""
    idx = torch.randperm(len(split), generator=generator)[:batch_size]
    return _cut(split, idx, generator, device, dynamic_binarize, rank, world_size)


def _cut(split: Split, idx: torch.Tensor, generator: torch.Generator, device: torch.device,
         dynamic_binarize: bool, rank: int, world_size: int) -> Batch:
    batch = split.batch(idx)
    if dynamic_binarize:
        batch = batch.with_x(torch.bernoulli(batch.x, generator=generator))
    if world_size > 1:  # the loop makes every batch whole and a multiple of world_size
        per = len(idx) // world_size
        batch = batch[rank * per : (rank + 1) * per]
    return batch.to(device, non_blocking=True)


def num_batches(n: int, batch_size: int, drop_last: bool = True) -> int:
    if drop_last and n >= batch_size:
        return n // batch_size
    return -(-n // batch_size)
