"""The commands on a table run: rows out as CSV with the table's header and types, drawn from
p(x|z); bad input is one line and exit code 2."""

from __future__ import annotations

import pandas as pd
import pytest

from cli_helpers import cli, error_line
from vaekit.sample.rows import synthesize
from vaekit.errors import InputError


def test_synthesize_writes_rows_with_the_tables_header_types_and_categories(table_run, tmp_path):
    code, out, err = cli("synthesize", table_run.path, "-n", 300, "--out", tmp_path / "s.csv", "--seed", 3)
    assert code == 0, err
    rows = pd.read_csv(out.strip())
    assert list(rows.columns) == ["age", "income", "city", "owner", "children"]  # the id column is left out
    assert len(rows) == 300 and not rows.isna().any().any()
    assert set(rows["city"]) <= {"Paris", "Lyon", "Nice"} and rows["owner"].dtype == bool
    assert rows["age"].dtype.kind == "i" and rows["age"].between(18, 79).all()  # integers within the training range
    # drawn from p(x|z), not its mean: the categories keep their spread (a mean's argmax would
    # give the most probable city nearly everywhere)
    assert rows["city"].nunique() == 3 and rows["city"].value_counts(normalize=True).max() < 0.9
    again = cli("synthesize", table_run.path, "-n", 300, "--out", tmp_path / "t.csv", "--seed", 3)[1]
    assert pd.read_csv(again.strip()).equals(rows)  # the same seed, the same rows


def test_sample_and_reconstruct_write_csv_for_a_table_run(table_run, tmp_path):
    code, out, err = cli("sample", table_run.path, "-n", 5, "--out", tmp_path / "samples")
    assert code == 0, err and out.strip().endswith("samples.csv")
    assert len(pd.read_csv(out.strip())) == 5
    code, out, err = cli("reconstruct", table_run.path, "-n", 4, "--out", tmp_path / "r.csv")
    assert code == 0, err
    assert len(pd.read_csv(out.strip())) == 8  # each row, then its reconstruction
    code, _, err = cli("sample", table_run.path, "--out", tmp_path / "x.npy")
    assert code == 2 and "table rows are written as CSV" in error_line(err)


@pytest.mark.parametrize("where, message", [
    (["town=Paris"], "'town' is not a modelled column of the table"),
    (["city"], "write it as COLUMN=VALUE"),
    (["city=Paris", "city=Lyon"], "names 'city' twice"),
    (["age=old"], "column 'age' holds numbers, not 'old'"),
    (["city=Brest"], "Brest"),
])
def test_bad_conditions_are_one_line(table_run, tmp_path, where, message):
    args = [a for w in where for a in ("--where", w)]
    code, _, err = cli("synthesize", table_run.path, "-n", 5, "--out", tmp_path / "s.csv", *args)
    assert code == 2 and message in error_line(err)


def test_synthesize_refuses_runs_that_are_not_tables(table_run, tmp_path):
    with pytest.raises(InputError, match="expects a table run"):
        synthesize(table_run.model, 5)
