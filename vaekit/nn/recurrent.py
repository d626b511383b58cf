"""Recurrent networks over token sequences: the encoder and decoder of a sentence VAE.

Bowman, Vilnis, Vinyals, Dai, Jozefowicz & Bengio, "Generating Sentences from a Continuous
Space", CoNLL 2016, https://arxiv.org/abs/1511.06349 (word dropout: `word_dropout`).

Encoder: embedding -> (bidirectional) GRU/LSTM over the packed sequences (pads never enter it,
so appending pads changes nothing) -> the final hidden state of every layer and direction ->
linear -> out_features. Decoder: z mapped into the initial state of every layer AND concatenated
to every input embedding, so each step sees z directly (the usual remedy for a decoder that
forgets its initial state); a linear layer gives the next-token logits. The decoder returns a
`BoundDecoder` (`vaekit.nn.sequence`), which the tokens likelihood wraps; generation steps the
recurrent state one token at a time (`start`, `step`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from vaekit.contract import PAD_ID
from vaekit.nn.sequence import (BoundDecoder, broadcast_inputs, project, check_logits_shape, check_sequence_shape,
                                lengths_of, token_ids, vocab_size)
from vaekit.registry import NETWORKS
from vaekit.sections import AT_LEAST_1, NON_NEGATIVE, NetworkConfig, Range

UNIT = Range(min=0, max=1)  # probabilities


@dataclass(frozen=True)
class RNNConfig(NetworkConfig):
    """A GRU or LSTM over token ids; the same section configures the encoder and the decoder."""

    name: str = "rnn"
    cell: Literal["gru", "lstm"] = "gru"
    vocab_size: int = 0  # ids in the vocabulary; 0: filled from the text data set
    embedding_size: int = 256
    hidden_size: int = 256
    layers: int = 1
    dropout: float = 0.0  # on the embeddings, between stacked layers and before the output layer
    bidirectional: bool = True  # the encoder reads each sequence both ways (the decoder cannot)
    word_dropout: float = 0.0  # decoder: rate of teacher-forced input words replaced by <unk> in training

    ranges: ClassVar[dict[str, Range]] = {"vocab_size": NON_NEGATIVE, "embedding_size": AT_LEAST_1,
                                          "hidden_size": AT_LEAST_1, "layers": AT_LEAST_1, "dropout": UNIT,
                                          "word_dropout": UNIT}


def _rnn(config: RNNConfig, input_size: int, bidirectional: bool) -> nn.RNNBase:
    cell = {"gru": nn.GRU, "lstm": nn.LSTM}[config.cell]
    between = config.dropout if config.layers > 1 else 0.0  # torch warns about dropout with one layer
    return cell(input_size, config.hidden_size, config.layers, batch_first=True, dropout=between,
                bidirectional=bidirectional)


class RNNEncoder(nn.Module):
    """Token ids (B, L) -> (B, out_features)."""

    def __init__(self, config: RNNConfig, in_shape: tuple[int, ...], out_features: int) -> None:
        super().__init__()
        check_sequence_shape(in_shape, "rnn")
        self.embedding = nn.Embedding(vocab_size(config, "encoder"), config.embedding_size, padding_idx=PAD_ID)
        self.drop = nn.Dropout(config.dropout)
        self.rnn = _rnn(config, config.embedding_size, config.bidirectional)
        states = config.layers * (2 if config.bidirectional else 1)
        self.head = nn.Linear(states * config.hidden_size, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = token_ids(x, "rnn")
        emb = self.drop(self.embedding(x))  # (B, L, E)
        packed = pack_padded_sequence(emb, lengths_of(x).cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state  # (layers * directions, B, H); an LSTM's h, not c
        return self.head(self.drop(h.transpose(0, 1).reshape(x.shape[0], -1)))


class RNNDecoder(nn.Module):
    """z (*lead, D) -> a `BoundDecoder` whose step_logits maps inputs (*lead, T) to (*lead, T, V)."""

    def __init__(self, config: RNNConfig, in_features: int, out_shape: tuple[int, ...]) -> None:
        super().__init__()
        vocab = vocab_size(config, "decoder")
        check_logits_shape(out_shape, vocab, "rnn")
        self.vocab, self.layers, self.hidden = vocab, config.layers, config.hidden_size
        self.lstm = config.cell == "lstm"
        self.word_dropout = config.word_dropout
        self.embedding = nn.Embedding(vocab, config.embedding_size, padding_idx=PAD_ID)
        self.drop = nn.Dropout(config.dropout)
        # z -> the initial state of every layer (h, and c for an LSTM)
        self.init = nn.Linear(in_features, config.layers * config.hidden_size * (2 if self.lstm else 1))
        self.rnn = _rnn(config, config.embedding_size + in_features, bidirectional=False)
        self.out = nn.Linear(config.hidden_size, vocab)

    def forward(self, z: torch.Tensor) -> BoundDecoder:
        return BoundDecoder(self, z, self.word_dropout if self.training else 0.0)

    def initial_state(self, z: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """z (N, D) -> (layers, N, H), or the pair (h, c) of an LSTM."""
        s = self.init(z).view(z.shape[0], -1, self.layers, self.hidden).permute(1, 2, 0, 3)  # (1|2, layers, N, H)
        h = torch.tanh(s[0]).contiguous()  # in the range of the states the cell makes itself
        return (h, s[1].contiguous()) if self.lstm else h

    def logits(self, z: torch.Tensor, inputs: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced next-token logits: z (*lead, D), inputs (*lead, T) -> (*lead, T, V); with
        `keep` (*lead, T) bool, only the kept positions' logits, (K, V) in row-major order."""
        z, ids, lead = broadcast_inputs(z, inputs)  # (N, D), (N, T)
        emb = self.drop(self.embedding(ids))  # (N, T, E)
        z_steps = z.to(emb.dtype).unsqueeze(1).expand(-1, ids.shape[1], -1)  # (N, T, D): z at every step
        out, _ = self.rnn(torch.cat([emb, z_steps], dim=-1), self.initial_state(z))  # (N, T, H)
        return project(self.out, self.drop(out), lead, keep)

    def start(self, z: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Incremental decoding: z (*lead, D) -> the recurrent state before the first input."""
        return self.initial_state(z.flatten(0, -2))

    def step(self, z: torch.Tensor, state: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
             tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        """One position of `logits`: tokens (*lead,) with z (*lead, D) and the state so far ->
        logits (*lead, V) and the state after it; z enters the step as it enters every step there."""
        z = z.flatten(0, -2)  # (N, D)
        emb = self.drop(self.embedding(tokens.reshape(-1, 1)))  # (N, 1, E)
        out, state = self.rnn(torch.cat([emb, z.to(emb.dtype).unsqueeze(1)], dim=-1), state)  # (N, 1, H)
        return self.out(self.drop(out[:, 0])).view(*tokens.shape, self.vocab), state


@NETWORKS.register("rnn", config=RNNConfig)
class RNN:
    """Registry entry: builds the recurrent encoder or decoder."""

    spatial = False
    tokens = True  # reads token ids (encoder); emits next-token logits for the tokens likelihood (decoder)

    encoder = RNNEncoder
    decoder = RNNDecoder
