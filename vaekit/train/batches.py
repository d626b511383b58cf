"""Minibatches from in-memory tensors: seeded shuffling, optional dynamic binarization.

A torch.Generator drives the order (and the binarization draws), so its state, saved in the
training state at each epoch end, is all a resumed run needs to see the same batches.
"""

from __future__ import annotations

from typing import Iterator

import torch

from vaekit.data import Split


def batches(split: Split, batch_size: int, generator: torch.Generator, device: torch.device,
            dynamic_binarize: bool = False, drop_last: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield shuffled (x, y) batches on `device`; the last partial batch is dropped when there
    are enough examples, so compiled steps see one shape."""
    n = len(split)
    order = torch.randperm(n, generator=generator)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        x = split.x[idx]
        if dynamic_binarize:
            x = torch.bernoulli(x, generator=generator)
        y = split.y[idx] if split.y is not None else None
        yield x.to(device, non_blocking=True), (y.to(device, non_blocking=True) if y is not None else None)


def num_batches(n: int, batch_size: int, drop_last: bool = True) -> int:
    if drop_last and n >= batch_size:
        return n // batch_size
    return -(-n // batch_size)
