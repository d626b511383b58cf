"""The two parts of a model that `vaekit export` writes, each a small `nn.Module` that takes and
returns plain tensors (what an exporter traces), with the names, shapes and meaning of each.

    encoder   x (and y)            -> the posterior's parameters: mu, logvar (a Gaussian posterior)
                                      or z (a point mass: VQ-VAE's z_e, WAE's code)
    decoder   z (and y, and inputs) -> the tensors the likelihood p(x|z) holds: Bernoulli logits;
                                      a Gaussian's mean and log_sigma; a table's raw params (and
                                      learned log_sigma); a text decoder's next-token logits

z is a code in the space `encode` returns (`Family.decode_code`): for a hierarchy the top layer,
the layers below following their conditional priors' means; for a VQ-VAE z_e, snapped to the
nearest codebook entries inside the graph. y, for a conditional family, is the class index
(int64): the part one-hot encodes it itself. A text decoder is autoregressive: generation is a
loop over positions, which no graph holds, so the decoder part is the teacher-forced pass
(z, inputs) -> logits of every position at once; a caller runs the loop, feeding back its choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from vaekit.contract import BOS_ID, EOS_ID, PAD_ID, Batch
from vaekit.distributions import PointMass
from vaekit.distributions.likelihoods import BernoulliDist, GaussianDist
from vaekit.distributions.mixed import MixedDist
from vaekit.distributions.tokens import TokenSequence
from vaekit.errors import ConfigError

BATCH, LENGTH = "batch", "length"  # the names of the axes an exported file takes at any size


@dataclass(frozen=True)
class Spec:
    """One input or output: its name, shape (`BATCH`/`LENGTH` for the free axes), dtype and meaning."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str
    about: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "description": self.about}


def _onehot(y: torch.Tensor, classes: int) -> torch.Tensor:
    """Class indices (B,) -> one-hot rows (B, K) float32, by comparison (what every exporter traces)."""
    return (y.unsqueeze(-1) == torch.arange(classes, device=y.device)).to(torch.float32)


class Part(nn.Module):
    """A part of `model` as a module of plain tensors: forward(*inputs) -> tuple of outputs, in
    the order of `outputs`. `example(n, length, generator)` makes valid inputs of n rows. The
    inputs are positional (`*args`): what each part takes depends on the family."""

    name = ""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.family = model.config.name
        self.text = bool(model.likelihood.tokens)
        self.classes = model.num_classes if model.traits.conditional else None
        self.inputs: list[Spec] = []
        self.outputs: list[tuple[str, str]] = []  # (name, meaning), in the order forward returns them

    def _y(self, y: torch.Tensor | None) -> torch.Tensor | None:
        return None if self.classes is None else _onehot(y, self.classes)

    def _label_spec(self) -> list[Spec]:
        if self.classes is None:
            return []
        return [Spec("y", (BATCH,), "int64",
                     f"the class of each row, 0 to {self.classes - 1} (one-hot encoded inside)")]

    def example(self, n: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def _labels(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return () if self.classes is None else (torch.randint(self.classes, (n,), generator=generator),)

    def _ids(self, n: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """Token ids (n, length) in the data's layout: words, `<eos>`, then `<pad>`."""
        vocab = self.model.likelihood.vocab_size
        ids = torch.randint(EOS_ID + 1, vocab, (n, length), generator=generator)
        ends = torch.randint(length, (n, 1), generator=generator)  # where each row's <eos> goes
        at = torch.arange(length).expand(n, -1)
        return ids.masked_fill(at == ends, EOS_ID).masked_fill(at > ends, PAD_ID)


class EncoderPart(Part):
    """x (and y) -> the posterior's parameters."""

    name = "encoder"

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        if not model.traits.latent:
            raise ConfigError(f"model '{self.family}' has no latent code, so it has no encoder to export; "
                              f"use --part decoder")
        self.gaussian = model.traits.gaussian_posterior
        shape = tuple(model.data_shape)
        if self.text:
            x = Spec("x", (BATCH, LENGTH), "int64", "token ids of each sentence: its words, <eos>, then <pad> (id "
                     f"{PAD_ID}) to the row's end; the vocabulary is the run's codec")
        else:
            x = Spec("x", (BATCH, *shape), "float32", "examples as the model sees them (the run's codec applied: "
                     "pixels in [0, 1], standardised or table-encoded rows)")
        self.inputs = [x, *self._label_spec()]
        d = model.code_size
        if self.gaussian:
            self.outputs = [("mu", f"mean of the Gaussian posterior q(z|x), {d} numbers"),
                            ("logvar", "log-variance of q(z|x)")]
        else:
            self.outputs = [("z", f"the code of {d} numbers (a point-mass posterior)")]

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x, y = args[0], (args[1] if len(args) > 1 else None)
        q = self.model.encode(Batch(x, self._y(y)))
        if isinstance(q, PointMass):
            return (q.mean,)
        return q.mu, q.logvar

    def example(self, n: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        if self.text:
            x = self._ids(n, length, generator)
        else:
            x = torch.rand((n, *self.model.data_shape), generator=generator)
        return (x, *self._labels(n, generator))


# What each likelihood's distribution holds, as named tensors: (name, meaning, read(px)); a read that
# gives None (a table's sigmas emitted by the decoder, inside params) is left out.
Reading = tuple[str, str, Callable]
_READINGS: dict[type, list[Reading]] = {
    BernoulliDist: [("logits", "Bernoulli logits; sigmoid(logits) is the mean, what vaekit shows as the example",
                     lambda px: px.logits)],
    GaussianDist: [("mean", "mean of the Gaussian p(x|z) (in the model's units: undo the codec's standardisation)",
                    lambda px: px.mu),
                   ("log_sigma", "log standard deviation of p(x|z), floored at log(min_sigma)",
                    lambda px: px.log_sigma.expand(px.mu.shape))],
    MixedDist: [("params", "the mixed likelihood's raw parameters: column blocks in the order of the layout",
                 lambda px: px.params),
                ("log_sigma", "learned log standard deviations of the continuous columns (per mode), floored",
                 lambda px: None if px.log_sigma is None
                 else px.log_sigma.clamp(min=px.floor).expand(*px.params.shape[:-1], -1))],
}


class DecoderPart(Part):
    """z (and y; and the teacher-forced inputs of a text decoder) -> the likelihood's tensors."""

    name = "decoder"

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.latent = model.traits.latent
        inputs = []
        if self.latent:
            inputs.append(Spec("z", (BATCH, model.code_size), "float32", "a code in the space the encoder returns"))
        inputs += self._label_spec()
        if self.text:
            inputs.append(Spec("inputs", (BATCH, LENGTH), "int64", f"the decoder's inputs: <bos> (id {BOS_ID}), then "
                               "the words so far; position t's logits read inputs[:, :t+1] only"))
        self.inputs = inputs
        self.reading = self._reading(self.example(2, model.data_shape[0] if self.text else 0, torch.Generator()))
        self.outputs = [(name, about) for name, about, _ in self.reading]

    def _reading(self, probe: tuple[torch.Tensor, ...]) -> list[Reading]:
        """The tensors this model's likelihood holds, found by decoding `probe` once."""
        with torch.no_grad():
            px = self._px(*probe)
        if isinstance(px, TokenSequence):
            return [("logits", "next-token logits at each position (<pad> and <bos> are -inf: never a target)",
                     lambda px, inputs: px.step_logits(inputs))]
        found = _READINGS.get(type(px))
        if found is None:
            raise ConfigError(f"model '{self.family}' decodes to a {type(px).__name__}, which vaekit export cannot "
                              f"write out as tensors; export --part encoder only")
        return [r for r in found if r[2](px) is not None]

    def _px(self, *args: torch.Tensor):
        args = list(args)
        z = args.pop(0) if self.latent else None
        y = self._y(args.pop(0)) if self.classes is not None else None
        if self.latent:
            return self.model.decode_code(z, y)
        inputs = args[0]  # a language model: the decoder bound to an empty code per row
        return self.model.likelihood(self.model.decoder(inputs.new_zeros(inputs.shape[0], 0, dtype=torch.float32)))

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        px = self._px(*args)
        if self.text:
            return tuple(read(px, args[-1]) for _, _, read in self.reading)
        return tuple(read(px) for _, _, read in self.reading)

    def example(self, n: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        z = (torch.randn(n, self.model.code_size, generator=generator),) if self.latent else ()
        out = (*z, *self._labels(n, generator))
        if self.text:
            ids = self._ids(n, length, generator)
            out = (*out, torch.cat([torch.full((n, 1), BOS_ID), ids[:, :-1]], dim=1))  # <bos> + x without its last
        return out


def output_specs(part: Part, small: tuple[torch.Tensor, ...], large: tuple[torch.Tensor, ...],
                 sizes: tuple[tuple[int, int], tuple[int, int]]) -> list[Spec]:
    """The outputs' specs from their values at two input sizes ((rows, length) each): an axis
    that follows the rows is `BATCH`, one that follows the length `LENGTH`, the others fixed."""
    (n1, l1), (n2, l2) = sizes

    def axis(p: int, q: int) -> int | str:
        if p == q:
            return p
        return BATCH if (p, q) == (n1, n2) else LENGTH if (p, q) == (l1, l2) else p

    return [Spec(name, tuple(axis(p, q) for p, q in zip(a.shape, b.shape)), str(a.dtype).removeprefix("torch."), about)
            for (name, about), a, b in zip(part.outputs, small, large)]


def parts(model: nn.Module, which: str) -> list[Part]:
    """The parts `which` ('encoder', 'decoder' or 'both') of `model` (put in eval mode); for a
    model without a latent (a language model) 'both' is its decoder. ConfigError naming the
    family where the part asked for cannot be made."""
    model.eval()
    out: list[Part] = []
    if which == "encoder" or which == "both" and model.traits.latent:
        out.append(EncoderPart(model))
    if which in ("decoder", "both"):
        out.append(DecoderPart(model))
    return [p.eval() for p in out]
