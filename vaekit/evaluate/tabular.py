"""Fidelity of synthetic tables: column shapes, column-pair trends and the overall quality score,
as SDMetrics' single-table QualityReport defines them, and the error of imputed entries.

Pure functions over pandas DataFrames and a dict of column kinds, {column: kind} with kind one of
"continuous", "integer", "categorical", "boolean". Only the columns named in `kinds` are scored.

Definitions, confirmed in SDMetrics' source (github.com/sdv-dev/SDMetrics) and its documentation
(https://docs.sdv.dev/sdmetrics/reports/quality-report/whats-included):

- KSComplement (sdmetrics/single_column/statistical/kscomplement.py): 1 - the two-sample
  Kolmogorov-Smirnov statistic (scipy's `ks_2samp`), missing values dropped, values rounded to 14
  decimals first so that float noise is no difference. For "continuous" and "integer" columns.
- TVComplement (sdmetrics/single_column/statistical/tv_complement.py): 1 - 0.5 sum_c |p_real(c) -
  p_synth(c)| over the union of categories, missing values dropped. For "categorical" and
  "boolean" columns. (SDMetrics adds 1e-6 counts for synthetic-only categories; we do not.)
- CorrelationSimilarity (sdmetrics/column_pairs/statistical/correlation_similarity.py): 1 -
  |r_real - r_synth| / 2 with Pearson's r, for two numeric columns; NaN (left out of the mean) when
  either column is constant on either side.
- ContingencySimilarity (sdmetrics/column_pairs/statistical/contingency_similarity.py): 1 - 0.5
  sum |q_real - q_synth| over the cells of the joint frequency table; a missing value is a
  category of its own (SDMetrics groups with dropna=False). For two discrete columns, and for a
  numeric with a discrete column after binning the numeric one.
- Property scores are the mean of the column (pair) scores that are not NaN, and the overall
  score is the NaN-skipping mean of the two property scores
  (sdmetrics/reports/base_report.py: `np.nanmean(scores)`).

Where we differ from SDMetrics, on purpose:
- Binning for mixed pairs: 10 equal-width bins (`np.histogram_bin_edges` of the REAL column,
  numpy's default of 10), applied to both tables, the last bin closed as in `np.histogram`; a
  synthetic value below or above the real range falls into an outer bin of its own and a missing
  value into another. SDMetrics' ColumnPairTrends computes the edges from each table's own range
  (`np.histogram_bin_edges` then `np.digitize`), which makes a synthetic column shifted or
  stretched as a whole look perfect, and puts each table's maximum into a bin of its own.
- Correlations use the rows where both columns are present; SDMetrics fills missing values with 0.
- The newest SDMetrics QualityReport can leave pairs whose real correlation (association) is weak
  out of the pair average (real_correlation_threshold); we average every pair, as ColumnPairTrends
  does by default.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from vaekit.errors import InputError

NUMERIC = ("continuous", "integer")
DISCRETE = ("categorical", "boolean")
KINDS = NUMERIC + DISCRETE
MAX_DECIMALS = 14  # SDMetrics rounds to sys.float_info.dig - 1 decimals before the KS test
N_BINS = 10  # equal-width bins of a numeric column paired with a discrete one (numpy's default)


def check_kinds(kinds: Mapping[str, str], *frames: pd.DataFrame) -> None:
    """Raise InputError unless every kind is known and every frame holds every named column."""
    if not kinds:
        raise InputError("no columns to evaluate: pass kinds as {column: kind}, with kind one of "
                         f"{', '.join(KINDS)}")
    for col, kind in kinds.items():
        if kind not in KINDS:
            raise InputError(f"column {col!r} has kind {kind!r}; use one of {', '.join(KINDS)}")
    for frame in frames:
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in kinds if c not in frame.columns]
        if missing:
            raise InputError(f"columns {missing} are named in kinds but missing from a table; "
                             "pass tables with the same columns")


def floats(column: pd.Series) -> np.ndarray:
    """A numeric column as float64, missing values (NaN, None, pd.NA of nullable dtypes) as NaN."""
    return pd.to_numeric(column).to_numpy(np.float64, na_value=np.nan)


# ----------------------------------------------------------------------------- one column


def ks_complement(real: pd.Series, synth: pd.Series) -> float:
    """1 - the Kolmogorov-Smirnov statistic of two numeric columns (NaN when either is empty)."""
    a, b = floats(real.dropna()).round(MAX_DECIMALS), floats(synth.dropna()).round(MAX_DECIMALS)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    return 1.0 - float(ks_2samp(a, b).statistic)


def tv_complement(real: pd.Series, synth: pd.Series) -> float:
    """1 - the total-variation distance between two columns' category frequencies."""
    p = real.dropna().value_counts(normalize=True)
    q = synth.dropna().value_counts(normalize=True)
    if len(p) == 0 or len(q) == 0:
        return math.nan
    p, q = p.align(q, fill_value=0.0)  # union of the categories; absent ones have frequency 0
    return 1.0 - 0.5 * float(np.abs(p - q).sum())


def column_shapes(real: pd.DataFrame, synth: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, float]:
    """{column: KSComplement (numeric) or TVComplement (discrete)}, each in [0, 1], 1 = same shape."""
    check_kinds(kinds, real, synth)
    scores = {}
    for col, kind in kinds.items():
        metric = ks_complement if kind in NUMERIC else tv_complement
        scores[col] = metric(real[col], synth[col])
    return scores


# ----------------------------------------------------------------------------- pairs of columns


def correlation_similarity(real: pd.DataFrame, synth: pd.DataFrame) -> float:
    """1 - |r_real - r_synth| / 2 for the two numeric columns of each frame (Pearson's r)."""
    r_real, r_synth = _pearson(real), _pearson(synth)
    if math.isnan(r_real) or math.isnan(r_synth):
        return math.nan
    return 1.0 - abs(r_real - r_synth) / 2.0


def _pearson(frame: pd.DataFrame) -> float:
    xy = np.stack([floats(frame.iloc[:, 0]), floats(frame.iloc[:, 1])], axis=1)
    xy = xy[~np.isnan(xy).any(axis=1)]  # (N, 2), complete rows only
    if len(xy) < 2 or np.ptp(xy[:, 0]) == 0 or np.ptp(xy[:, 1]) == 0:
        return math.nan  # undefined for a constant column, as SDMetrics
    return float(np.corrcoef(xy[:, 0], xy[:, 1])[0, 1])


def contingency_similarity(real: pd.DataFrame, synth: pd.DataFrame) -> float:
    """1 - the total-variation distance between the joint frequency tables of two discrete columns
    (one frame of two columns per side; a missing value is a category of its own)."""
    if len(real) == 0 or len(synth) == 0:
        return math.nan
    codes = []
    for j in range(2):
        both = pd.concat([real.iloc[:, j], synth.iloc[:, j]], ignore_index=True)
        # one code per category over both tables; NaN gets a code of its own (no sentinel)
        code, uniques = pd.factorize(both, use_na_sentinel=False)
        codes.append((code, len(uniques)))
    (a, na), (b, nb) = codes
    cell = a * nb + b  # the joint table's cell of each row, real rows first
    n = len(real)
    q_real = np.bincount(cell[:n], minlength=na * nb) / n
    q_synth = np.bincount(cell[n:], minlength=na * nb) / len(synth)
    return 1.0 - 0.5 * float(np.abs(q_real - q_synth).sum())


def bin_edges(real: pd.Series) -> np.ndarray:
    """The N_BINS + 1 equal-width edges over the real column's range (its non-missing values)."""
    values = floats(real.dropna())
    if len(values) == 0:
        return np.zeros(1)  # nothing to bin: every value lands in one outer bin
    return np.histogram_bin_edges(values, bins=N_BINS)


def discretize(column: pd.Series, edges: np.ndarray) -> pd.Series:
    """Bin indices 1..len(edges) - 1 inside the edges (the last bin closed, as np.histogram counts),
    0 below and len(edges) above them; missing values stay missing, so that contingency counts them
    as a category of their own."""
    values = floats(column)
    # np.digitize alone (SDMetrics) puts the real maximum into the overflow bin, with the
    # synthetic values beyond the real range; the interior edges keep it in the top bin.
    index = np.digitize(values, edges[:-1]) if len(edges) > 1 else np.zeros(len(values), np.int64)
    index[values > edges[-1]] = len(edges)
    out = pd.Series(index, index=column.index, dtype="float64")
    out[np.isnan(values)] = np.nan
    return out


def column_pair_trends(real: pd.DataFrame, synth: pd.DataFrame,
                       kinds: Mapping[str, str]) -> dict[tuple[str, str], float]:
    """{(a, b): score} for every pair of columns in `kinds` order: CorrelationSimilarity for two
    numeric columns, ContingencySimilarity otherwise (a numeric column binned on the real range)."""
    check_kinds(kinds, real, synth)
    binned_real, binned_synth = {}, {}
    for col, kind in kinds.items():
        if kind in NUMERIC:
            edges = bin_edges(real[col])
            binned_real[col], binned_synth[col] = discretize(real[col], edges), discretize(synth[col], edges)
        else:
            binned_real[col], binned_synth[col] = real[col], synth[col]
    scores = {}
    for a, b in itertools.combinations(kinds, 2):
        if kinds[a] in NUMERIC and kinds[b] in NUMERIC:
            scores[(a, b)] = correlation_similarity(real[[a, b]], synth[[a, b]])
        else:
            pair_real = pd.concat([binned_real[a], binned_real[b]], axis=1)
            pair_synth = pd.concat([binned_synth[a], binned_synth[b]], axis=1)
            scores[(a, b)] = contingency_similarity(pair_real, pair_synth)
    return scores


# ----------------------------------------------------------------------------- the report


def _nanmean(values) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def quality_score(real: pd.DataFrame, synth: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, Any]:
    """SDMetrics' quality score: the mean of the Column Shapes and Column Pair Trends scores.

    Returns {"score", "column_shapes", "column_pair_trends", "per_column": {column: score},
    "per_pair": [{"columns": [a, b], "metric": name, "score": s}, ...]}, JSON-ready. A property
    with no score (one column: no pairs) is left out of the overall mean, as SDMetrics' nanmean.
    See https://docs.sdv.dev/sdmetrics/reports/quality-report/whats-included.
    """
    shapes = column_shapes(real, synth, kinds)
    pairs = column_pair_trends(real, synth, kinds)
    shape_score, pair_score = _nanmean(shapes.values()), _nanmean(pairs.values())
    per_pair = [{"columns": [a, b],
                 "metric": ("CorrelationSimilarity" if kinds[a] in NUMERIC and kinds[b] in NUMERIC
                            else "ContingencySimilarity"),
                 "score": s} for (a, b), s in pairs.items()]
    return {"score": _nanmean([shape_score, pair_score]), "column_shapes": shape_score,
            "column_pair_trends": pair_score, "per_column": shapes, "per_pair": per_pair}


# ----------------------------------------------------------------------------- imputation


def imputation_error(true: pd.DataFrame, imputed: pd.DataFrame, missing_mask: pd.DataFrame | np.ndarray,
                     kinds: Mapping[str, str]) -> dict[str, Any]:
    """The error of imputed entries: RMSE and RMSE / std for numeric columns, accuracy for discrete.

    `missing_mask` is True where an entry was hidden and imputed (a DataFrame with the columns of
    `true`, or a bool array of its shape). Only masked entries whose true value is known count. The
    std is the true column's population std over all its known values (NaN when it is 0). Returns
    {"per_column": {column: {"rmse", "nrmse", "n"} or {"accuracy", "n"}}, "mean_rmse", "mean_nrmse",
    "mean_accuracy"}; columns with no scored entry are left out, and a mean over none is NaN.
    """
    check_kinds(kinds, true, imputed)
    mask = _as_mask(missing_mask, true)
    check_kinds(kinds, mask)
    if len(imputed) != len(true):
        raise InputError(f"the imputed table has {len(imputed)} rows but the true one {len(true)}; "
                         "pass the same rows, imputed")
    per_column: dict[str, dict[str, float]] = {}
    for col, kind in kinds.items():
        m = mask[col].to_numpy(bool) & true[col].notna().to_numpy()
        if not m.any():
            continue
        if kind in NUMERIC:
            t, p = floats(true[col])[m], floats(imputed[col])[m]
            rmse = float(np.sqrt(np.mean((p - t) ** 2)))  # NaN if an imputation is missing: a bug to see
            std = float(np.nanstd(floats(true[col])))
            per_column[col] = {"rmse": rmse, "nrmse": rmse / std if std > 0 else math.nan, "n": int(m.sum())}
        else:
            t, p = true[col].to_numpy(object)[m], imputed[col].to_numpy(object)[m]
            per_column[col] = {"accuracy": float(np.mean(t == p)), "n": int(m.sum())}
    means = {f"mean_{key}": _nanmean([v[key] for v in per_column.values() if key in v])
             for key in ("rmse", "nrmse", "accuracy")}
    return {"per_column": per_column, **means}


def _as_mask(missing_mask: pd.DataFrame | np.ndarray, true: pd.DataFrame) -> pd.DataFrame:
    if isinstance(missing_mask, pd.DataFrame):
        mask = missing_mask
    else:
        arr = np.asarray(missing_mask)
        if arr.shape != true.shape:
            raise InputError(f"missing_mask has shape {arr.shape} but the table has {true.shape}; "
                             "pass one flag per entry")
        mask = pd.DataFrame(arr, index=true.index, columns=true.columns)
    if mask.shape[0] != true.shape[0]:
        raise InputError(f"missing_mask has {mask.shape[0]} rows but the table has {true.shape[0]}; "
                         "pass one flag per entry")
    return mask.astype(bool)
