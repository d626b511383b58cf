"""One transform object per table column, with fit / encode / decode, as CTGAN's data transformer
has (sdv-dev/CTGAN `data_transformer.py`; Xu et al. 2019, "Modeling Tabular Data using Conditional
GAN", https://arxiv.org/abs/1907.00503). The numerics of continuous columns are in `scalers.py`.

A column turns a pandas Series into a block of model-space numbers (n, width) and a row mask
(False where the cell is missing), and a block back into a Series of the column's own type:

- continuous, `transform="mode"`: mode-specific normalisation. A Bayesian Gaussian mixture of at
  most `max_modes` components (seeded) is fitted to the standardised values and the components
  weighing more than `weight_threshold` are kept. A value is coded as [alpha, one-hot of its mode],
  its mode the one with the highest weight x density, alpha = (z - mu_k) / (4 sigma_k), so most
  of a mode falls in [-1, 1]. Where a training value would lie beyond 8 sigma of its mode (values
  of a dropped light mode, outliers next to a spike), a broad mode spanning the training range
  is added (replacing the lightest when there are `max_modes`). alpha is not clipped (unlike
  CTGAN's tanh output), so a value far out stays invertible; decode takes the argmax of the modes.
- continuous, "standard": (x - mean) / std; "quantile": through the training quantiles to a
  standard normal (as sklearn's QuantileTransformer, fitted here with numpy so that the codec is
  plain numbers; values beyond the training range map to the ends, about +-5.2).
- integer: continuous, then rounded and clipped to the training range on decode.
- categorical: one-hot over the sorted training categories; decode takes the argmax, so there
  are never fractional categories.
- boolean: one entry, 1.0 for True; decode is True from 0.5 up.
- constant: no entries; decode repeats the value.

A category (or boolean value) not seen in training is, by default, treated as a missing cell
(masked out, with a TableWarning naming the column and values); `unseen="error"` makes it a
DataError instead.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from vaekit.data.scalers import (MAX_MODES, WEIGHT_THRESHOLD, fit_modes, fit_quantiles, modes_backward, modes_forward,
                                 quantiles_backward, quantiles_forward)
from vaekit.errors import ConfigError, DataError
from vaekit.registry import suggest

KINDS = ("continuous", "integer", "count", "categorical", "boolean", "constant")
TRANSFORMS = ("mode", "standard", "quantile")
UNSEEN = ("missing", "error")
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})


class TableWarning(UserWarning):
    """Something about a table that is handled but worth knowing (a column left out, unseen values)."""


def missing_cells(series: pd.Series) -> np.ndarray:
    """(n,) bool: True where a cell is missing (NaN, None, NA or an empty or blank string)."""
    missing = np.array(series.isna(), dtype=bool)  # a copy: pandas may hand out a read-only view
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):  # pandas 3 reads text as `str`
        missing |= np.array(series.map(lambda v: isinstance(v, str) and not v.strip()), dtype=bool)
    return missing


def check_unseen(unseen: str) -> None:
    """A ConfigError unless `unseen` is one of UNSEEN."""
    if unseen not in UNSEEN:
        raise ConfigError(f"unseen={unseen!r} is not a choice{suggest(str(unseen), list(UNSEEN))}")


def _plain(v: Any) -> Any:
    """A numpy scalar as the Python value JSON writes (and reads back) exactly."""
    return v.item() if isinstance(v, np.generic) else v


def _bool_of(v: Any) -> bool | None:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return v.strip().lower() in TRUE_WORDS
    return None


class Column:
    """A column's transform: `fit(series)` on the training rows, `encode(series)` -> (block
    (n, width), observed (n,)), `decode(block)` -> Series, `to_dict()` for the run's codec."""

    kind = ""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def width(self) -> int:
        raise NotImplementedError

    def fit(self, series: pd.Series) -> "Column":
        raise NotImplementedError

    def encode(self, series: pd.Series, unseen: str = "missing") -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def decode(self, block: np.ndarray, clip: bool = True) -> pd.Series:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, **self._state()}

    def _state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _unseen(self, values: list[Any], unseen: str) -> None:
        shown = ", ".join(repr(v) for v in sorted(set(map(str, values)))[:5])
        if unseen == "error":
            raise DataError(f"column {self.name!r} holds {shown}, not seen in training; fix or blank those cells, "
                            f"or encode with unseen='missing' to treat them as missing")
        warnings.warn(TableWarning(f"column {self.name!r}: {len(values)} cell(s) hold {shown}, not seen in "
                                   f"training; they are treated as missing"), stacklevel=3)


class ContinuousColumn(Column):
    """Real numbers, coded by `transform` ("mode", "standard" or "quantile")."""

    kind = "continuous"

    def __init__(self, name: str, transform: str = "mode", max_modes: int = MAX_MODES,
                 weight_threshold: float = WEIGHT_THRESHOLD, seed: int = 0) -> None:
        super().__init__(name)
        if transform not in TRANSFORMS:
            raise ConfigError(f"transform={transform!r} is not a transform{suggest(str(transform), list(TRANSFORMS))}")
        if isinstance(max_modes, bool) or not isinstance(max_modes, int) or max_modes < 1:
            raise ConfigError(f"max_modes={max_modes!r} is not a whole number of at least 1")
        if not 0 <= weight_threshold < 1:
            raise ConfigError(f"weight_threshold={weight_threshold!r} is not in [0, 1)")
        self.transform, self.max_modes, self.weight_threshold, self.seed = transform, max_modes, weight_threshold, seed
        self.params: dict[str, Any] = {}

    @property
    def modes(self) -> int:
        """The number of modes of a mode-normalised column (0 otherwise)."""
        return len(self.params["means"]) if self.transform == "mode" else 0

    @property
    def width(self) -> int:
        return 1 + self.modes

    def fit(self, series: pd.Series) -> "ContinuousColumn":
        x = self._numbers(series, ~missing_cells(series))
        if len(x) == 0:
            raise DataError(f"column {self.name!r} has no values to fit; remove it from data.columns")
        std = float(x.std())
        p: dict[str, Any] = {"low": float(x.min()), "high": float(x.max()), "center": float(x.mean()),
                             "scale": std if std > 0 else 1.0}
        z = (x - p["center"]) / p["scale"]  # the mixture and quantiles work on O(1) numbers, whatever the units
        if self.transform == "mode":
            p.update(fit_modes(z, self.max_modes, self.weight_threshold, self.seed))
        elif self.transform == "quantile":
            p.update(fit_quantiles(z))
        self.params = p
        return self

    def encode(self, series: pd.Series, unseen: str = "missing") -> tuple[np.ndarray, np.ndarray]:
        observed = ~missing_cells(series)
        block = np.zeros((len(series), self.width))
        z = (self._numbers(series, observed) - self.params["center"]) / self.params["scale"]
        block[observed] = self._forward(z)
        return block, observed

    def decode(self, block: np.ndarray, clip: bool = True) -> pd.Series:
        x = self.values(block, clip)
        return pd.Series(x, name=self.name, dtype="float64")

    def values(self, block: np.ndarray, clip: bool = True) -> np.ndarray:
        """The block's numbers in the column's units, float64 (n,): clipped to the training range
        unless `clip` is False, not rounded (an integer column's decode rounds them)."""
        x = self._backward(np.asarray(block, dtype=np.float64)) * self.params["scale"] + self.params["center"]
        return np.clip(x, self.params["low"], self.params["high"]) if clip else x

    def _state(self) -> dict[str, Any]:
        return {"transform": self.transform, **self.params}

    def _numbers(self, series: pd.Series, observed: np.ndarray) -> np.ndarray:
        """The observed cells as float64; a DataError naming the first cell that is text or infinite."""
        x = pd.to_numeric(series[observed], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(x)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            row = int(np.flatnonzero(observed)[first]) + 1
            if not np.isnan(x[first]):
                raise DataError(f"column {self.name!r} holds an infinite value in row {row}; replace it with a "
                                f"number or leave the cell empty")
            raise DataError(f"column {self.name!r} is {self.kind} but row {row} holds {_plain(series.iloc[row - 1])!r}; "
                            f"fix the value, leave the cell empty, or set data.columns.{self.name}=categorical")
        return x

    def _forward(self, z: np.ndarray) -> np.ndarray:  # (n,) -> (n, width)
        if self.transform == "standard":
            return z[:, None]
        return (quantiles_forward if self.transform == "quantile" else modes_forward)(z, self.params)

    def _backward(self, block: np.ndarray) -> np.ndarray:  # (n, width) -> (n,)
        if self.transform == "standard":
            return block[:, 0]
        return (quantiles_backward if self.transform == "quantile" else modes_backward)(block, self.params)


class IntegerColumn(ContinuousColumn):
    """Whole numbers: a continuous column whose decode rounds and clips to the training range (always)."""

    kind = "integer"

    def fit(self, series: pd.Series) -> "IntegerColumn":
        super().fit(series)
        x = self._numbers(series, ~missing_cells(series))
        fractional = x[x != np.round(x)]
        if len(fractional):
            raise DataError(f"column {self.name!r} holds {_plain(fractional[0])!r}, not a whole number; "
                            f"set data.columns.{self.name}=continuous")
        return self

    def decode(self, block: np.ndarray, clip: bool = True) -> pd.Series:
        return pd.Series(np.round(self.values(block, True)).astype(np.int64), name=self.name)


class CategoricalColumn(Column):
    """One-hot over the sorted training categories (strings, or numbers when every value is one)."""

    kind = "categorical"

    def __init__(self, name: str, categories: list[Any] | None = None) -> None:
        super().__init__(name)
        self.categories = list(categories or [])

    @property
    def width(self) -> int:
        return len(self.categories)

    def fit(self, series: pd.Series) -> "CategoricalColumn":
        values = [_plain(v) for v in series[~missing_cells(series)].unique()]
        if not values:
            raise DataError(f"column {self.name!r} has no values to fit; remove it from data.columns")
        if all(isinstance(v, bool) for v in values):
            self.categories = sorted(values)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            # integral floats (an integer column with a gap reads as float) are the integers they hold
            values = [int(v) if float(v).is_integer() else v for v in values]
            self.categories = sorted(set(values))
        else:
            self.categories = sorted({str(v) for v in values})
        return self

    def encode(self, series: pd.Series, unseen: str = "missing") -> tuple[np.ndarray, np.ndarray]:
        check_unseen(unseen)
        observed = ~missing_cells(series)
        index = {**{str(c): i for i, c in enumerate(self.categories)}, **{self._key(c): i for i, c in enumerate(self.categories)}}
        values = series.to_numpy(dtype=object)
        codes = np.full(len(series), -1)
        codes[observed] = [index.get(self._key(_plain(v)), index.get(str(v), -1)) for v in values[observed]]
        new = observed & (codes < 0)
        if new.any():
            self._unseen([series.iloc[i] for i in np.flatnonzero(new)], unseen)
            observed = observed & ~new
        block = np.zeros((len(series), self.width))
        block[np.flatnonzero(observed), codes[observed]] = 1.0
        return block, observed

    def decode(self, block: np.ndarray, clip: bool = True) -> pd.Series:
        codes = np.argmax(np.asarray(block), axis=1)
        # dtype inferred, as read_csv does: int64, bool, or text (pandas 3's `str`, object before)
        return pd.Series([self.categories[c] for c in codes], name=self.name)

    def _state(self) -> dict[str, Any]:
        return {"categories": list(self.categories)}

    @staticmethod
    def _key(v: Any) -> Any:
        # (type, value): True, 1 and 1.0 hash alike in Python, and must not match each other's category
        if isinstance(v, float) and v.is_integer():
            return ("int", int(v))
        return (type(v).__name__, v)


class BooleanColumn(Column):
    """True/False (also read from true/false, yes/no, t/f, y/n and 1/0): one entry, 1.0 for True."""

    kind = "boolean"

    @property
    def width(self) -> int:
        return 1

    def fit(self, series: pd.Series) -> "BooleanColumn":
        values = series[~missing_cells(series)]
        bad = [v for v in values.unique() if _bool_of(v) is None]
        if bad:
            raise DataError(f"column {self.name!r} holds {_plain(bad[0])!r}, not true/false; "
                            f"set data.columns.{self.name}=categorical")
        return self

    def encode(self, series: pd.Series, unseen: str = "missing") -> tuple[np.ndarray, np.ndarray]:
        check_unseen(unseen)
        observed = ~missing_cells(series)
        flags = [_bool_of(v) if seen else False for v, seen in zip(series, observed)]
        new = np.array([seen and f is None for f, seen in zip(flags, observed)], dtype=bool)
        if new.any():
            self._unseen([series.iloc[i] for i in np.flatnonzero(new)], unseen)
            observed = observed & ~new
        block = np.array([[1.0 if f else 0.0] for f in flags]).reshape(len(series), 1)
        return block, observed

    def decode(self, block: np.ndarray, clip: bool = True) -> pd.Series:
        return pd.Series(np.asarray(block)[:, 0] >= 0.5, name=self.name, dtype=bool)

    def _state(self) -> dict[str, Any]:
        return {}


class ConstantColumn(Column):
    """A column with one value in every observed cell: no entries; decode repeats the value."""

    kind = "constant"

    def __init__(self, name: str, value: Any = None) -> None:
        super().__init__(name)
        self.value = value

    @property
    def width(self) -> int:
        return 0

    def fit(self, series: pd.Series) -> "ConstantColumn":
        self.value = _plain(series[~missing_cells(series)].iloc[0])
        return self

    def encode(self, series: pd.Series, unseen: str = "missing") -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(series), 0)), ~missing_cells(series)

    def decode(self, block: np.ndarray, clip: bool = True) -> pd.Series:
        return pd.Series([self.value] * len(block), name=self.name)

    def _state(self) -> dict[str, Any]:
        return {"value": self.value}


class CountColumn(Column):
    """Non-negative whole counts kept as they are (one entry), for a Poisson term in the mixed
    likelihood: chosen by `data.columns.NAME=count`, never inferred. Decode rounds, and clips to
    [0, the training maximum]."""

    kind = "count"

    def __init__(self, name: str, high: float = 0.0) -> None:
        super().__init__(name)
        self.high = float(high)

    @property
    def width(self) -> int:
        return 1

    def fit(self, series: pd.Series) -> "CountColumn":
        x = self._counts(series, ~missing_cells(series))
        if len(x) == 0:
            raise DataError(f"column {self.name!r} has no values to fit; remove it from data.columns")
        self.high = float(x.max())
        return self

    def encode(self, series: pd.Series, unseen: str = "missing") -> tuple[np.ndarray, np.ndarray]:
        observed = ~missing_cells(series)
        block = np.zeros((len(series), 1))
        block[observed, 0] = self._counts(series, observed)
        return block, observed

    def decode(self, block: np.ndarray, clip: bool = True) -> pd.Series:
        x = np.round(np.asarray(block, dtype=np.float64)[:, 0])
        return pd.Series(np.clip(x, 0, self.high).astype(np.int64), name=self.name)

    def _state(self) -> dict[str, Any]:
        return {"high": self.high}

    def _counts(self, series: pd.Series, observed: np.ndarray) -> np.ndarray:
        x = pd.to_numeric(series[observed], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~(np.isfinite(x) & (x >= 0) & (x == np.round(x)))
        if bad.any():
            row = int(np.flatnonzero(observed)[int(np.flatnonzero(bad)[0])])
            raise DataError(f"column {self.name!r} is a count but row {row + 1} holds {_plain(series.iloc[row])!r}, not a "
                            f"non-negative whole number; fix it, or set data.columns.{self.name}=integer")
        return x


def column_from_dict(raw: dict[str, Any]) -> Column:
    """A fitted column from its `to_dict()` form (KeyError, TypeError or ValueError when damaged)."""
    name, kind = str(raw["name"]), raw["kind"]
    if kind in ("continuous", "integer"):
        column = (ContinuousColumn if kind == "continuous" else IntegerColumn)(name, raw["transform"])
        keys = {"low", "high", "center", "scale"} | {"mode": {"means", "stds", "weights"}, "standard": set(),
                                                      "quantile": {"references", "quantiles"}}[column.transform]
        column.params = {k: ([float(v) for v in raw[k]] if isinstance(raw[k], list) else float(raw[k])) for k in keys}
        numbers = [v for k in keys for v in np.ravel(column.params[k])]
        if not all(math.isfinite(v) for v in numbers) or column.params["scale"] <= 0:
            raise ValueError(f"column {name!r} has non-finite parameters or a scale that is not positive")
        if column.transform == "mode" and not len(column.params["means"]) == len(column.params["stds"]) == len(column.params["weights"]) > 0:
            raise ValueError(f"column {name!r} has modes of different lengths")
        return column
    if kind == "categorical":
        if not isinstance(raw["categories"], list) or not raw["categories"]:
            raise ValueError(f"column {name!r} has no categories")
        return CategoricalColumn(name, raw["categories"])
    if kind == "boolean":
        return BooleanColumn(name)
    if kind == "count":
        high = float(raw["high"])
        if not (math.isfinite(high) and high >= 0):
            raise ValueError(f"column {name!r} has a count maximum that is not a finite non-negative number")
        return CountColumn(name, high)
    if kind == "constant":
        return ConstantColumn(name, raw["value"])
    raise ValueError(f"column {name!r} has the unknown kind {kind!r}")
