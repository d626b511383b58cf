"""The imputation baselines of bench/tabular.py: column means (the mode of a category), and
scikit-learn's IterativeImputer and KNNImputer on a numeric matrix (numbers standardised by the
training rows, categories one-hot (IterativeImputer: less the first value's indicator), a missing
category all-missing over its block), a category read back as the argmax of its imputed block.
IterativeImputer is clipped to each feature's training range.

Each baseline is `impute(train, test, kinds, seed) -> test filled`: it fits on the (incomplete)
training rows and fills the missing cells of the test rows, leaving the observed ones as they are.
Integer columns are rounded, as vaekit's imputation rounds them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
from sklearn.impute import IterativeImputer, KNNImputer

from vaekit.evaluate.tabular import DISCRETE, floats


def _finish(test: pd.DataFrame, values: dict[str, pd.Series], kinds: dict[str, str]) -> pd.DataFrame:
    """The test rows with their missing cells taken from `values`: numbers as floats (integers
    rounded), categories as the objects they were."""
    out = test.copy()
    for column, kind in kinds.items():
        gaps = out[column].isna().to_numpy()
        if kind in DISCRETE:
            out[column] = out[column].astype(object)
            out.loc[gaps, column] = values[column][gaps].to_numpy()
        else:
            fill = floats(values[column])
            out[column] = np.where(gaps, fill.round() if kind == "integer" else fill, floats(out[column]))
    return out


def column_means(train: pd.DataFrame, test: pd.DataFrame, kinds: dict[str, str], seed: int = 0) -> pd.DataFrame:
    """Each missing cell: its column's training mean, or most frequent training category."""
    values = {}
    for column, kind in kinds.items():
        if kind in DISCRETE:
            fill = train[column].dropna().mode().iloc[0]
        else:
            fill = float(np.nanmean(floats(train[column])))
        values[column] = pd.Series([fill] * len(test), index=test.index, dtype=object)
    return _finish(test, values, kinds)


class _Matrix:
    """Rows <-> a float matrix: standardised numbers, one-hot categories; NaN where a cell is missing.

    `drop_first`: code a category of k values by k - 1 indicators (the first value is all zeros).
    IterativeImputer needs it: in a full one-hot block each indicator is 1 minus the sum of its
    siblings, so its regression leans on them alone, and they are missing together."""

    def __init__(self, train: pd.DataFrame, kinds: dict[str, str], drop_first: bool = False) -> None:
        self.kinds, self.skip = kinds, int(drop_first)
        self.stats = {c: (np.nanmean(floats(train[c])), np.nanstd(floats(train[c])) or 1.0)
                      for c, k in kinds.items() if k not in DISCRETE}
        self.categories = {c: list(pd.unique(train[c].dropna())) for c, k in kinds.items() if k in DISCRETE}

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for column in self.kinds:
            if column in self.stats:
                mean, std = self.stats[column]
                blocks.append(((floats(frame[column]) - mean) / std)[:, None])
            else:
                values = frame[column].to_numpy(object)
                block = np.stack([values == c for c in self.categories[column][self.skip:]] or
                                 [np.zeros(len(frame), bool)], axis=1).astype(float)
                block[frame[column].isna().to_numpy()] = np.nan  # (N, categories)
                blocks.append(block)
        return np.concatenate(blocks, axis=1)

    def decode(self, matrix: np.ndarray, index: pd.Index) -> dict[str, pd.Series]:
        values, start = {}, 0
        for column in self.kinds:
            if column in self.stats:
                mean, std = self.stats[column]
                values[column] = pd.Series(matrix[:, start] * std + mean, index=index)
                start += 1
            else:
                width = max(len(self.categories[column]) - self.skip, 1)
                block = matrix[:, start:start + width]
                if self.skip:  # the dropped first value's indicator: 1 minus the others'
                    block = np.concatenate([1.0 - block.sum(axis=1, keepdims=True), block], axis=1)
                pick = block.argmax(axis=1)
                values[column] = pd.Series([self.categories[column][i] for i in pick], index=index, dtype=object)
                start += width
        return values


def _sklearn(make: Callable[[int, np.ndarray], object], drop_first: bool):
    def impute(train: pd.DataFrame, test: pd.DataFrame, kinds: dict[str, str], seed: int = 0) -> pd.DataFrame:
        matrix = _Matrix(train, kinds, drop_first)
        encoded = matrix.encode(train)
        imputer = make(seed, encoded).fit(encoded)
        return _finish(test, matrix.decode(imputer.transform(matrix.encode(test)), test.index), kinds)

    return impute


def _iterative(seed: int, train: np.ndarray) -> IterativeImputer:
    # Clipped to each feature's training range: unclipped, its chained regressions diverged on
    # CPS1988's skewed wage at 50% missing (RMSE in the thousands of standard deviations), a
    # failure a user would clip away too; clipping can only help it.
    low, high = np.nanmin(train, axis=0), np.nanmax(train, axis=0)
    empty = np.isnan(low)  # a feature with no observed training value: nothing to clip to
    return IterativeImputer(random_state=seed, max_iter=10, keep_empty_features=True,
                            min_value=np.where(empty, -np.inf, low), max_value=np.where(empty, np.inf, high))


iterative_imputer = _sklearn(_iterative, drop_first=True)
knn_imputer = _sklearn(lambda seed, train: KNNImputer(n_neighbors=5, keep_empty_features=True), drop_first=False)

BASELINES = {"means": column_means, "IterativeImputer": iterative_imputer, "KNNImputer": knn_imputer}
