"""Your own arrays: `data.path` names a `.npy`, `.npz` or `.csv` file.

What is accepted:
- `.npy`: one numeric array x; seeded validation and test splits are carved from it.
- `.npz`: either `x` (and optionally `y`, int labels), carved like a `.npy`; or explicit splits
  `train`, `val`, `test` with optional labels `train_y`, `val_y`, `test_y` (`val` and `test`
  may be left out and are then carved from `train`). Any other key is an error, so a typo such as
  `valid` is not silently ignored.
- `.csv`: one example per row, comma-separated; a header row is optional (a first row with a
  non-numeric feature cell is the header). `data.label_column` names the column holding labels
  (by header name, or by 0-based index: a number is always read as an index); labels are
  non-negative integers or class names (numbered in sorted order).

Per-example shape: (D,) is a vector; (H, W) or (C, H, W) is an image, whose values must lie in
[0, 1], except uint8 arrays, which are divided by 255. Vectors keep their values as they are
here; training standardises them under a real-valued likelihood (`data.standardize`, with the
training split's statistics: `vaekit.data.codec`).
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.checks import check_int
from vaekit.errors import ConfigError
from vaekit.sections import DataConfig
from vaekit.data.base import SPLITS, RawSet, make_split
from vaekit.data.download import resolve_path
from vaekit.data.files import reading
from vaekit.errors import DataError
from vaekit.registry import DATASETS

NAME = "arrays"
WHAT = "a .npy, .npz or .csv file"
Pools = dict[str, tuple[np.ndarray, "np.ndarray | None"]]  # split -> (x, y)


@dataclass(frozen=True)
class ArraysConfig(DataConfig):
    """Arrays from a .npy, .npz or .csv file (`data.name: arrays`): every key of DataConfig, and
    the CSV column of labels."""

    name: str = NAME
    label_column: str | int | None = None  # CSV column of labels, by header name or 0-based index; not a feature

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.label_column, int) and not isinstance(self.label_column, bool):
            check_int(self.label_column, "data.label_column (a 0-based column index)", min=0, error=ConfigError)


@DATASETS.register(NAME, config=ArraysConfig)
def build_arrays(config: DataConfig) -> RawSet:
    """Examples from the `.npy`, `.npz` or `.csv` file at `data.path`."""
    path = resolve_path(config, NAME, WHAT)
    suffix = path.suffix.lower()
    if config.label_column is not None and suffix != ".csv":
        raise DataError(f"data.label_column applies to CSV files, not {path}; store labels as 'y' in a .npz instead")
    if suffix in (".npy", ".npz"):
        pools = _pools(path, _np_load(path))
    elif suffix == ".csv":
        pools = {"train": read_csv(path, config.label_column)}
    else:
        raise DataError(f"{path} is not {WHAT}; convert it to one of those and pass data.path= again")
    return _to_rawset(path, pools)


def _np_load(path: Path) -> dict[str, np.ndarray]:
    """Every array of a .npy file (as 'x') or a .npz file (by key)."""
    resave = "np.save" if path.suffix.lower() == ".npy" else "np.savez"
    try:
        with reading(path, f"point data.path= at {WHAT}"):
            loaded = np.load(path, allow_pickle=False)  # never unpickle: a data file must not run code
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                return {"x": loaded}
            with loaded:
                return {key: loaded[key] for key in loaded.files}
    except DataError:
        raise
    except ValueError as e:
        if "allow_pickle" in str(e):
            with reading(path, f"point data.path= at {WHAT}"), open(path, "rb") as f:
                magic = f.read(6)
            if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):  # np.load took it for a pickle
                raise DataError(f"{path} is not a NumPy file (no .npy or .npz header); save the array with {resave}") from None
            raise DataError(f"{path} holds an object array; save numbers (np.asarray(x, dtype=np.float32))") from None
        raise DataError(f"cannot read {path} ({e}); save it again with {resave}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read {path} ({e}); save it again with {resave}") from None


def _pools(path: Path, arrays: dict[str, np.ndarray]) -> Pools:
    keys = set(arrays)
    pooled, explicit = {"x", "y"}, {*SPLITS, *(f"{s}_y" for s in SPLITS)}
    if keys and keys <= pooled and "x" in keys:
        return {"train": (arrays["x"], arrays.get("y"))}
    if keys and keys <= explicit and "train" in keys:
        return {s: (arrays[s], arrays.get(f"{s}_y")) for s in SPLITS if s in keys}
    raise DataError(
        f"{path} has arrays {sorted(keys)}; expected 'x' (and 'y'), or 'train', 'val', 'test' "
        f"(and 'train_y', 'val_y', 'test_y'): rename them with np.savez"
    )


def read_csv(path: Path, label_column: str | int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Features (N, D) float64 and labels (N,) or None from a CSV file with an optional header."""
    try:
        with reading(path, f"point data.path= at {WHAT}"), open(path, newline="") as f:
            rows = [row for row in csv.reader(f) if row]  # blank lines carry no example
    except (UnicodeDecodeError, csv.Error):  # a binary file named .csv, or NUL bytes
        raise DataError(f"{path} is not a CSV text file (binary data or NUL bytes); save it as text, one example per row") from None
    if not rows:
        raise DataError(f"{path} is empty; put one example per row in it")
    width = len(rows[0])
    label_at, named = _label_index(path, rows[0], label_column)
    feature_cols = [c for c in range(width) if c != label_at]
    # A label column found by name proves a header; otherwise any non-numeric feature cell does.
    has_header = named or any(not _is_number(rows[0][c]) for c in feature_cols)
    names = rows[0] if has_header else [str(c) for c in range(width)]
    if has_header:
        _check_unique_names(path, names)
    first_line = 2 if has_header else 1
    data = rows[1:] if has_header else rows
    for i, row in enumerate(data):
        if len(row) != width:
            raise DataError(f"{path} row {i + first_line} has {len(row)} columns, expected {width}; fix or drop that row")
    if not data:
        raise DataError(f"{path} has a header but no examples; put one example per row under it")
    cells = np.array(data, dtype=str)
    try:
        x = cells[:, feature_cols].astype(np.float64)
    except ValueError:
        # Find the offending cell for the message; only on the error path, so a Python loop is fine.
        for i, row in enumerate(data):
            for c in feature_cols:
                if not _is_number(row[c]):
                    raise DataError(
                        f"{path} row {i + first_line}, column '{names[c]}' holds {row[c]!r}, which is not a number; "
                        f"fix or drop that row{'' if label_column is not None else ', or name a label column with data.label_column'}"
                    ) from None
        raise
    y = None if label_at is None else _labels(path, cells[:, label_at], first_line)
    return x, y


def _check_unique_names(path: Path, names: list[str]) -> None:
    """A header naming two columns alike makes a column named in the config ambiguous (and is
    usually a file joined twice): an error, as a YAML key set twice is."""
    seen: dict[str, int] = {}
    for c, name in enumerate(names):
        if name.strip() in seen:
            raise DataError(f"{path} names two columns '{name.strip()}' (columns {seen[name.strip()]} and {c}, from 0); "
                            "rename one")
        seen[name.strip()] = c


def _label_index(path: Path, first_row: list[str], label_column: str | int | None) -> tuple[int | None, bool]:
    """(index of the label column, whether it was found by header name); a number is an index."""
    if label_column is None:
        return None, False
    try:
        index = int(label_column)
    except ValueError:
        if label_column in first_row:
            return first_row.index(label_column), True
        index = None
    if index is not None and not -len(first_row) <= index < len(first_row):
        raise DataError(f"{path} has {len(first_row)} columns, so data.label_column={label_column} is out of range; "
                        f"give a 0-based index below {len(first_row)} or a header name")
    if index is None:
        raise DataError(
            f"{path} has no column '{label_column}'; set data.label_column to a header name or a 0-based "
            f"index below {len(first_row)}"
        )
    return index % len(first_row), False


def _labels(path: Path, column: np.ndarray, first_line: int) -> np.ndarray:
    empty = np.flatnonzero(np.char.strip(column) == "")
    if empty.size:
        raise DataError(f"{path} row {empty[0] + first_line} has no label; fill it in or drop that row")
    if all(_is_number(v) for v in column):
        values = column.astype(np.float64)
        if not np.all(values == np.round(values)) or values.min() < 0:
            raise DataError(f"{path} labels must be whole numbers from 0 up, or class names; fix the label column")
        return values.astype(np.int64)
    _, codes = np.unique(np.char.strip(column), return_inverse=True)  # class names, numbered in sorted order
    return codes.astype(np.int64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_float32_range(x: np.ndarray, where: str) -> None:
    """DataError for finite values that float32, which vaekit computes in, holds only as infinities
    (a float64 1e39, say); `load_dataset`'s finiteness check would blame the file for those."""
    if x.dtype.kind != "f" or x.dtype.itemsize <= 4 or not x.size:
        return
    top = float(np.finfo(np.float32).max)
    with np.errstate(invalid="ignore"):  # NaN compares False here; the finiteness check names it
        over = np.isfinite(x) & (np.abs(x) > top)
    if over.any():
        row = int(np.flatnonzero(over.reshape(len(x), -1).any(axis=1))[0])
        value = float(x.reshape(len(x), -1)[row][over.reshape(len(x), -1)[row]][0])
        raise DataError(f"{where} example {row} holds {value:g}, beyond the float32 range (about ±3.4e38) vaekit "
                        f"computes in; rescale those values (divide the column by a power of ten)")


def _to_rawset(path: Path, pools: Pools) -> RawSet:
    shapes = {}
    splits = {}
    for split, (x, y) in pools.items():
        where = f"{path} ({split})"
        if x.dtype.kind not in "biuf":
            raise DataError(f"{where} holds {x.dtype} values; save numbers (np.asarray(x, dtype=np.float32))")
        if x.ndim not in (2, 3, 4):
            raise DataError(
                f"{where} has shape {x.shape}; expected (N, D) vectors, (N, H, W) or (N, C, H, W) images: reshape it"
            )
        if 0 in x.shape[1:]:  # a model of no values would train on nothing and report figures of 0
            raise DataError(f"{where} has no features (shape {x.shape}): each example holds no value; "
                            f"save at least one feature per example")
        if y is not None and (y.ndim != 1 or y.dtype.kind not in "iub" or len(y) != len(x) or (y.size and y.min() < 0)):
            raise DataError(
                f"{where} labels have shape {y.shape} and type {y.dtype}; expected {len(x)} non-negative integers"
            )
        _check_float32_range(x, where)
        scale = 1.0
        if x.ndim >= 3:
            x = x[:, None] if x.ndim == 3 else x  # (N, H, W) -> (N, 1, H, W)
            if x.dtype == np.uint8:
                scale = 255.0
            elif x.size and (x.min() < 0 or x.max() > 1):
                raise DataError(
                    f"{where} holds images with values in [{x.min():g}, {x.max():g}]; scale them to [0, 1] "
                    f"(divide by 255) or save them as uint8"
                )
        shapes[split] = x.shape[1:]
        splits[split] = make_split(x, y, scale=scale)
    shape = shapes["train"]
    for split, other in shapes.items():
        if other != shape:
            raise DataError(f"{path}: '{split}' examples have shape {other} but 'train' ones {shape}; make them match")
    labelled = [s.y for s in splits.values() if s.y is not None]
    if labelled and len(labelled) != len(splits):
        raise DataError(f"{path} has labels for some splits only; give every split labels, or none")
    nonempty = [y for y in labelled if len(y)]
    num_classes = max(int(y.max()) for y in nonempty) + 1 if nonempty else None
    return RawSet(
        train=splits["train"],
        val=splits.get("val"),
        test=splits.get("test"),
        shape=tuple(shape),
        is_image=len(shape) == 3,
        num_classes=num_classes,
        source=str(path),
    )
