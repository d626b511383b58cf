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

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Protocol, Sequence, runtime_checkable

import torch

from vaekit.contract import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from vaekit.distributions.base import Distribution
from vaekit.distributions.likelihoods import Likelihood
from vaekit.errors import ConfigError, DataError, InputError
from vaekit.registry import LIKELIHOODS
from vaekit.sections import NON_NEGATIVE, LikelihoodConfig, Range

StepLogits = Callable[[torch.Tensor], torch.Tensor]


@runtime_checkable
class Incremental(Protocol):
    """A decoder that generates one position at a time from a state it carries (an RNN's hidden
    state, a Transformer's keys and values): `start()` gives the state before the first input,
    `step(state, tokens (*lead,)) -> (logits (*lead, V), state)` reads the input at the next
    position. Fed inputs[..., t] for t = 0, 1, ..., it gives step_logits(inputs)[..., t, :]."""

    def start(self) -> Any: ...

    def step(self, state: Any, tokens: torch.Tensor) -> tuple[torch.Tensor, Any]: ...


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
    incremental  optional, the same decoder one position at a time (`Incremental`), which
                 generation then uses: O(max_length) decoder steps per sequence
    kept_logits  optional, `(inputs, keep) -> (K, V)`: step_logits at the positions `keep` marks
                 only, which `log_prob` then uses, so the vocabulary-wide output layer runs over
                 the counted tokens and not over the pads of a batch's shorter rows

    Without `incremental`, generation (`greedy`, `generate`, `sample`, `mode`) re-runs step_logits
    on the whole prefix at each step: max_length calls on prefixes of growing length,
    O(max_length^2) decoder steps per sequence. Both read the tokens emitted so far (a finished
    row's `<eos>`, then `pad`) and give the same sequences, up to rounding of the logits.
    """

    def __init__(self, step_logits: StepLogits, *, bos: int, eos: int, pad: int, max_length: int,
                 lead_shape: Sequence[int], corrupt: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 device: torch.device | str = "cpu", incremental: Incremental | None = None,
                 kept_logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> None:
        if max_length < 1:
            raise InputError(f"max_length must be at least 1, got {max_length}")
        self.step_logits = step_logits
        self.bos, self.eos, self.pad = int(bos), int(eos), int(pad)
        self.max_length = int(max_length)
        self.lead_shape = torch.Size(lead_shape)
        self.corrupt = corrupt
        self.device = torch.device(device)
        self.incremental = incremental
        self.kept_logits = kept_logits

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
        if self.kept_logits is not None:  # the output layer over the counted positions alone
            return self._kept_log_prob(x, inputs, keep, lead)
        logits = self.step_logits(inputs.expand(*lead, x.shape[-1]))
        if logits.shape[:-1] != (*lead, x.shape[-1]):
            raise InputError(f"step_logits gave logits of shape {tuple(logits.shape)} for inputs of shape "
                             f"{(*lead, x.shape[-1])}; it must return (*inputs.shape, vocabulary)")
        logp = torch.log_softmax(logits, dim=-1)
        # Pads may be any id (even outside the vocabulary): gather at a safe index, then mask.
        target = x.masked_fill(~keep, 0).expand(*lead, x.shape[-1])
        picked = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        return picked.masked_fill(~keep.expand_as(picked), 0.0).sum(-1)

    def _kept_log_prob(self, x: torch.Tensor, inputs: torch.Tensor, keep: torch.Tensor, lead: torch.Size) -> torch.Tensor:
        """log_prob through `kept_logits`: the same sum, with logits computed at kept positions only."""
        shape = (*lead, x.shape[-1])
        keep = keep.expand(shape)
        logp = torch.log_softmax(self.kept_logits(inputs.expand(shape), keep), dim=-1)  # (K, V)
        picked = logp.gather(-1, x.expand(shape)[keep].unsqueeze(-1)).squeeze(-1)  # (K,)
        return torch.zeros(shape, dtype=picked.dtype, device=picked.device).masked_scatter(keep, picked).sum(-1)

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
        out = torch.full((*lead, self.max_length), self.pad, dtype=torch.long, device=self.device)
        done = torch.zeros(lead, dtype=torch.bool, device=self.device)
        token = torch.full(lead, self.bos, dtype=torch.long, device=self.device)  # the input at position 0
        with torch.no_grad():
            next_logits = self._next_logits()
            for t in range(self.max_length):
                token = self._choose(next_logits(t, token).float(), generator, temperature, top_k)
                token.masked_fill_(done, self.pad)
                out[..., t] = token
                done |= token == self.eos
                if bool(done.all()):  # one host sync a step buys stopping at the last <eos>
                    break
        return out, count_tokens(out, self.pad)

    def _next_logits(self) -> Callable[[int, torch.Tensor], torch.Tensor]:
        """f(t, input at position t (*lead,)) -> the logits (*lead, V) of the token after it, called
        for t = 0, 1, ... in turn: the incremental decoder's step, or step_logits on the prefix
        (kept in one preallocated buffer, not concatenated anew each step)."""
        if self.incremental is not None:
            inc, state = self.incremental, self.incremental.start()

            def step(t: int, token: torch.Tensor) -> torch.Tensor:
                nonlocal state
                logits, state = inc.step(state, token)
                return logits

            return step
        prefix = torch.empty((*self.lead_shape, self.max_length), dtype=torch.long, device=self.device)

        def recompute(t: int, token: torch.Tensor) -> torch.Tensor:
            prefix[..., t] = token
            return self.step_logits(prefix[..., : t + 1])[..., -1, :]

        return recompute

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

    @property
    def mean(self) -> torch.Tensor:
        """The greedy decoding, as `mode`. A sequence of ids has no mean; the tools that show the
        model's example for a code (`VAE.sample`, `reconstruct`, `decode_sample`, which take the
        likelihood's mean for images and vectors) show the greedy decoding of text."""
        return self.mode


# ----------------------------------------------------------------------------- the likelihood


class BoundDecoder(Protocol):
    """What a sequence decoder returns (`vaekit.nn.sequence.BoundDecoder`): step_logits with its
    code bound, the lead shape of the code, its word-dropout rate now (0 in eval) and device; when
    it also has `start` and `step` (`Incremental`), generation steps it one position at a time."""

    lead_shape: torch.Size
    word_dropout: float
    device: torch.device

    def step_logits(self, inputs: torch.Tensor) -> torch.Tensor: ...


class _Allowed:
    """An incremental decoder whose logits pass through `allowed`, as step_logits' do."""

    def __init__(self, decoder: Incremental, allowed: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.decoder, self.allowed = decoder, allowed

    def start(self) -> Any:
        return self.decoder.start()

    def step(self, state: Any, tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        logits, state = self.decoder.step(state, tokens)
        return self.allowed(logits), state


SPECIAL_TOKENS = EOS_ID + 1  # <pad>, <unk>, <bos>, <eos>


@dataclass(frozen=True)
class TokensConfig(LikelihoodConfig):
    """A categorical over the vocabulary at each position of a token sequence."""

    name: str = "tokens"
    vocab_size: int = 0  # ids in the vocabulary; 0: filled from the text data set
    max_length: int = 0  # most tokens (counting <eos>) a generated sequence has; 0: the data's length L

    ranges: ClassVar[dict[str, Range]] = {"vocab_size": NON_NEGATIVE, "max_length": NON_NEGATIVE}


@LIKELIHOODS.register("tokens", config=TokensConfig)
class Tokens(Likelihood):
    """p(x|z) = prod_t Categorical(x_t; softmax(decoder(z, <bos> x_<t))) over the positions up
    to `<eos>`: the decoder's `BoundDecoder` wrapped in a `TokenSequence`, with the decoder's word
    dropout applied to the teacher-forced inputs (never `<bos>` or `<pad>`)."""

    tokens = True  # models token ids: pair it with a sequence decoder (vaekit.nn.sequence)

    def __init__(self, config: TokensConfig, data_shape: tuple[int, ...]) -> None:
        super().__init__(data_shape)
        if len(self.data_shape) != 1:
            raise ConfigError(f"model.likelihood.name=tokens models sequences of token ids, shape (L,), but the "
                              f"examples have shape {list(self.data_shape)}; use it with data.name=text")
        if config.vocab_size == 0:
            raise ConfigError("model.likelihood.vocab_size is 0, which the text data set fills in; train on "
                              "data.name=text, or set it to the size of the vocabulary")
        if config.vocab_size <= SPECIAL_TOKENS:
            raise ConfigError(f"model.likelihood.vocab_size is {config.vocab_size}, but the {SPECIAL_TOKENS} special "
                              f"tokens (<pad>, <unk>, <bos>, <eos>) take that many ids; use the vocabulary's size")
        self.vocab_size = config.vocab_size
        self.max_length = config.max_length or self.data_shape[0]
        never = torch.zeros(self.vocab_size, dtype=torch.bool)
        never[[PAD_ID, BOS_ID]] = True
        self.register_buffer("never", never, persistent=False)  # rebuilt from the config

    def param_shape(self) -> tuple[int, ...]:
        """The logits of one position: what a sequence decoder's output layer emits."""
        return (self.vocab_size,)

    def forward(self, params: BoundDecoder) -> TokenSequence:
        if isinstance(params, torch.Tensor):
            raise ConfigError("model.likelihood.name=tokens reads an autoregressive decoder, but the decoder gave a "
                              "tensor; use a sequence decoder (model.decoder.name=rnn or transformer)")
        rate = params.word_dropout
        corrupt = None
        if rate > 0:
            def corrupt(inputs: torch.Tensor) -> torch.Tensor:
                return word_dropout(inputs, rate, UNK_ID, (BOS_ID, PAD_ID))

        never = self.never.to(params.device)

        def allowed(logits: torch.Tensor) -> torch.Tensor:
            # The softmax in float32 under bf16 autocast. <bos> and <pad> are never a target (a
            # sequence starts after <bos>, and pads are not counted): no probability goes to
            # them, and generation never emits them.
            return logits.float().masked_fill(never, float("-inf"))

        def step_logits(inputs: torch.Tensor) -> torch.Tensor:
            return allowed(params.step_logits(inputs))

        kept_logits = None
        if hasattr(params, "kept_logits"):
            def kept_logits(inputs: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
                return allowed(params.kept_logits(inputs, keep))

        incremental = _Allowed(params, allowed) if isinstance(params, Incremental) else None
        return TokenSequence(step_logits, bos=BOS_ID, eos=EOS_ID, pad=PAD_ID, max_length=self.max_length,
                             lead_shape=params.lead_shape, corrupt=corrupt, device=params.device,
                             incremental=incremental, kept_logits=kept_logits)

    def validate(self, x: torch.Tensor, where: str, mask: torch.Tensor | None = None) -> None:
        if x.dtype.is_floating_point or x.dtype == torch.bool:
            raise DataError(f"{where} holds {x.dtype} values, but the tokens likelihood models token ids (an integer "
                            f"dtype); use data.name=text, or another likelihood for numbers")
        if mask is not None:
            x = x[mask.to(torch.bool).expand(x.shape)]
        if x.numel() == 0:
            return
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi >= self.vocab_size:
            raise DataError(f"{where} holds token ids in [{lo}, {hi}], outside the vocabulary of "
                            f"{self.vocab_size} ids (model.likelihood.vocab_size); encode the text with the "
                            f"run's own vocabulary, or train a new run on this data")
        if bool((x == BOS_ID).any()):
            raise DataError(f"{where} holds the <bos> id {BOS_ID}, which the decoder adds itself and never "
                            f"predicts; a sequence is its tokens, <eos>, then <pad>: encode the text with "
                            f"vaekit's text codec")
