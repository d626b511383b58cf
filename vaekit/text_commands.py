"""What `vaekit sample`, `reconstruct`, `interpolate`, `embed` and `anomaly` do on a text run,
once `vaekit.commands` has loaded it: each returns the text to write (sentences one per line,
input<TAB>reconstruction pairs, homotopy blocks), made by `vaekit.sample.text`; `commands` writes
it where --out says. The options that only text has (--decode, --top-k, --token-temperature,
--between, --per-token) are refused in one line on other runs."""

from __future__ import annotations

import argparse

import torch

from vaekit.errors import ConfigError

# option dest -> how the command line spells it: the options that only mean something for text
TEXT_OPTIONS = {"decode": "--decode", "top_k": "--top-k", "token_temperature": "--token-temperature",
                "between": "--between", "per_token": "--per-token"}


def is_text(run) -> bool:
    return run.codec.modality == "text"


def refuse_text_options(args: argparse.Namespace, run) -> None:
    """ConfigError when a text-only option is given for a run of other data."""
    for dest, flag in TEXT_OPTIONS.items():
        if getattr(args, dest, None) not in (None, False):
            raise ConfigError(f"{flag} applies to runs trained on text; the run {run.path} models "
                              f"{run.codec.modality} data, so leave out {flag}")


def sample(args: argparse.Namespace, run) -> str:
    """Sentences drawn from the model, one per line."""
    from vaekit.sample.samplers import fitted_sampler
    from vaekit.sample.text import check_decoding, default_decode, sample_text, text_block

    check_class(run, args.cls)
    decode = args.decode or default_decode(run.model)
    check_decoding(decode, args.token_temperature, args.top_k, error=ConfigError)
    sampler = None
    if args.sampler != "prior":
        train = run.dataset().train
        sampler = fitted_sampler(run.model, args.sampler, train.x, train.y, args.components)
    return text_block(sample_text(run, args.n, args.temperature, args.seed, decode, args.token_temperature,
                                  args.top_k, sampler, y=args.cls))


def check_class(run, cls: int | None) -> None:
    """ConfigError unless --class is left out or names one of a conditional run's classes (by
    index; the message lists them with their names, from the run's codec)."""
    if cls is None:
        return
    model = run.model
    if not model.traits.conditional:
        raise ConfigError(f"--class chooses the class of a conditional model, and model '{run.config.model.name}' "
                          f"takes no labels; train model.name=cvae on labelled text (data.label_column), or leave "
                          f"out --class")
    if not 0 <= cls < model.num_classes:
        names = run.codec.describe_labels() or ", ".join(map(str, range(model.num_classes)))
        raise ConfigError(f"--class {cls} is not one of the run's {model.num_classes} classes: {names}")


def reconstruct(args: argparse.Namespace, run) -> str:
    """The first n sentences of the split beside their greedy reconstructions, as TSV."""
    from vaekit.sample.text import pairs_tsv, reconstruct_text

    split = run.dataset().split(args.split)
    y = None if split.y is None else split.y[: args.n]  # a conditional run reads each sentence with its class
    return pairs_tsv(reconstruct_text(run, split.x[: args.n], y=y))


def interpolate(args: argparse.Namespace, run, a: torch.Tensor | None, b: torch.Tensor | None,
                ya: torch.Tensor | None = None, yb: torch.Tensor | None = None) -> str:
    """Homotopy blocks: between the --between sentences when given, else between the split's
    pairs `a[i]`, `b[i]` the command picked (of classes `ya[i]`, `yb[i]` for a conditional run)."""
    from vaekit.sample.text import blocks_text, interpolate_text

    if args.between:
        if run.model.traits.conditional:
            raise ConfigError("--between gives sentences without their classes, and a conditional model reads each "
                              "with its class; leave out --between to interpolate pairs of the split")
        a, b = [pair[0] for pair in args.between], [pair[1] for pair in args.between]
    return blocks_text(interpolate_text(run, a, b, args.steps, ya=ya, yb=yb))


def sentences(run, x: torch.Tensor) -> str:
    """The split's sentences as the model reads them, one per line (the rows of embed's arrays)."""
    from vaekit.sample.text import text_block

    return text_block(run.codec.decode(x))


def per_token(scores: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Scores in nats per sentence as nats per token: divided by each sentence's tokens, `<eos>`
    included (the positions the likelihood sums over)."""
    from vaekit.contract import PAD_ID

    return scores / (x != PAD_ID).sum(-1).to(scores.dtype)


def most_anomalous(run, scores: torch.Tensor, x: torch.Tensor, k: int = 5) -> list[dict]:
    """The k sentences with the highest scores, highest first, with their scores and row index."""
    top = torch.argsort(scores, descending=True, stable=True)[:k]
    lines = run.codec.decode(x[top])
    return [{"index": int(i), "score": float(scores[i]), "sentence": line} for i, line in zip(top.tolist(), lines)]
