"""The `table` data set: splits, masks, a codec fitted on the training rows only, and what
training makes of it (the mixed likelihood over the codec's columns, stored with the run)."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import vaekit
from vaekit.data import load_dataset
from vaekit.data.table import TableCodec, TableWarning
from vaekit.data.table_set import TableConfig, read_splits
from vaekit.errors import ConfigError, DataError

from table_helpers import make_table, table_config


def load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TableWarning)
        return load_dataset(TableConfig(path=str(path), **kw))


def test_rows_are_split_by_seed_and_encoded_with_a_mask_of_the_missing_cells(table_csv):
    data = load(table_csv)
    sizes = [len(data.train), len(data.val), len(data.test)]
    assert sizes == [320, 40, 40]  # 10% and 10% of 400 carved
    assert data.shape == (data.codec.width,) and not data.is_image
    raw = read_splits(TableConfig(path=str(table_csv)))[1]
    for name in ("train", "val", "test"):
        split, frame = data.split(name), raw[name]
        # the mask is 0 exactly over the blocks of the empty cells
        for block in data.codec.layout:
            observed = split.mask[:, block.start:block.start + block.width]
            expected = torch.from_numpy(frame[block.name].notna().to_numpy())
            assert torch.equal(observed.all(1), expected) and torch.equal(observed.any(1), expected)
    again = load(table_csv)
    assert torch.equal(again.train.x, data.train.x) and again.codec == data.codec
    other = load(table_csv, split_seed=1)
    assert not torch.equal(other.test.x, data.test.x)


def test_the_codec_is_fitted_on_the_training_rows_only(tmp_path):
    df = make_table(missing=0.0)
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    _, frames = read_splits(TableConfig(path=str(path)))
    held_out = frames["test"]["id"].tolist()
    # A city that appears only among the test rows: unseen in training, so a missing cell there.
    df.loc[df["id"] == held_out[0], "city"] = "Brest"
    df.to_csv(path, index=False)
    with pytest.warns(TableWarning, match="Brest"):
        data = load_dataset(TableConfig(path=str(path), columns={"id": "exclude"}))
    city = data.codec.columns[[c.name for c in data.codec.columns].index("city")]
    assert "Brest" not in city.categories
    assert data.test.mask is not None and int((data.test.mask == 0).any(1).sum()) == 1


def test_training_on_a_table_uses_the_mixed_likelihood_and_stays_finite(table_run):
    run = table_run
    assert run.config.model.likelihood.name == "mixed"
    layout = run.config.model.likelihood.layout
    assert [b.name for b in layout] == [b.name for b in run.codec.layout]
    assert {b.kind for b in layout} == {"mode", "categorical", "bernoulli"}
    records = run.metrics()
    assert len(records) == 3 and all(math.isfinite(r["train_elbo"]) and r["skipped_steps"] == 0 for r in records)
    # config.yaml alone rebuilds the model, and the stored codec reads the data as in training
    again = vaekit.load_run(run.path)
    assert isinstance(again.codec, TableCodec) and again.codec == run.codec
    data = again.dataset()
    assert data.codec == run.codec and data.train.mask is not None


def test_the_codec_round_trips_and_is_checked_against_codec_json(table_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(table_run.path, copy)
    raw = (copy / "codec.json").read_text()
    (copy / "codec.json").write_text(raw.replace('"Lyon"', '"Lille"'))
    with pytest.raises(vaekit.CheckpointError, match="does not match the codec"):
        vaekit.load_run(copy)
    (copy / "codec.json").unlink()  # the weights' copy is the one that counts
    assert vaekit.load_run(copy).codec == table_run.codec


def test_other_likelihoods_are_refused_for_tables_and_mixed_for_other_data(table_csv, tmp_path):
    with pytest.raises(ConfigError, match="model.likelihood.name=mixed, not 'gaussian'"):
        vaekit.train(table_config(table_csv, likelihood={"name": "gaussian"}), tmp_path / "a")
    config = vaekit.parse_config({"data": {"name": "digits", "limit": 50}, "model": {"likelihood": {"name": "mixed"}},
                                  "train": {"epochs": 1}})
    with pytest.raises(ConfigError, match="mixed models the columns of a table"):
        vaekit.train(config, tmp_path / "b")


def test_a_resumed_table_run_reads_its_rows_with_its_stored_codec(table_csv, tmp_path):
    import shutil

    path = tmp_path / "t.csv"
    shutil.copy(table_csv, path)
    config = dataclasses.replace(table_config(path), train=dataclasses.replace(table_config(path).train, epochs=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TableWarning)
        first = vaekit.train(config, tmp_path / "run")
        # New rows with a new city: a refitted codec would differ; the run's own is used.
        df = pd.read_csv(path)
        df.loc[:5, "city"] = "Brest"
        df.to_csv(path, index=False)
        resumed = vaekit.train(dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=2)),
                               tmp_path / "run", resume=True)
    assert resumed.codec == first.codec and resumed.summary()["epoch"] == 2


@pytest.mark.parametrize("kw, message", [
    ({"binarize": "static"}, "data.binarize=static applies to images"),
    ({"standardize": "standard"}, "data.standardize applies to arrays"),
    ({"max_modes": 0}, "data.max_modes"),
])
def test_bad_table_options(kw, message):
    with pytest.raises(ConfigError, match=message):
        TableConfig(path="x.csv", **kw)


def test_bad_table_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="is empty"):
        load(empty)
    header = tmp_path / "header.csv"
    header.write_text("a,b\n")
    with pytest.raises(DataError, match="has a header but no rows"):
        load(header)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    with pytest.raises(DataError, match="line 3: 1 fields where the header has 2"):
        load(ragged)
    few = tmp_path / "few.csv"
    few.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match="leave none to train on"):
        load(few, val_fraction=0.5, test_fraction=0.4)
    with pytest.raises(DataError, match="is a folder"):
        load(tmp_path)


def test_an_all_missing_and_a_constant_column_are_handled(tmp_path):
    df = make_table(missing=0.0).drop(columns="id")
    df["nothing"] = np.nan
    df["same"] = "x"
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    with pytest.warns(TableWarning, match="'nothing' has no values"):
        data = load_dataset(TableConfig(path=str(path)))
    assert "nothing" in data.codec.excluded
    assert [c.kind for c in data.codec.columns if c.name == "same"] == ["constant"]
    assert "same" not in [b.name for b in data.codec.layout]  # no entries: decode repeats the value
    assert set(data.codec.decode(data.test.x)["same"]) == {"x"}


def test_a_label_column_is_held_out_of_x_as_the_condition(table_csv):
    data = load(table_csv, label_column="owner")
    assert data.num_classes == 2 and "owner" not in [b.name for b in data.codec.layout]
    raw = read_splits(TableConfig(path=str(table_csv)))[1]["test"]
    assert torch.equal(data.test.y, torch.from_numpy(raw["owner"].to_numpy().astype(np.int64)))  # False, True -> 0, 1
    rows = data.codec.decode(data.test.x, y=data.test.y)
    assert list(rows.columns) == [c for c in raw.columns if c != "id"]  # back in its place
    with pytest.raises(DataError, match="is a continuous column; a condition is a category"):
        load(table_csv, label_column="income")
    with pytest.raises(DataError, match="missing cells"):
        load(table_csv, label_column="city")
