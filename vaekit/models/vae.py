"""The variational autoencoder and beta-VAE.

Kingma & Welling, "Auto-Encoding Variational Bayes", https://arxiv.org/abs/1312.6114;
Higgins et al., "beta-VAE", ICLR 2017 (beta is `objective.beta`).

The encoder emits (mu, log sigma^2) of a diagonal Gaussian q(z|x); z = mu + sigma * eps; the
decoder emits the parameters of the likelihood p(x|z); the prior p(z) is a module. The other
families subclass this one and override what their paper changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from vaekit.sections import AT_LEAST_1, LikelihoodConfig, ModelConfig, NetworkConfig, PriorConfig, Range
from vaekit.distributions import BernoulliConfig, DiagonalGaussian
from vaekit.distributions.priors import StandardNormalConfig
from vaekit.errors import ConfigError
from vaekit.nn.mlp import MLPConfig
from vaekit.objectives import Loss, elbo_loss
from vaekit.registry import LIKELIHOODS, MODELS, NETWORKS, PRIORS


@dataclass(frozen=True)
class VAEConfig(ModelConfig):
    name: str = "vae"
    latent_dim: int = 16
    encoder: NetworkConfig = field(default_factory=MLPConfig)
    decoder: NetworkConfig = field(default_factory=MLPConfig)
    likelihood: LikelihoodConfig = field(default_factory=BernoulliConfig)
    prior: PriorConfig = field(default_factory=StandardNormalConfig)

    ranges: ClassVar[dict[str, Range]] = {"latent_dim": AT_LEAST_1}


@dataclass
class VAEOutput:
    """Per-example terms of one forward pass; every (B,) tensor is in nats."""

    recon: torch.Tensor  # log p(x|z), (B,)
    kl: torch.Tensor  # KL(q(z|x) || p(z)), (B,)
    kl_per_dim: torch.Tensor | None  # (B, D) where the prior has a closed-form KL
    z: torch.Tensor  # (B, D)
    posterior: DiagonalGaussian
    px: object  # the likelihood's distribution object

    @property
    def elbo(self) -> torch.Tensor:
        return self.recon - self.kl


@MODELS.register("vae", config=VAEConfig)
class VAE(nn.Module):
    """encode(x) -> q(z|x); reparameterize(q) -> z; decode(z) -> p(x|z); forward(x) -> VAEOutput."""

    conditional = False  # whether the labels y change what the model does
    gaussian_posterior = True  # whether encode() is a real Gaussian (not a point mass dressed as one)
    hierarchical = False  # whether encode() gives the top of several latent layers
    # What keeps the best checkpoint when train.select_by is "auto": "elbo" for families trained
    # on it, "objective" (the family's own validation loss) or "last" for the others.
    select_by = "elbo"

    def __init__(self, config: VAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        super().__init__()
        if config.latent_dim <= 0:
            raise ConfigError(f"model.latent_dim must be positive, got {config.latent_dim}")
        self.config = config
        self.data_shape = tuple(data_shape)
        self.latent_dim = config.latent_dim
        self.likelihood = LIKELIHOODS.build(config.likelihood, self.data_shape)
        self.prior = PRIORS.build(config.prior, config.latent_dim, self.data_shape)
        enc_in, dec_in = self.network_inputs()
        self.encoder = NETWORKS.get(config.encoder.name).encoder(config.encoder, enc_in, self.encoder_features())
        self.decoder = NETWORKS.get(config.decoder.name).decoder(config.decoder, dec_in, self.likelihood.param_shape())
        self.prior.attach(self)

    def encoder_features(self) -> int:
        """Width of the encoder's output: the posterior's (mu, log sigma^2) here."""
        return 2 * self.latent_dim

    def network_inputs(self) -> tuple[tuple[int, ...], int]:
        """The encoder's input shape and the decoder's input width; families that feed the
        networks more than x and z (a condition, say) widen them here."""
        return self.data_shape, self.latent_dim

    @property
    def num_dims(self) -> int:
        """Number of data dimensions, for nats/dim and bits/dim."""
        return math.prod(self.data_shape)

    # Every method takes the labels `y` (B,) as an optional argument: the unconditional VAE ignores
    # them, conditional families use them, and callers never need to know which is which.

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiagonalGaussian:
        """q(z|x): a diagonal Gaussian with (B, D) mean and log-variance."""
        mu, logvar = self.encoder(x).float().chunk(2, dim=-1)
        return DiagonalGaussian(mu, logvar)

    def reparameterize(self, q: DiagonalGaussian, num_samples: int | None = None) -> torch.Tensor:
        """z = mu + sigma * eps: (B, D), or (S, B, D) for `num_samples` draws."""
        return q.rsample(num_samples)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        """p(x|z) for z of shape (*lead, D); the distribution's batch shape is `lead`."""
        return self.likelihood(self.decoder(z))

    def decode_code(self, z: torch.Tensor, y: torch.Tensor | None = None):
        """p(x|z) for a code z in the space `encode` returns (what interpolations, traversals and
        `vaekit.decode` move through). Here that is `decode`; a hierarchy differs."""
        return self.decode(z, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        q = self.encode(x, y)
        z = self.reparameterize(q)
        px = self.decode(z, y)
        kl_per_dim = self.prior.kl_per_dim(q)
        kl = kl_per_dim.sum(-1) if kl_per_dim is not None else self.prior.kl(q, z)
        return VAEOutput(px.log_prob(x), kl, kl_per_dim, z, q, px)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, *, beta: float | torch.Tensor = 1.0,
             free_bits: float = 0.0) -> Loss:
        """The training objective for one batch: the negative beta-ELBO, batch-mean."""
        out = self(x, y)
        return elbo_loss(out.recon, out.kl, beta=beta, free_bits=free_bits, kl_per_dim=out.kl_per_dim)

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, num_samples: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x, z_s) - log q(z_s|x) for S posterior draws: (S, B), for the IWAE estimate."""
        q = self.encode(x, y)
        z = q.rsample(num_samples)  # (S, B, D)
        ys = None if y is None else y.expand(num_samples, *y.shape)  # (S, B): labels follow the samples
        return self.decode(z, ys).log_prob(x) + self.prior.log_prob(z) - q.log_prob(z)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               y: torch.Tensor | None = None) -> torch.Tensor:
        """n new examples: the likelihood's mean at z drawn from the prior (scaled by temperature)."""
        return self.decode_sample(self.prior.sample(n, temperature, generator), temperature, generator, y)

    @torch.no_grad()
    def decode_sample(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
                      y: torch.Tensor | None = None) -> torch.Tensor:
        """The example `sample` makes of a drawn code z, in the space `encode` returns: the
        likelihood's mean. A hierarchy draws its lower layers here, so a sampler that draws z
        elsewhere (the ex-post mixture) samples the rest as the model does."""
        return self.decode_code(z, y).mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The likelihood's mean at the posterior mean."""
        return self.decode(self.encode(x, y).mu, y).mean
