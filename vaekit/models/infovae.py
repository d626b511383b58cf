"""InfoVAE / MMD-VAE and the Wasserstein autoencoder with MMD.

Zhao, Song & Ermon, "InfoVAE: Balancing Learning and Inference in Variational Autoencoders",
AAAI 2019, https://arxiv.org/abs/1706.02262:
    loss = -E[log p(x|z)] + (1 - alpha) KL(q(z|x) || p(z)) + (alpha + lambda - 1) MMD(q(z), p(z)).
alpha = 1 drops the per-example KL (the MMD-VAE); the MMD matches the aggregate posterior to the
prior, so codes need not collapse onto it one example at a time.

Tolstikhin, Bousquet, Gelly & Schoelkopf, "Wasserstein Auto-Encoders", ICLR 2018,
https://arxiv.org/abs/1711.01558: a deterministic encoder z = mu(x), the reconstruction cost
-log p(x|z), and lambda MMD(q(z), p(z)) with the IMQ kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from vaekit.sections import NON_NEGATIVE, Range
from vaekit.models.vae import VAE, VAEConfig
from vaekit.objectives import Loss
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

    ignores = frozenset({"free_bits"})  # objective settings this family has no use for
    select_by = "objective"  # its ELBO can worsen as the MMD objective improves
    deterministic = False

    def __init__(self, config: InfoVAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        super().__init__(config, data_shape, num_classes)
        self.alpha, self.lam, self.kernel = config.alpha, config.lam, config.kernel

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, *, beta: float | torch.Tensor = 1.0,
             free_bits: float = 0.0) -> Loss:
        """beta scales both regularisers (so KL warm-up applies to them)."""
        q = self.encode(x, y)
        z = q.mu if self.deterministic else self.reparameterize(q)
        px = self.decode(z, y)
        recon = px.log_prob(x)
        kl = self.prior.kl(q, z)
        prior_z = self.prior.sample(z.shape[0]).to(z.dtype)
        divergence = mmd(z.float(), prior_z.float(), self.kernel)
        reg = (1.0 - self.alpha) * kl.mean() + (self.alpha + self.lam - 1.0) * divergence
        loss = -recon.mean() + beta * reg
        with torch.no_grad():
            metrics = {"elbo": (recon - kl).mean(), "recon": recon.mean(), "kl": kl.mean(), "mmd": divergence.detach()}
        return Loss(loss, metrics)


@dataclass(frozen=True)
class WAEConfig(InfoVAEConfig):
    name: str = "wae"
    alpha: float = 1.0
    lam: float = 10.0


@MODELS.register("wae", config=WAEConfig)
class WAE(InfoVAE):
    """WAE-MMD: deterministic codes, reconstruction cost plus lambda MMD(q(z), p(z)).

    Its 'ELBO' metrics use the encoder's Gaussian as if it were a posterior; a WAE defines no
    likelihood bound, so compare WAEs by reconstruction and sample quality."""

    deterministic = True
