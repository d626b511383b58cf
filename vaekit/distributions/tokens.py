"""Likelihoods over token sequences for text VAEs (Bowman et al. 2016).

`TokenSequence` is p(x|z) of an autoregressive decoder: a categorical over the vocabulary at each
position, conditioned on the tokens before it. It holds no logits itself; it holds the decoder as
a callable, `step_logits(inputs) -> logits`, run with teacher forcing for `log_prob` (the inputs
are `<bos>` followed by x without its last token) and on its own prefix for generation.

Data layout: x is (*batch, L) int64, each row `w_1 .. w_n <eos> <pad> ...` (no `<bos>`: the
distribution adds it). The log-probability sums over the positions up to and including `<eos>`,
so padding neither adds to it nor changes it; `count_tokens` counts the same positions, which is
what perplexity divides by.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from vaekit.distributions.base import Distribution
from vaekit.errors import InputError

StepLogits = Callable[[torch.Tensor], torch.Tensor]


def count_tokens(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Tokens per sequence including `<eos>` (every non-pad entry): (*batch, L) -> (*batch,)."""
    return (x != pad).sum(-1)


def word_dropout(inputs: torch.Tensor, rate: float, unk: int, protected: Sequence[int],
                 generator: torch.Generator | None = None, training: bool = True) -> torch.Tensor:
    """Bowman et al. 2016: replace each decoder input token by `unk` with probability `rate`, so
    the decoder must lean on z rather than on the words before. Tokens in `protected` (`<bos>`,
    `<pad>`) are never replaced; the inputs come back unchanged at rate 0 and when not `training`
    (pass the decoder's `self.training`). Apply it to the teacher-forced inputs only."""
    if not 0.0 <= rate <= 1.0:
        raise InputError(f"word dropout rate must lie in [0, 1], got {rate}; it is the probability of replacing a word")
    if rate == 0.0 or not training:
        return inputs
    drop = torch.rand(inputs.shape, generator=generator, device=inputs.device) < rate
    for token in protected:
        drop &= inputs != token
    return inputs.masked_fill(drop, unk)


class TokenSequence(Distribution):
    """A teacher-forced autoregressive categorical over padded token sequences.

    step_logits  the decoder with its state (z) bound: inputs (*lead, T) int64 -> logits
                 (*lead, T, V), the logits at position t reading inputs[..., :t+1] only (causal)
    lead_shape   the batch shape of the decoder's state: (B,) for one draw of z per example,
                 (S, B) for S importance samples. `log_prob(x)` with x (B, L) then expands the
                 teacher-forced inputs to (S, B, L) before calling step_logits and returns (S, B),
                 which is what the importance-sampled NLL needs
    bos, eos, pad  the special token ids
    max_length   the most tokens (including `<eos>`) generation emits per sequence
    device       where generation builds its ids (the decoder's device)
    corrupt      applied to the teacher-forced inputs of `log_prob` only, never to generation:
                 pass `lambda t: word_dropout(t, rate, unk, (bos, pad), training=self.training)`

    Generation (`greedy`, `generate`, `sample`, `mode`) re-runs step_logits on the whole prefix at
    each step: max_length calls on prefixes of growing length, O(max_length^2) decoder steps per
    sequence. That is cheap at the sizes of a text VAE (L <= ~100) and needs no cached state from
    the decoder; a decoder that exposes its recurrent state could make it O(max_length).
    """

    def __init__(self, step_logits: StepLogits, *, bos: int, eos: int, pad: int, max_length: int,
                 lead_shape: Sequence[int], corrupt: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 device: torch.device | str = "cpu") -> None:
        if max_length < 1:
            raise InputError(f"max_length must be at least 1, got {max_length}")
        self.step_logits = step_logits
        self.bos, self.eos, self.pad = int(bos), int(eos), int(pad)
        self.max_length = int(max_length)
        self.lead_shape = torch.Size(lead_shape)
        self.corrupt = corrupt
        self.device = torch.device(device)

    def teacher_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """`<bos>` + x[..., :-1]: what the decoder reads to predict x."""
        bos = torch.full_like(x[..., :1], self.bos)
        return torch.cat([bos, x[..., :-1]], dim=-1)

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sum over positions of log p(x_t | x_<t, z): x (*batch, L) int64 padded with `pad`;
        counted are the non-pad positions, or those `mask` (like x) marks 1. Returns the broadcast
        of `lead_shape` and x's batch shape, e.g. (S, B) for x (B, L) and lead (S, B)."""
        if x.dtype.is_floating_point or x.dtype == torch.bool:
            raise InputError(f"token ids must be an integer tensor, got {x.dtype}; encode the text with the vocabulary first")
        if x.ndim < 1 or x.shape[-1] < 1:
            raise InputError(f"token ids need a length dimension with at least one position, got shape {tuple(x.shape)}")
        keep = (x != self.pad) if mask is None else mask.to(torch.bool).expand_as(x)
        lead = torch.broadcast_shapes(self.lead_shape, x.shape[:-1])
        inputs = self.teacher_inputs(x)
        if self.corrupt is not None:
            inputs = self.corrupt(inputs)
        logits = self.step_logits(inputs.expand(*lead, x.shape[-1]))
        if logits.shape[:-1] != (*lead, x.shape[-1]):
            raise InputError(f"step_logits gave logits of shape {tuple(logits.shape)} for inputs of shape "
                             f"{(*lead, x.shape[-1])}; it must return (*inputs.shape, vocabulary)")
        logp = torch.log_softmax(logits, dim=-1)
        # Pads may be any id (even outside the vocabulary): gather at a safe index, then mask.
        target = x.masked_fill(~keep, 0).expand(*lead, x.shape[-1])
        picked = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        return picked.masked_fill(~keep.expand_as(picked), 0.0).sum(-1)

    def generate(self, generator: torch.Generator | None = None, temperature: float = 1.0,
                 top_k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode one sequence per entry of `lead_shape` until `<eos>` or `max_length`.

        temperature 0 is greedy (argmax); otherwise draw from softmax(logits / temperature),
        restricted to the `top_k` most probable tokens when given. Returns ids (*lead, max_length)
        int64 in x's layout (`<eos>` then `pad`; a sequence cut at max_length has no `<eos>`) and
        lengths (*lead,) counting `<eos>`, equal to `count_tokens(ids, pad)`."""
        if temperature < 0:
            raise InputError(f"temperature must be >= 0 (0 is greedy), got {temperature}")
        if top_k is not None and top_k < 1:
            raise InputError(f"top_k must be at least 1 (or None for the whole vocabulary), got {top_k}")
        lead = self.lead_shape
        prefix = torch.full((*lead, 1), self.bos, dtype=torch.long, device=self.device)
        out = torch.full((*lead, self.max_length), self.pad, dtype=torch.long, device=self.device)
        done = torch.zeros(lead, dtype=torch.bool, device=self.device)
        with torch.no_grad():
            for t in range(self.max_length):
                logits = self.step_logits(prefix)[..., -1, :]
                token = self._choose(logits.float(), generator, temperature, top_k)
                token = token.masked_fill(done, self.pad)
                out[..., t] = token
                done |= token == self.eos
                if bool(done.all()):
                    break
                prefix = torch.cat([prefix, token.unsqueeze(-1)], dim=-1)
        return out, count_tokens(out, self.pad)

    @staticmethod
    def _choose(logits: torch.Tensor, generator: torch.Generator | None, temperature: float,
                top_k: int | None) -> torch.Tensor:
        """One token per row of logits (*lead, V)."""
        if temperature == 0:
            return logits.argmax(-1)
        logits = logits / temperature
        if top_k is not None and top_k < logits.shape[-1]:
            kth = logits.topk(top_k, dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        flat = probs.reshape(-1, probs.shape[-1])
        return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])

    def greedy(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding: the most probable next token at each step; (ids, lengths)."""
        return self.generate(temperature=0.0)

    def sample(self, generator: torch.Generator | None = None, temperature: float = 1.0,
               top_k: int | None = None) -> torch.Tensor:
        """Ancestral draws, ids (*lead, max_length) in x's layout; lengths are `count_tokens`."""
        return self.generate(generator, temperature, top_k)[0]

    @property
    def mode(self) -> torch.Tensor:
        """The greedy decoding, ids (*lead, max_length): the usual stand-in for the most probable
        sequence, which no tractable search finds exactly."""
        return self.greedy()[0]
