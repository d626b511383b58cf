"""Priors p(z) as modules chosen by config (`model.prior.name`).

A prior gives `log_prob(z)` summed over latent dimensions, `sample(n)`, and the KL term of the
ELBO for a Gaussian posterior: analytic where it exists (`kl_per_dim`), otherwise the single-sample
Monte Carlo estimate log q(z) - log p(z) at the posterior draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaekit.sections import PriorConfig
from vaekit.distributions.gaussian import LOG_2PI, DiagonalGaussian
from vaekit.registry import PRIORS


class Prior(nn.Module):
    """Base class of priors over a `latent_dim`-dimensional z."""

    text = True  # usable with sequence networks on token ids (a prior in data space is not)

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def attach(self, model: nn.Module) -> None:
        """Called once the model's networks exist; priors built from the encoder (VampPrior) keep it."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def kl_per_dim(self, q: DiagonalGaussian) -> torch.Tensor | None:
        """Analytic KL per latent dimension (B, D), or None where there is no closed form."""
        return None

    def kl(self, q: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor:
        """KL(q || p) per example (B,): analytic if possible, else estimated at the draw z."""
        per_dim = self.kl_per_dim(q)
        if per_dim is not None:
            return per_dim.sum(-1)
        return q.log_prob(z) - self.log_prob(z)


@dataclass(frozen=True)
class StandardNormalConfig(PriorConfig):
    name: str = "standard_normal"


@PRIORS.register("standard_normal", config=StandardNormalConfig)
class StandardNormal(Prior):
    """p(z) = N(0, I)."""

    def __init__(self, config: StandardNormalConfig, latent_dim: int, data_shape: tuple[int, ...] = ()) -> None:
        super().__init__(latent_dim)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # carries device and dtype

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * (LOG_2PI + z**2).sum(-1)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws from N(0, temperature^2 I)."""
        eps = torch.randn(n, self.latent_dim, device=self._anchor.device, generator=generator)
        return temperature * eps

    def kl_per_dim(self, q: DiagonalGaussian) -> torch.Tensor:
        return q.kl_per_dim(None)
