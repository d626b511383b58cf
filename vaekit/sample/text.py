"""Sentences out of a text run: samples, reconstructions and homotopies, as strings.

    run = vaekit.load_run("runs/text")
    sample_text(run, 5, seed=0)                              # greedy decodes of prior draws
    sample_text(run, 5, decode="sample", top_k=10)           # each word drawn among the 10 likeliest
    reconstruct_text(run, ["the cat sees the red ball"])     # [(the input as the model reads it, its reconstruction)]
    interpolate_text(run, ["a dog likes some bread"], ["my sister finds the green tree"], steps=5)

Decoding follows Bowman et al. (2016), "Generating Sentences from a Continuous Space",
https://arxiv.org/abs/1511.06349: a code z (drawn from the prior, or a posterior mean) is turned
into a sentence by greedy decoding, the most probable word at each step until `<eos>` ("simple
deterministic decoding"), so that what a sentence shows is what z carries. `decode="sample"`
instead draws each word from softmax(logits / token_temperature), among the `top_k` likeliest
words when given: the model's own distribution over sentences at that z. The prior's
`temperature` scales the spread of z, as for every other run. A language model (`lm`) has no z,
so its greedy decoding is one sentence; it samples by default (`default_decode`).

Sentences given as text are encoded with the run's codec: its tokenizer, and `<unk>` for a word
the vocabulary lacks; the "input" of a reconstruction is that encoding decoded again, what the
model actually read. A sentence longer than the run's max_length is cut, with a warning.
Decoding runs `batch_size` sentences at a time, so memory stays bounded; the same seed and
batch_size give the same sentences.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from vaekit.checks import MAX_IMAGES, MAX_TEMPERATURE, check_int, check_real
from vaekit.errors import InputError
from vaekit.files import atomic_write
from vaekit.sample import ops

DECODES = ("greedy", "sample")
SAMPLES_TEXT = "samples.txt"  # what the end of training writes for a text run, beside samples.png for images
DECODE_BATCH = 100  # sentences decoded at a time: a step's logits are (batch, positions, vocabulary) floats


def text_run(run: Any, fn: str):
    """`run` if it is a loaded run of text; InputError saying what to pass otherwise."""
    from vaekit.run import Run

    if not isinstance(run, Run):
        raise InputError(f"{fn} expects a text run (vaekit.load_run(path)), got {type(run).__name__}; the run's "
                         f"codec turns token ids into sentences")
    if run.codec.modality != "text":
        raise InputError(f"{fn} works on runs trained on text (data.name=text, ptb or wordnet); the run {run.path} "
                         f"models {run.codec.modality} data")
    return run


def default_decode(model: torch.nn.Module) -> str:
    """How sentences are decoded unless told: greedily from a code, or word by word from a model
    without one (a language model, whose greedy decoding is the same sentence every time)."""
    return "greedy" if model.traits.latent else "sample"


def check_decoding(decode: str, token_temperature: float | None, top_k: int | None,
                   error: type[Exception] = InputError) -> tuple[float, int | None]:
    """The token temperature and top-k of `decode`, checked: both belong to decode='sample'
    (greedy decoding has neither), a temperature above 0 and at most MAX_TEMPERATURE (default 1),
    a top_k of at least 1 (None: the whole vocabulary)."""
    if decode not in DECODES:
        raise error(f"decode must be one of {', '.join(DECODES)}, got {decode!r}")
    if decode == "greedy":
        given = [n for n, v in (("the token temperature", token_temperature), ("top-k", top_k)) if v is not None]
        if given:
            raise error(f"{' and '.join(given)} shape{'s' if len(given) == 1 else ''} the words drawn by sampled "
                        f"decoding (--decode sample, decode='sample'), and greedy decoding draws none; decode by "
                        f"sampling or leave {'it' if len(given) == 1 else 'them'} out")
        return 0.0, None
    temp = 1.0 if token_temperature is None else check_real(token_temperature, "token temperature", min_exclusive=0,
                                                             max=MAX_TEMPERATURE, error=error)
    return temp, None if top_k is None else check_int(top_k, "top-k", min=1, error=error)


def class_blocks(n: int, classes: int) -> torch.Tensor:
    """Classes for n sentences of a conditional model given none: consecutive blocks of about n / K
    sentences each, classes 0, 1, ..., K-1 in order (as samples.png has one row per class)."""
    return torch.arange(n) * classes // n


@torch.no_grad()
def sample_ids(model: torch.nn.Module, n: int, temperature: float = 1.0, seed: int | None = 0, decode: str | None = None,
               token_temperature: float | None = None, top_k: int | None = None, sampler=None,
               batch_size: int = DECODE_BATCH, y: int | torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """n sentences of a text model as token ids (n, max_length) and their lengths (n,), counting
    `<eos>` (a sentence cut at max_length has none): codes from the prior (its spread scaled by
    `temperature`) or from a fitted `sampler`, decoded as `decode` says (see the module; None:
    `default_decode`). A conditional model (a text cvae) decodes them with the class `y`, or n
    labels; without y, `class_blocks` (every class in turn)."""
    model = ops._model(model, "sample_ids", "generate")
    if not ops.reads_tokens(model):
        raise InputError("sample_ids decodes sentences of a text model (the tokens likelihood); this model reads "
                         "numbers: use vaekit.sample")
    n = ops._per_call(n, "number of sentences n", MAX_IMAGES, "sample_ids", "sentences")
    temperature = check_real(temperature, "temperature", min_exclusive=0, max=MAX_TEMPERATURE)
    decode = decode or default_decode(model)
    token_temperature, top_k = check_decoding(decode, token_temperature, top_k)
    batch_size = check_int(batch_size, "batch_size", min=1)
    ops._check_sampler(sampler)
    if y is None and model.traits.conditional:
        y = class_blocks(n, model.num_classes)
    y = ops.class_labels(model, y, n, "sample_ids")
    generator = ops._generator(model, seed)
    codes = sampler.latents(n, temperature, generator) if sampler is not None else None
    ids, lengths = [], []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        ys = _rows(y, start, m)
        if codes is None:
            px = model.generate(m, temperature, generator, ys)  # the family's own prior (a VQ-VAE's code prior)
        else:
            px = model.decode_px(codes[start:start + m], temperature, generator, ys)
        out, length = px.greedy() if decode == "greedy" else px.generate(generator, token_temperature, top_k)
        ids.append(out.cpu())
        lengths.append(length.cpu())
    return torch.cat(ids), torch.cat(lengths)


def sample_text(run: Any, n: int, temperature: float = 1.0, seed: int | None = 0, decode: str | None = None,
                token_temperature: float | None = None, top_k: int | None = None, sampler=None,
                batch_size: int = DECODE_BATCH, y: int | torch.Tensor | None = None) -> list[str]:
    """n sentences of a text run (see `sample_ids` for the arguments; `y`, the class of a
    conditional run's sentences), as text."""
    run = text_run(run, "sample_text")
    ids, lengths = sample_ids(run.model, n, temperature, seed, decode, token_temperature, top_k, sampler, batch_size, y)
    return run.codec.decode(ids, lengths)


def token_ids(run: Any, sentences: Sequence[str] | torch.Tensor, fn: str, name: str = "sentences") -> torch.Tensor:
    """Sentences (a list of str) as the run's token ids (N, L), cut to max_length with a warning;
    a tensor of ids passes through (checked where it is used)."""
    if isinstance(sentences, torch.Tensor):
        return sentences
    if isinstance(sentences, str) or not isinstance(sentences, Sequence) or \
            not all(isinstance(s, str) for s in sentences):
        raise InputError(f"{fn} expects {name} as a list of str (or token ids from run.codec.encode), "
                         f"got {type(sentences).__name__}")
    if not sentences:
        raise InputError(f"{fn} got no {name}; pass at least one")
    encoded = run.codec.encode(list(sentences))
    if encoded.truncated:
        from vaekit.data.text_set import TextWarning

        warnings.warn(f"{fn}: {encoded.truncated} of {len(sentences)} {name} are longer than the run's max_length "
                      f"({run.codec.max_length} tokens with <eos>) and were cut", TextWarning, stacklevel=3)
    return encoded.ids


@torch.no_grad()
def reconstruct_text(run: Any, sentences: Sequence[str] | torch.Tensor, batch_size: int = DECODE_BATCH,
                     y: torch.Tensor | None = None) -> list[tuple[str, str]]:
    """(input, reconstruction) per sentence: the input as the model reads it (the run's tokens,
    `<unk>` for unknown words) and the greedy decoding at its posterior mean (for a conditional
    run, encoded and decoded with each sentence's class in `y` (N,))."""
    run = text_run(run, "reconstruct_text")
    x = token_ids(run, sentences, "reconstruct_text")
    batch_size = check_int(batch_size, "batch_size", min=1)
    y = ops._labels(run.model, y, len(x), "reconstruct_text")
    out = [ops.reconstruct(run.model, x[i:i + batch_size], _rows(y, i, batch_size)) for i in range(0, len(x), batch_size)]
    return list(zip(run.codec.decode(x), run.codec.decode(torch.cat(out))))


@torch.no_grad()
def interpolate_text(run: Any, a: Sequence[str] | torch.Tensor, b: Sequence[str] | torch.Tensor, steps: int = 8,
                     batch_size: int = DECODE_BATCH, ya: torch.Tensor | None = None,
                     yb: torch.Tensor | None = None) -> list[list[str]]:
    """The homotopy of Bowman et al. (2016, table 8) between a[i] and b[i]: the greedy decodings of
    `steps` evenly spaced points on the straight line between their posterior means, both ends
    included; one list of `steps` sentences per pair. A conditional run reads a[i] with class
    ya[i] and b[i] with yb[i], and its one-hot class moves along the line too."""
    run = text_run(run, "interpolate_text")
    xa, xb = token_ids(run, a, "interpolate_text", "a"), token_ids(run, b, "interpolate_text", "b")
    if len(xa) != len(xb):
        raise InputError(f"interpolate_text pairs a[i] with b[i], so they need as many sentences; got {len(xa)} "
                         f"and {len(xb)}")
    steps = check_int(steps, "steps", min=2, max=ops.MAX_STEPS)
    pairs = max(1, check_int(batch_size, "batch_size", min=1) // steps)  # pairs per decoding batch
    ya = ops._labels(run.model, ya, len(xa), "interpolate_text", "ya")
    yb = ops._labels(run.model, yb, len(xb), "interpolate_text", "yb")
    blocks = []
    for i in range(0, len(xa), pairs):
        ids = ops.interpolate(run.model, xa[i:i + pairs], xb[i:i + pairs], steps, _rows(ya, i, pairs),
                              _rows(yb, i, pairs))  # (P, steps, L)
        lines = run.codec.decode(ids.reshape(-1, ids.shape[-1]))
        blocks += [lines[j:j + steps] for j in range(0, len(lines), steps)]
    return blocks


def _rows(t: torch.Tensor | None, start: int, n: int) -> torch.Tensor | None:
    return None if t is None else t[start:start + n]


# ----------------------------------------------------------------------------- files


def text_block(sentences: Sequence[str]) -> str:
    """Sentences one per line, ending with a newline."""
    return "".join(f"{s}\n" for s in sentences)


def pairs_tsv(pairs: Sequence[tuple[str, str]]) -> str:
    """input<TAB>reconstruction per line under a header, as CSV quoting writes tab-separated
    values (a field holding a tab or a quote is quoted), so pandas.read_csv(sep="\\t") reads it back."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(["input", "reconstruction"])
    writer.writerows(pairs)
    return buf.getvalue()


def blocks_text(blocks: Sequence[Sequence[str]]) -> str:
    """Blocks of sentences (one homotopy each), one sentence per line, a blank line between blocks."""
    return "\n".join(text_block(block) for block in blocks)


def write_sentences(path: str | Path, text: str) -> Path:
    """Write text atomically (UTF-8); returns the path."""
    path = Path(path)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))  # whatever the locale's encoding
    return path
