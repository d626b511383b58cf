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

from vaekit.sections import AT_LEAST_1, NON_NEGATIVE, POSITIVE, Range
from vaekit.errors import ConfigError
from vaekit.models.vae import VAE, VAEConfig
from vaekit.objectives import Loss
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

    ignores = frozenset({"free_bits"})  # objective settings this family has no use for
    real_label = 0.9  # one-sided label smoothing of the discriminator's real targets
    select_by = "last"  # the learned metric moves with the discriminator: epochs are not comparable

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

    def auxiliary_parameters(self):
        """The discriminator's parameters: the loop trains them on `aux_loss` alone."""
        return self.discriminator.parameters()

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, *, beta: float | torch.Tensor = 1.0,
             free_bits: float = 0.0) -> Loss:
        """The encoder/decoder loss (batch-mean, see the module docstring) and the
        discriminator's `aux_loss`; the metrics report the unweighted ELBO."""
        c = self.config
        out = self(x, y)  # z ~ q(z|x) drawn exactly as the VAE draws it
        x_tilde = out.px.mean
        z_p = self.prior.sample(x.shape[0]).to(out.z.dtype)
        x_p = self.decode(z_p, y).mean
        n = x.shape[0]

        # The encoder and decoder: pixels, KL, the learned metric and fooling D.
        f_real, logit_real = self.discriminator(x)
        f_fake, logit_fake = self.discriminator(torch.cat([x_tilde, x_p]).to(x.dtype))
        feature_nll = (f_real.detach() - f_fake[:n]).pow(2).sum(-1) / (2.0 * c.feature_sigma**2)  # (B,)
        gen_gan = F.softplus(-logit_fake[:n]).mean() + F.softplus(-logit_fake[n:]).mean()
        kl = out.kl.mean()
        loss = (-c.pixel_weight * out.recon.mean() + beta * kl + c.feature_weight * feature_nll.mean()
                + c.gan_weight * gen_gan)

        # The discriminator: real against detached reconstructions and prior samples.
        _, logit_det = self.discriminator(torch.cat([x_tilde, x_p]).detach().to(x.dtype))
        real_target = torch.full_like(logit_real, self.real_label)
        d_loss = (F.binary_cross_entropy_with_logits(logit_real, real_target)
                  + F.binary_cross_entropy_with_logits(logit_det[:n], torch.zeros_like(logit_det[:n]))
                  + F.binary_cross_entropy_with_logits(logit_det[n:], torch.zeros_like(logit_det[n:])))
        with torch.no_grad():
            metrics = {"elbo": out.elbo.mean(), "recon": out.recon.mean(), "kl": kl.detach(),
                       "feature_recon": feature_nll.mean().detach(), "d_loss": d_loss.detach(),
                       "d_real": torch.sigmoid(logit_real).mean(), "d_fake": torch.sigmoid(logit_det).mean()}
        return Loss(loss, metrics, aux_loss=d_loss)
