"""The report of a table run: per-column histograms of real and synthetic rows and the column-pair
difference heat map, their numbers against numpy, their SVG, and the page's sections."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from vaekit.data.table_set import read_splits
from vaekit.evaluate.tabular import column_pair_trends
from vaekit.report import render_report
from vaekit.report import table as tab
from vaekit.report.svg import heat_map, overlaid_bars

from table_eval_helpers import mixed_table, train_table_run

KINDS = {"x": "continuous", "y": "continuous", "n": "integer", "c": "categorical", "b": "boolean"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_table_run(tmp_path_factory.mktemp("table_report"))


def sections(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', html, flags=re.S))


def test_numeric_histograms_share_the_bins_of_both_columns():
    real, synth = pd.Series([0.0, 1.0, 1.0, np.nan, 4.0]), pd.Series([2.0, 9.0, 3.0, 3.0])
    h = tab.numeric_histogram("v", "continuous", real, synth, bins=3)
    edges = np.linspace(0.0, 9.0, 4)  # the range of both columns together, in 3 bins
    assert h.labels == [f"{e:.3g}" for e in edges[:-1]]
    assert h.real == pytest.approx((np.histogram([0, 1, 1, 4], edges)[0] / 4).tolist())
    assert h.synthetic == pytest.approx((np.histogram([2, 9, 3, 3], edges)[0] / 4).tolist())
    assert (h.missing_real, h.missing_synthetic) == (0.2, 0.0)


def test_category_histograms_pool_the_rare_categories():
    real = pd.Series(list("aaabbc") + [None])
    synth = pd.Series(list("abdd"))
    h = tab.category_histogram("v", "categorical", real, synth, max_categories=2)
    assert h.labels == ["a", "b", tab.OTHER]
    assert h.real == pytest.approx([3 / 6, 2 / 6, 1 / 6]) and h.synthetic == pytest.approx([1 / 4, 1 / 4, 2 / 4])
    assert tab.category_histogram("v", "categorical", real, synth).labels == ["a", "b", "c", "d"]


def test_pair_differences_are_one_minus_the_pair_scores():
    real, synth = mixed_table(300, seed=1), mixed_table(300, seed=2)
    synth["y"] = -synth["y"]  # the x-y correlation flips sign
    d = tab.pair_differences(real, synth, KINDS)
    names = list(KINDS)
    assert np.isnan(np.diag(d)).all() and np.allclose(d, d.T, equal_nan=True)
    for (a, b), score in column_pair_trends(real, synth, KINDS).items():
        assert d[names.index(a), names.index(b)] == pytest.approx(1 - score)
    both = real[["x", "y"]].dropna(), synth[["x", "y"]].dropna()
    r_real, r_synth = (float(np.corrcoef(t["x"], t["y"])[0, 1]) for t in both)
    assert d[0, 1] == pytest.approx(abs(r_real - r_synth) / 2, rel=1e-9)  # an independent Pearson's r
    assert d[0, 1] > 0.9  # r near 0.99 against near -0.99


def test_the_svg_charts_draw_one_mark_per_value():
    svg = overlaid_bars({"real": [0.5, 0.5, 0.0], "synthetic": [0.2, math.nan, 0.8]}, ["a", "b", "c"], title="t")
    assert svg.count('class="series"') == 2 and svg.count('class="bar"') == 5  # the NaN is left out
    with pytest.raises(ValueError, match="2 values but there are 3 labels"):
        overlaid_bars({"real": [0.5, 0.5]}, ["a", "b", "c"])
    svg = heat_map([[math.nan, 0.3], [0.3, math.nan]], ["a", "b<"])
    assert svg.count('class="cell"') == 2 and "b&lt;" in svg and "b<" not in svg
    with pytest.raises(ValueError, match="2 x 2"):
        heat_map([[0.0]], ["a", "b"])


def test_a_table_report_shows_columns_and_pairs_not_images(run):
    html = render_report(run, limit=30, seed=1)
    parts = sections(html)
    assert "columns" in parts and "column-pairs" in parts
    assert not {"samples", "reconstructions", "interpolations", "traversals"} & set(parts)
    _, frames = read_splits(run.config.data)
    n = min(30, len(frames["test"]))
    assert f"Each column of {n} test rows (real) and of {n} synthetic rows" in parts["columns"]
    assert parts["columns"].count('<svg ') == len(KINDS)
    for name in KINDS:
        assert f'aria-label="{name}' in parts["columns"]
    assert parts["column-pairs"].count('class="cell"') == len(KINDS) * (len(KINDS) - 1)  # every pair is defined
    assert "<figcaption>" in parts["column-pairs"] and "total-variation distance" in parts["column-pairs"]
    assert render_report(run, limit=30, seed=1) == html  # seeded: the same page again
