"""The `table` data set: a CSV or Parquet file with a header, one row per example.

    data:
      name: table
      path: diamonds.csv          # or .parquet / .pq (pip install vaekit[parquet])
      columns: {zip: categorical, id: exclude}   # override inferred kinds (vaekit.data.table.OVERRIDES)
      transform: mode             # continuous columns: mode (TVAE's), standard or quantile
      label_column: cut           # optional: a category a conditional family (cvae) conditions on

Rows are split (seeded by `data.split_seed`, `val_fraction`/`test_fraction` of them), then the
table's codec (`vaekit.data.table.TableCodec`: column kinds and fitted transforms) is fitted on
the training rows only and encodes every split: x (N, D) in model space, and a mask that is 0 over
the entries of a missing cell, so missing values are neither dropped nor an error. The codec is
the run's codec: stored with the run, it turns samples back into rows with the original header,
types and categories. A run's own codec is handed back in (`load_dataset(config, codec=...)`)
when its data are loaded again, so that the rows are encoded exactly as in training.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

from vaekit.checks import check_int
from vaekit.data.base import Split
from vaekit.data.download import resolve_path
from vaekit.data.scalers import MAX_MODES
from vaekit.errors import ConfigError, DataError
from vaekit.registry import DATASETS
from vaekit.sections import DataConfig

NAME = "table"
WHAT = "a CSV file with a header row (or a Parquet file)"


@dataclass(frozen=True)
class TableConfig(DataConfig):
    """A table (`data.name: table`): every key of DataConfig, and how to read the columns."""

    name: str = NAME
    columns: dict[str, str] | None = None  # column -> kind (continuous, integer, categorical, boolean, exclude)
    transform: Literal["mode", "standard", "quantile"] = "mode"  # of continuous and integer columns
    max_modes: int = MAX_MODES  # Gaussian components per continuous column (transform=mode)
    label_column: str | None = None  # a categorical column held out of x as the label y (for conditional families)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self.max_modes, "data.max_modes", min=1, max=100, error=ConfigError)
        if self.columns is not None and (not isinstance(self.columns, dict) or
                                         not all(isinstance(k, str) and isinstance(v, str) for k, v in self.columns.items())):
            raise ConfigError("data.columns maps column names to kinds, for example {zip: categorical, id: exclude}")
        if self.binarize != "none":
            raise ConfigError(f"data.binarize={self.binarize} applies to images; a table's columns are coded by their "
                              f"kinds: remove data.binarize")
        if self.standardize == "standard":
            raise ConfigError("data.standardize applies to arrays; a table's numbers are transformed per column "
                              "(data.transform=standard for the mean and standard deviation)")


@DATASETS.register(NAME, config=TableConfig)
def build_table(config: TableConfig, codec=None):
    """The rows of `data.path`, split, with the codec fitted on the training rows (or `codec`, a
    run's TableCodec)."""
    from vaekit.data.base import RawSet
    from vaekit.data.table import TableCodec  # pandas: imported by table runs only

    path, frames = read_splits(config)
    if codec is None:
        codec = TableCodec.fit(frames["train"], config.columns, config.transform, config.max_modes,
                               seed=config.split_seed, label=config.label_column)
    splits = {name: _encode(codec, frame, name, path) for name, frame in frames.items()}
    return RawSet(splits["train"], splits["val"], splits["test"], shape=(codec.width,), is_image=False,
                  num_classes=codec.num_classes, source=str(path), codec=codec)


def read_splits(config: DataConfig):
    """(path, {"train": DataFrame, "val": ..., "test": ...}): the rows of each split as the file
    holds them (the same seeded split as training uses), for figures that compare real rows."""
    from vaekit.data.load import carve_indices
    from vaekit.data.table import read_table

    if config.name != NAME:
        raise ConfigError(f"data.name={config.name} is not a table; the rows of a table come from data.name=table")
    path = resolve_path(config, NAME, WHAT)
    if not path.is_file():
        raise DataError(f"data.path {path} is a folder; point it at {WHAT}")
    df = read_table(path)
    index = carve_indices(len(df), config.val_fraction, config.test_fraction, config.split_seed)
    if len(index["train"]) == 0:
        raise DataError(f"{path} has {len(df)} rows, which leave none to train on after the validation and test rows; "
                        f"add rows or lower data.val_fraction and data.test_fraction")
    return path, {name: df.iloc[rows].reset_index(drop=True) for name, rows in index.items()}


def _encode(codec, frame, name: str, path) -> Split:
    from vaekit.data.table import TableWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TableWarning)
        x, mask = codec.encode(frame)
    for w in caught:  # once per split, saying which
        warnings.warn(TableWarning(f"{path} ({name} rows): {w.message}"), stacklevel=3)
    y = codec.labels(frame)
    return Split(x, y, mask=None if bool(mask.all()) else mask)


__all__ = ["TableConfig", "build_table", "read_splits"]
