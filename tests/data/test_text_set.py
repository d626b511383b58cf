"""The `text` data set: seeded and given splits, a CSV column, both tokenizers, the bad inputs of
issue 13 (empty lines and files, bytes that are not UTF-8, a vocabulary smaller than the specials,
lines over max_length, a resumed run against a corpus whose vocabulary differs), and the text
codec's way through codec.json, the weights' metadata and a resumed run's data."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import warnings
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from vaekit.config import parse_config
from vaekit.data import load_dataset
from vaekit.data.codec import FILE, META_KEY, codec_from_dict, codec_metadata, fitted_by_data_set, run_codec, stored_codec
from vaekit.data.text import EOS_ID, PAD_ID, SPECIALS, UNK_ID
from vaekit.data.text_set import TextConfig, TextWarning
from text_helpers import decoded, load
from vaekit.errors import CheckpointError, ConfigError, DataError

FIXTURE = Path(__file__).parent / "fixtures" / "sentences.txt"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def numbered(n: int) -> list[str]:
    """Lines that spell their index in binary words ("one zero one") and end in a word of their
    own (u5): the bits tell a line apart even where its own word is <unk>."""
    return [" ".join("one" if b == "1" else "zero" for b in f"{i:06b}") + f" u{i}" for i in range(n)]


def bits(line: str) -> str:
    return line.rsplit(" ", 1)[0]


# --- splits --------------------------------------------------------------------------------------

def test_a_file_is_split_by_the_fractions_seeded_and_the_vocabulary_is_the_training_splits(tmp_path):
    lines = numbered(50)
    path = write(tmp_path / "a.txt", lines)
    data = load(path=str(path), val_fraction=0.2, test_fraction=0.1)
    parts = {s: decoded(data, s) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [35, 10, 5]
    assert sorted(bits(t) for t in sum(parts.values(), [])) == sorted(map(bits, lines))  # a partition, none lost
    order = [bits(line) for line in lines]
    assert all([bits(t) for t in parts[s]] == sorted(map(bits, parts[s]), key=order.index) for s in parts)  # file order
    assert set(parts["train"]) <= set(lines)  # every training word is in the vocabulary
    assert set(data.codec.vocab.tokens) == set(SPECIALS) | {t for line in parts["train"] for t in line.split()}
    assert all(t.endswith(" <unk>") for t in parts["val"] + parts["test"])  # their own words: never in training
    again = load(path=str(path), val_fraction=0.2, test_fraction=0.1)
    assert all(torch.equal(data.split(s).x, again.split(s).x) for s in ("train", "val", "test"))
    other = load(path=str(path), val_fraction=0.2, test_fraction=0.1, split_seed=1)
    assert decoded(other, "test") != parts["test"]


def test_given_splits_are_read_as_they_are_and_a_missing_one_is_carved_from_train(tmp_path):
    train = write(tmp_path / "train.txt", ["the cat sat", "the dog ran", "a cat ran"] * 4)
    val = write(tmp_path / "valid.txt", ["the cat flew"])
    test = write(tmp_path / "test.txt", ["a dog sat", "the emu sat"])
    data = load(train=str(train), val=str(val), test=str(test))
    assert decoded(data, "val") == ["the cat <unk>"] and decoded(data, "test") == ["a dog sat", "the <unk> sat"]
    assert len(data.train) == 12 and data.codec.vocab_size == len(SPECIALS) + 6
    carved = load(train=str(train), test=str(test), val_fraction=0.25)
    assert (len(carved.train), len(carved.val)) == (9, 3) and decoded(carved, "test") == decoded(data, "test")


def test_bad_split_settings(tmp_path):
    path = write(tmp_path / "a.txt", numbered(10))
    with pytest.raises(ConfigError, match="data.path and data.train both name"):
        TextConfig(path=str(path), train=str(path))
    with pytest.raises(ConfigError, match="come with data.train"):
        TextConfig(val=str(path))
    with pytest.raises(DataError, match="reads your own files: pass data.path="):
        load_dataset(TextConfig())
    with pytest.raises(DataError, match="data.train .*nope.txt not found"):
        load_dataset(TextConfig(train=str(tmp_path / "nope.txt")))
    with pytest.raises(DataError, match="is a folder"):
        load_dataset(TextConfig(path=str(tmp_path)))
    with pytest.raises(DataError, match="data.val_fraction is 0, .* or name a file with data.val"):
        load_dataset(TextConfig(path=str(path), val_fraction=0.0))
    with pytest.raises(DataError, match="leave none to train on"):
        load_dataset(TextConfig(path=str(write(tmp_path / "two.txt", ["a b", "c d"]))))


def test_a_relative_path_is_also_found_in_the_data_dir(tmp_path):
    write(tmp_path / "corpus.txt", numbered(20))
    data = load_dataset(TextConfig(path="corpus.txt", data_dir=str(tmp_path)))
    assert len(data.train) + len(data.val) + len(data.test) == 20


# --- CSV -----------------------------------------------------------------------------------------

def test_a_csv_column_gives_one_example_per_row(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,review,stars\n' + '1,"good, cheap",5\n2,,1\n3,"long\nwait",2\n4,fine,4\n' * 3)
    data = load(path=str(path), column="review", val_fraction=0.25, test_fraction=0.25)
    rows = sorted(sum((decoded(data, s) for s in ("train", "val", "test")), []))
    assert rows == sorted(["good, cheap", "long wait", "fine"] * 3)  # a cell's line break reads as a space
    assert data.counts["empty_lines"] == 3 and data.counts["lines"] == 9
    with pytest.raises(DataError, match="no column 'reveiw' \\(did you mean 'review'\\?\\)"):
        load_dataset(TextConfig(path=str(path), column="reveiw"))
    with pytest.raises(ConfigError, match="name the column that holds the text with data.column"):
        load_dataset(TextConfig(path=str(path)))
    with pytest.raises(ConfigError, match="is not a .csv file"):
        load_dataset(TextConfig(path=str(write(tmp_path / "a.txt", numbered(9))), column="review"))
    with pytest.raises(DataError, match="holds no text in column 'stars'"):
        load_dataset(TextConfig(path=str(write(tmp_path / "e.csv", ["id,stars", "1,", "2, "])), column="stars"))
    with pytest.raises(DataError, match="line 3 has 1 cells, and column 'stars' is cell 2"):
        load_dataset(TextConfig(path=str(write(tmp_path / "s.csv", ["id,stars", "1,a", "2"])), column="stars"))


# --- tokenizers and lengths ----------------------------------------------------------------------

def test_char_level_reads_characters_with_a_longer_default_length(tmp_path):
    lines = ["abc", "ab ba", "cab"] * 5
    data = load(path=str(write(tmp_path / "c.txt", lines)), tokenizer="char")
    assert data.shape == (256,) and data.codec.tokenizer.level == "char"
    assert set(data.codec.vocab.tokens) == set(SPECIALS) | {"a", "b", "c", " "}
    assert sorted(sum((decoded(data, s) for s in ("train", "val", "test")), [])) == sorted(lines)
    lengths = torch.cat([data.train.lengths, data.val.lengths, data.test.lengths])
    assert sorted(lengths.tolist()) == sorted(len(line) + 1 for line in lines)  # each character and <eos>
    word = load(path=str(write(tmp_path / "w.txt", lines)))
    assert word.shape == (64,) and word.train.x.shape[1] == 64


def test_a_split_holds_padded_ids_with_lengths_in_the_token_layout(tmp_path):
    data = load(path=str(write(tmp_path / "a.txt", ["x y z", "x", "y z"] * 10)), max_length=6)
    x, lengths = data.train.x, data.train.lengths
    assert x.dtype == torch.int64 and x.shape == (len(data.train), 6) and lengths.dtype == torch.int64
    assert torch.equal(lengths, (x != PAD_ID).sum(-1))  # tokens and <eos>, then only padding
    assert torch.equal(x[torch.arange(len(x)), lengths - 1], torch.full_like(lengths, EOS_ID))
    assert not data.binary and not data.is_image and data.num_classes is None
    batch = data.train.batch(torch.tensor([i for i in range(len(x)) if lengths[i] <= 3][:4]))
    assert batch.x.shape[1] == int(batch.lengths.max()) <= 3  # cut to the batch's longest sequence


def test_limit_keeps_each_sequence_with_its_length(tmp_path):
    lines = [" ".join(["t"] * (1 + i % 7)) for i in range(60)]
    data = load(path=str(write(tmp_path / "a.txt", lines)), limit=10)
    for split in (data.train, data.val, data.test):
        assert len(split) <= 10 and torch.equal(split.lengths, (split.x != PAD_ID).sum(-1))


# --- bad input -----------------------------------------------------------------------------------

def test_empty_lines_are_skipped_and_counted_and_an_empty_file_is_an_error(tmp_path):
    path = tmp_path / "gaps.txt"
    path.write_text("one two\n\n   \nthree\n\t\nfour five\n" * 4)
    data = load(path=str(path), val_fraction=0.25, test_fraction=0.25)
    assert data.counts["empty_lines"] == 12 and data.counts["lines"] == 12
    assert len(data.train) + len(data.val) + len(data.test) == 12
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n  \n\n")
    for name in ("empty.txt", "blank.txt"):
        with pytest.raises(DataError, match="holds no text"):
            load_dataset(TextConfig(path=str(tmp_path / name)))
    with pytest.raises(DataError, match="holds no text"):
        load_dataset(TextConfig(train=str(path), val=str(tmp_path / "empty.txt")))


def test_bytes_that_are_not_utf8_are_a_data_error_naming_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("one\ntwo\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.txt is not UTF-8 text: line 3 \(byte offset 11\) holds byte 0xe9"):
        load_dataset(TextConfig(path=str(path)))
    gz = tmp_path / "latin1.txt.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(DataError, match="not UTF-8 text: line 3"):
        load_dataset(TextConfig(path=str(gz)))
    csv = tmp_path / "latin1.csv"
    csv.write_bytes("text\nok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 text: line 3"):
        load_dataset(TextConfig(path=str(csv), column="text"))


@pytest.mark.parametrize("max_vocab", [0, 3, 4])
def test_a_vocabulary_no_larger_than_the_specials_is_a_config_error(max_vocab):
    with pytest.raises(ConfigError, match=f"data.max_vocab is {max_vocab}, but the 4 special tokens"):
        TextConfig(path="a.txt", max_vocab=max_vocab)
    with pytest.raises(ConfigError, match="data.max_vocab"):
        parse_config({"data": {"name": "text", "path": "a.txt", "max_vocab": max_vocab}})


def test_max_vocab_keeps_the_most_frequent_training_tokens(tmp_path):
    lines = ["a a a a b b b c c d"] * 3 + ["e"]
    data = load(train=str(write(tmp_path / "t.txt", lines)), val=str(write(tmp_path / "v.txt", ["a d"])),
                test=str(write(tmp_path / "s.txt", ["e b"])), max_vocab=7)
    assert data.codec.vocab.tokens == SPECIALS + ("a", "b", "c")
    assert decoded(data, "val") == ["a <unk>"] and decoded(data, "test") == ["<unk> b"]


@pytest.mark.parametrize("kw, message", [
    ({"binarize": "threshold"}, "data.binarize=threshold applies to images"),
    ({"binarize": "dynamic"}, "data.binarize=dynamic applies to images"),
    ({"standardize": "standard"}, "text is token ids, which are never standardised"),
    ({"cluster_labels": 3}, "data.cluster_labels clusters vectors"),
    ({"max_length": 1}, "data.max_length is 1"),
    ({"min_count": 0}, "data.min_count is 0"),
])
def test_options_that_do_not_apply_to_token_ids_are_refused(kw, message):
    with pytest.raises(ConfigError, match=message):
        TextConfig(path="a.txt", **kw)


def test_load_datasets_checks_pass_token_ids_and_its_binarize_is_refused_for_them(tmp_path):
    from vaekit.config import DataConfig
    from vaekit.data.load import check_finite, is_binary

    path = write(tmp_path / "a.txt", numbered(20))
    data = load(path=str(path))
    check_finite(data.train, "ids")  # int64 holds no NaN: no error
    assert not is_binary(data.train.x) and not data.binary and not data.dynamic_binarize
    with pytest.raises(ConfigError, match="data.binarize=static applies to images"):
        load_dataset(DataConfig(name="text", path=str(path), binarize="static"))  # a plain DataConfig, too


def test_lines_over_max_length_are_cut_counted_and_reported_once(tmp_path):
    lines = [" ".join(f"t{j}" for j in range(1 + i % 9)) for i in range(40)]
    path = write(tmp_path / "long.txt", lines)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(TextConfig(path=str(path), max_length=5))
    long = sum(len(line.split()) > 4 for line in lines)  # no room for all their tokens and the <eos>
    texts = [str(w.message) for w in caught if issubclass(w.category, TextWarning)]
    assert len(texts) == 1 and re.search(rf"{long} of 40 lines \(train \d+, val \d+, test \d+\) are longer than "
                                         rf"data.max_length=5 tokens and were cut to their first 4", texts[0])
    assert data.counts["truncated_lines"] == long and data.shape == (5,)
    for split in (data.train, data.val, data.test):
        assert int(split.lengths.max()) <= 5 and all(len(t.split()) <= 4 for t in data.codec.decode(split.x))


def test_the_shipped_fixture_reads_whole_at_the_default_length():
    data = load(path=str(FIXTURE))
    assert data.counts == {"lines": 400, "empty_lines": 0, "truncated_lines": 0}
    assert 40 < data.codec.vocab_size < 120 and len(data.train) == 320


# --- the run's codec -----------------------------------------------------------------------------

def test_a_resumed_run_against_a_corpus_whose_vocabulary_differs_keeps_its_own(tmp_path):
    """The documented behaviour: the run's vocabulary encodes the new corpus (its ids keep their
    meaning), words it lacks read as <unk>, and a TextWarning counts them."""
    first = load(train=str(write(tmp_path / "a.txt", ["the cat sat", "the dog ran"])),
                 val=str(write(tmp_path / "v.txt", ["the cat ran"])), test=str(write(tmp_path / "t.txt", ["a dog"])))
    same = load_dataset(TextConfig(train=str(tmp_path / "a.txt"), val=str(tmp_path / "v.txt"),
                                   test=str(tmp_path / "t.txt")), codec=first.codec)  # no warning: load() is strict
    assert torch.equal(same.train.x, first.train.x) and same.codec == first.codec
    write(tmp_path / "b.txt", ["the emu sat", "the cat ran", "an emu ran"])
    config = TextConfig(train=str(tmp_path / "b.txt"), val=str(tmp_path / "v.txt"), test=str(tmp_path / "t.txt"))
    with pytest.warns(TextWarning, match=r"the 2 distinct tokens it lacks read as <unk> \(3 of 9 training tokens\)"):
        resumed = load_dataset(config, codec=first.codec)
    assert resumed.codec is first.codec and resumed.shape == first.shape
    assert decoded(resumed, "train") == ["the <unk> sat", "the cat ran", "<unk> <unk> ran"]
    fresh = load(train=str(tmp_path / "b.txt"), val=str(tmp_path / "v.txt"), test=str(tmp_path / "t.txt"))
    assert fresh.codec.vocab != first.codec.vocab  # what a refit would have given instead


@pytest.mark.parametrize("change, message", [
    ({"tokenizer": "char"}, "the data settings give tokenizer 'char'"),
    ({"lowercase": True}, "lowercase True"),
    ({"max_length": 9}, "max_length 9"),
])
def test_a_run_codec_with_other_tokenizer_settings_is_a_checkpoint_error(tmp_path, change, message):
    path = write(tmp_path / "a.txt", numbered(20))
    codec = load(path=str(path)).codec
    with pytest.raises(CheckpointError, match=message):
        load_dataset(TextConfig(path=str(path), **change), codec=codec)


def test_the_text_codec_round_trips_through_codec_json_and_the_weights_metadata(tmp_path):
    codec = load(path=str(write(tmp_path / "a.txt", numbered(20))), max_length=12).codec
    assert fitted_by_data_set(codec) and not codec.is_image and not codec.identity
    raw = json.loads(json.dumps(codec.to_dict()))
    assert codec_from_dict(raw, "codec.json") == codec
    assert stored_codec({META_KEY: codec_metadata(codec)}, "w") == codec
    run = tmp_path / "run"
    run.mkdir()
    meta = {META_KEY: codec_metadata(codec)}
    assert run_codec(run, (12,), meta, run / "w") == codec  # no codec.json: the weights' copy
    (run / FILE).write_text(json.dumps(codec.to_dict()))
    assert run_codec(run, (12,), meta, run / "w") == codec
    with pytest.raises(CheckpointError, match="sequences hold 12 token ids, the run's examples 10"):
        codec_from_dict(raw, "codec.json", features=10)
    with pytest.raises(CheckpointError, match="has damaged codec metadata"):  # weights of examples of another length
        run_codec(run, (10,), meta, run / "w")
    other = dataclasses.replace(codec, max_length=13)
    (run / FILE).write_text(json.dumps(other.to_dict()))
    with pytest.raises(CheckpointError, match="does not match the codec the weights"):
        run_codec(run, (12,), meta, run / "w")
    raw["vocabulary"]["tokens"] = raw["vocabulary"]["tokens"][1:]
    with pytest.raises(CheckpointError, match="damaged vocabulary"):
        codec_from_dict(raw, "codec.json")


def test_run_data_reads_a_resumed_text_run_with_its_stored_codec(tmp_path):
    from vaekit.train.prepare import run_data

    path = write(tmp_path / "a.txt", ["the cat sat", "the dog ran"] * 10)
    config = parse_config({"data": {"name": "text", "path": str(path)}})
    first = run_data(config, tmp_path / "run", resume=False, dataset=None)
    (tmp_path / "run").mkdir()
    save_file({"w": torch.zeros(1)}, str(tmp_path / "run" / "model.safetensors"),
              metadata={META_KEY: codec_metadata(first.codec)})
    write(path, ["the emu sat", "the cat ran"] * 10)
    with pytest.warns(TextWarning, match="another vocabulary than the run's"):
        resumed = run_data(config, tmp_path / "run", resume=True, dataset=None)
    assert resumed.codec == first.codec
    assert Counter(resumed.train.x[:, 1].tolist())[UNK_ID] > 0  # "emu": a word the run never saw


def test_a_runs_dataset_reads_its_corpus_with_the_runs_vocabulary(tmp_path):
    from torch import nn

    from vaekit.run import Run

    path = write(tmp_path / "a.txt", ["the cat sat", "the dog ran"] * 10)
    config = parse_config({"data": {"name": "text", "path": str(path)}})
    trained = load_dataset(config.data)
    write(path, ["the emu sat", "the cat ran"] * 10)  # the corpus changed since
    run = Run(tmp_path, config, nn.Identity(), trained.shape, torch.device("cpu"), None, trained.codec)
    with pytest.warns(TextWarning, match="the run's is kept"):
        data = run.dataset()
    assert data.codec == trained.codec and "the <unk> sat" in data.codec.decode(data.train.x)
    refit = load(path=str(path))
    with pytest.raises(DataError, match="encoded differently from the run .* a text's other vocabulary"):
        Run(tmp_path, config, nn.Identity(), trained.shape, torch.device("cpu"), refit, trained.codec).dataset()
