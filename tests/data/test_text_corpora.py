"""The named text corpora, read from fake files in a temporary folder (no network, no apt
package): `ptb` from a local folder or a checked download, `wordnet` from data.* files in
WordNet's format."""

from __future__ import annotations

import hashlib
import re
import warnings

import pytest
import torch

from vaekit.config import parse_config
from vaekit.data import corpora, load_dataset
from vaekit.data.corpora import WordNetConfig, gloss_lines
from vaekit.data.text import SPECIALS
from vaekit.data.text_set import CorpusConfig, TextWarning
from vaekit.errors import DataError

PTB = {
    "ptb.train.txt": " the company said N <unk> \n a market fell \n the market rose N \n",
    "ptb.valid.txt": " the company fell \n",
    "ptb.test.txt": " a <unk> said \n the market said \n",
}


def fake_ptb(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in PTB.items():
        (folder / name).write_text(text)
    return folder


def lines(data, split):
    s = data.split(split)
    return data.codec.decode(s.x, s.lengths)


def test_ptb_reads_its_three_files_from_the_data_dir(tmp_path):
    fake_ptb(tmp_path / "ptb")
    data = load_dataset(parse_config({"data": {"name": "ptb", "data_dir": str(tmp_path)}}).data)
    assert lines(data, "train") == ["the company said N <unk>", "a market fell", "the market rose N"]
    assert lines(data, "val") == ["the company fell"] and lines(data, "test") == ["a <unk> said", "the market said"]
    assert data.codec.vocab.tokens[:4] == SPECIALS and "fell" in data.codec.vocab.tokens
    assert "<unk>" not in data.codec.vocab.tokens[4:]  # PTB's own <unk> is the special, not a word
    assert data.shape == (64,) and data.counts["lines"] == 6


def test_ptb_reads_a_folder_given_as_data_path_and_says_where_it_looked(tmp_path):
    fake_ptb(tmp_path / "simple-examples" / "data")
    data = load_dataset(CorpusConfig(name="ptb", path=str(tmp_path / "simple-examples" / "data")))
    assert len(data.train) == 3
    with pytest.raises(DataError, match="ptb files not found \\(ptb.train.txt, ptb.valid.txt, ptb.test.txt\\); "
                                        "looked in .*set data.download=true"):
        load_dataset(CorpusConfig(name="ptb", data_dir=str(tmp_path / "none"), download=False))


def test_ptb_downloads_its_files_checked_by_sha256(tmp_path, monkeypatch):
    source = fake_ptb(tmp_path / "mirror")
    sums = {key: hashlib.sha256((source / name).read_bytes()).hexdigest() for key, name in corpora.PTB_FILES.items()}
    monkeypatch.setattr(corpora, "PTB_URL", source.as_uri() + "/")
    monkeypatch.setattr(corpora, "PTB_SHA256", sums)
    data = load_dataset(CorpusConfig(name="ptb", data_dir=str(tmp_path / "cache")))
    assert (tmp_path / "cache" / "ptb" / "ptb.test.txt").read_text() == PTB["ptb.test.txt"] and len(data.test) == 2
    monkeypatch.setattr(corpora, "PTB_SHA256", {**sums, "val": "0" * 64})
    with pytest.raises(DataError, match="ptb.valid.txt has SHA-256 .* expected 0000"):
        load_dataset(CorpusConfig(name="ptb", data_dir=str(tmp_path / "cache2")))


def test_the_published_ptb_sums_are_sha256_hex_digests():
    assert set(corpora.PTB_SHA256) == set(corpora.PTB_FILES) == {"train", "val", "test"}
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in corpora.PTB_SHA256.values())
    assert corpora.PTB_URL.startswith("https://")


# --- wordnet -------------------------------------------------------------------------------------

LICENSE = "  1 This software and database is being provided to you, the LICENSEE, by  \n"
NOUN = LICENSE + (
    '00039297 04 n 01 contact 2 005 @ 00039021 n 0000 | close interaction; "they kept in daily contact"; '
    '"they claimed that they had been in contact with extraterrestrial beings"  \n'
    "00002452 03 n 01 thing 0 009 @ 00001930 n 0000 | a separate and self-contained entity  \n"
)
VERB = LICENSE + (
    '00016573 29 v 01 nod 2 001 @ 00016380 v 0000 02 + 01 00 | be almost asleep; "The old man sat nodding by the '
    'fireplace"  \n'
    '00016702 29 v 01 nod 3 001 + 00336430 n 0101 | let the head fall forward; "The old man sat nodding by the '
    'fireplace"  \n'
)
ADJ = LICENSE + "00001740 00 a 01 able 0 005 = 05207437 n 0000 | (usually followed by `to') having the means  \n"
ADV = LICENSE + '00001740 02 r 01 very 0 003 | to a high degree; "he was very polite"  \n'


def fake_wordnet(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for pos, text in (("noun", NOUN), ("verb", VERB), ("adj", ADJ), ("adv", ADV)):
        (folder / f"data.{pos}").write_text(text)
    return folder


def test_gloss_lines_split_examples_from_definitions_and_punctuation_from_words():
    records = NOUN.splitlines()
    assert gloss_lines(records, "examples", "data.noun") == [
        "they kept in daily contact", "they claimed that they had been in contact with extraterrestrial beings"]
    assert gloss_lines(records, "definitions", "data.noun") == [
        "close interaction", "a separate and self-contained entity"]
    assert gloss_lines(ADJ.splitlines(), "definitions", "data.adj") == [
        "( usually followed by ` to ' ) having the means"]
    with pytest.raises(DataError, match="no WordNet synset record"):
        gloss_lines(["just some text"], "examples", "data.noun")


def test_wordnet_reads_the_examples_of_every_part_of_speech_once(tmp_path):
    fake_wordnet(tmp_path / "wordnet")
    config = WordNetConfig(data_dir=str(tmp_path), val_fraction=0.2, test_fraction=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TextWarning)
        data = load_dataset(config)
    got = sorted(sum((lines(data, s) for s in ("train", "val", "test")), []))
    train = set(lines(data, "train"))
    # "The old man ..." is the example of two senses of "nod": kept once; lowercase by default
    want = ["he was very polite", "the old man sat nodding by the fireplace", "they claimed that they had been in "
            "contact with extraterrestrial beings", "they kept in daily contact"]
    matched = [[w for w in want if re.fullmatch(re.escape(g).replace(re.escape("<unk>"), r"\S+"), w)] for g in got]
    assert sorted(m[0] for m in matched if len(m) == 1) == want and train <= set(want)  # each line once
    assert data.counts["repeated_lines"] == 1 and data.counts["lines"] == 4
    definitions = load_dataset(WordNetConfig(data_dir=str(tmp_path), part="definitions", val_fraction=0.2,
                                             test_fraction=0.2))
    assert definitions.counts["lines"] == 6 and torch.all(definitions.train.lengths > 1)


def test_wordnet_without_its_files_names_the_debian_package(tmp_path, monkeypatch):
    assert corpora.WORDNET_SYSTEM_DIRS == ["/usr/share/wordnet"]  # where wordnet-base installs them
    monkeypatch.setattr(corpora, "WORDNET_SYSTEM_DIRS", [str(tmp_path / "system")])  # this machine may have them
    with pytest.raises(DataError, match="wordnet files not found \\(data.noun, data.verb, data.adj, data.adv\\); "
                                        "looked in .*system; install Debian's wordnet-base"):
        load_dataset(WordNetConfig(data_dir=str(tmp_path)))
    assert parse_config({"data": {"name": "wordnet"}}).data.lowercase is True
