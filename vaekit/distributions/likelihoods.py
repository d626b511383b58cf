"""Likelihoods p(x|z) as modules chosen by config (`model.likelihood.name`).

The decoder emits `params_per_dim` numbers per data dimension, stacked along the first event
dimension (channels for images, features for vectors). The likelihood turns them into a
distribution object whose `log_prob(x)` sums over every data dimension and returns the batch
shape, so a model never sums or averages a likelihood itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.sections import POSITIVE, LikelihoodConfig, Range
from vaekit.distributions.base import Distribution, masked_sum
from vaekit.distributions.gaussian import LOG_2PI
from vaekit.errors import ConfigError, DataError
from vaekit.registry import LIKELIHOODS


class Likelihood(nn.Module):
    """Base class: `forward(params)` gives a `Distribution` over one example's data."""

    params_per_dim = 1
    # Whether it models any real value: data.standardize=auto standardises vector data for such a
    # likelihood (a Gaussian); one with a bounded support (Bernoulli: [0, 1]) keeps the data as they are.
    real_valued = False
    tokens = False  # models token ids with a sequence decoder (vaekit.distributions.tokens)

    def __init__(self, data_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.event_dims = len(self.data_shape)

    def param_shape(self) -> tuple[int, ...]:
        """What the decoder must output per example."""
        first, *rest = self.data_shape
        return (first * self.params_per_dim, *rest)

    def output_numbers(self) -> int:
        """Numbers the decoder emits per example: what one importance sample of one example
        holds in memory (`vaekit.evaluate.nll.auto_chunk`). That is `param_shape`, except for a
        sequence decoder, whose `param_shape` is one position's logits: times the positions."""
        numbers = math.prod(self.param_shape())
        return numbers * self.data_shape[0] if self.tokens else numbers

    def validate(self, x: torch.Tensor, where: str, mask: torch.Tensor | None = None) -> None:
        """Raise DataError if the observed entries of x (all of them without a `mask`) cannot be
        modelled by this likelihood."""


class BernoulliDist(Distribution):
    """Independent Bernoulli over every data dimension, parameterised by logits."""

    def __init__(self, logits: torch.Tensor, event_dims: int) -> None:
        self.logits = logits
        self.event_dims = event_dims

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # sum_d [x_d l_d - softplus(l_d)]: the same value as -BCE-with-logits, in two passes over
        # the logits instead of about six, which halves the cost of the importance-sampled NLL.
        # x (*batch, D) broadcasts over leading sample dimensions of the logits (S, *batch, D).
        if mask is not None:
            return masked_sum(x.to(self.logits.dtype) * self.logits - F.softplus(self.logits), mask, self.event_dims)
        logits = self.logits.flatten(-self.event_dims)
        x = x.flatten(-self.event_dims).to(logits.dtype)
        return torch.einsum("...d,...d->...", logits, x) - F.softplus(logits).sum(-1)

    @property
    def mean(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    @property
    def mode(self) -> torch.Tensor:
        return (self.logits > 0).to(self.logits.dtype)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.bernoulli(self.mean, generator=generator)


@dataclass(frozen=True)
class BernoulliConfig(LikelihoodConfig):
    name: str = "bernoulli"


@LIKELIHOODS.register("bernoulli", config=BernoulliConfig)
class Bernoulli(Likelihood):
    """p(x|z) = prod_d Bernoulli(x_d; sigmoid(logit_d)), for data in [0, 1]."""

    def __init__(self, config: BernoulliConfig, data_shape: tuple[int, ...]) -> None:
        super().__init__(data_shape)

    def forward(self, params: torch.Tensor) -> BernoulliDist:
        return BernoulliDist(params.float(), self.event_dims)

    def validate(self, x: torch.Tensor, where: str, mask: torch.Tensor | None = None) -> None:
        if mask is not None:
            x = x[mask.to(torch.bool).expand(x.shape)]
        if x.numel() == 0:
            return
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(
                f"{where} has values in [{lo:g}, {hi:g}], but the Bernoulli likelihood needs values in [0, 1]; "
                "use model.likelihood.name=gaussian or rescale the data to [0, 1]"
            )


class GaussianDist(Distribution):
    """Independent Gaussian over every data dimension."""

    def __init__(self, mu: torch.Tensor, log_sigma: torch.Tensor, event_dims: int) -> None:
        self.mu = mu
        self.log_sigma = log_sigma
        self.event_dims = event_dims

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        z = (x - self.mu) * torch.exp(-self.log_sigma)
        return masked_sum((-0.5 * (z**2 + LOG_2PI) - self.log_sigma).expand(self.mu.shape), mask, self.event_dims)

    @property
    def mean(self) -> torch.Tensor:
        return self.mu

    @property
    def mode(self) -> torch.Tensor:
        return self.mu

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(self.mu.shape, dtype=self.mu.dtype, device=self.mu.device, generator=generator)
        return self.mu + torch.exp(self.log_sigma) * eps


@dataclass(frozen=True)
class GaussianConfig(LikelihoodConfig):
    """`variance`: fixed at `sigma`; learned, one sigma per data dimension shared by all examples;
    or decoder, a sigma per dimension and example emitted by the decoder."""

    name: str = "gaussian"
    variance: Literal["fixed", "learned", "decoder"] = "learned"
    sigma: float = 1.0  # the fixed sigma, and the starting value of a learned one
    min_sigma: float = 1e-3  # floor that keeps a learned sigma from collapsing to zero

    ranges: ClassVar[dict[str, Range]] = {"sigma": POSITIVE, "min_sigma": POSITIVE}  # both are logged

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.variance != "decoder" and self.sigma < self.min_sigma:  # the floor would replace it, and stop its gradient
            raise ConfigError(f"model.likelihood.sigma ({self.sigma:g}) is below model.likelihood.min_sigma "
                              f"({self.min_sigma:g}), the floor every sigma is clamped to; raise sigma or lower min_sigma")


@LIKELIHOODS.register("gaussian", config=GaussianConfig)
class Gaussian(Likelihood):
    """p(x|z) = prod_d N(x_d; mu_d, sigma_d^2)."""

    real_valued = True

    def __init__(self, config: GaussianConfig, data_shape: tuple[int, ...]) -> None:
        super().__init__(data_shape)
        self.variance = config.variance
        self.params_per_dim = 2 if config.variance == "decoder" else 1
        self.log_min_sigma = math.log(config.min_sigma)
        log_sigma = torch.full(self.data_shape, math.log(config.sigma))
        if config.variance == "learned":
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    def forward(self, params: torch.Tensor) -> GaussianDist:
        params = params.float()
        if self.variance == "decoder":
            mu, log_sigma = params.chunk(2, dim=-self.event_dims)
        else:
            mu, log_sigma = params, self.log_sigma
        return GaussianDist(mu, log_sigma.clamp(min=self.log_min_sigma), self.event_dims)
