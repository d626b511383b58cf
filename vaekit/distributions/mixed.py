"""A mixed likelihood for tables: one term per column, each of its own kind, summed over the
observed columns only, so that a model trains on incomplete rows.

- MIWAE, Mattei & Frellsen 2019, https://arxiv.org/abs/1812.02633 (the masked log-probability).
- HI-VAE, Nazabal et al. 2020, https://arxiv.org/abs/1807.03653 (a likelihood per column type).
- TVAE, Xu et al. 2019, https://arxiv.org/abs/1907.00503 (mode-specific normalisation).

A row in model space is a float vector (D,) made of contiguous column blocks, described by a
layout of `Block`s:

| kind          | entries of x                 | decoder parameters, in this order             |
|---------------|------------------------------|-----------------------------------------------|
| `gaussian`    | 1: the standardised value    | mean [+ log-sigma]                            |
| `mode`        | 1 + M: alpha, one-hot mode   | M mode logits, M alpha means [+ M log-sigmas] |
| `categorical` | K: one-hot                   | K logits                                      |
| `bernoulli`   | 1: 0 or 1                    | 1 logit                                       |
| `poisson`     | 1: a count                   | 1 log-rate                                    |

The bracketed log-sigmas are emitted by the decoder with `variance="decoder"`; with "learned"
they are one parameter per continuous column (per mode of a mode block) shared by all rows. A
mode block scores log p(m) + log N(alpha | mu_m, sigma_m) for the mode m its one-hot selects:
TVAE's alpha is the value normalised under that mode. (TVAE itself decodes one tanh-squashed
alpha mean and one sigma per column; a mean and sigma per mode is the exact mixture density.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Literal, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.distributions.base import Distribution
from vaekit.distributions.likelihoods import Likelihood
from vaekit.distributions.mixed_batched import Plan, build_plan, cached_plan, column_log_probs, observed_columns
from vaekit.distributions.mixed_layout import KINDS, Block, check_layout, n_params, n_sigmas
from vaekit.errors import ConfigError, DataError, InputError
from vaekit.registry import LIKELIHOODS, suggest
from vaekit.sections import POSITIVE, LikelihoodConfig, Range

# Block, KINDS, check_layout, n_params and n_sigmas live in mixed_layout; importable from here too.
__all__ = ["KINDS", "Block", "MixedConfig", "MixedDist", "MixedLikelihood", "check_layout", "n_params", "n_sigmas"]


class _Params(NamedTuple):
    """One block's parameters, each (*batch, n): what the block's kind reads of them."""

    logits: torch.Tensor | None = None  # categories, modes, or the Bernoulli logit
    mu: torch.Tensor | None = None  # means of a continuous value (one per mode of a mode block)
    log_sigma: torch.Tensor | None = None  # floored
    log_rate: torch.Tensor | None = None  # Poisson


def _gumbel_argmax(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # argmax(logits + Gumbel noise) draws a category with probability softmax(logits), for any
    # batch shape and with a generator, which torch.multinomial (2-D only) does not give.
    u = torch.rand(logits.shape, dtype=logits.dtype, device=logits.device, generator=generator)
    tiny = torch.finfo(logits.dtype).tiny
    return (logits - torch.log(-torch.log(u.clamp(tiny, 1.0 - 1e-7)))).argmax(-1)


def _one_hot(index: torch.Tensor, k: int, dtype: torch.dtype) -> torch.Tensor:
    return F.one_hot(index, k).to(dtype)


def _sample(b: Block, p: _Params, generator: torch.Generator | None) -> torch.Tensor:
    """A draw of one block, (*batch, width)."""
    if b.kind in ("gaussian", "mode"):
        mu, sigma = p.mu, torch.exp(p.log_sigma)
        if b.kind == "mode":
            m = _gumbel_argmax(p.logits, generator)[..., None]  # (*batch, 1)
            mu, sigma = mu.gather(-1, m), sigma.gather(-1, m)
        eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device, generator=generator)
        value = mu + sigma * eps
        return value if b.kind == "gaussian" else torch.cat([value, _one_hot(m[..., 0], b.modes, mu.dtype)], -1)
    if b.kind == "categorical":
        return _one_hot(_gumbel_argmax(p.logits, generator), b.width, p.logits.dtype)
    if b.kind == "bernoulli":
        return torch.bernoulli(torch.sigmoid(p.logits), generator=generator)
    return torch.poisson(torch.exp(p.log_rate), generator=generator)


def _mode(b: Block, p: _Params) -> torch.Tensor:
    """The most probable category or mode (then that mode's alpha mean), the means otherwise."""
    if b.kind == "mode":
        m = p.logits.argmax(-1, keepdim=True)
        return torch.cat([p.mu.gather(-1, m), _one_hot(m[..., 0], b.modes, p.mu.dtype)], -1)
    if b.kind == "categorical":
        return _one_hot(p.logits.argmax(-1), b.width, p.logits.dtype)
    if b.kind == "bernoulli":
        return (p.logits > 0).to(p.logits.dtype)
    if b.kind == "poisson":
        return torch.floor(torch.exp(p.log_rate))  # a Poisson's mode is floor(rate)
    return p.mu


def _mean(b: Block, p: _Params) -> torch.Tensor:
    """The expected block: probabilities in place of one-hots, E[alpha] = sum_m p(m) mu_m."""
    if b.kind == "mode":
        probs = torch.softmax(p.logits, -1)
        return torch.cat([(probs * p.mu).sum(-1, keepdim=True), probs], -1)
    if b.kind == "categorical":
        return torch.softmax(p.logits, -1)
    if b.kind == "bernoulli":
        return torch.sigmoid(p.logits)
    if b.kind == "poisson":
        return torch.exp(p.log_rate)
    return p.mu


class MixedDist(Distribution):
    """p(x|z) for table rows: one independent term per column block.

    `params` (*batch, P) are the decoder's raw outputs, block after block in layout order (see the
    module's table). `log_sigma` (n_sigmas,) are learned log-sigmas shared by all rows, in layout
    order; None when the decoder emits them inside `params`. Every log-sigma is clamped to at
    least log(min_sigma), so no density can exceed 1 / (sqrt(2 pi) min_sigma) and a collapsing
    (even -inf) sigma cannot make the log-probability non-finite. `plan`: the layout's
    `mixed_batched.Plan` on params' device and dtype (a likelihood passes its own), else cached."""

    def __init__(self, blocks: Sequence[Block], params: torch.Tensor, log_sigma: torch.Tensor | None = None,
                 min_sigma: float = 1e-2, plan: Plan | None = None) -> None:
        self.blocks = tuple(blocks)
        self.features = self.blocks[-1].end
        self.dtype = params.dtype
        self.floor = math.log(min_sigma)
        # log_prob runs batched by column kind (`mixed_batched`), after this layout's plan
        if plan is None:
            plan = cached_plan(self.blocks, log_sigma is None, params.device, params.dtype)
        self.plan = plan
        if params.shape[-1] != self.plan.params:
            raise InputError(f"the mixed likelihood needs {plan.params} decoder outputs per row, got {params.shape[-1]}; "
                             "size the decoder's output with MixedLikelihood.param_shape()")
        self.params, self.log_sigma = params, log_sigma

    @cached_property
    def parts(self) -> list[_Params]:
        """Each block's parameters (floored log-sigmas), in layout order: what sample, mode and
        mean read, column by column (they are not in a training step)."""
        parts, at, sig = [], 0, 0
        decoder_sigma = self.log_sigma is None
        for b in self.blocks:
            raw = self.params[..., at:at + n_params(b, decoder_sigma)]  # (*batch, n)
            at += raw.shape[-1]
            k = n_sigmas(b)
            if decoder_sigma:
                raw, ls = raw[..., :raw.shape[-1] - k], raw[..., raw.shape[-1] - k:]
            else:
                ls, sig = self.log_sigma[sig:sig + k], sig + k
            parts.append(self._split(b, raw, ls.clamp(min=self.floor) if k else None))
        return parts

    @staticmethod
    def _split(b: Block, raw: torch.Tensor, log_sigma: torch.Tensor | None) -> _Params:
        if b.kind == "gaussian":
            return _Params(mu=raw, log_sigma=log_sigma.expand(raw.shape))
        if b.kind == "mode":
            mu = raw[..., b.modes:]
            return _Params(logits=raw[..., :b.modes], mu=mu, log_sigma=log_sigma.expand(mu.shape))
        if b.kind == "poisson":
            return _Params(log_rate=raw)
        return _Params(logits=raw)

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """sum over observed columns of log p(x_column), (*batch,): x (B, D) broadcasts against
        parameters (S, B, P). A column is observed when all of its block's mask entries are 1;
        missing entries may hold anything (NaN too): they are zeroed before use."""
        if x.shape[-1] != self.features:
            raise InputError(f"a row of this table has {self.features} entries, got x with {x.shape[-1]}")
        x = x.to(self.dtype)
        if mask is not None:
            observed_entry = mask.to(torch.bool).expand(x.shape)
            x = torch.where(observed_entry, x, torch.zeros((), dtype=x.dtype, device=x.device))
        terms = column_log_probs(self.plan, self.params, self.log_sigma, self.floor, x)  # (columns, *batch)
        if mask is None:
            return terms.sum(0)  # (*batch,)
        observed = observed_columns(self.plan, observed_entry, terms.dim() - 1)
        return torch.where(observed, terms, torch.zeros((), dtype=terms.dtype, device=terms.device)).sum(0)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A row drawn from p(x|z), (*batch, D): exact one-hots, 0/1 Bernoulli, integer counts."""
        return torch.cat([_sample(b, p, generator) for b, p in zip(self.blocks, self.parts)], -1).detach()

    @property
    def mode(self) -> torch.Tensor:
        return torch.cat([_mode(b, p) for b, p in zip(self.blocks, self.parts)], -1)

    @property
    def mean(self) -> torch.Tensor:
        return torch.cat([_mean(b, p) for b, p in zip(self.blocks, self.parts)], -1)

    def block(self, name: str) -> _Params:
        """The parameters of the block called `name` (floored log-sigmas), for tests and reports."""
        for b, p in zip(self.blocks, self.parts):
            if b.name == name:
                return p
        raise InputError(f"the layout has no block named '{name}'{suggest(name, [b.name for b in self.blocks])}")


@dataclass(frozen=True)
class MixedConfig(LikelihoodConfig):
    """`variance`: "learned", one sigma per continuous column (per mode of a mode block) shared by
    all rows, starting at `sigma`; or "decoder", emitted by the decoder per row. `min_sigma` floors
    both: a standardised column whose values repeat (ages in whole years) would otherwise let
    sigma collapse onto them and the likelihood grow without bound (TVAE clamps at 0.01 too)."""

    name: str = "mixed"
    variance: Literal["learned", "decoder"] = "learned"
    sigma: float = 1.0
    min_sigma: float = 1e-2
    # The table's columns in model space. A tabular data set fills it in from its codec when
    # training starts (and config.yaml keeps it, so a run rebuilds without its data); not set by hand.
    layout: tuple[Block, ...] = ()

    ranges: ClassVar[dict[str, Range]] = {"sigma": POSITIVE, "min_sigma": POSITIVE}  # both are logged

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.variance not in ("learned", "decoder"):
            raise ConfigError(f"model.likelihood.variance must be 'learned' or 'decoder', got {self.variance!r}")
        if self.variance == "learned" and self.sigma < self.min_sigma:  # the floor would hide it and stop its gradient
            raise ConfigError(f"model.likelihood.sigma ({self.sigma:g}) is below model.likelihood.min_sigma "
                              f"({self.min_sigma:g}), the floor every sigma is clamped to; raise sigma or lower min_sigma")


@LIKELIHOODS.register("mixed", config=MixedConfig)
class MixedLikelihood(Likelihood):
    """p(x|z) = prod over columns of p(x_column | z), one kind per column (see the module's table).
    The columns are `layout` when given, else `config.layout`."""

    def __init__(self, config: MixedConfig, data_shape: tuple[int, ...],
                 layout: Sequence[Block | dict[str, Any]] | None = None) -> None:
        super().__init__(data_shape)
        if len(self.data_shape) != 1:
            raise ConfigError(f"the mixed likelihood models table rows of shape (D,), got data of shape {self.data_shape}; "
                              "use it with a table data set (data.name=table)")
        error = ConfigError if layout is None else InputError  # the config's layout, or one passed in
        layout = config.layout if layout is None else layout
        if not layout:
            raise ConfigError("model.likelihood.layout is empty: the mixed likelihood models the columns of a table, "
                              "which a table data set (data.name=table) fills in; train on one")
        self.blocks = check_layout(layout, self.data_shape[0], error=error)
        self.min_sigma = config.min_sigma
        sigmas = sum(n_sigmas(b) for b in self.blocks)
        # no parameter when no column is continuous: the decoder then emits the same numbers either way
        learned = config.variance == "learned" and sigmas > 0
        self.log_sigma = nn.Parameter(torch.full((sigmas,), math.log(config.sigma))) if learned else None
        self._plans: dict[tuple[torch.device, torch.dtype], Plan] = {}  # the batched log_prob's indices

    def param_shape(self) -> tuple[int, ...]:
        """(P,): how many numbers the decoder emits per row."""
        return (sum(n_params(b, self.log_sigma is None) for b in self.blocks),)

    def forward(self, params: torch.Tensor) -> MixedDist:
        params = params.float()
        key = (params.device, params.dtype)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = build_plan(self.blocks, self.log_sigma is None, *key)
        return MixedDist(self.blocks, params, self.log_sigma, self.min_sigma, plan)

    def validate(self, x: torch.Tensor, where: str, mask: torch.Tensor | None = None) -> None:
        """Raise DataError unless every observed block of x (N, D) holds a value of its kind: finite
        continuous values, exact one-hots, 0/1, non-negative whole counts."""
        if x.ndim != 2 or x.shape[1] != self.data_shape[0]:
            raise DataError(f"{where} has shape {tuple(x.shape)}, but the mixed likelihood needs rows of "
                            f"{self.data_shape[0]} entries (N, {self.data_shape[0]}); encode the table with its layout")
        observed = torch.ones_like(x, dtype=torch.bool) if mask is None else mask.to(torch.bool).expand(x.shape)
        for b in self.blocks:
            rows = observed[:, b.start:b.end].all(-1)
            v = x[rows, b.start:b.end].double()
            if not torch.isfinite(v).all():
                raise DataError(f"{where} column '{b.name}' has a non-finite value in an observed row; "
                                "mark missing entries in the mask or drop those rows")
            problem = _value_problem(b, v)
            if problem:
                raise DataError(f"{where} column '{b.name}' ({b.kind}) {problem}; re-encode the table with its layout")


def _value_problem(b: Block, v: torch.Tensor) -> str:
    """What is wrong with the observed values v (n, width) of block b, or ''."""
    onehot = v[:, 1:] if b.kind == "mode" else v
    if b.kind in ("mode", "categorical") and v.numel():
        if not ((onehot == 0) | (onehot == 1)).all() or not (onehot.sum(-1) == 1).all():
            return "is not one-hot (exactly one 1 and 0 elsewhere in every row)"
    if b.kind == "bernoulli" and not ((v == 0) | (v == 1)).all():
        return "has values other than 0 and 1"
    if b.kind == "poisson" and (v.numel() and (v.min() < 0 or not (v == v.round()).all())):
        return "has values that are not non-negative whole counts"
    return ""
