"""Figures of text models that need no model: perplexity from summed NLLs, token accuracy of
reconstructions and distinct-n diversity of samples.

Sequences are token-id tensors (N, L) in the layout of `vaekit.distributions.tokens`: the tokens,
`<eos>`, then padding. Every figure counts the `<eos>` as a token (the model predicts it, and the
perplexities papers report on the Penn Treebank count it), never the padding.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import torch

from vaekit.errors import InputError


def perplexity(nll_per_sequence: torch.Tensor, tokens_per_sequence: torch.Tensor) -> float:
    """Corpus perplexity per token: exp(sum of -log p(x) / number of tokens), the figure language
    model papers report (a ratio of sums, not a mean of per-sentence perplexities, so long
    sentences weigh by their length)."""
    nll = nll_per_sequence.double().reshape(-1)
    tokens = tokens_per_sequence.double().reshape(-1)
    if nll.numel() != tokens.numel():
        raise InputError(f"perplexity needs one token count per sequence: {nll.numel()} NLLs, {tokens.numel()} counts")
    total = float(tokens.sum())
    if total <= 0:
        raise InputError("perplexity needs at least one token; the sequences are all padding")
    return math.exp(float(nll.sum()) / total)


def token_accuracy(predicted: torch.Tensor, target: torch.Tensor, pad: int) -> float:
    """The share of the target's tokens (those not `pad`, `<eos>` included) that the prediction
    has at the same position. A prediction shorter than the target counts as wrong past its end."""
    if predicted.ndim != 2 or target.ndim != 2 or predicted.shape[0] != target.shape[0]:
        raise InputError(f"token_accuracy compares (N, L) id tensors row by row, got {tuple(predicted.shape)} "
                         f"and {tuple(target.shape)}")
    length = target.shape[1]
    if predicted.shape[1] < length:  # padding never matches a real token
        fill = torch.full((predicted.shape[0], length - predicted.shape[1]), pad, dtype=predicted.dtype)
        predicted = torch.cat([predicted, fill.to(predicted.device)], dim=1)
    keep = target != pad
    total = int(keep.sum())
    if total == 0:
        raise InputError("token_accuracy needs at least one target token; the targets are all padding")
    return int(((predicted[:, :length] == target) & keep).sum()) / total


def distinct_n(sequences: Sequence[Sequence[int]], n: int) -> float:
    """Distinct-n (Li et al. 2016, https://arxiv.org/abs/1510.03055): distinct n-grams over all
    n-grams of the sequences, in [0, 1]; 0 when no sequence has n tokens. Pass the tokens without
    `<eos>` and padding (`vaekit.data.text.TextCodec.decode` gives them)."""
    if n < 1:
        raise InputError(f"distinct-n needs n >= 1, got {n}")
    grams: Counter[tuple[int, ...]] = Counter()
    for seq in sequences:
        seq = list(seq)
        grams.update(tuple(seq[i:i + n]) for i in range(len(seq) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def strip(ids: torch.Tensor, eos: int, pad: int) -> list[list[int]]:
    """Each row of (N, L) ids up to (not including) its first `<eos>` or `pad`."""
    out = []
    for row in ids.tolist():
        seq = []
        for token in row:
            if token in (eos, pad):
                break
            seq.append(token)
        out.append(seq)
    return out
