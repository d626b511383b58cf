"""The diagonal Gaussian, used as the posterior q(z|x) and as a Gaussian likelihood's output."""

from __future__ import annotations

import math

import torch

from vaekit.distributions.base import Distribution, masked_sum

LOG_2PI = math.log(2 * math.pi)


class DiagonalGaussian(Distribution):
    """N(mu, diag(exp(logvar))) over the last dimension; the other dimensions are batch.

    `log_prob` and `kl` sum over the last dimension and return the batch shape.
    """

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor) -> None:
        self.mu = mu
        self.logvar = logvar

    @classmethod
    def from_params(cls, h: torch.Tensor, logvar_min: float = -8.0, logvar_max: float = 8.0) -> DiagonalGaussian:
        """The Gaussian whose (mu, log sigma^2) are the two halves of a network's last dimension,
        in float32, with the log-variance clamped so that no layer's variance can collapse or
        explode in the first steps."""
        mu, logvar = h.float().chunk(2, dim=-1)
        return cls(mu, logvar.clamp(logvar_min, logvar_max))

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def mean(self) -> torch.Tensor:
        return self.mu

    @property
    def mode(self) -> torch.Tensor:
        return self.mu

    def rsample(self, num_samples: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised draw z = mu + sigma * eps: shape (*batch, D), or (S, *batch, D)."""
        shape = self.mu.shape if num_samples is None else (num_samples, *self.mu.shape)
        eps = torch.randn(shape, dtype=self.mu.dtype, device=self.mu.device, generator=generator)
        return self.mu + self.std * eps

    def log_prob(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log q(z), summed over the last dimension (its masked entries left out); z may carry
        extra leading sample dimensions."""
        return masked_sum(-0.5 * (LOG_2PI + self.logvar + (z - self.mu) ** 2 * torch.exp(-self.logvar)), mask, 1)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.rsample(None, generator).detach()

    def kl_per_dim(self, other: DiagonalGaussian | None = None) -> torch.Tensor:
        """Analytic KL(self || other) per dimension; `other=None` is the standard normal."""
        if other is None:
            return 0.5 * (self.mu**2 + torch.exp(self.logvar) - 1.0 - self.logvar)
        var_ratio = torch.exp(self.logvar - other.logvar)
        return 0.5 * (var_ratio + (self.mu - other.mu) ** 2 * torch.exp(-other.logvar) - 1.0 - (self.logvar - other.logvar))

    def kl(self, other: DiagonalGaussian | None = None) -> torch.Tensor:
        """Analytic KL(self || other), summed over the last dimension."""
        return self.kl_per_dim(other).sum(-1)

    def detach(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.mu.detach(), self.logvar.detach())
