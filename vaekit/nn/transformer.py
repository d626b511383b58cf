"""Transformer networks over token sequences: a bidirectional encoder and a small causal decoder.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017, https://arxiv.org/abs/1706.03762
(pre-norm layers, as in Xiong et al. 2020, https://arxiv.org/abs/2002.04745, which train without a
learning-rate warm-up). Using z as a prefix of the decoder follows Li et al., "Optimus", EMNLP
2020, https://arxiv.org/abs/2004.04092, where z enters as an extra position every word attends to.

Encoder: embedding + sinusoidal positions -> self-attention with the pads masked as keys ->
the mean over the non-pad positions (or the output of a learned `[CLS]` position put in front)
-> linear -> out_features. Pads are never attended to and never pooled, so appending pads
changes nothing. Decoder: z mapped to one prefix vector at position 0, then the embedded inputs;
causal self-attention, so the logits at input position t read the prefix and inputs[..., :t+1]
only. It returns a `BoundDecoder` (`vaekit.nn.sequence`), which the tokens likelihood wraps.
Generation runs one position at a time on a cache of every layer's keys and values (`start`,
`step`), so the positions before are never recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.contract import PAD_ID
from vaekit.errors import ConfigError
from vaekit.nn.sequence import (BoundDecoder, broadcast_inputs, check_logits_shape, check_sequence_shape, project,
                                token_ids, vocab_size)
from vaekit.registry import NETWORKS
from vaekit.sections import AT_LEAST_1, NON_NEGATIVE, NetworkConfig, Range

UNIT = Range(min=0, max=1)  # probabilities


@dataclass(frozen=True)
class TransformerConfig(NetworkConfig):
    """A Transformer over token ids; the same section configures the encoder and the decoder."""

    name: str = "transformer"
    vocab_size: int = 0  # ids in the vocabulary; 0: filled from the text data set
    d_model: int = 256
    heads: int = 4  # attention heads; d_model must be a multiple
    layers: int = 2
    ff_size: int = 1024  # width of each layer's feed-forward block
    dropout: float = 0.1
    pooling: Literal["mean", "cls"] = "mean"  # encoder: mean over the tokens, or a learned [CLS] position
    word_dropout: float = 0.0  # decoder: rate of teacher-forced input words replaced by <unk> in training

    ranges: ClassVar[dict[str, Range]] = {"vocab_size": NON_NEGATIVE, "d_model": AT_LEAST_1, "heads": AT_LEAST_1,
                                          "layers": AT_LEAST_1, "ff_size": AT_LEAST_1, "dropout": UNIT,
                                          "word_dropout": UNIT}


def positions(length: int, width: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal position encodings (length, width): no learned table, so no longest length."""
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / width))
    out = torch.zeros(length, width, device=device)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : width // 2]
    return out


class Embed(nn.Module):
    """Token ids (N, T) -> embeddings (N, T, d) scaled by sqrt(d), plus positions from `start`."""

    def __init__(self, vocab: int, width: int, dropout: float) -> None:
        super().__init__()
        self.width = width
        self.table = nn.Embedding(vocab, width, padding_idx=PAD_ID)
        self.drop = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        pos = positions(start + ids.shape[1], self.width, ids.device)[start:]
        return self.drop(self.table(ids) * math.sqrt(self.width) + pos.to(self.table.weight.dtype))


def _stack(config: TransformerConfig) -> nn.TransformerEncoder:
    if config.d_model % config.heads:
        raise ConfigError(f"model.encoder/decoder.d_model ({config.d_model}) must be a multiple of heads "
                          f"({config.heads}): each head attends over d_model / heads numbers")
    layer = nn.TransformerEncoderLayer(config.d_model, config.heads, config.ff_size, config.dropout,
                                       activation="gelu", batch_first=True, norm_first=True)
    # enable_nested_tensor packs padded rows in eval only; off, so training and eval compute alike
    return nn.TransformerEncoder(layer, config.layers, norm=nn.LayerNorm(config.d_model), enable_nested_tensor=False)


class TransformerEncoder(nn.Module):
    """Token ids (B, L) -> (B, out_features)."""

    def __init__(self, config: TransformerConfig, in_shape: tuple[int, ...], out_features: int) -> None:
        super().__init__()
        check_sequence_shape(in_shape, "transformer")
        self.embed = Embed(vocab_size(config, "encoder"), config.d_model, config.dropout)
        self.stack = _stack(config)
        self.cls = nn.Parameter(0.02 * torch.randn(config.d_model)) if config.pooling == "cls" else None
        self.head = nn.Linear(config.d_model, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = token_ids(x, "transformer")
        pad = x == PAD_ID  # (B, L): masked as keys
        h = self.embed(x)  # (B, L, d)
        if self.cls is not None:
            h = torch.cat([self.cls.to(h.dtype).expand(len(x), 1, -1), h], dim=1)  # (B, 1 + L, d)
            pad = torch.cat([pad.new_zeros(len(x), 1), pad], dim=1)
        h = self.stack(h, src_key_padding_mask=pad)
        if self.cls is not None:
            return self.head(h[:, 0])
        keep = (~pad).unsqueeze(-1).to(h.dtype)  # (B, L, 1)
        return self.head((h * keep).sum(1) / keep.sum(1).clamp(min=1.0))


class TransformerDecoder(nn.Module):
    """z (*lead, D) -> a `BoundDecoder` whose step_logits maps inputs (*lead, T) to (*lead, T, V)."""

    def __init__(self, config: TransformerConfig, in_features: int, out_shape: tuple[int, ...]) -> None:
        super().__init__()
        vocab = vocab_size(config, "decoder")
        check_logits_shape(out_shape, vocab, "transformer")
        self.vocab = vocab
        self.word_dropout = config.word_dropout
        self.prefix = nn.Linear(in_features, config.d_model)  # z as the vector at position 0
        self.embed = Embed(vocab, config.d_model, config.dropout)
        self.stack = _stack(config)
        self.out = nn.Linear(config.d_model, vocab)

    def forward(self, z: torch.Tensor) -> BoundDecoder:
        return BoundDecoder(self, z, self.word_dropout if self.training else 0.0)

    def logits(self, z: torch.Tensor, inputs: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced next-token logits: z (*lead, D), inputs (*lead, T) -> (*lead, T, V); with
        `keep` (*lead, T) bool, only the kept positions' logits, (K, V) in row-major order."""
        z, ids, lead = broadcast_inputs(z, inputs)  # (N, D), (N, T)
        t = ids.shape[1]
        h = torch.cat([self.prefix(z).unsqueeze(1), self.embed(ids, start=1)], dim=1)  # (N, 1 + T, d)
        causal = nn.Transformer.generate_square_subsequent_mask(t + 1, device=h.device, dtype=h.dtype)
        h = self.stack(h, mask=causal, is_causal=True)
        return project(self.out, h[:, 1:], lead, keep)  # the output at input t predicts token t + 1

    def start(self, z: torch.Tensor) -> DecoderCache:
        """Incremental decoding: z (*lead, D) -> the keys and values of the prefix position."""
        h = self.prefix(z.flatten(0, -2)).unsqueeze(1)  # (N, 1, d): position 0
        return self._advance(h, DecoderCache([None] * len(self.stack.layers), 0))[1]

    def step(self, z: torch.Tensor, state: DecoderCache, tokens: torch.Tensor) -> tuple[torch.Tensor, DecoderCache]:
        """One position of `logits`: tokens (*lead,) and the cache of the positions before ->
        logits (*lead, V) and the cache with this position added."""
        h = self.embed(tokens.reshape(-1, 1), start=state.length)  # (N, 1, d)
        h, state = self._advance(h, state)
        return self.out(h[:, 0]).view(*tokens.shape, self.vocab), state

    def _advance(self, h: torch.Tensor, cache: DecoderCache) -> tuple[torch.Tensor, DecoderCache]:
        """The stack on one new position h (N, 1, d), attending to the cached positions and to
        itself: what `self.stack` computes there under the causal mask (pre-norm layers, then the
        final norm), with each layer's keys and values kept for the next position."""
        kept = []
        for layer, past in zip(self.stack.layers, cache.keys_values):
            h, kv = _cached_layer(layer, h, past)
            kept.append(kv)
        return self.stack.norm(h), DecoderCache(kept, cache.length + 1)


@dataclass(frozen=True)
class DecoderCache:
    """The Transformer decoder's state in incremental decoding: per layer, the keys and values
    (N, heads, positions, d / heads) of the positions so far (None before the first), and how
    many positions that is (the next one's index, for its position encoding)."""

    keys_values: list[tuple[torch.Tensor, torch.Tensor] | None]
    length: int


def _cached_layer(layer: nn.TransformerEncoderLayer, x: torch.Tensor,
                  past: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """A pre-norm `nn.TransformerEncoderLayer` (as `_stack` builds it) on the newest position
    x (N, 1, d), attending to the past keys and values and its own: the layer's own weights and
    dropouts, with the attention written out so that earlier positions are not recomputed."""
    attn = layer.self_attn
    n, t, d = x.shape
    heads = attn.num_heads
    qkv = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias)  # (N, 1, 3d): q, k, v, heads within each
    q, k, v = qkv.view(n, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)  # each (N, heads, 1, d / heads)
    if past is not None:
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
    # Every cached position precedes this one: the causal mask hides none of them.
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=attn.dropout if layer.training else 0.0)
    x = x + layer.dropout1(attn.out_proj(a.transpose(1, 2).reshape(n, t, d)))
    x = x + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(layer.norm2(x))))))
    return x, (k, v)


@NETWORKS.register("transformer", config=TransformerConfig)
class Transformer:
    """Registry entry: builds the Transformer encoder or decoder."""

    spatial = False
    tokens = True  # reads token ids (encoder); emits next-token logits for the tokens likelihood (decoder)

    encoder = TransformerEncoder
    decoder = TransformerDecoder
