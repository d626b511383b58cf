"""The VAE-GAN: a VAE whose reconstructions are also judged in a discriminator's feature space.

Larsen, Sønderby, Larochelle & Winther, "Autoencoding beyond pixels using a learned similarity
metric", ICML 2016, https://arxiv.org/abs/1512.09300.

A discriminator D (the encoder's registered network, then a linear logit) tells real x from the
reconstruction x~ = E[p(x|z)], z ~ q(z|x), and from a prior sample x_p = E[p(x|z_p)], z_p ~ p(z).
Its feature layer D_l gives the learned similarity: the encoder and decoder minimise

    pixel_weight * -log p(x|z) + beta * KL + feature_weight * ||D_l(x) - D_l(x~)||^2 / (2 sigma^2)
    + gan_weight * (softplus(-D(x~)) + softplus(-D(x_p)))

(the features of the real x detached; the last term is the non-saturating generator loss), and the
discriminator, whose parameters are `auxiliary_parameters()` and are trained on `aux_loss` alone,
minimises the binary cross-entropy of real x (label 0.9) against x~ and x_p (label 0), with x~ and
x_p detached. The real label is smoothed one-sidedly (Salimans et al. 2016,
https://arxiv.org/abs/1606.03498), which keeps the discriminator from growing over-confident and
the generator's gradient from vanishing early on; it draws no random numbers, so a seed gives the
same run. The paper's pixel likelihood is kept (pixel_weight) so the ELBO, NLL and every sampling
and evaluation tool stay meaningful: encode, decode, forward, sample and log_weights are the VAE's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from vaekit.sections import AT_LEAST_1, NON_NEGATIVE, POSITIVE, Range
from vaekit.contract import Batch, Terms, Traits, as_batch
from vaekit.errors import ConfigError
from vaekit.models.vae import VAE, VAEConfig
from vaekit.registry import MODELS, NETWORKS


@dataclass(frozen=True)
class VAEGANConfig(VAEConfig):
    name: str = "vaegan"
    disc_features: int = 128  # width of the discriminator's feature layer D_l: the learned similarity
    feature_weight: float = 1.0  # weight of the feature-space reconstruction term
    gan_weight: float = 0.05  # weight of the adversarial (non-saturating) term for the encoder and decoder
    pixel_weight: float = 1.0  # weight of the pixel likelihood -log p(x|z)
    feature_sigma: float = 1.0  # sigma of the Gaussian over D_l(x) around D_l(x~)

    ranges: ClassVar[dict[str, Range]] = {"disc_features": AT_LEAST_1, "feature_weight": NON_NEGATIVE, "gan_weight": NON_NEGATIVE,
                                          "pixel_weight": NON_NEGATIVE, "feature_sigma": POSITIVE}


class Discriminator(nn.Module):
    """x (B, *data_shape) -> features D_l(x) (B, disc_features) -> logit (B,)."""

    def __init__(self, config: VAEGANConfig, data_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.features = NETWORKS.get(config.encoder.name).encoder(config.encoder, data_shape, config.disc_features)
        self.head = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(config.disc_features, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (B, F), logit (B,)), both float32."""
        f = self.features(x).float()
        return f, self.head(f).squeeze(-1).float()


@MODELS.register("vaegan", config=VAEGANConfig)
class VAEGAN(VAE):
    """A VAE with a discriminator whose features give the reconstruction a learned metric."""

    # The learned metric moves with the discriminator: epochs are not comparable, the last is kept.
    # Not on text: the discriminator judges E[p(x|z)], and a token sequence has no mean to
    # differentiate through (its greedy decoding is discrete).
    traits = Traits(select_by="last", ignores=frozenset({"free_bits"}), text=False)
    real_label = 0.9  # one-sided label smoothing of the discriminator's real targets

    def __init__(self, config: VAEGANConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        if config.disc_features <= 0:
            raise ConfigError(f"model.disc_features must be positive, got {config.disc_features}")
        if config.feature_sigma <= 0:
            raise ConfigError(f"model.feature_sigma must be positive, got {config.feature_sigma}")
        for key in ("feature_weight", "gan_weight", "pixel_weight"):
            if getattr(config, key) < 0:
                raise ConfigError(f"model.{key} must be non-negative, got {getattr(config, key)}")
        super().__init__(config, data_shape, num_classes)
        self.discriminator = Discriminator(config, self.data_shape)

    def auxiliary_parameters(self) -> list[nn.Parameter]:
        """The discriminator's parameters: the loop trains them on `Terms.aux` alone."""
        return list(self.discriminator.parameters())

    def forward(self, batch: Batch | torch.Tensor) -> Terms:
        """The VAE's terms (the pixel likelihood weighted by pixel_weight), the feature-space and
        adversarial penalties of the encoder and decoder, and the discriminator's loss as `aux`;
        all per example (see the module docstring)."""
        c = self.config
        b = as_batch(batch)
        x, n = b.x, b.x.shape[0]
        out = super().forward(b)  # z ~ q(z|x) drawn exactly as the VAE draws it
        x_tilde = out.px.mean
        z_p = self.prior.sample(n).to(out.z.dtype)
        x_p = self.decode(z_p, b.y).mean

        # The encoder and decoder: the learned metric and fooling D, through a copy of D whose
        # weights are detached, so these terms reach the encoder and decoder only and D is trained
        # on `aux` alone: one backward pass of loss + aux then gives each its own gradient.
        f_real, logit_real = self.discriminator(x)
        frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
        frozen.update(self.discriminator.named_buffers())
        f_fake, logit_fake = functional_call(self.discriminator, frozen, (torch.cat([x_tilde, x_p]).to(x.dtype),))
        feature_nll = (f_real.detach() - f_fake[:n]).pow(2).sum(-1) / (2.0 * c.feature_sigma**2)  # (B,)
        gen_gan = F.softplus(-logit_fake[:n]) + F.softplus(-logit_fake[n:])  # (B,)

        # The discriminator: real against detached reconstructions and prior samples.
        _, logit_det = self.discriminator(torch.cat([x_tilde, x_p]).detach().to(x.dtype))
        real_target = torch.full_like(logit_real, self.real_label)
        bce = F.binary_cross_entropy_with_logits
        d_loss = (bce(logit_real, real_target, reduction="none")
                  + bce(logit_det[:n], torch.zeros_like(logit_det[:n]), reduction="none")
                  + bce(logit_det[n:], torch.zeros_like(logit_det[n:]), reduction="none"))  # (B,)
        out.recon_weight = c.pixel_weight
        out.penalties = {"feature_recon": (c.feature_weight, feature_nll), "gan": (c.gan_weight, gen_gan)}
        out.aux = d_loss
        out.logs = {"d_loss": d_loss, "d_real": torch.sigmoid(logit_real),
                    "d_fake": torch.sigmoid(logit_det).view(2, n).mean(0)}
        return out
