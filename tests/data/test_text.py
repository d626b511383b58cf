"""Text data: reading lines, tokenizers, the vocabulary, padded sequences and the text codec."""

from __future__ import annotations

import gzip
import json

import pytest
import torch

from vaekit.data.text import (BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, TextCodec, Tokenizer, Vocabulary,
                              encode_corpus, read_lines, read_text)
from vaekit.errors import CheckpointError, ConfigError, DataError, InputError
from vaekit.yamlio import loads_json

CORPUS = ["the cat sat", "the dog sat", "a cat ran", "the end"]


def word_vocab(lines=CORPUS, **kwargs) -> Vocabulary:
    tok = Tokenizer("word")
    return Vocabulary.build([tok.tokenize(line) for line in lines], **kwargs)


# --- reading -------------------------------------------------------------------------------------

def test_read_lines_skips_and_counts_empty_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"one two\r\n\n   \nthree\n")
    assert read_text(path) == (["one two", "three"], 2)
    assert read_lines(path) == ["one two", "three"]


def test_read_lines_without_final_newline_and_bom(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfcaf\xc3\xa9\nend")
    assert read_text(path) == (["café", "end"], 0)


def test_read_lines_gz(tmp_path):
    path = tmp_path / "a.txt.gz"
    path.write_bytes(gzip.compress("héllo world\n\nbye\n".encode()))
    assert read_text(path) == (["héllo world", "bye"], 1)


def test_damaged_gz_is_a_data_error(tmp_path):
    path = tmp_path / "a.txt.gz"
    path.write_bytes(gzip.compress(b"hello world\n" * 50)[:-10])
    with pytest.raises(DataError, match="not a readable gzip file"):
        read_lines(path)


def test_invalid_utf8_names_file_line_and_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nalso fine\nbad \xff here\n")
    with pytest.raises(DataError) as e:
        read_lines(path)
    msg = str(e.value)
    assert "bad.txt" in msg and "line 3" in msg and "byte offset 19" in msg and "0xff" in msg
    assert "\n" not in msg


def test_invalid_utf8_offset_counts_the_byte_order_mark(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfab\nc\xffd\n")  # the decoder's offsets start after the 3-byte mark
    with pytest.raises(DataError, match="line 2 \\(byte offset 7\\)"):
        read_lines(path)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n\t\n"])
def test_empty_file_is_a_data_error(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match="holds no text"):
        read_lines(path)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_lines(tmp_path / "nope.txt")


# --- tokenizer -----------------------------------------------------------------------------------

def test_word_tokenizer_splits_whitespace_and_lowercases():
    assert Tokenizer("word").tokenize("The  cat\tsat ") == ["The", "cat", "sat"]
    assert Tokenizer("word", lowercase=True).tokenize("The Cat") == ["the", "cat"]
    assert Tokenizer("word").detokenize(["a", "b"]) == "a b"


def test_char_tokenizer_keeps_spaces():
    tok = Tokenizer("char", lowercase=True)
    assert tok.tokenize("Ab c") == ["a", "b", " ", "c"]
    assert tok.detokenize(["a", " ", "b"]) == "a b"


def test_bad_tokenizer_settings_are_config_errors():
    with pytest.raises(ConfigError, match="data.tokenizer"):
        Tokenizer("byte")
    with pytest.raises(ConfigError, match="data.lowercase"):
        Tokenizer("word", lowercase="yes")


# --- vocabulary ----------------------------------------------------------------------------------

def test_vocabulary_ids_are_specials_then_count_then_alphabetical():
    vocab = word_vocab()
    # the: 3, sat: 2, cat: 2, then a, dog, end, ran once each
    assert vocab.tokens == SPECIALS + ("the", "cat", "sat", "a", "dog", "end", "ran")
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert word_vocab(list(reversed(CORPUS))).tokens == vocab.tokens  # line order does not matter


def test_min_count_and_max_size():
    assert word_vocab(min_count=2).tokens == SPECIALS + ("the", "cat", "sat")
    assert word_vocab(max_size=6).tokens == SPECIALS + ("the", "cat")
    assert len(word_vocab(max_size=6)) == 6


@pytest.mark.parametrize("max_size", [4, 3, 0, 5.0, True])
def test_max_size_not_above_the_specials_is_a_config_error(max_size):
    with pytest.raises(ConfigError, match="data.max_vocab"):
        word_vocab(max_size=max_size)


def test_bad_min_count_and_no_token_left():
    with pytest.raises(ConfigError, match="data.min_count is 0"):
        word_vocab(min_count=0)
    with pytest.raises(ConfigError, match="no token occurs data.min_count=9"):
        word_vocab(min_count=9)


def test_unknown_tokens_and_special_text_encode_as_unk():
    vocab = word_vocab()
    assert vocab.encode(["the", "zebra", "<eos>", "<unk>", "cat"]) == [4, UNK_ID, UNK_ID, UNK_ID, 5]
    # a corpus that writes <unk> (Penn Treebank) gets no second <unk> entry
    assert word_vocab(["a <unk> b", "<eos> a"]).tokens == SPECIALS + ("a", "b")


def test_decode_stops_at_eos_and_skips_pad_and_bos():
    vocab = word_vocab()
    assert vocab.decode([BOS_ID, 4, PAD_ID, 5, EOS_ID, 6]) == ["the", "cat"]
    assert vocab.decode([4, UNK_ID]) == ["the", "<unk>"]
    with pytest.raises(InputError, match="outside the vocabulary of 11"):
        vocab.decode([4, 11])


def test_vocabulary_dict_round_trip_is_exact():
    vocab = word_vocab()
    back = Vocabulary.from_dict(loads_json(json.dumps(vocab.to_dict())), "codec.json")
    assert back == vocab and back.tokens == vocab.tokens
    assert back.encode(["cat", "x"]) == vocab.encode(["cat", "x"])


@pytest.mark.parametrize("raw", [None, [], {}, {"tokens": "the"}, {"tokens": [*SPECIALS, 3]},
                                 {"tokens": ["the", *SPECIALS]}, {"tokens": list(SPECIALS)},
                                 {"tokens": [*SPECIALS, "a", "a"]}])
def test_damaged_vocabulary_is_a_checkpoint_error(raw):
    with pytest.raises(CheckpointError, match="codec.json holds a damaged vocabulary"):
        Vocabulary.from_dict(raw, "codec.json")


def test_check_same_passes_and_names_the_difference():
    vocab = word_vocab()
    vocab.check_same(word_vocab(list(reversed(CORPUS))), "runs/x")
    other = word_vocab(CORPUS + ["zebra zebra zebra zebra"])  # zebra goes first: every id after moves
    with pytest.raises(CheckpointError) as e:
        vocab.check_same(other, "resuming runs/x")
    msg = str(e.value)
    assert msg.startswith("resuming runs/x: the data give a vocabulary of 12 tokens")
    assert "run's 11 in 8 token ids" in msg and "resume with the run's own data" in msg and "\n" not in msg


# --- sequences -----------------------------------------------------------------------------------

def test_encode_corpus_pads_and_counts_eos_in_lengths():
    vocab = word_vocab()
    ids, lengths, truncated = encode_corpus(["the cat", "a"], Tokenizer("word"), vocab, max_length=10)
    assert ids.dtype == torch.long and lengths.dtype == torch.long
    assert ids.tolist() == [[4, 5, EOS_ID], [7, EOS_ID, PAD_ID]]
    assert lengths.tolist() == [3, 2] and truncated == 0


def test_encode_corpus_truncates_keeping_eos_and_counts():
    vocab = word_vocab()
    out = encode_corpus(["the cat sat", "the cat", "a"], Tokenizer("word"), vocab, max_length=3)
    # "the cat sat" + <eos> is 4 > 3: cut; "the cat" + <eos> is 3: fits exactly
    assert out.ids.tolist() == [[4, 5, EOS_ID], [4, 5, EOS_ID], [7, EOS_ID, PAD_ID]]
    assert out.lengths.tolist() == [3, 3, 2] and out.truncated == 1


def test_encode_corpus_bad_inputs():
    vocab = word_vocab()
    with pytest.raises(ConfigError, match="data.max_length is 1"):
        encode_corpus(["a"], Tokenizer("word"), vocab, max_length=1)
    with pytest.raises(InputError, match="no lines"):
        encode_corpus([], Tokenizer("word"), vocab, max_length=5)


@pytest.mark.parametrize("level, lowercase, lines", [
    ("word", False, ["The cat  sat", "a dog\tran"]),
    ("word", True, ["The Cat sat", "a DOG ran"]),
    ("char", False, ["Héllo, wörld", " spaced  out "]),
])
def test_round_trip_gives_the_normalised_line(level, lowercase, lines):
    codec = TextCodec.fit(lines, level, lowercase, max_length=64)
    ids, lengths, truncated = codec.encode(lines)
    assert truncated == 0
    expected = [codec.tokenizer.normalise(line) for line in lines]
    assert codec.decode(ids) == expected
    assert codec.decode(ids, lengths) == expected


def test_codec_decode_respects_lengths_and_unknowns():
    codec = TextCodec.fit(CORPUS, max_length=8)
    ids = torch.tensor([[4, 5, 6, 7], [4, 5, 6, 7]])  # a sample with no <eos>
    assert codec.decode(ids, torch.tensor([2, 4])) == ["the cat", "the cat sat a"]
    assert codec.decode(codec.encode(["the zebra"]).ids) == ["the <unk>"]
    with pytest.raises(InputError, match="2 rows of ids but 1 lengths"):
        codec.decode(ids, [2])
    with pytest.raises(InputError, match="shape"):
        codec.decode(torch.zeros(2, 3))


def test_codec_dict_round_trip_is_exact():
    codec = TextCodec.fit(["Ab c", "ca b"], "char", True, max_vocab=6, min_count=1, max_length=7)
    raw = codec.to_dict()
    assert raw["modality"] == "text"
    back = TextCodec.from_dict(loads_json(json.dumps(raw)), "runs/x/codec.json")
    assert back == codec and back.to_dict() == raw
    assert torch.equal(back.encode(["abc"]).ids, codec.encode(["abc"]).ids)


@pytest.mark.parametrize("mutate, match", [
    (lambda r: r.update(modality="vector"), "holds no text codec"),
    (lambda r: r.pop("tokenizer"), "damaged text codec"),
    (lambda r: r["tokenizer"].update(level="byte"), "damaged text codec"),
    (lambda r: r.update(max_length="64"), "damaged text codec"),
    (lambda r: r["vocabulary"]["tokens"].pop(0), "damaged vocabulary"),
])
def test_damaged_codec_is_a_checkpoint_error(mutate, match):
    raw = TextCodec.fit(CORPUS, max_length=8).to_dict()
    mutate(raw)
    with pytest.raises(CheckpointError, match=match) as e:
        TextCodec.from_dict(raw, "runs/x/codec.json")
    assert str(e.value).startswith("runs/x/codec.json")


def test_codec_fit_uses_the_training_lines_only():
    codec = TextCodec.fit(["a b"], max_length=4)
    assert codec.vocab_size == len(SPECIALS) + 2
    assert codec.decode(codec.encode(["a c b"]).ids) == ["a <unk> b"]


def test_codec_check_same_names_other_settings_then_the_vocabulary():
    codec = TextCodec.fit(CORPUS, max_length=8)
    codec.check_same(TextCodec.fit(list(reversed(CORPUS)), max_length=8), "resuming runs/x")
    with pytest.raises(CheckpointError, match="tokenizer 'word' \\(lowercase True, max_length 8\\), but the run "
                                              "was trained with 'word' \\(lowercase False, max_length 8\\)"):
        codec.check_same(TextCodec.fit(CORPUS, lowercase=True, max_length=8), "resuming runs/x")
    with pytest.raises(CheckpointError, match="max_length 9"):
        codec.check_same(TextCodec.fit(CORPUS, max_length=9), "resuming runs/x")
    with pytest.raises(CheckpointError, match="differs from the run's 11 in 1 token ids"):
        codec.check_same(TextCodec.fit(CORPUS + ["zz"], max_length=8), "resuming runs/x")
