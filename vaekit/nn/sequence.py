"""What the sequence networks share: the token layout they read, the vocabulary check, and the
decoder with its code bound that the tokens likelihood wraps.

A sequence encoder reads token ids x (B, L) int64 in the text layout (`vaekit.contract.PAD_ID`
pads the end of each row) and returns (B, out_features), like every encoder. A sequence decoder
cannot return the likelihood's parameters as one tensor: p(x|z) of an autoregressive decoder is
the decoder itself, run on the tokens before each position. Its `forward(z)` returns a
`BoundDecoder` instead, which `vaekit.distributions.tokens.Tokens` turns into a `TokenSequence`.
The decoder's `out_shape` (the likelihood's `param_shape()`) is (vocab_size,): the logits of one
position.

A sequence decoder implements `logits(z, inputs)` (teacher forcing, every position at once) and,
for generation, `start(z) -> state` and `step(z, state, tokens) -> (logits, state)`: one position
at a time from a state it carries (an RNN's hidden state, a Transformer's keys and values), so
decoding L tokens costs L steps, not the L^2 of re-reading the prefix at each one. Fed the inputs
of `logits` one position at a time, `step` gives its logits at each position, up to rounding.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from vaekit.contract import EOS_ID, PAD_ID
from vaekit.errors import ConfigError, InputError

SPECIAL_TOKENS = EOS_ID + 1  # <pad>, <unk>, <bos>, <eos>: every vocabulary has more ids than these
SEQUENCE_NETWORKS = "rnn or transformer"  # for messages that name what reads token ids


class BoundDecoder:
    """A sequence decoder with its code z (*lead, D) bound.

    step_logits(inputs)  inputs (*lead, T) int64 -> logits (*lead, T, V), those at position t
                         reading inputs[..., :t+1] only (causal); lead broadcasts with z's
    start()              incremental decoding: the decoder's state before its first input
    step(state, tokens)  tokens (*lead,) int64, the input at the next position -> (logits
                         (*lead, V), the next state); fed inputs[..., t] for t = 0, 1, ... from
                         start(), the logits are step_logits(inputs)[..., t, :]. The state is the
                         decoder's own (opaque); lead is z's lead exactly
    lead_shape           z.shape[:-1]: (B,) for one code per example, (S, B) for S samples each
    word_dropout         the rate at which the likelihood replaces teacher-forced input words by
                         `<unk>` (Bowman et al. 2016): the decoder's rate in training, 0 in eval
    device               where generation builds its ids
    """

    __slots__ = ("decoder", "z", "word_dropout")

    def __init__(self, decoder: nn.Module, z: torch.Tensor, word_dropout: float) -> None:
        self.decoder, self.z, self.word_dropout = decoder, z, float(word_dropout)

    def step_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.decoder.logits(self.z, inputs)

    def kept_logits(self, inputs: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """The logits of the positions `keep` (like inputs, bool) marks, (K, V) in row-major
        order: teacher forcing that runs the output layer (vocabulary-wide, the largest part of
        a step) over the counted tokens alone, not over the pads of a batch's shorter rows."""
        return self.decoder.logits(self.z, inputs, keep)

    def start(self) -> Any:
        return self.decoder.start(self.z)

    def step(self, state: Any, tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if tokens.shape != self.z.shape[:-1]:
            raise InputError(f"step reads one token per code: tokens of shape {tuple(self.z.shape[:-1])}, got "
                             f"{tuple(tokens.shape)}; pass the tokens of the next position only")
        return self.decoder.step(self.z, state, tokens)

    @property
    def lead_shape(self) -> torch.Size:
        return self.z.shape[:-1]

    @property
    def device(self) -> torch.device:
        return self.z.device


def vocab_size(config, part: str) -> int:
    """The network's `vocab_size`, checked: 0 means the data had to fill it and did not."""
    v = config.vocab_size
    if v == 0:
        raise ConfigError(f"model.{part}.vocab_size is 0, which the text data set fills in; train on data.name=text, "
                          f"or set model.{part}.vocab_size to the size of the vocabulary")
    if v <= SPECIAL_TOKENS:
        raise ConfigError(f"model.{part}.vocab_size is {v}, but the {SPECIAL_TOKENS} special tokens (<pad>, <unk>, <bos>, "
                          f"<eos>) take that many ids; use the vocabulary's size, which counts them and the words")
    return v


def check_sequence_shape(in_shape: tuple[int, ...], name: str) -> None:
    """ConfigError unless one example is a sequence (L,) of token ids."""
    if len(in_shape) != 1:
        raise ConfigError(f"the {name} encoder reads sequences of token ids of shape (L,), but the examples have "
                          f"shape {list(in_shape)}; use it with data.name=text, or model.encoder.name=mlp/conv here")


def check_logits_shape(out_shape: tuple[int, ...], vocab: int, name: str) -> None:
    """ConfigError unless the likelihood asks for the logits of one position over `vocab` tokens."""
    if tuple(out_shape) != (vocab,):
        raise ConfigError(f"the {name} decoder emits next-token logits over model.decoder.vocab_size={vocab} tokens, "
                          f"but the likelihood asks for parameters of shape {list(out_shape)}; use "
                          f"model.likelihood.name=tokens with the same vocab_size (leave both 0: text data fill them)")


def token_ids(x: torch.Tensor, name: str) -> torch.Tensor:
    """x, checked to hold integer token ids (B, L)."""
    if x.dtype.is_floating_point or x.dtype == torch.bool or x.ndim != 2:
        raise InputError(f"the {name} encoder reads token ids (B, L) of an integer dtype, got shape "
                         f"{tuple(x.shape)} of {x.dtype}; encode the text with the run's vocabulary first")
    return x


def lengths_of(x: torch.Tensor) -> torch.Tensor:
    """Tokens per row counting `<eos>` (every non-pad entry), at least 1: (B, L) -> (B,)."""
    return (x != PAD_ID).sum(-1).clamp(min=1)


def project(out: nn.Module, h: torch.Tensor, lead: torch.Size, keep: torch.Tensor | None) -> torch.Tensor:
    """The output layer over decoder features h (N, T, H): logits (*lead, T, V), or with `keep`
    ((*lead, T) bool) those of the kept positions only, (K, V)."""
    if keep is None:
        return out(h).view(*lead, h.shape[1], -1)
    return out(h[keep.expand(*lead, h.shape[1]).reshape(h.shape[:2])])


def broadcast_inputs(z: torch.Tensor, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Size]:
    """z (*lead, D) and inputs (*lead, T) broadcast to one lead and flattened to rows: z (N, D),
    inputs (N, T), and the lead to unflatten the outputs with."""
    lead = torch.broadcast_shapes(z.shape[:-1], inputs.shape[:-1])
    t, n = inputs.shape[-1], math.prod(lead)  # n, not -1: a language model's z has width 0
    return z.expand(*lead, z.shape[-1]).reshape(n, z.shape[-1]), inputs.expand(*lead, t).reshape(n, t), lead
