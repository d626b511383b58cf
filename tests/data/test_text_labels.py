"""The `text` data set's labelled CSV files (`data.label_column`): classes from the training
split's labels, sorted, staying with their rows through skipped empty cells and carved splits;
the one-line errors of bad settings and cells; a run's codec keeping its classes; and the class
names' way through codec.json, a codec written before labels reading back without them."""

from __future__ import annotations

import csv
import dataclasses
import json
import warnings
from pathlib import Path

import pytest
import torch

from vaekit.data import load_dataset
from vaekit.data.codec import META_KEY, codec_from_dict, codec_metadata, stored_codec
from vaekit.data.text import TextCodec
from vaekit.data.text_set import TextConfig, TextWarning, build_text
from text_helpers import decoded, load
from vaekit.errors import CheckpointError, ConfigError, DataError


def labelled_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A CSV file with a header and (text, label) rows, quoted as csv writes them."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "label"])
        writer.writerows((i, text, label) for i, (text, label) in enumerate(rows))
    return path


def pairs(data, split: str) -> list[tuple[str, str]]:
    """(line, label name) of every row of a split, as the data set gives them."""
    return list(zip(decoded(data, split), (data.codec.labels[int(k)] for k in data.split(split).y)))


def test_a_label_column_gives_classes_that_stay_with_their_rows(tmp_path):
    # each line names its own label in its words, so a label that slipped to another row shows;
    # the rows with an empty text cell carry labels ("orphan") that must go with them
    rows = [(f"row {i} is {label}", label) for i in range(30) for label in ("neg", "pos", "mixed") if (i + len(label)) % 2]
    rows[3:3] = [("", "orphan"), ("  ", "orphan")]
    rows.append(("", "orphan"))
    path = labelled_csv(tmp_path / "a.csv", rows)
    data = load(path=str(path), column="text", label_column="label", val_fraction=0.2, test_fraction=0.2)
    assert data.codec.labels == ("mixed", "neg", "pos") and data.num_classes == 3  # sorted; "orphan" was never read
    assert data.counts["empty_lines"] == 3 and data.counts["lines"] == len(rows) - 3
    seen = [p for split in ("train", "val", "test") for p in pairs(data, split)]
    assert len(seen) == len(rows) - 3 and all(line.endswith(f" is {label}") for line, label in seen)
    assert all(data.split(s).y.dtype == torch.long for s in ("train", "val", "test"))
    unlabelled = load(path=str(path), column="text", val_fraction=0.2, test_fraction=0.2)  # the same carving
    assert decoded(unlabelled, "val") == decoded(data, "val") and unlabelled.val.y is None
    assert unlabelled.num_classes is None and unlabelled.codec.labels is None


def test_integer_labels_are_sorted_as_numbers_and_given_splits_keep_their_rows(tmp_path):
    train = labelled_csv(tmp_path / "train.csv", [("a b", "10"), ("b c", "9"), ("c a", "2"), ("a a", " 9 ")])
    val = labelled_csv(tmp_path / "val.csv", [("b b", "2"), ("", "77"), ("c c", "10")])
    data = load(train=str(train), val=str(val), test=str(val), column="text", label_column="label")
    assert data.codec.labels == ("2", "9", "10")  # as numbers: "10" after "9"; " 9 " is "9"
    assert data.train.y.tolist() == [2, 1, 0, 1] and data.val.y.tolist() == [0, 2]  # "77" went with its empty text


def test_bad_label_settings_and_cells_are_one_line_errors(tmp_path):
    train = labelled_csv(tmp_path / "train.csv", [("a b", "pos"), ("b c", "neg")])
    val = labelled_csv(tmp_path / "val.csv", [("a c", "pos"), ("c c", "neutral"), ("b a", "neutral")])
    with pytest.raises(DataError, match=r"^data.label_column: the val split has labels that no training row has \('neutral'\)"):
        load_dataset(TextConfig(train=str(train), val=str(val), test=str(train), column="text", label_column="label"))
    with pytest.raises(DataError, match=r"no column 'lable' \(did you mean 'label'\?\)"):
        load_dataset(TextConfig(path=str(train), column="text", label_column="lable"))
    with pytest.raises(ConfigError, match="data.label_column=label names the labels .* with data.column too"):
        TextConfig(path=str(train), label_column="label")
    with pytest.raises(ConfigError, match="data.label_column and data.column both name 'text'"):
        TextConfig(path=str(train), column="text", label_column="text")
    blank = labelled_csv(tmp_path / "b.csv", [("a b", "pos"), ("b c", " "), ("c a", "neg")])
    with pytest.raises(DataError, match="b.csv line 3 has text but no label in column 'label'; fill in its label"):
        load_dataset(TextConfig(path=str(blank), column="text", label_column="label"))
    short = tmp_path / "s.csv"
    short.write_text("id,text,label\n1,a b,pos\n2,b c\n")
    with pytest.raises(DataError, match="line 3 has 2 cells, and column 'label' is cell 3"):
        load_dataset(TextConfig(path=str(short), column="text", label_column="label"))


def test_a_run_codec_keeps_its_classes(tmp_path):
    rows = [("a b c", "pos"), ("c b a", "neg"), ("b a c", "pos"), ("a c b", "neg")] * 5  # one vocabulary in any split
    config = TextConfig(path=str(labelled_csv(tmp_path / "a.csv", rows)), column="text", label_column="label")
    codec = load_dataset(config).codec
    assert codec.labels == ("neg", "pos")
    only_pos = labelled_csv(tmp_path / "p.csv", [r for r in rows if r[1] == "pos"])  # would fit ("pos",) alone
    with warnings.catch_warnings():
        warnings.simplefilter("error", TextWarning)
        again = build_text(dataclasses.replace(config, path=str(only_pos)), codec)
    assert again.codec.labels == ("neg", "pos") and again.num_classes == 2 and set(again.train.y.tolist()) == {1}
    other = labelled_csv(tmp_path / "o.csv", rows + [("a b c", "meh")] * 3)
    with pytest.raises(DataError, match=r"^data.label_column: the train split has labels outside the run's 2 classes \('meh'\)"):
        build_text(dataclasses.replace(config, path=str(other)), codec)
    with pytest.raises(CheckpointError, match="the run was trained on text without them"):
        build_text(config, dataclasses.replace(codec, labels=None))


def test_the_class_names_round_trip_and_a_codec_without_them_reads_as_before(tmp_path):
    rows = [("a b", "pos"), ("b c", "neg")] * 5
    labelled = load(path=str(labelled_csv(tmp_path / "a.csv", rows)), column="text", label_column="label").codec
    raw = json.loads(json.dumps(labelled.to_dict()))
    assert raw["labels"] == ["neg", "pos"] and codec_from_dict(raw, "codec.json") == labelled
    assert stored_codec({META_KEY: codec_metadata(labelled)}, "w") == labelled
    old = {k: v for k, v in raw.items() if k != "labels"}  # codec.json as runs before labels wrote it
    assert codec_from_dict(old, "codec.json") == dataclasses.replace(labelled, labels=None)
    assert "labels" not in dataclasses.replace(labelled, labels=None).to_dict()
    for bad in ("pos", ["pos", "pos"], ["pos", ""], [], ["pos", 3]):
        with pytest.raises(CheckpointError, match="codec.json holds a damaged text codec"):
            TextCodec.from_dict({**raw, "labels": bad}, "codec.json")
