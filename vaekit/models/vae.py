"""The variational autoencoder and beta-VAE.

Kingma & Welling, "Auto-Encoding Variational Bayes", https://arxiv.org/abs/1312.6114;
Higgins et al., "beta-VAE", ICLR 2017 (beta is `objective.beta`).

The encoder emits (mu, log sigma^2) of a diagonal Gaussian q(z|x); z = mu + sigma * eps; the
decoder emits the parameters of the likelihood p(x|z); the prior p(z) is a module. `forward`
returns the per-example terms of the contract (`vaekit.contract`); the loss is made of them in
`vaekit.objectives.reduce`. The other families subclass this one and override what their paper
changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from vaekit.sections import AT_LEAST_1, LikelihoodConfig, ModelConfig, NetworkConfig, PriorConfig, Range
from vaekit.contract import Batch, Family, Terms, Traits, as_batch
from vaekit.distributions import BernoulliConfig, DiagonalGaussian
from vaekit.distributions.priors import StandardNormalConfig
from vaekit.errors import ConfigError
from vaekit.nn.mlp import MLPConfig
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


@MODELS.register("vae", config=VAEConfig)
class VAE(Family):
    """encode(batch) -> q(z|x); reparameterize(q) -> z; decode(z) -> p(x|z); forward(batch) -> Terms."""

    traits = Traits()

    def __init__(self, config: VAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        super().__init__()
        if config.latent_dim <= 0:
            raise ConfigError(f"model.latent_dim must be positive, got {config.latent_dim}")
        self.config = config
        self.data_shape = tuple(data_shape)
        self.latent_dim = config.latent_dim
        self.likelihood = LIKELIHOODS.build(config.likelihood, self.data_shape)
        self.prior = PRIORS.build(config.prior, config.latent_dim, self.data_shape)
        check_sequence_parts(self, config)  # before network_inputs: a family that cannot read text says so first
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

    @property
    def code_size(self) -> int:
        """Numbers in one code as `encode` returns it."""
        return self.latent_dim

    # Methods that read data take a Batch (or a bare tensor x); the decoding methods take the
    # condition y beside the code: the unconditional VAE ignores it, conditional families use it,
    # and callers never need to know which is which.

    def encode(self, batch: Batch | torch.Tensor) -> DiagonalGaussian:
        """q(z|x): a diagonal Gaussian with (B, D) mean and log-variance."""
        mu, logvar = self.encoder(as_batch(batch).x).float().chunk(2, dim=-1)
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

    def forward(self, batch: Batch | torch.Tensor) -> Terms:
        """The per-example terms of one posterior draw: log p(x|z) and KL(q(z|x) || p(z)), (B,)."""
        b = as_batch(batch)
        q = self.encode(b)
        z = self.reparameterize(q)
        px = self.decode(z, b.y)
        kl_per_dim = self.prior.kl_per_dim(q)
        kl = kl_per_dim.sum(-1) if kl_per_dim is not None else self.prior.kl(q, z)
        return Terms(px.log_prob(b.x, b.mask), kl, kl_per_dim=kl_per_dim, z=z, posterior=q, px=px)

    @torch.no_grad()
    def log_weights(self, batch: Batch | torch.Tensor, num_samples: int) -> torch.Tensor:
        """log p(x, z_s) - log q(z_s|x) for S posterior draws: (S, B), for the IWAE estimate."""
        b = as_batch(batch)
        q = self.encode(b)
        z = q.rsample(num_samples)  # (S, B, D)
        ys = None if b.y is None else b.y.expand(num_samples, *b.y.shape)  # (S, B): labels follow the samples
        return self.decode(z, ys).log_prob(b.x, b.mask) + self.prior.log_prob(z) - q.log_prob(z)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               y: torch.Tensor | None = None) -> torch.Tensor:
        """n new examples: the likelihood's mean at z drawn from the prior (scaled by temperature)."""
        return self.generate(n, temperature, generator, y).mean

    @torch.no_grad()
    def generate(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
                 y: torch.Tensor | None = None):
        """p(x|z) for n codes drawn from the model's prior (every layer of a hierarchy drawn):
        `.mean` is what `sample` returns, `.sample()` a draw (a table's synthetic rows)."""
        return self.decode_px(self.prior.sample(n, temperature, generator), temperature, generator, y)

    @torch.no_grad()
    def decode_sample(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
                      y: torch.Tensor | None = None) -> torch.Tensor:
        """The example `sample` makes of a drawn code z, in the space `encode` returns: the
        likelihood's mean (of `decode_px`)."""
        return self.decode_px(z, temperature, generator, y).mean

    @torch.no_grad()
    def decode_px(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
                  y: torch.Tensor | None = None):
        """p(x|z) for a drawn code z in the space `encode` returns. A hierarchy draws its lower
        layers here, so a sampler that draws z elsewhere (the ex-post mixture) samples the rest as
        the model does."""
        return self.decode_code(z, y)

    @torch.no_grad()
    def reconstruct(self, batch: Batch | torch.Tensor) -> torch.Tensor:
        """The likelihood's mean at the posterior mean."""
        b = as_batch(batch)
        return self.decode(self.encode(b).mu, b.y).mean


def check_sequence_parts(model: VAE, config: VAEConfig) -> None:
    """ConfigError unless the networks, the likelihood, the prior and the family agree on whether
    the data are token sequences: sequence networks (`vaekit.nn.sequence`) with the tokens
    likelihood, in a family and with a prior that work on text."""
    encoder, decoder = (NETWORKS.get(n.name) for n in (config.encoder, config.decoder))
    tokens = model.likelihood.tokens
    for part, net in (("encoder", encoder), ("decoder", decoder)):
        name = getattr(config, part).name
        if getattr(net, "tokens", False) and not tokens:
            raise ConfigError(f"model.{part}.name={name} reads token sequences, which only model.likelihood.name=tokens "
                              f"models; train it on data.name=text, or use model.{part}.name=mlp or conv here")
        if tokens and not getattr(net, "tokens", False):
            raise ConfigError(f"model.{part}.name={name} cannot read token sequences; set model.{part}.name=rnn "
                              f"(or transformer) for model.likelihood.name=tokens")
    if not tokens:
        return
    if not model.traits.text:
        able = [n for n in MODELS.names() if MODELS.get(n).traits.text]
        raise ConfigError(f"model '{config.name}' does not work on text: it needs x or the likelihood's mean as "
                          f"numbers (a sequence of token ids has neither); use one of {', '.join(able)}")
    if not model.prior.text:
        raise ConfigError(f"model.prior.name={config.prior.name} learns pseudo-inputs in the data's space, and token "
                          f"ids are discrete; use model.prior.name=standard_normal or mixture on text")
