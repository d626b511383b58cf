"""The `text` data set, and the keys every text data set shares: one example per line of a text
file (or per row of a CSV column), tokenized, with a vocabulary fitted on the training split only.

    data:
      name: text
      path: sentences.txt      # .txt or .txt.gz; val and test carved from it (seeded, val_fraction/test_fraction)
      # or given splits:       train: a.txt, val: b.txt, test: c.txt   (val or test left out: carved from train)
      # or a CSV column:       path: reviews.csv, column: review
      tokenizer: word          # or char
      lowercase: false
      max_vocab: null          # the most token ids, the four specials (<pad>, <unk>, <bos>, <eos>) included
      min_count: 1             # training tokens seen fewer times read as <unk>
      max_length: null         # tokens per sequence, <eos> included; null: 64 for words, 256 for characters

A split's x are int64 token ids (N, max_length) in `vaekit.distributions.tokens`' layout: the
tokens, `<eos>`, then `<pad>` = 0; its `lengths` (N,) count the `<eos>`. `Split.batch` cuts x to
each batch's longest sequence. The codec (`vaekit.data.text.TextCodec`: tokenizer, vocabulary,
max_length) is the run's codec, stored with it, so `load_run` decodes token ids without the data.

Documented behaviours (each has a test in tests/data/test_text_set.py):
- Empty lines (and empty CSV cells) are skipped and counted (`Dataset.counts["empty_lines"]`); a
  file with no other line, or bytes that are not UTF-8, are a DataError naming the file.
- A line longer than max_length tokens is cut to max_length - 1 tokens and its `<eos>`, counted
  (`Dataset.counts["truncated_lines"]`) and reported once per load by a TextWarning: never an error.
- `max_vocab` of 4 or less (no room beside the special tokens) is a ConfigError.
- A run's own codec (`build_text(config, codec)`; `load_dataset(config, codec=...)` passes it on
  resume and in `load_run(...).dataset()`) encodes the corpus with the run's vocabulary, whatever
  the corpus holds now, so the model's token ids keep their meaning: resumed against a corpus whose
  vocabulary differs, the words the run does not know read as `<unk>`, and a TextWarning says how
  many. A tokenizer or max_length other than the run's is a CheckpointError.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, Sequence

import torch.nn.functional as F

from vaekit.data.base import SPLITS, RawSet, Split
from vaekit.data.download import data_root
from vaekit.data.files import reading
from vaekit.data.load import carve_indices
from vaekit.data.text import (SPECIALS, UNK_ID, TextCodec, Tokenizer, Vocabulary, check_max_length, check_max_vocab,
                              check_min_count, read_text, read_utf8)
from vaekit.errors import CheckpointError, ConfigError, DataError
from vaekit.registry import DATASETS, suggest
from vaekit.sections import DataConfig

NAME = "text"
WHAT = "a text file with one example per line (.txt or .txt.gz), or a CSV file with data.column"
DEFAULT_LENGTH = {"word": 64, "char": 256}  # data.max_length when null: a long sentence fits either way


class TextWarning(UserWarning):
    """Something a text data set did to the data that the user should know: lines cut to
    max_length, words outside a resumed run's vocabulary."""


@dataclass(frozen=True)
class CorpusConfig(DataConfig):
    """The keys every text data set shares: how lines become token ids. (`ptb` reads these alone.)"""

    name: str = "ptb"
    tokenizer: Literal["word", "char"] = "word"
    lowercase: bool = False
    max_vocab: int | None = None  # the most token ids, the 4 specials included; null: every training token
    min_count: int = 1  # training tokens seen fewer times read as <unk>
    max_length: int | None = None  # tokens per sequence, <eos> included; null: DEFAULT_LENGTH[tokenizer]

    def __post_init__(self) -> None:
        super().__post_init__()
        Tokenizer(self.tokenizer, self.lowercase)  # ConfigError naming data.tokenizer or data.lowercase
        check_max_vocab(self.max_vocab)
        check_min_count(self.min_count)
        if self.max_length is not None:
            check_max_length(self.max_length)
        if self.binarize != "none":
            raise ConfigError(f"data.binarize={self.binarize} applies to images; text is token ids: remove data.binarize")
        if self.standardize == "standard":
            raise ConfigError("data.standardize applies to arrays; text is token ids, which are never standardised: "
                              "remove data.standardize")
        if self.cluster_labels:
            raise ConfigError("data.cluster_labels clusters vectors, and text is token ids; remove data.cluster_labels")

    @property
    def sequence_length(self) -> int:
        """`max_length`, or its default for the tokenizer when null."""
        return self.max_length if self.max_length is not None else DEFAULT_LENGTH[self.tokenizer]

    def fit_codec(self, train_lines: Sequence[str]) -> TextCodec:
        """The codec these settings fit on the training lines."""
        return TextCodec.fit(train_lines, self.tokenizer, self.lowercase, self.max_vocab, self.min_count,
                             self.sequence_length)


@dataclass(frozen=True)
class TextConfig(CorpusConfig):
    """Your own text (`data.name: text`): a file split by the fractions, given split files, or a
    CSV column."""

    name: str = NAME
    train: str | None = None  # the training file, when the splits come as files (instead of data.path)
    val: str | None = None  # the validation file (with data.train); carved from train when null
    test: str | None = None  # the test file (with data.train); carved from train when null
    column: str | None = None  # a CSV file's column that holds the text (by header name)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.path and self.train:
            raise ConfigError("data.path and data.train both name the training text; use data.path (split by "
                              "data.val_fraction and data.test_fraction) or data.train (with data.val and data.test)")
        if not self.train and (self.val or self.test):
            raise ConfigError("data.val and data.test come with data.train; name the training file with data.train, "
                              "or use data.path alone")


@DATASETS.register(NAME, config=TextConfig)
def build_text(config: TextConfig, codec: TextCodec | None = None) -> RawSet:
    """The lines of `data.path` (or `data.train`, `data.val`, `data.test`), split and encoded with
    a codec fitted on the training lines, or with `codec`, a run's TextCodec."""
    files = _files(config)
    read = {name: read_lines(path, config.column) for name, path in files.items()}
    lines = {name: read[name][0] if name in read else None for name in SPLITS}
    empty = sum(e for _, e in read.values())
    return encode_text(config, lines, str(files["train"]), codec, {"empty_lines": empty})


def read_lines(path: Path, column: str | None = None) -> tuple[list[str], int]:
    """(lines, empty lines skipped) of a text file, or of the CSV column `column` of a .csv file."""
    is_csv = path.name.lower().endswith((".csv", ".csv.gz"))
    if is_csv and column is None:
        raise ConfigError(f"{path} is a CSV file; name the column that holds the text with data.column")
    if column is not None and not is_csv:
        raise ConfigError(f"data.column={column} names a CSV column, and {path} is not a .csv file; remove "
                          f"data.column to read it one example per line")
    return read_column(path, column) if is_csv else read_text(path)


def read_column(path: Path, column: str) -> tuple[list[str], int]:
    """(cells, empty cells skipped) of the column `column` (by header name) of a CSV file; a cell's
    line breaks read as spaces, so one row is one example."""
    rows = csv.reader(io.StringIO(read_utf8(path), newline=""))
    try:
        header = next(rows, None)
        if header is None:
            raise DataError(f"{path} is empty; put a header row and one example per row in it")
        names = [h.strip() for h in header]
        if column not in names:
            raise DataError(f"{path} has no column {column!r}{suggest(column, names)}; its columns are "
                            f"{', '.join(names[:12])}{' ...' if len(names) > 12 else ''}")
        at, lines, empty = names.index(column), [], 0
        for row in rows:
            if not row:  # a blank line between rows
                empty += 1
                continue
            if at >= len(row):
                raise DataError(f"{path} line {rows.line_num} has {len(row)} cells, and column {column!r} is cell "
                                f"{at + 1}; fix or drop that row")
            cell = " ".join(row[at].splitlines())
            if cell.strip():
                lines.append(cell)
            else:
                empty += 1
    except csv.Error as e:
        raise DataError(f"{path} is not a readable CSV file (line {rows.line_num}: {e}); fix that line") from None
    if not lines:
        raise DataError(f"{path} holds no text in column {column!r} (every cell is empty); pass a file with one "
                        f"example per row")
    return lines, empty


def encode_text(config: CorpusConfig, lines: Mapping[str, Sequence[str] | None], source: str,
                codec: TextCodec | None = None, counts: Mapping[str, int] | None = None) -> RawSet:
    """A text set's RawSet from its lines per split (val or test None: carved from train, seeded
    by `data.split_seed`): every split encoded by `codec` (a run's), or by one fitted on the
    training lines. `counts` (what the reader counted) go into the RawSet with the line and
    truncation counts."""
    lines = _carve(config, lines, source)
    if codec is None:
        codec = config.fit_codec(lines["train"])
    else:
        _check_run_codec(config, codec, lines["train"], source)
    splits, cut = {}, {}
    for name in SPLITS:
        encoded = codec.encode(lines[name])
        ids = F.pad(encoded.ids, (0, codec.max_length - encoded.ids.shape[1]))  # (N, max_length), <pad> = 0
        splits[name] = Split(ids, lengths=encoded.lengths)
        cut[name] = encoded.truncated
    total = sum(len(lines[name]) for name in SPLITS)
    if sum(cut.values()):
        each = ", ".join(f"{name} {cut[name]}" for name in SPLITS)
        warnings.warn(TextWarning(
            f"{source}: {sum(cut.values())} of {total} lines ({each}) are longer than data.max_length="
            f"{codec.max_length} tokens and were cut to their first {codec.max_length - 1} and <eos>; raise "
            f"data.max_length to keep them whole"), stacklevel=2)
    counts = {"lines": total, "empty_lines": 0, **(counts or {}), "truncated_lines": sum(cut.values())}
    return RawSet(splits["train"], splits["val"], splits["test"], shape=(codec.max_length,), is_image=False,
                  num_classes=None, source=source, codec=codec, counts=counts)


def _carve(config: CorpusConfig, lines: Mapping[str, Sequence[str] | None], source: str) -> dict[str, list[str]]:
    train = list(lines["train"])
    fractions = {name: 0.0 if lines.get(name) is not None else getattr(config, f"{name}_fraction")
                 for name in ("val", "test")}
    index = carve_indices(len(train), fractions["val"], fractions["test"], config.split_seed)
    out = {name: [train[i] for i in index[name]] for name in SPLITS}
    out.update({name: list(lines[name]) for name in ("val", "test") if lines.get(name) is not None})
    if not out["train"]:
        raise DataError(f"{source} has {len(train)} lines, which leave none to train on after the validation and test "
                        f"lines; add lines or lower data.val_fraction and data.test_fraction")
    for name in ("val", "test"):
        if not out[name]:
            raise DataError(f"data.{name}_fraction is 0, which leaves {source} no {name} lines; raise it above 0"
                            + (f" or name a file with data.{name}" if isinstance(config, TextConfig) else ""))
    return out


def _check_run_codec(config: CorpusConfig, codec: TextCodec, train: Sequence[str], source: str) -> None:
    """A run's codec must read the text as the config says (CheckpointError otherwise); a
    vocabulary the corpus no longer gives is kept, with a TextWarning counting its <unk>s."""
    if not isinstance(codec, TextCodec):
        raise CheckpointError(f"the run's codec is a {getattr(codec, 'modality', type(codec).__name__)} codec, and "
                              f"data.name={config.name} reads text; load the run with its own data set")
    settings = TextCodec(Tokenizer(config.tokenizer, config.lowercase), codec.vocab, config.sequence_length)
    codec.check_same(settings, source)  # the same vocabulary: compares the tokenizer and max_length
    tokens = [codec.tokenizer.tokenize(line) for line in train]
    try:
        fresh = Vocabulary.build(tokens, config.max_vocab, config.min_count)
    except ConfigError:  # min_count above every count of the new corpus: it differs
        fresh = None
    if fresh is not None and fresh.tokens == codec.vocab.tokens:
        return
    seen = Counter(t for line in tokens for t in line)
    unknown = {t: n for t, n in seen.items() if codec.vocab.encode([t])[0] == UNK_ID and t not in SPECIALS}
    warnings.warn(TextWarning(
        f"{source}: the training lines give another vocabulary than the run's ({len(codec.vocab)} tokens); the run's "
        f"is kept, so its token ids keep their meaning, and the {len(unknown)} distinct tokens it lacks read as <unk> "
        f"({sum(unknown.values())} of {sum(seen.values())} training tokens)"), stacklevel=3)


def _files(config: TextConfig) -> dict[str, Path]:
    """The files of `data.path` (as "train") or of `data.train`, `data.val`, `data.test`."""
    given = {"train": config.path} if config.path else {n: getattr(config, n) for n in SPLITS if getattr(config, n)}
    if not given:
        raise DataError(f"data set '{NAME}' reads your own files: pass data.path= pointing at {WHAT} "
                        f"(or data.train=, with data.val= and data.test=)")
    return {name: _resolve(config, "path" if config.path else name, value) for name, value in given.items()}


def _resolve(config: DataConfig, key: str, value: str) -> Path:
    """The file `data.<key>` names: as given, else inside the data dir, as `data.path` is found."""
    given = Path(value).expanduser()
    candidates = [given] if given.is_absolute() else [given, data_root(config) / given]
    for candidate in candidates:
        with reading(candidate, f"point data.{key}= at {WHAT}"):
            if candidate.is_dir():
                raise DataError(f"data.{key} {candidate} is a folder; point it at {WHAT}")
            if candidate.exists():
                return candidate
    raise DataError(f"data.{key} {value} not found (looked for {', '.join(map(str, candidates))}); point data.{key}= "
                    f"at {WHAT}, absolute or relative to --data-dir")


__all__ = ["CorpusConfig", "TextConfig", "TextWarning", "build_text", "encode_text", "read_column", "read_lines"]
