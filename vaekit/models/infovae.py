"""InfoVAE / MMD-VAE and the Wasserstein autoencoder with MMD.

Zhao, Song & Ermon, "InfoVAE: Balancing Learning and Inference in Variational Autoencoders",
AAAI 2019, https://arxiv.org/abs/1706.02262:
    loss = -E[log p(x|z)] + (1 - alpha) KL(q(z|x) || p(z)) + (alpha + lambda - 1) MMD(q(z), p(z)).
alpha = 1 drops the per-example KL (the MMD-VAE); the MMD matches the aggregate posterior to the
prior, so codes need not collapse onto it one example at a time.

Tolstikhin, Bousquet, Gelly & Schoelkopf, "Wasserstein Auto-Encoders", ICLR 2018,
https://arxiv.org/abs/1711.01558: a deterministic encoder z = f(x) (a point-mass posterior), the
reconstruction cost -log p(x|z), and lambda MMD(q(z), p(z)) with the IMQ kernel. A WAE defines no
likelihood bound: its KL term is 0 by construction (it is not part of the objective), its
validation "ELBO" is the reconstruction log-likelihood at the code, and evaluation reports
reconstruction and sample quality, not an NLL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from vaekit.sections import NON_NEGATIVE, Range
from vaekit.contract import Batch, Terms, Traits, as_batch
from vaekit.distributions import PointMass
from vaekit.errors import ConfigError
from vaekit.models.vae import VAE, VAEConfig
from vaekit.objectives.mmd import mmd
from vaekit.registry import MODELS


@dataclass(frozen=True)
class InfoVAEConfig(VAEConfig):
    name: str = "infovae"
    alpha: float = 1.0  # 1 gives the MMD-VAE: no per-example KL
    lam: float = 100.0  # lambda: weight of the divergence between q(z) and p(z)
    kernel: Literal["imq", "rbf"] = "imq"

    ranges: ClassVar[dict[str, Range]] = {"lam": NON_NEGATIVE}


@MODELS.register("infovae", config=InfoVAEConfig)
class InfoVAE(VAE):
    """A VAE whose KL is partly replaced by an MMD between the aggregate posterior and the prior."""

    # Its ELBO can worsen as the MMD objective improves: the best epoch is the best objective.
    traits = Traits(select_by="objective", ignores=frozenset({"free_bits"}))

    def __init__(self, config: InfoVAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        super().__init__(config, data_shape, num_classes)
        self.alpha, self.lam, self.kernel = config.alpha, config.lam, config.kernel

    def forward(self, batch: Batch | torch.Tensor) -> Terms:
        """The ELBO's terms, with beta weighing (1 - alpha) KL + (alpha + lambda - 1) MMD in place of
        the KL (so KL warm-up applies to both). The MMD is a statistic of the whole batch: every
        example carries it, so its batch mean is the MMD itself."""
        b = as_batch(batch)
        terms = super().forward(b)
        z = terms.z
        prior_z = self.prior.sample(z.shape[0]).to(z.dtype)
        divergence = mmd(z.float(), prior_z.float(), self.kernel).expand(z.shape[0])  # (B,)
        terms.regularizer = (1.0 - self.alpha) * terms.kl + (self.alpha + self.lam - 1.0) * divergence
        terms.logs["mmd"] = divergence
        return terms


@dataclass(frozen=True)
class WAEConfig(InfoVAEConfig):
    name: str = "wae"
    alpha: float = 1.0
    lam: float = 10.0


@MODELS.register("wae", config=WAEConfig)
class WAE(InfoVAE):
    """WAE-MMD: a deterministic encoder (a point-mass posterior), the reconstruction cost plus
    lambda MMD(q(z), p(z)); no likelihood bound."""

    traits = Traits(posterior="point_mass", select_by="objective", ignores=frozenset({"free_bits"}), bound=False)

    def __init__(self, config: WAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        if config.alpha != 1.0:
            raise ConfigError(f"model 'wae' has deterministic codes and no KL term for model.alpha to weigh "
                              f"(got {config.alpha}); remove model.alpha, or use model.name=infovae")
        super().__init__(config, data_shape, num_classes)

    def encoder_features(self) -> int:
        """The code itself: latent_dim numbers."""
        return self.latent_dim

    def encode(self, batch: Batch | torch.Tensor) -> PointMass:
        """The point mass at the code f(x), (B, D)."""
        return PointMass(self.encoder(as_batch(batch).x).float())

    def forward(self, batch: Batch | torch.Tensor) -> Terms:
        """log p(x|f(x)) and lambda MMD(q(z), p(z)) (beta weighs it, so warm-up applies); the KL
        is 0 by construction: the reported "ELBO" is the reconstruction log-likelihood."""
        b = as_batch(batch)
        z = self.encode(b).value
        px = self.decode(z, b.y)
        recon = px.log_prob(b.x, b.mask)
        prior_z = self.prior.sample(z.shape[0]).to(z.dtype)
        divergence = mmd(z.float(), prior_z.float(), self.kernel).expand(z.shape[0])  # (B,)
        return Terms(recon, torch.zeros_like(recon), regularizer=self.lam * divergence, logs={"mmd": divergence},
                     z=z, posterior=PointMass(z), px=px)

    def log_weights(self, batch: Batch | torch.Tensor, num_samples: int) -> torch.Tensor:
        raise ConfigError("model 'wae' defines no likelihood bound (its posterior is a point mass), so there is no "
                          "importance-sampled NLL; compare WAEs by reconstruction and sample quality "
                          "(vaekit evaluate --metrics fidelity,quality)")
