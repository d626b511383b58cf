"""Mixture priors: a learned mixture of Gaussians, and the VampPrior.

VampPrior: Tomczak & Welling, "VAE with a VampPrior", AISTATS 2018, https://arxiv.org/abs/1705.07120.
p(z) = (1/K) sum_k q(z | u_k): the aggregate posterior of K learned pseudo-inputs u_k, which
ties the prior to what the encoder produces. Neither prior has a closed-form KL against the
posterior; the ELBO uses the single-sample estimate log q(z|x) - log p(z) (`Prior.kl`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from vaekit.sections import AT_LEAST_1, NON_NEGATIVE, PriorConfig, Range
from vaekit.distributions.gaussian import LOG_2PI
from vaekit.distributions.priors import Prior
from vaekit.errors import ConfigError
from vaekit.registry import PRIORS


def mixture_log_prob(z: torch.Tensor, log_weights: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log sum_k pi_k N(z; mu_k, diag(exp(logvar_k))) for z (*lead, D), components (K, D): (*lead,).

    The squared distances are expanded into matrix products, sum_d (z_d - mu_kd)^2 / var_kd =
    z^2 @ (1/var)^T - 2 z @ (mu/var)^T + sum_d mu^2/var, so no (*lead, K, D) tensor is built (at
    K=500 and a 5,000-row chunk of the NLL, that tensor is 400 MB per elementwise op). The
    products run in float64, where the expansion's cancellation costs nothing measurable."""
    prec = torch.exp(-logvar.double())  # (K, D)
    mu64, z64 = mu.double(), z.double()
    quad = (z64**2) @ prec.T - 2.0 * z64 @ (mu64 * prec).T + (mu64**2 * prec).sum(-1)  # (*lead, K)
    comp = -0.5 * ((LOG_2PI + logvar.double()).sum(-1) + quad)
    return torch.logsumexp(comp + log_weights.double(), dim=-1).to(z.dtype)


def mixture_sample(n: int, log_weights: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                   temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """n draws: a component by its weight, then its Gaussian with the std scaled by `temperature`."""
    k = torch.multinomial(torch.softmax(log_weights.float(), 0), n, replacement=True, generator=generator)
    eps = torch.randn(n, mu.shape[-1], device=mu.device, generator=generator)
    return mu[k] + temperature * torch.exp(0.5 * logvar[k]) * eps


@dataclass(frozen=True)
class MixtureConfig(PriorConfig):
    name: str = "mixture"
    components: int = 10
    learn_weights: bool = True

    ranges: ClassVar[dict[str, Range]] = {"components": AT_LEAST_1}


@PRIORS.register("mixture", config=MixtureConfig)
class GaussianMixture(Prior):
    """p(z) = sum_k pi_k N(mu_k, diag sigma_k^2), every parameter learned."""

    def __init__(self, config: MixtureConfig, latent_dim: int, data_shape: tuple[int, ...] = ()) -> None:
        super().__init__(latent_dim)
        if config.components < 1:
            raise ConfigError(f"model.prior.components must be at least 1, got {config.components}")
        self.mu = nn.Parameter(torch.randn(config.components, latent_dim))
        self.logvar = nn.Parameter(torch.zeros(config.components, latent_dim))
        logits = torch.zeros(config.components)
        if config.learn_weights:
            self.logits = nn.Parameter(logits)
        else:
            self.register_buffer("logits", logits)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return mixture_log_prob(z, torch.log_softmax(self.logits, 0), self.mu, self.logvar)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        return mixture_sample(n, self.logits, self.mu, self.logvar, temperature, generator)


@dataclass(frozen=True)
class VampPriorConfig(PriorConfig):
    name: str = "vampprior"
    components: int = 500  # pseudo-inputs, as in the paper
    init_mean: float = 0.05  # pseudo-inputs start as N(init_mean, init_std^2) noise (the paper's values)
    init_std: float = 0.01

    ranges: ClassVar[dict[str, Range]] = {"components": AT_LEAST_1, "init_std": NON_NEGATIVE}


@PRIORS.register("vampprior", config=VampPriorConfig)
class VampPrior(Prior):
    """p(z) = (1/K) sum_k q(z | u_k) with learned pseudo-inputs u_k of the data's shape."""

    # Its pseudo-inputs are learned by gradient in the data's space; token ids are discrete.
    text = False

    def __init__(self, config: VampPriorConfig, latent_dim: int, data_shape: tuple[int, ...] = ()) -> None:
        super().__init__(latent_dim)
        if config.components < 1:
            raise ConfigError(f"model.prior.components must be at least 1, got {config.components}")
        if not data_shape:
            raise ConfigError("the VampPrior needs the data's shape for its pseudo-inputs")
        self.pseudo_inputs = nn.Parameter(config.init_mean + config.init_std * torch.randn(config.components, *data_shape))
        self._encode = None

    def attach(self, model: nn.Module) -> None:
        # A plain reference, not a submodule: the encoder belongs to the model, which owns this prior.
        object.__setattr__(self, "_encode", model.encode)

    def components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The K mixture components: q(z | u_k) means and log-variances, (K, D) each."""
        if self._encode is None:
            raise RuntimeError("VampPrior used before attach(model)")
        q = self._encode(self.pseudo_inputs)
        return q.mu, q.logvar

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.components()
        log_w = torch.full((mu.shape[0],), -math.log(mu.shape[0]), device=mu.device, dtype=mu.dtype)
        return mixture_log_prob(z, log_w, mu, logvar)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        mu, logvar = self.components()
        return mixture_sample(n, torch.zeros(mu.shape[0], device=mu.device), mu, logvar, temperature, generator)
