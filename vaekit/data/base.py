"""The shapes every data set takes: a `Split` of examples, a `Dataset` of three splits, and the
`RawSet` a builder hands to `load_dataset` before the shared post-processing.

Builders return a `RawSet`, whose validation and test splits may be missing (the set ships none);
`vaekit.data.load.load_dataset` carves those, applies `limit` and `binarize`, checks the values
and returns the finished `Dataset`, in which every split is present and non-empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from vaekit.contract import Batch
from vaekit.errors import DataError
from vaekit.registry import suggest

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One split: `x` float32 of shape (N, *shape), images scaled to [0, 1] (text: int64 token ids
    (N, L), padded with 0); `y` int64 (N,) or None; `factors` int64 (N, F), the known generative
    factors of each example (synthetic sets), or None; `mask` like x, 1 where an entry is observed
    and 0 where it is missing, or None (all observed); `lengths` int64 (N,), each sequence's length
    (text: its tokens and `<eos>`), or None. `batch(index)` cuts the `Batch` (vaekit.contract)
    that models take."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    factors: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    lengths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.y is not None and self.y.shape[0] != self.x.shape[0]:
            raise DataError(
                f"{self.x.shape[0]} examples but {self.y.shape[0]} labels; give exactly one label per example"
            )
        if self.factors is not None and (self.factors.ndim != 2 or self.factors.shape[0] != self.x.shape[0]):
            raise DataError(
                f"{self.x.shape[0]} examples but factors of shape {tuple(self.factors.shape)}; give one row per example"
            )

        if self.mask is not None and self.mask.shape != self.x.shape:
            raise DataError(f"a mask of shape {tuple(self.mask.shape)} for examples of shape {tuple(self.x.shape)}; "
                            "give one mask entry per value")
        if self.lengths is not None and (self.lengths.shape != self.x.shape[:1] or self.lengths.is_floating_point()):
            raise DataError(f"{self.x.shape[0]} sequences but lengths of shape {tuple(self.lengths.shape)} and type "
                            f"{self.lengths.dtype}; give one integer length per sequence")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batch(self, index: torch.Tensor | slice | None = None) -> Batch:
        """The examples `index` selects (all of them for None) as a Batch: x, labels, mask and
        lengths. With lengths, x (and the mask) are cut to the batch's longest sequence, so that a
        recurrent network does not run over columns that hold padding only."""
        def take(t):
            return None if t is None else (t if index is None else t[index])
        x, mask, lengths = take(self.x), take(self.mask), take(self.lengths)
        if lengths is not None and len(lengths) and x.ndim >= 2:
            width = max(int(lengths.max()), 1)
            if width < x.shape[1]:
                x = x[:, :width].contiguous()  # (B, width)
                mask = None if mask is None else mask[:, :width].contiguous()
        return Batch(x, take(self.y), mask, lengths)


@dataclass(frozen=True)
class Dataset:
    """A loaded data set: three non-empty splits and what a model needs to know about one example."""

    name: str
    train: Split
    val: Split
    test: Split
    shape: tuple[int, ...]  # one example: (C, H, W) for images, (D,) for vectors
    is_image: bool
    binary: bool  # every value is 0 or 1 (after any binarization)
    dynamic_binarize: bool  # the training loop resamples x ~ Bernoulli(x) per batch
    num_classes: int | None
    factor_names: tuple[str, ...] | None = None  # names of the columns of each split's `factors`
    # The run's codec (vaekit.data.codec) once applied: x are then in model space (standardised
    # vectors, say) and `codec.decode` gives the data's units back; None: x are in the data's units.
    codec: Any = None
    # What the builder counted while reading, by name (a text set's "lines", "empty_lines",
    # "truncated_lines"); empty for sets that count nothing.
    counts: Mapping[str, int] = field(default_factory=dict)

    def split(self, name: str) -> Split:
        """The split called 'train', 'val' or 'test'."""
        if name not in SPLITS:
            raise DataError(f"unknown split '{name}'{suggest(name, list(SPLITS))}")
        return getattr(self, name)


@dataclass(frozen=True)
class RawSet:
    """What a builder returns: the splits as the files ship them (`val`/`test` None when the set
    ships none), before `load_dataset` carves, limits, binarizes and checks them.

    `source` names where the data came from (a file or folder), for error messages.
    """

    train: Split
    val: Split | None
    test: Split | None
    shape: tuple[int, ...]
    is_image: bool
    num_classes: int | None
    source: str
    factor_names: tuple[str, ...] | None = None  # set by builders whose splits carry `factors`
    codec: Any = None  # set by builders that encode while reading (a table's TableCodec): x are in model space
    counts: Mapping[str, int] = field(default_factory=dict)  # what the builder counted while reading (Dataset.counts)


def make_split(x: np.ndarray, y: np.ndarray | None = None, scale: float = 1.0) -> Split:
    """A `Split` from numpy arrays: x becomes float32 (divided by `scale`), y int64."""
    # np.array always copies: the tensors own their memory, even when x is a read-only view of
    # a file buffer, and the in-place division below cannot touch the caller's array.
    xf = np.array(x, dtype=np.float32, order="C")
    if scale != 1.0:
        xf /= np.float32(scale)
    yt = None if y is None else torch.from_numpy(np.array(y, dtype=np.int64))
    return Split(torch.from_numpy(xf), yt)
