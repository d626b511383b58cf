"""The table of tests/table_helpers.py written as CSV, and a run trained on it once per test
session (training takes a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

import vaekit

from table_helpers import make_table, table_config


@pytest.fixture(scope="session")
def table_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("table") / "people.csv"
    make_table().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def table_run(table_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "people"
    from vaekit.data.table import TableWarning

    with pytest.warns(TableWarning, match="'id' is an identifier"):
        return vaekit.train(table_config(table_csv), out)
