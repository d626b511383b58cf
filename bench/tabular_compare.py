"""Whether one imputation's error differs from another's beyond the noise of the test rows: a
paired bootstrap over rows, for bench/tabular.py.

Each table scores a few hundred hidden cells per column, so a column's accuracy carries a
standard error of about 0.02: a difference of 0.005 between two imputers says nothing by itself.
Both imputations of the same rows are resampled together (the same rows drawn for both), the two
figures of `vaekit.evaluate.tabular.imputation_error` recomputed on each resample (mean over the
numeric columns of RMSE / std, with std the full column's, and mean accuracy over the discrete
ones), and the 2.5 and 97.5 percentiles of their difference reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vaekit.evaluate.tabular import NUMERIC, floats


def _per_row(truth: pd.DataFrame, filled: pd.DataFrame, hidden: pd.DataFrame, column: str,
             numeric: bool) -> tuple[np.ndarray, np.ndarray]:
    """(the cell's score per row, 1 where the row counts): squared error or correctness."""
    counts = (hidden[column].to_numpy(bool) & truth[column].notna().to_numpy()).astype(float)
    if numeric:
        score = np.nan_to_num((floats(filled[column]) - floats(truth[column])) ** 2)
    else:
        score = (filled[column].to_numpy(object) == truth[column].to_numpy(object)).astype(float)
    return score * counts, counts


def _figures(weights: np.ndarray, truth: pd.DataFrame, filled: pd.DataFrame, hidden: pd.DataFrame,
             kinds: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Mean RMSE / std and mean accuracy, one of each per row of `weights` (R, n): how often each
    row is drawn."""
    nrmse, accuracy = [], []
    for column, kind in kinds.items():
        numeric = kind in NUMERIC
        score, counts = _per_row(truth, filled, hidden, column, numeric)
        if not counts.any():
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (weights @ score) / (weights @ counts)  # NaN on a resample without the column's cells
        if numeric:
            std = float(np.nanstd(floats(truth[column])))
            nrmse.append(np.sqrt(mean) / std if std > 0 else np.full(len(weights), np.nan))
        else:
            accuracy.append(mean)
    rows = len(weights)
    with np.errstate(invalid="ignore"):
        return (np.nanmean(nrmse, axis=0) if nrmse else np.full(rows, np.nan),
                np.nanmean(accuracy, axis=0) if accuracy else np.full(rows, np.nan))


def paired_bootstrap(truth: pd.DataFrame, a: pd.DataFrame, b: pd.DataFrame, hidden: pd.DataFrame,
                     kinds: dict[str, str], reps: int = 2000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """95% intervals of a's figure minus b's over `reps` resamples of the rows: "nrmse" (below 0:
    a's error is lower) and "accuracy" (above 0: a is more accurate); (nan, nan) without cells."""
    n = len(truth)
    draws = np.random.default_rng(seed).integers(0, n, size=(reps, n))
    weights = np.stack([np.bincount(row, minlength=n) for row in draws]).astype(float)
    fa, fb = _figures(weights, truth, a, hidden, kinds), _figures(weights, truth, b, hidden, kinds)
    out = {}
    for key, x, y in (("nrmse", fa[0], fb[0]), ("accuracy", fa[1], fb[1])):
        d = x - y
        d = d[np.isfinite(d)]
        out[key] = (float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))) if len(d) else (np.nan, np.nan)
    return out


def point_figures(truth: pd.DataFrame, filled: pd.DataFrame, hidden: pd.DataFrame,
                  kinds: dict[str, str]) -> tuple[float, float]:
    """The two figures on the rows as they are (every row once)."""
    nrmse, accuracy = _figures(np.ones((1, len(truth))), truth, filled, hidden, kinds)
    return float(nrmse[0]), float(accuracy[0])
