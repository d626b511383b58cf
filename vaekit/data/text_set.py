"""The `text` data set, and the keys every text data set shares: one example per line of a text
file (or per row of a CSV column), tokenized, with a vocabulary fitted on the training split only.

    data:
      name: text
      path: sentences.txt      # .txt or .txt.gz; val and test carved from it (seeded, val_fraction/test_fraction)
      # or given splits:       train: a.txt, val: b.txt, test: c.txt   (val or test left out: carved from train)
      # or a CSV column:       path: reviews.csv, column: review
      #   with its labels:     label_column: sentiment   (classes for a conditional family: cvae)
      tokenizer: word          # or char
      lowercase: false
      max_vocab: null          # the most token ids, the four specials (<pad>, <unk>, <bos>, <eos>) included
      min_count: 1             # training tokens seen fewer times read as <unk>
      max_length: null         # tokens per sequence, <eos> included; null: 64 for words, 256 for characters

A split's x are int64 token ids (N, max_length) in `vaekit.distributions.tokens`' layout: the
tokens, `<eos>`, then `<pad>` = 0; its `lengths` (N,) count the `<eos>`. `Split.batch` cuts x to
each batch's longest sequence. The codec (`vaekit.data.text.TextCodec`: tokenizer, vocabulary,
max_length) is the run's codec, stored with it, so `load_run` decodes token ids without the data.

Documented behaviours (each has a test in tests/data/test_text_set.py, the labels in test_text_labels.py):
- Empty lines (and empty CSV cells) are skipped and counted (`Dataset.counts["empty_lines"]`); a
  file with no other line, or bytes that are not UTF-8, are a DataError naming the file.
- A line longer than max_length tokens is cut to max_length - 1 tokens and its `<eos>`, counted
  (`Dataset.counts["truncated_lines"]`) and reported once per load by a TextWarning: never an error.
- `max_vocab` of 4 or less (no room beside the special tokens) is a ConfigError.
- `label_column` (a CSV file's, with `column`) gives each row's label: the classes 0..K-1 are the
  training split's distinct values (stripped of surrounding spaces), sorted (as numbers when
  every value is an integer, else as strings); their names go into the codec (`labels`). A row
  whose text cell is empty is skipped with its label; a row with text and no label, or a
  validation or test label the training split lacks, is a DataError. A run's codec keeps its own
  classes, and one without labels refuses `label_column` (CheckpointError).
- A run's own codec (`build_text(config, codec)`; `load_dataset(config, codec=...)` passes it on
  resume and in `load_run(...).dataset()`) encodes the corpus with the run's vocabulary, whatever
  the corpus holds now, so the model's token ids keep their meaning: resumed against a corpus whose
  vocabulary differs, the words the run does not know read as `<unk>`, and a TextWarning says how
  many. A tokenizer or max_length other than the run's is a CheckpointError.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, Sequence

import torch
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
    label_column: str | None = None  # a CSV file's column that holds each row's label (classes for cvae)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.label_column is not None and self.column is None:
            raise ConfigError(f"data.label_column={self.label_column} names the labels of a CSV file's rows; name "
                              f"the column that holds their text with data.column too")
        if self.label_column is not None and self.label_column == self.column:
            raise ConfigError(f"data.label_column and data.column both name {self.column!r}; the labels need a "
                              f"column of their own")
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
    read = {name: read_split(path, config.column, config.label_column) for name, path in files.items()}
    lines = {name: read[name][0] if name in read else None for name in SPLITS}
    labels = None if config.label_column is None else {name: read[name][1] if name in read else None
                                                       for name in SPLITS}
    empty = sum(e for _, _, e in read.values())
    return encode_text(config, lines, str(files["train"]), codec, {"empty_lines": empty}, labels)


def read_split(path: Path, column: str | None = None,
               label_column: str | None = None) -> tuple[list[str], list[str] | None, int]:
    """(lines, their labels (None without `label_column`), empty lines skipped) of a text file, or
    of the CSV column `column` (and `label_column`) of a .csv file."""
    is_csv = path.name.lower().endswith((".csv", ".csv.gz"))
    if is_csv and column is None:
        raise ConfigError(f"{path} is a CSV file; name the column that holds the text with data.column")
    if column is not None and not is_csv:
        raise ConfigError(f"data.column={column} names a CSV column, and {path} is not a .csv file; remove "
                          f"data.column to read it one example per line")
    if is_csv:
        return read_columns(path, column, label_column)
    lines, empty = read_text(path)
    return lines, None, empty


def read_lines(path: Path, column: str | None = None) -> tuple[list[str], int]:
    """(lines, empty lines skipped) of a text file, or of the CSV column `column` of a .csv file."""
    lines, _, empty = read_split(path, column)
    return lines, empty


def read_column(path: Path, column: str) -> tuple[list[str], int]:
    """(cells, empty cells skipped) of the column `column` (by header name) of a CSV file; a cell's
    line breaks read as spaces, so one row is one example."""
    lines, _, empty = read_columns(path, column)
    return lines, empty


def read_columns(path: Path, column: str,
                 label_column: str | None = None) -> tuple[list[str], list[str] | None, int]:
    """(cells of `column`, the same rows' cells of `label_column` stripped (None without one), rows
    skipped for an empty text cell) of a CSV file, by header name. A row with text and an empty
    label is a DataError: skipping it would hide it, and guessing its class would be wrong."""
    rows = csv.reader(io.StringIO(read_utf8(path), newline=""))
    wanted = [column] if label_column is None else [column, label_column]
    try:
        header = next(rows, None)
        if header is None:
            raise DataError(f"{path} is empty; put a header row and one example per row in it")
        names = [h.strip() for h in header]
        for name in wanted:
            if name not in names:
                raise DataError(f"{path} has no column {name!r}{suggest(name, names)}; its columns are "
                                f"{', '.join(names[:12])}{' ...' if len(names) > 12 else ''}")
        at = [names.index(name) for name in wanted]
        lines, labels, empty = [], [], 0
        for row in rows:
            if not row:  # a blank line between rows
                empty += 1
                continue
            for i, name in zip(at, wanted):
                if i >= len(row):
                    raise DataError(f"{path} line {rows.line_num} has {len(row)} cells, and column {name!r} is "
                                    f"cell {i + 1}; fix or drop that row")
            cell = " ".join(row[at[0]].splitlines())
            if not cell.strip():
                empty += 1  # its label goes with it: the labels stay aligned with the lines
                continue
            lines.append(cell)
            if label_column is not None:
                labels.append(_label_cell(row[at[1]], path, rows.line_num, label_column))
    except csv.Error as e:
        raise DataError(f"{path} is not a readable CSV file (line {rows.line_num}: {e}); fix that line") from None
    if not lines:
        raise DataError(f"{path} holds no text in column {column!r} (every cell is empty); pass a file with one "
                        f"example per row")
    return lines, None if label_column is None else labels, empty


def _label_cell(cell: str, path: Path, line: int, label_column: str) -> str:
    label = " ".join(cell.split())  # surrounding spaces and line breaks do not make another class
    if not label:
        raise DataError(f"{path} line {line} has text but no label in column {label_column!r}; fill in its label "
                        f"or drop that row")
    return label


def encode_text(config: CorpusConfig, lines: Mapping[str, Sequence[str] | None], source: str,
                codec: TextCodec | None = None, counts: Mapping[str, int] | None = None,
                labels: Mapping[str, Sequence[str] | None] | None = None) -> RawSet:
    """A text set's RawSet from its lines per split (val or test None: carved from train, seeded
    by `data.split_seed`): every split encoded by `codec` (a run's), or by one fitted on the
    training lines. `counts` (what the reader counted) go into the RawSet with the line and
    truncation counts. `labels`, each line's label per split (carved with the lines), become
    classes 0..K-1 (`class_index`) and the codec's class names."""
    if labels is not None:  # carve (line, label) pairs, so the labels follow their lines
        pairs = _carve(config, {n: None if lines.get(n) is None else list(zip(lines[n], labels[n])) for n in SPLITS},
                       source)
        lines = {n: [line for line, _ in pairs[n]] for n in SPLITS}
        labels = {n: [label for _, label in pairs[n]] for n in SPLITS}
    else:
        lines = _carve(config, lines, source)
    run = codec is not None
    if codec is None:
        codec = config.fit_codec(lines["train"])
    else:
        _check_run_codec(config, codec, lines["train"], source)
    y = None
    if labels is not None:
        codec = dataclasses.replace(codec, labels=_run_classes(codec, source) if run else sorted_classes(labels["train"]))
        y = {n: class_index(codec.labels, labels[n], f"data.label_column: the {n} split", run) for n in SPLITS}
    splits, cut = {}, {}
    for name in SPLITS:
        encoded = codec.encode(lines[name])
        ids = F.pad(encoded.ids, (0, codec.max_length - encoded.ids.shape[1]))  # (N, max_length), <pad> = 0
        splits[name] = Split(ids, y=None if y is None else y[name], lengths=encoded.lengths)
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
                  num_classes=None if y is None else len(codec.labels), source=source, codec=codec, counts=counts)


def sorted_classes(train: Sequence[str]) -> tuple[str, ...]:
    """The class names of the training labels: their distinct values, sorted as numbers when every
    one is an integer (so "10" follows "9"), else as strings."""
    values = set(train)
    if all(_is_integer(v) for v in values):
        return tuple(sorted(values, key=lambda v: (int(v), v)))
    return tuple(sorted(values))


def _run_classes(codec: TextCodec, source: str) -> tuple[str, ...]:
    """A run codec's classes, which its model's class indices mean; CheckpointError without."""
    if codec.labels is None:
        raise CheckpointError(f"{source}: data.label_column gives labels, and the run was trained on text without "
                              f"them; resume with the run's own data.* settings (no data.label_column), or start a "
                              f"new run")
    return codec.labels


def _is_integer(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def class_index(classes: Sequence[str], labels: Sequence[str], where: str, run: bool = False) -> torch.Tensor:
    """Labels -> their classes' indices (N,) int64. DataError naming the labels that are no class
    (of the training rows' labels, or with `run` of a run's classes)."""
    index = {name: k for k, name in enumerate(classes)}
    unknown = sorted({v for v in labels if v not in index})
    if unknown:
        shown = ", ".join(repr(v) for v in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        if run:
            raise DataError(f"{where} has labels outside the run's {len(classes)} classes ({shown}); "
                            f"the model knows only those, so drop those rows or train a new run")
        raise DataError(f"{where} has labels that no training row has ({shown}), and the classes are "
                        f"the training rows' labels; add training rows with those labels or drop those rows (of a "
                        f"carved split: try another data.split_seed)")
    return torch.tensor([index[v] for v in labels], dtype=torch.long)


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


__all__ = ["CorpusConfig", "TextConfig", "TextWarning", "build_text", "class_index", "encode_text", "read_column",
           "read_columns", "read_lines", "read_split", "sorted_classes"]
