"""Column transforms: each kind encodes to finite O(1) numbers, decodes back to its own values and
type, handles missing and unseen cells as documented, and survives its JSON form."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vaekit.data import scalers
from vaekit.data.columns import (TRANSFORMS, BooleanColumn, CategoricalColumn, ConstantColumn,
                                 ContinuousColumn, IntegerColumn, TableWarning, column_from_dict, missing_cells)
from vaekit.errors import ConfigError, DataError

# Decoding float32 codes: float32 keeps 24 bits (eps 1.2e-7); an entry of size <= ~5 rounds by
# <= 6e-7, scaled back by at most 4 standard deviations (a mode's spread never exceeds the
# column's). 1e-5 standard deviations leaves room for the quantile map's steeper tail pieces.
ROUND_TRIP = 1e-5


def incomes(n: int = 600, seed: int = 0) -> pd.Series:
    """Two clusters of incomes, in the tens of thousands."""
    rng = np.random.default_rng(seed)
    return pd.Series(np.concatenate([rng.normal(30_000, 4_000, n // 2), rng.normal(95_000, 8_000, n - n // 2)]))


def round_trip(column, series: pd.Series, clip: bool = True) -> tuple[np.ndarray, pd.Series]:
    block, observed = column.encode(series)
    return block, column.decode(block.astype(np.float32), clip)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_continuous_values_round_trip_through_float32_codes(transform):
    x = incomes()
    column = ContinuousColumn("income", transform).fit(x)
    block, back = round_trip(column, x)
    assert block.shape == (len(x), column.width) and np.isfinite(block).all()
    assert np.abs(block).max() < 6  # O(1), not tens of thousands
    assert np.abs(back - x).max() <= ROUND_TRIP * x.std()
    assert back.dtype == np.float64 and back.name == "income"


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("scale", [1e-9, 1e12])
def test_wildly_scaled_columns_code_to_finite_o1_numbers(transform, scale):
    x = incomes() / 30_000 * scale
    column = ContinuousColumn("x", transform).fit(x)
    block, back = round_trip(column, x)
    assert np.isfinite(block).all() and np.abs(block).max() < 6
    assert np.abs(back - x).max() <= ROUND_TRIP * x.std()


def test_mode_normalisation_finds_the_modes_and_codes_alpha_and_a_one_hot():
    x = incomes()
    column = ContinuousColumn("income", "mode", max_modes=5, seed=0).fit(x)
    assert 2 <= column.modes <= 5 and column.width == 1 + column.modes
    block, _ = column.encode(x)
    assert np.array_equal(block[:, 1:].sum(axis=1), np.ones(len(x)))  # exactly one mode per value
    assert set(np.unique(block[:, 1:])) == {0.0, 1.0}
    low, high = block[:300, 1:].argmax(1), block[300:, 1:].argmax(1)
    assert not set(low) & set(high)  # the two clusters fall in different modes
    assert np.abs(block[:, 0]).max() <= 1.5  # alpha = (z - mu) / (4 sigma): most of a mode lies in [-1, 1]


def test_mode_weight_threshold_and_seed():
    bell = pd.Series(np.random.default_rng(0).normal(50, 10, 600))  # one mode: no value lies 8 sigma out
    assert ContinuousColumn("x", "mode", weight_threshold=0.9).fit(bell).modes == 1  # only the heaviest survives
    x = incomes()
    one, two = (ContinuousColumn("x", "mode", seed=3).fit(x) for _ in range(2))
    assert one.to_dict() == two.to_dict()


def test_mode_decode_picks_the_argmax_of_soft_mode_entries():
    x = incomes()
    column = ContinuousColumn("x", "mode").fit(x)
    block, _ = column.encode(x.iloc[:5])
    soft = block.copy()
    soft[:, 1:] = 0.4 * block[:, 1:] + 0.1  # a decoder's probabilities, not a one-hot
    assert np.allclose(column.decode(soft), x.iloc[:5], rtol=1e-9)


def test_values_beyond_the_training_range_are_clipped_on_decode_unless_asked_not_to():
    x = incomes()
    for transform in ("mode", "standard"):  # quantile codes saturate at the ends by design
        column = ContinuousColumn("x", transform).fit(x)
        far = pd.Series([x.max() * 3])
        block, _ = column.encode(far)
        assert np.isfinite(block).all()
        assert column.decode(block, clip=False).iloc[0] == pytest.approx(far.iloc[0], rel=1e-9)
        assert column.decode(block).iloc[0] == x.max()


def test_quantile_codes_saturate_at_the_bound_beyond_the_training_range():
    x = incomes()
    column = ContinuousColumn("x", "quantile").fit(x)
    block, _ = column.encode(pd.Series([x.min() - 1e6, x.max() + 1e6]))
    from scipy.special import ndtri

    assert block[:, 0] == pytest.approx([ndtri(scalers.QUANTILE_BOUND), -ndtri(scalers.QUANTILE_BOUND)])


def test_missing_cells_are_unobserved_with_zero_codes():
    series = pd.Series([1.0, np.nan, None, 2.0, 3.0], dtype=object)
    assert missing_cells(series).tolist() == [False, True, True, False, False]
    assert missing_cells(pd.Series(["a", "", "  ", None])).tolist() == [False, True, True, True]
    column = ContinuousColumn("x", "standard").fit(series)
    block, observed = column.encode(series)
    assert observed.tolist() == [True, False, False, True, True] and (block[~observed] == 0).all()


def test_text_or_an_infinity_in_a_numeric_column_is_one_line_naming_it():
    with pytest.raises(DataError, match=r"column 'x' is continuous but row 2 holds 'abc'.*data.columns.x=categorical"):
        ContinuousColumn("x").fit(pd.Series(["1.5", "abc", "2"]))
    column = ContinuousColumn("x", "standard").fit(pd.Series([1.0, 2.0]))
    with pytest.raises(DataError, match=r"column 'x' holds an infinite value in row 3"):
        column.encode(pd.Series([1.0, None, np.inf]))


def test_a_column_without_values_cannot_be_fitted():
    with pytest.raises(DataError, match="column 'x' has no values"):
        ContinuousColumn("x").fit(pd.Series([np.nan, np.nan]))
    with pytest.raises(DataError, match="column 'c' has no values"):
        CategoricalColumn("c").fit(pd.Series([None, ""]))


def test_unknown_transform_or_bad_mode_settings_are_config_errors():
    with pytest.raises(ConfigError, match="did you mean 'quantile'"):
        ContinuousColumn("x", "quantiles")
    with pytest.raises(ConfigError, match="max_modes=0"):
        ContinuousColumn("x", max_modes=0)
    with pytest.raises(ConfigError, match="weight_threshold=1.5"):
        ContinuousColumn("x", weight_threshold=1.5)


def test_integers_round_and_clip_to_the_training_range():
    series = pd.Series([3, 7, 12, 40, 41, 1000])
    column = IntegerColumn("n", "mode").fit(series)
    block, back = round_trip(column, series)
    assert back.tolist() == series.tolist() and back.dtype == np.int64
    block, _ = column.encode(pd.Series([5000, -50]))
    assert column.decode(block, clip=False).tolist() == [1000, 3]  # integers always stay in range
    with pytest.raises(DataError, match=r"column 'n' holds 2.5, not a whole number.*data.columns.n=continuous"):
        IntegerColumn("n").fit(pd.Series([1, 2.5]))


def test_categories_are_sorted_one_hot_and_decode_by_argmax():
    series = pd.Series(["b", "a", None, "c", "a"])
    column = CategoricalColumn("c").fit(series)
    assert column.categories == ["a", "b", "c"]
    block, observed = column.encode(series)
    assert block.tolist()[:2] == [[0, 1, 0], [1, 0, 0]] and not observed[2] and not block[2].any()
    soft = np.array([[0.2, 0.5, 0.3], [0.34, 0.33, 0.33]])
    assert column.decode(soft).tolist() == ["b", "a"]


def test_integer_categories_match_their_float_and_text_forms_but_not_booleans():
    column = CategoricalColumn("k").fit(pd.Series([3.0, 1.0, np.nan, 3.0]))  # integers read as float by a gap
    assert column.categories == [1, 3]
    block, observed = column.encode(pd.Series([1, 3.0, "3", np.int64(1)], dtype=object))
    assert observed.all() and block.argmax(1).tolist() == [0, 1, 1, 0]
    with pytest.warns(TableWarning):
        _, observed = column.encode(pd.Series([True], dtype=object))  # True == 1 in Python, not here
    assert not observed[0]
    assert column.decode(np.eye(2)).dtype == np.int64


def test_an_unseen_category_is_missing_with_a_warning_or_an_error_on_request():
    column = CategoricalColumn("colour").fit(pd.Series(["red", "blue"]))
    with pytest.warns(TableWarning, match=r"column 'colour': 2 cell\(s\) hold 'green'.*treated as missing"):
        block, observed = column.encode(pd.Series(["red", "green", "green"]))
    assert observed.tolist() == [True, False, False] and not block[1:].any()
    with pytest.raises(DataError, match=r"column 'colour' holds 'green', not seen in training"):
        column.encode(pd.Series(["green"]), unseen="error")
    with pytest.raises(ConfigError, match="unseen='drop'"):
        column.encode(pd.Series(["red"]), unseen="drop")  # refused even when every value was seen


def test_booleans_read_words_and_decode_from_one_half():
    series = pd.Series(["yes", "No", None, "TRUE", "0"])
    column = BooleanColumn("b").fit(series)
    block, observed = column.encode(series)
    assert block[:, 0].tolist() == [1, 0, 0, 1, 0] and observed.tolist() == [True, True, False, True, True]
    assert column.decode(np.array([[0.49], [0.5], [0.9]])).tolist() == [False, True, True]
    with pytest.warns(TableWarning, match="'maybe'"):
        _, observed = column.encode(pd.Series(["maybe"]))
    assert not observed[0]
    with pytest.raises(DataError, match=r"column 'b' holds 'maybe', not true/false"):
        BooleanColumn("b").fit(pd.Series(["yes", "maybe"]))


def test_a_constant_has_no_entries_and_decodes_to_its_value():
    column = ConstantColumn("k").fit(pd.Series([None, "x", "x"]))
    block, _ = column.encode(pd.Series(["x", None]))
    assert column.width == 0 and block.shape == (2, 0)
    assert column.decode(np.zeros((3, 0))).tolist() == ["x", "x", "x"]


@pytest.mark.parametrize("make, series", [
    (lambda: ContinuousColumn("a", "mode").fit(incomes()), incomes().iloc[:50]),
    (lambda: ContinuousColumn("a", "quantile").fit(incomes()), incomes().iloc[:50]),
    (lambda: IntegerColumn("a", "standard").fit(pd.Series([1, 5, 9])), pd.Series([1, 5, 2])),
    (lambda: CategoricalColumn("a").fit(pd.Series([2, 1, 1])), pd.Series([1, 2, 1])),
    (lambda: BooleanColumn("a").fit(pd.Series([True, False])), pd.Series([True, False, True])),
    (lambda: ConstantColumn("a").fit(pd.Series([1.5, 1.5])), pd.Series([1.5])),
])
def test_every_column_survives_its_json_form_exactly(make, series):
    column = make()
    again = column_from_dict(json.loads(json.dumps(column.to_dict())))
    assert type(again) is type(column) and again.to_dict() == column.to_dict()
    block, observed = again.encode(series)
    assert observed.all() and np.array_equal(block, column.encode(series)[0])


def test_a_damaged_column_form_is_a_value_error():
    raw = ContinuousColumn("a", "mode").fit(incomes()).to_dict()
    with pytest.raises(ValueError, match="modes of different lengths"):
        column_from_dict({**raw, "stds": raw["stds"][:-1] if len(raw["stds"]) > 1 else []})
    with pytest.raises(ValueError, match="non-finite"):
        column_from_dict({**raw, "scale": float("nan")})
    with pytest.raises(ValueError, match="unknown kind"):
        column_from_dict({"name": "a", "kind": "text"})
    with pytest.raises(KeyError):
        column_from_dict({"name": "a", "kind": "constant"})


def test_quantile_codes_decode_the_training_extremes_exactly():
    x = pd.Series(np.random.default_rng(1).lognormal(10.5, 1.0, 300))  # a long tail: wide gaps between the top values
    column = ContinuousColumn("x", "quantile").fit(x)
    _, back = round_trip(column, pd.Series([x.min(), x.max()]))
    assert back.tolist() == pytest.approx([x.min(), x.max()], rel=1e-12)  # exact but for (z * scale + center) rounding


@pytest.mark.parametrize("max_modes", [1, 10])
def test_outliers_next_to_a_spike_get_a_broad_mode_and_o1_codes(max_modes):
    rng = np.random.default_rng(2)  # late fees: 99% zeros, a few in the tens (the spike's mode alone gave alpha ~700)
    x = pd.Series(np.where(rng.random(3000) < 0.99, 0.0, rng.uniform(5, 60, 3000)))
    column = ContinuousColumn("fees", "mode", max_modes=max_modes).fit(x)
    assert column.modes <= max_modes
    block, back = round_trip(column, x)
    assert np.abs(block[:, 0]).max() <= 2.5
    assert np.abs(back - x).max() <= ROUND_TRIP * x.std()


def test_the_mixture_fits_a_seeded_subsample_yet_every_value_lies_near_a_mode(monkeypatch):
    monkeypatch.setattr(scalers, "MODE_FIT_ROWS", 100)
    x = pd.Series(np.append(np.random.default_rng(3).normal(0, 1, 999), 60.0))  # the outlier is rarely sampled
    one, two = (ContinuousColumn("x", "mode", seed=5).fit(x) for _ in range(2))
    assert one.to_dict() == two.to_dict()
    block, back = round_trip(one, x)
    assert np.abs(block[:, 0]).max() <= 2.5 and np.abs(back - x).max() <= ROUND_TRIP * x.std()
