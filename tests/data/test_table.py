"""Tables: reading CSV/Parquet with one-line errors for bad files, type inference, and the
TableCodec's encode (with the missing-cell mask), decode, layout, header check and JSON form."""

from __future__ import annotations

import importlib.util
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from vaekit.data import table
from vaekit.data.table import INTEGER_CATEGORIES, TableCodec, TableWarning, infer_kind, read_table
from vaekit.errors import CheckpointError, ConfigError, DataError, InputError

# Continuous values after a float32 round trip: see ROUND_TRIP in test_columns.py.
ROUND_TRIP = 1e-5


def people(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A mixed table: a row id, ages next to incomes in the tens of thousands, text, booleans, codes,
    a constant, and missing cells."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "id": np.arange(1, n + 1),
        "age": rng.integers(18, 90, n),
        "income": np.round(rng.lognormal(10.5, 0.6, n), 2),
        "city": rng.choice(["Oslo", "Lima", "Pune"], n),
        "owner": rng.choice([True, False], n),
        "children": rng.integers(0, 4, n),
        "country": "NO",
    })
    df["income"] = df["income"].astype(object)
    df.loc[[3, 7], "income"] = np.nan
    df["city"] = df["city"].astype(object)
    df.loc[5, "city"] = None
    return df


def fit(df: pd.DataFrame, **kwargs) -> TableCodec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TableWarning)
        return TableCodec.fit(df, **kwargs)


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "people.csv"
    people().to_csv(path, index=False)
    return path


def write(tmp_path, text: str, name: str = "t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- reading -------------------------------------------------------------------------------------

def test_a_csv_reads_with_missing_cells_kept(csv_file):
    df = read_table(csv_file)
    assert list(df.columns) == list(people().columns) and len(df) == 300
    assert df["income"].isna().sum() == 2 and df["city"].isna().sum() == 1


@pytest.mark.parametrize("text, message", [
    ("", r"t.csv is empty"),
    ("\n\n", r"t.csv is empty"),
    ("a,b\n", r"t.csv has a header but no rows"),
    ("a,b\n1,2\n3,4,5\n", r"t.csv line 3: 3 fields where the header has 2"),
    ("a,b\n1,2\n\n3\n", r"t.csv line 4: 1 fields where the header has 2"),  # pandas would fill it with NaN
    ("a,b,a\n1,2,3\n", r"header names 'a' more than once"),
])
def test_bad_csv_files_are_one_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message) as e:
        read_table(write(tmp_path, text))
    assert "\n" not in str(e.value)


def test_unreadable_files_are_one_line(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="it is a folder"):
        read_table(tmp_path)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"a,b\n\xff\xfe\x00\x01,2\n")
    with pytest.raises(DataError, match="not a UTF-8 CSV text file"):
        read_table(binary)


def test_parquet_without_pyarrow_names_the_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(table.importlib.util, "find_spec", lambda name: None if name == "pyarrow" else real(name))
    with pytest.raises(DataError, match="needs pyarrow; pip install pyarrow"):
        read_table(tmp_path / "t.parquet")


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow is not installed (Parquet is optional)")
def test_a_parquet_file_reads_like_its_csv(tmp_path, csv_file):
    df = read_table(csv_file)
    df.to_parquet(tmp_path / "t.parquet")
    back = read_table(tmp_path / "t.parquet")
    assert list(back.columns) == list(df.columns) and len(back) == len(df)
    codec = fit(df)
    assert all(torch.equal(a, b) for a, b in zip(codec.encode(back), codec.encode(df)))
    write(tmp_path, "not parquet", "bad.parquet")
    with pytest.raises(DataError, match="cannot read .*bad.parquet as Parquet"):
        read_table(tmp_path / "bad.parquet")


# --- inference -----------------------------------------------------------------------------------

@pytest.mark.parametrize("values, kind", [
    ([True, False, None, True], "boolean"),
    (list(range(INTEGER_CATEGORIES)) * 2, "categorical"),
    (list(range(INTEGER_CATEGORIES + 1)) * 2, "integer"),
    ([1.0, 2.0, np.nan] * 10 + list(range(30)), "integer"),  # whole numbers read as float because of a gap
    ([1.5, 2.0, 3.25], "continuous"),
    (["a", "b", "a"], "categorical"),
    ([f"name{i}" for i in 20 * [0]] + ["x"], "categorical"),
    ([f"n{i}" for i in range(20)], "categorical"),  # distinct, but too few to call an identifier
    (np.arange(1000, 1060) * 37 % 1061, "integer"),  # distinct whole numbers that are no run: kept
    ([7, 7, None], "constant"),
])
def test_inferred_kinds(values, kind):
    assert infer_kind(pd.Series(values))[0] == kind


@pytest.mark.parametrize("values", [
    list(range(65, 5, -1)),  # a run of row numbers, in any order
    [1, 2, 3, 5, 8] + list(range(10, 60)),  # ascending with gaps: the row numbers of a subset
    [f"row{i}" for i in range(40)],
    [None] * 5,
])
def test_identifiers_and_empty_columns_are_left_out(values):
    assert infer_kind(pd.Series(values))[0] is None


def test_fit_warns_about_each_column_it_leaves_out_and_keeps_constants():
    df = people().assign(empty=np.nan)
    with pytest.warns(TableWarning) as record:
        codec = TableCodec.fit(df)
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert messages[0].startswith("column 'empty' has no values") and "data.columns.empty=<kind>" in messages[0]
    assert messages[1].startswith("column 'id' is an identifier")
    assert set(codec.excluded) == {"id", "empty"}
    assert [c.name for c in codec.columns] == ["age", "income", "city", "owner", "children", "country"]
    assert "country" not in [b.name for b in codec.layout]  # a constant adds no entries


def test_text_with_many_categories_is_kept_with_a_warning():
    df = pd.DataFrame({"title": [f"job {i % 150}" for i in range(400)], "x": np.arange(400) % 7})
    with pytest.warns(TableWarning, match=r"column 'title' has 150 categories.*data.columns.title=exclude"):
        codec = TableCodec.fit(df)
    assert codec.layout[0].width == 150


def test_overrides_change_kinds_and_are_checked():
    codec = fit(people(), columns={"id": "integer", "children": "continuous", "city": "exclude"})
    kinds = {c.name: c.kind for c in codec.columns}
    assert kinds["id"] == "integer" and kinds["children"] == "continuous" and "city" not in kinds
    assert codec.excluded["city"] == "is excluded by data.columns"
    with pytest.raises(DataError, match="data.columns names 'towm'.*did you mean 'town'"):
        fit(people().rename(columns={"city": "town"}), columns={"towm": "categorical"})
    with pytest.raises(ConfigError, match=r"data.columns.age='number' is not a kind"):
        fit(people(), columns={"age": "number"})
    with pytest.raises(DataError, match="column 'empty' has no values"):
        fit(people().assign(empty=np.nan), columns={"empty": "continuous"})


def test_a_table_without_rows_or_without_anything_to_model_is_refused():
    with pytest.raises(DataError, match="no rows to fit"):
        fit(people().iloc[:0])
    with pytest.raises(DataError, match="no column of the table is left to model"):
        fit(pd.DataFrame({"id": np.arange(50), "k": 1}))
    with pytest.raises(InputError, match="pandas DataFrame"):
        TableCodec.fit(np.zeros((3, 2)))


# --- encode and decode ---------------------------------------------------------------------------

@pytest.mark.parametrize("transform", ["mode", "standard", "quantile"])
def test_decode_of_encode_recovers_the_table(csv_file, transform):
    df = read_table(csv_file)
    codec = fit(df, transform=transform)
    x, mask = codec.encode(df)
    assert x.dtype == mask.dtype == torch.float32 and x.shape == mask.shape == (len(df), codec.width)
    # incomes and ages on comparable O(1) scales: raw incomes are ~4e4; a standardised log-normal tail reaches ~6
    assert torch.isfinite(x).all() and x.abs().max() < 10
    back = codec.decode(x)
    assert list(back.columns) == ["age", "income", "city", "owner", "children", "country"]
    for name in ("age", "owner", "children", "country"):
        assert back[name].tolist() == df[name].tolist() and back[name].dtype == df[name].dtype
    seen = df["city"].notna()
    assert back["city"][seen].tolist() == df["city"][seen].tolist()
    seen = df["income"].notna()
    error = np.abs(back["income"][seen] - df["income"][seen]).max()
    assert error <= ROUND_TRIP * df["income"].std()


def test_a_missing_cell_masks_its_whole_block_with_zero_codes():
    df = people()
    codec = fit(df)
    x, mask = codec.encode(df)
    blocks = {b.name: b for b in codec.layout}
    for row, name in ((3, "income"), (7, "income"), (5, "city")):
        b = blocks[name]
        assert (mask[row, b.start:b.start + b.width] == 0).all() and (x[row, b.start:b.start + b.width] == 0).all()
    assert mask.sum() == mask.numel() - 2 * blocks["income"].width - blocks["city"].width


def test_an_unseen_category_is_masked_with_a_warning_or_an_error(csv_file):
    codec = fit(people())
    new = people().iloc[:3].copy()
    new.loc[0, "city"] = "Rome"
    with pytest.warns(TableWarning, match="column 'city'.*'Rome'"):
        _, mask = codec.encode(new)
    b = next(b for b in codec.layout if b.name == "city")
    assert (mask[0, b.start:b.start + b.width] == 0).all() and (mask[1:, b.start:b.start + b.width] == 1).all()
    with pytest.raises(DataError, match="'Rome', not seen in training"):
        codec.encode(new, unseen="error")
    with pytest.raises(ConfigError, match="unseen='skip' is not a choice"):
        fit(people()[["age", "income"]]).encode(people()[["age", "income"]], unseen="skip")  # no categories at all


def test_the_layout_tiles_x_and_names_each_block():
    codec = fit(people(), transform="mode")
    layout = codec.layout
    assert [b.start for b in layout] == [0] + list(np.cumsum([b.width for b in layout[:-1]]))
    assert sum(b.width for b in layout) == codec.width
    by_name = {b.name: b for b in layout}
    assert by_name["age"].kind == "integer" and by_name["age"].width == 1 + by_name["age"].modes >= 2
    assert by_name["income"].transform == "mode" and by_name["income"].modes >= 1
    assert (by_name["city"].kind, by_name["city"].width, by_name["city"].modes) == ("categorical", 3, 0)
    assert (by_name["owner"].kind, by_name["owner"].width, by_name["owner"].transform) == ("boolean", 1, None)
    assert by_name["children"].to_dict() == {"name": "children", "kind": "categorical", "start": by_name["children"].start,
                                             "width": 4, "transform": None, "modes": 0}


def test_decode_checks_its_input_and_clips_unless_asked_not_to():
    df = people()
    codec = fit(df, transform="standard")
    with pytest.raises(InputError, match=rf"\(N, {codec.width}\) rows"):
        codec.decode(torch.zeros(2, codec.width + 1))
    with pytest.raises(InputError, match="not all finite"):
        codec.decode(torch.full((1, codec.width), float("nan")))
    far = torch.zeros(1, codec.width)
    far[0, next(b.start for b in codec.layout if b.name == "income")] = 50.0
    high = pd.to_numeric(df["income"]).max()
    assert codec.decode(far)["income"].iloc[0] == high
    assert codec.decode(far, clip=False)["income"].iloc[0] > 5 * high  # 50 standard deviations out


def test_fitting_is_seeded():
    df = people()
    assert fit(df, seed=4).to_dict() == fit(df, seed=4).to_dict()


# --- the schema ----------------------------------------------------------------------------------

def test_a_different_header_is_one_line_listing_missing_and_unknown_columns():
    codec = fit(people())
    other = people().drop(columns=["age", "id"]).rename(columns={"city": "town"})
    with pytest.raises(DataError, match=r"missing 'age', 'city'; unknown 'town'\); use a table with the columns"):
        codec.encode(other)
    reordered = people()[list(reversed(people().columns))].drop(columns=["id"])  # order is free; 'id' was left out
    assert torch.equal(codec.encode(reordered)[0], codec.encode(people())[0])


def test_the_json_form_round_trips_exactly():
    df = people()
    codec = fit(df, transform="mode")
    raw = json.loads(json.dumps(codec.to_dict()))
    assert raw["modality"] == "table" and raw["layout"] == [b.to_dict() for b in codec.layout]
    again = TableCodec.from_dict(raw)
    assert again.to_dict() == codec.to_dict()
    x, mask = codec.encode(df)
    x2, mask2 = again.encode(df)
    assert torch.equal(x, x2) and torch.equal(mask, mask2)
    assert again.decode(x).equals(codec.decode(x))


@pytest.mark.parametrize("damage, message", [
    (lambda raw: [], "not a table codec"),
    (lambda raw: {**raw, "modality": "vector"}, "not a table codec"),
    (lambda raw: {k: v for k, v in raw.items() if k != "columns"}, "KeyError"),
    (lambda raw: {**raw, "columns": raw["columns"][1:]}, "layout does not match"),
    (lambda raw: {**raw, "names": raw["names"][1:]}, "not the table's names"),
    (lambda raw: {**raw, "columns": raw["columns"] + raw["columns"][-1:]}, "not the table's names"),
    (lambda raw: {**raw, "columns": [{**raw["columns"][0], "kind": "text"}] + raw["columns"][1:]}, "unknown kind"),
])
def test_a_damaged_json_form_is_a_checkpoint_error(damage, message):
    raw = fit(people()).to_dict()
    with pytest.raises(CheckpointError, match=f"run.json is damaged.*{message}"):
        TableCodec.from_dict(damage(raw), where="run.json")
