"""What the report shows of a table run, computed from real and synthetic rows: no HTML here.

- `column_histograms`: per column, the share of rows in each bin (numbers) or category, real and
  synthetic side by side, for small multiples of overlaid histograms;
- `pair_differences`: the column-pair trends of `vaekit.evaluate.tabular` as an (n, n) matrix of
  1 - score: how differently each pair of columns is associated in the real and synthetic rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vaekit.evaluate.tabular import NUMERIC, column_pair_trends, floats

BINS = 20  # equal-width bins of a numeric column's histogram
MAX_CATEGORIES = 12  # categories drawn one bar each, the most frequent in the real rows; the rest pool in OTHER
OTHER = "(other)"


@dataclass
class Histogram:
    """One column's histogram: bar `labels` and the share of non-missing values in each, real and
    synthetic (each sums to 1 over the bars), and the share of missing cells on each side."""

    name: str
    kind: str
    labels: list[str]
    real: list[float]
    synthetic: list[float]
    missing_real: float
    missing_synthetic: float


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return (counts / total).tolist() if total > 0 else [0.0] * len(counts)


def _missing(column: pd.Series) -> float:
    return float(column.isna().mean()) if len(column) else 0.0


def numeric_histogram(name: str, kind: str, real: pd.Series, synth: pd.Series, bins: int = BINS) -> Histogram:
    """Shares of the values in `bins` equal-width bins over the range of both columns together, so
    that synthetic values outside the real range show."""
    a, b = floats(real), floats(synth)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    both = np.concatenate([a, b])
    edges = np.histogram_bin_edges(both, bins=bins) if len(both) else np.linspace(0.0, 1.0, bins + 1)
    labels = [f"{edges[i]:.3g}" for i in range(len(edges) - 1)]  # each bar by its left edge
    return Histogram(name, kind, labels, _shares(np.histogram(a, edges)[0]), _shares(np.histogram(b, edges)[0]),
                     _missing(real), _missing(synth))


def category_histogram(name: str, kind: str, real: pd.Series, synth: pd.Series,
                       max_categories: int = MAX_CATEGORIES) -> Histogram:
    """Shares of each category: the `max_categories` most frequent in the real rows (then the
    synthetic rows), the others pooled into OTHER."""
    p = real.dropna().astype(str).value_counts()
    q = synth.dropna().astype(str).value_counts()
    order = list(p.index) + [c for c in q.index if c not in p.index]  # real frequency first, then synthetic
    keep = order[:max_categories]
    labels = keep + ([OTHER] if len(order) > len(keep) else [])

    def counts(vc: pd.Series) -> np.ndarray:
        out = np.array([float(vc.get(c, 0)) for c in keep] + ([0.0] if len(labels) > len(keep) else []))
        if len(labels) > len(keep):
            out[-1] = float(vc.sum()) - out[:-1].sum()
        return out

    return Histogram(name, kind, labels, _shares(counts(p)), _shares(counts(q)), _missing(real), _missing(synth))


def column_histograms(real: pd.DataFrame, synth: pd.DataFrame, kinds: Mapping[str, str]) -> list[Histogram]:
    """One histogram per column of `kinds`, in its order: numbers binned, categories counted."""
    return [numeric_histogram(c, k, real[c], synth[c]) if k in NUMERIC else category_histogram(c, k, real[c], synth[c])
            for c, k in kinds.items()]


def pair_differences(real: pd.DataFrame, synth: pd.DataFrame, kinds: Mapping[str, str]) -> np.ndarray:
    """(n, n) symmetric, 1 - the column-pair trends score of each pair of the n columns of `kinds`:
    |r_real - r_synth| / 2 for two numeric columns (Pearson's r), else the total-variation distance
    between the real and synthetic joint frequency tables. 0 = associated alike; NaN on the
    diagonal and where a score is undefined (a constant column)."""
    names = list(kinds)
    out = np.full((len(names), len(names)), math.nan)
    for (a, b), score in column_pair_trends(real, synth, kinds).items():
        i, j = names.index(a), names.index(b)
        out[i, j] = out[j, i] = 1.0 - score
    return out
