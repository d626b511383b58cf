"""Text data: lines of UTF-8 text, a tokenizer, a vocabulary fitted on the training split and the
run's text codec, which turns token ids back into text without the data (as Sentence-VAE does with
its vocabulary file, but stored with the run as JSON, never pickled).

Documented behaviours (each has a test in tests/data/test_text.py):
- `read_lines`: a `.txt` or `.txt.gz` file, one example per line. Lines that are empty or hold only
  whitespace are skipped and counted (`read_text` returns the count, for the loader to report); a
  file with no other line is a DataError. Bytes that are not UTF-8 are a DataError naming the file,
  the line and the byte offset. A UTF-8 byte-order mark is dropped; "\\r\\n" line ends read as "\\n".
- Word level splits on whitespace (runs of spaces and tabs count once, so a line comes back with
  single spaces); char level keeps every character, spaces included. `lowercase` applies to both.
- The vocabulary holds the specials first with fixed ids (`<pad>`=0, `<unk>`=1, `<bos>`=2, `<eos>`=3),
  then the training tokens by descending count, ties alphabetical, so the same corpus always
  gives the same ids. `max_size` counts the specials. The text of a special token found in the
  data (Penn Treebank writes `<unk>`) is encoded as `<unk>`: a literal `<eos>` mid-line must not
  end the sentence when it is decoded.
- The codec of labelled text (`data.label_column`) also holds the class names, `labels[k]` naming
  class k; codec.json holds them under "labels" only then, so a codec written before labels
  existed reads back as a codec without them.
- A sequence is its tokens then `<eos>`; its length counts the `<eos>` and no `<bos>` (the decoder
  prepends `<bos>` to its inputs itself). A line longer than `max_length` tokens is cut to
  `max_length - 1` tokens and its `<eos>`, and counted: truncation is never an error mid-epoch.
"""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Sequence

import torch

from vaekit.data.files import reading
from vaekit.errors import CheckpointError, ConfigError, DataError, InputError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)  # ids 0, 1, 2, 3, in every vocabulary
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(len(SPECIALS))
LEVELS = ("word", "char")
MODALITY = "text"
READ_FIX = "check the path, or pass data.path a .txt or .txt.gz file"


# --- reading -------------------------------------------------------------------------------------

def read_utf8(path: str | Path) -> str:
    """The text of a file, gunzipped when its name ends in .gz. DataError for a file that cannot be
    read, a damaged gzip file or bytes that are not UTF-8 (naming the line and byte offset)."""
    path = Path(path)
    with reading(path, READ_FIX):
        data = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):  # BadGzipFile is an OSError without an errno
            raise DataError(f"{path} is not a readable gzip file (damaged or truncated); "
                            f"download it again, or pass the uncompressed file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # utf-8-sig counts offsets after the mark
        at = e.start + bom
        line = data.count(b"\n", 0, at) + 1
        raise DataError(f"{path} is not UTF-8 text: line {line} (byte offset {at}) holds byte "
                        f"0x{data[at]:02x}; convert it to UTF-8 (iconv -t UTF-8) or remove the line") from None


def read_text(path: str | Path) -> tuple[list[str], int]:
    """The non-empty lines of a .txt or .txt.gz file and how many empty (or whitespace-only)
    lines were skipped. DataError for a file that cannot be read, is not UTF-8 or has no line."""
    path = Path(path)
    text = read_utf8(path)
    lines, empty = [], 0
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        if line.strip():
            lines.append(line)
        else:
            empty += 1
    if text.endswith("\n") or not text:  # the split's last piece after a final newline is no line
        empty -= 1
    if not lines:
        raise DataError(f"{path} holds no text (every line is empty); pass a file with one example per line")
    return lines, empty


def read_lines(path: str | Path) -> list[str]:
    """The non-empty lines of a .txt or .txt.gz file (see `read_text` for what is skipped)."""
    return read_text(path)[0]


# --- tokenizer -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tokenizer:
    """Splits a line into tokens: "word" on whitespace, "char" into characters."""

    level: str = "word"
    lowercase: bool = False

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ConfigError(f"data.tokenizer is {self.level!r}; use one of {', '.join(LEVELS)}")
        if not isinstance(self.lowercase, bool):
            raise ConfigError(f"data.lowercase is {self.lowercase!r}; use true or false")

    def tokenize(self, line: str) -> list[str]:
        """The tokens of one line."""
        if self.lowercase:
            line = line.lower()
        return line.split() if self.level == "word" else list(line)

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Tokens back into a line: words joined by one space, characters joined as they are."""
        return (" " if self.level == "word" else "").join(tokens)

    def normalise(self, line: str) -> str:
        """The line as it reads after a round trip through the tokens."""
        return self.detokenize(self.tokenize(line))


# --- vocabulary ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Vocabulary:
    """Token <-> id. `tokens[i]` is the token of id i; the specials come first (see SPECIALS)."""

    tokens: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, token_lists: Sequence[Sequence[str]], max_size: int | None = None,
              min_count: int = 1) -> Vocabulary:
        """The vocabulary of the training split: tokens seen at least `min_count` times, the most
        frequent first (ties alphabetical), at most `max_size` ids counting the specials."""
        check_max_vocab(max_size)
        check_min_count(min_count)
        counts = Counter(t for tokens in token_lists for t in tokens)
        for special in SPECIALS:  # their text in the data is encoded as <unk> (see the module's docstring)
            counts.pop(special, None)
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        if not kept:
            raise ConfigError(f"no token occurs data.min_count={min_count} times in the training lines "
                              f"({len(counts)} distinct tokens); lower data.min_count")
        if max_size is not None:
            kept = kept[:max_size - len(SPECIALS)]
        return cls(SPECIALS + tuple(kept))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids; a token outside the vocabulary (or the text of a special) is `<unk>`."""
        index = self._index
        return [UNK_ID if t in _SPECIAL_SET else index.get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Tokens up to the first `<eos>`, without `<pad>` and `<bos>`. InputError for an id that
        is not in the vocabulary."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise InputError(f"token id {i} is outside the vocabulary of {len(self.tokens)} ids; "
                                 f"decode ids from this run's model")
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                out.append(self.tokens[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: {"tokens": [...]}, in id order."""
        return {"tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> Vocabulary:
        """The vocabulary `to_dict` wrote; CheckpointError naming `where` when it is damaged."""
        tokens = raw.get("tokens") if isinstance(raw, dict) else None
        problem = None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            problem = "no list of token strings"
        elif tuple(tokens[:len(SPECIALS)]) != SPECIALS or len(tokens) == len(SPECIALS):
            problem = f"it does not start with {', '.join(SPECIALS)} followed by the data's tokens"
        elif len(set(tokens)) != len(tokens):
            problem = "a token appears twice"
        if problem:
            raise CheckpointError(f"{where} holds a damaged vocabulary ({problem}); restore it, or retrain the run")
        return cls(tuple(tokens))

    def check_same(self, other: Vocabulary, where: str) -> None:
        """CheckpointError when `other` (the vocabulary the data give now) is not this one (the
        run's): the model's ids would mean other tokens."""
        if other.tokens == self.tokens:
            return
        differ = sum(a != b for a, b in zip(self.tokens, other.tokens)) + abs(len(self) - len(other))
        raise CheckpointError(f"{where}: the data give a vocabulary of {len(other)} tokens that differs from the "
                              f"run's {len(self)} in {differ} token ids; resume with the run's own data and "
                              f"data.* settings (or its stored vocabulary), or start a new run")


_SPECIAL_SET = frozenset(SPECIALS)


def check_max_vocab(max_size: Any) -> int | None:
    """`data.max_vocab`, checked: None (no limit) or an integer above the number of specials."""
    if max_size is not None and (not _is_int(max_size) or max_size <= len(SPECIALS)):
        raise ConfigError(f"data.max_vocab is {max_size!r}, but the {len(SPECIALS)} special tokens "
                          f"({', '.join(SPECIALS)}) take that many ids; use a larger integer, or null for no limit")
    return max_size


def check_min_count(min_count: Any) -> int:
    """`data.min_count`, checked: an integer of at least 1."""
    if not _is_int(min_count) or min_count < 1:
        raise ConfigError(f"data.min_count is {min_count!r}; use an integer of at least 1")
    return min_count


def check_labels(labels: Sequence[Any]) -> tuple[str, ...]:
    """Class names, checked: at least one, each a non-empty string, none twice (ConfigError)."""
    labels = tuple(labels)
    if not labels or not all(isinstance(n, str) and n for n in labels):
        raise ConfigError("the class names must be one or more non-empty strings")
    if len(set(labels)) != len(labels):
        raise ConfigError("a class name appears twice")
    return labels


def _settings(tokenizer: Tokenizer, max_length: int) -> str:
    return f"{tokenizer.level!r} (lowercase {tokenizer.lowercase}, max_length {max_length})"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- sequences -----------------------------------------------------------------------------------

class Encoded(NamedTuple):
    """`ids` (N, L) padded with `<pad>`=0; `lengths` (N,) counting the `<eos>`; `truncated` lines."""

    ids: torch.Tensor
    lengths: torch.Tensor
    truncated: int


def check_max_length(max_length: Any) -> int:
    """`data.max_length`, checked: an integer of at least 2 (one token and its `<eos>`)."""
    if not _is_int(max_length) or max_length < 2:
        raise ConfigError(f"data.max_length is {max_length!r}; use an integer of at least 2 "
                          f"(one token and the <eos> that ends every sequence)")
    return max_length


def encode_corpus(lines: Sequence[str], tokenizer: Tokenizer, vocab: Vocabulary, max_length: int) -> Encoded:
    """Lines -> padded ids, lengths and the number of lines cut to `max_length` (their `<eos>`
    kept as the last token). L is the longest length among these lines."""
    check_max_length(max_length)
    if len(lines) == 0:
        raise InputError("there are no lines to encode; pass at least one line of text")
    seqs, truncated = [], 0
    for line in lines:
        ids = vocab.encode(tokenizer.tokenize(line))
        if len(ids) > max_length - 1:  # no room for all of them and the <eos>
            truncated += 1
            ids = ids[:max_length - 1]
        seqs.append(ids + [EOS_ID])
    width = max(len(s) for s in seqs)
    # padded as lists, then one tensor: a tensor per row costs seconds on a corpus of 100k lines
    ids = torch.tensor([s + [PAD_ID] * (width - len(s)) for s in seqs], dtype=torch.long)  # (N, L)
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)  # (N,)
    return Encoded(ids, lengths, truncated)


# --- the run's codec -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TextCodec:
    """What a text run stores: the tokenizer's settings, the vocabulary and the maximum length,
    and with labelled text (`data.label_column`) the class names, `labels[k]` that of class k.
    `encode` turns lines into ids, `decode` ids (a model's samples) back into lines."""

    tokenizer: Tokenizer
    vocab: Vocabulary
    max_length: int
    modality: str = MODALITY
    labels: tuple[str, ...] | None = None  # class k's name; None: the text came without labels
    # What the tools ask of every codec (vaekit.data.codec.Codec): text is no image, and its ids
    # are re-coded, not rescaled, so there is no data-unit NLL to correct.
    is_image: ClassVar[bool] = False
    identity: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_max_length(self.max_length)
        if self.labels is not None:
            object.__setattr__(self, "labels", check_labels(self.labels))

    @classmethod
    def fit(cls, train_lines: Sequence[str], level: str = "word", lowercase: bool = False,
            max_vocab: int | None = None, min_count: int = 1, max_length: int = 64) -> TextCodec:
        """The codec of a data set, its vocabulary built from the training lines only."""
        tokenizer = Tokenizer(level, lowercase)
        vocab = Vocabulary.build([tokenizer.tokenize(line) for line in train_lines], max_vocab, min_count)
        return cls(tokenizer, vocab, check_max_length(max_length))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def describe_labels(self) -> str:
        """The classes as "0 'neg', 1 'pos'" (the first 20) for messages; "" without labels."""
        shown = ", ".join(f"{k} {name!r}" for k, name in enumerate((self.labels or ())[:20]))
        return shown + (" ..." if len(self.labels or ()) > 20 else "")

    def encode(self, lines: Sequence[str]) -> Encoded:
        """Lines -> (ids (N, L), lengths (N,), truncated)."""
        return encode_corpus(lines, self.tokenizer, self.vocab, self.max_length)

    def decode(self, ids: torch.Tensor | Sequence[Sequence[int]],
               lengths: torch.Tensor | Sequence[int] | None = None) -> list[str]:
        """Ids (N, L) -> N lines; each row ends at its first `<eos>` or at its length if given."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 2 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
                raise InputError(f"decode takes token ids of shape (N, L) and an integer dtype, "
                                 f"not shape {tuple(ids.shape)} of {ids.dtype}")
            ids = ids.tolist()
        rows = [list(row) for row in ids]
        if lengths is not None:
            lengths = [int(n) for n in (lengths.tolist() if isinstance(lengths, torch.Tensor) else lengths)]
            if len(lengths) != len(rows):
                raise InputError(f"decode got {len(rows)} rows of ids but {len(lengths)} lengths; pass one per row")
            rows = [row[:n] for row, n in zip(rows, lengths)]
        return [self.tokenizer.detokenize(self.vocab.decode(row)) for row in rows]

    def check_same(self, other: TextCodec, where: str) -> None:
        """CheckpointError when `other` (the codec the data and config give now) would read the
        text otherwise than this one (the run's): another tokenizer, maximum length or vocabulary."""
        mine, theirs = (self.tokenizer, self.max_length), (other.tokenizer, other.max_length)
        if mine != theirs:
            raise CheckpointError(f"{where}: the data settings give tokenizer {_settings(*theirs)}, but the run "
                                  f"was trained with {_settings(*mine)}; resume with the run's own data.* settings")
        self.vocab.check_same(other.vocab, where)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with "modality": "text" so a reader of codec.json knows what it holds."""
        out = {"modality": self.modality, "tokenizer": {"level": self.tokenizer.level,
                                                        "lowercase": self.tokenizer.lowercase},
               "max_length": self.max_length, "vocabulary": self.vocab.to_dict()}
        if self.labels is not None:  # only then: a codec without labels writes what it always wrote
            out["labels"] = list(self.labels)
        return out

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> TextCodec:
        """The codec `to_dict` wrote; CheckpointError naming `where` when it is damaged."""
        fix = "restore it, or retrain the run"
        if not isinstance(raw, dict) or raw.get("modality") != MODALITY:
            raise CheckpointError(f"{where} holds no text codec (its modality is not {MODALITY!r}); {fix}")
        settings = raw.get("tokenizer")
        try:
            if not isinstance(settings, dict) or set(settings) != {"level", "lowercase"}:
                raise ConfigError("no tokenizer level and lowercase")
            tokenizer = Tokenizer(settings["level"], settings["lowercase"])
            max_length = check_max_length(raw.get("max_length"))
            labels = raw.get("labels")  # absent in the codecs of runs without labels, and of older runs
            if labels is not None:
                if not isinstance(labels, list):
                    raise ConfigError("labels is not a list of class names")
                labels = check_labels(labels)
        except ConfigError as e:
            raise CheckpointError(f"{where} holds a damaged text codec ({e}); {fix}") from None
        return cls(tokenizer, Vocabulary.from_dict(raw.get("vocabulary"), where), max_length, labels=labels)
