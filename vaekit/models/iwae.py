"""The importance-weighted autoencoder.

Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016,
https://arxiv.org/abs/1509.00519; the doubly reparameterised gradient (DReG) of Tucker, Lawson,
Gu & Maddison, "Doubly Reparameterized Gradient Estimators for Monte Carlo Objectives", ICLR 2019,
https://arxiv.org/abs/1810.04152.

Same networks as the VAE; the training objective is the K-sample bound
L_K = E[log (1/K) sum_k w_k], w_k = p(x, z_k) / q(z_k | x). With `estimator: dreg` the encoder's
gradient is sum_k w~_k^2 d log w_k / dz_k dz_k/dphi (w~ the normalised weights, q's parameters
held fixed inside log q), which stays informative as K grows where the standard one fades.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from vaekit.sections import AT_LEAST_1, Range
from vaekit.distributions import DiagonalGaussian
from vaekit.errors import ConfigError
from vaekit.models.vae import VAE, VAEConfig
from vaekit.objectives import Loss, iwae_bound
from vaekit.registry import MODELS


@dataclass(frozen=True)
class IWAEConfig(VAEConfig):
    name: str = "iwae"
    k: int = 5  # importance samples per example in the training objective
    estimator: Literal["standard", "dreg"] = "standard"

    ranges: ClassVar[dict[str, Range]] = {"k": AT_LEAST_1}


@MODELS.register("iwae", config=IWAEConfig)
class IWAE(VAE):
    """A VAE trained on the K-sample importance-weighted bound."""

    ignores = frozenset({"free_bits"})  # objective settings this family has no use for
    select_by = "objective"  # the K-sample bound, tighter than the ELBO it is not trained on

    def __init__(self, config: IWAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        if config.k < 1:
            raise ConfigError(f"model.k must be at least 1, got {config.k}")
        super().__init__(config, data_shape, num_classes)
        self.k = config.k
        self.estimator = config.estimator

    def _log_terms(self, x: torch.Tensor, z: torch.Tensor, q: DiagonalGaussian, y) -> tuple[torch.Tensor, torch.Tensor]:
        """log p(x|z) and log p(z) - log q(z|x) for z (K, B, D): two (K, B) tensors."""
        ys = None if y is None else y.expand(z.shape[0], *y.shape)
        return self.decode(z, ys).log_prob(x), self.prior.log_prob(z) - q.log_prob(z)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, *, beta: float | torch.Tensor = 1.0,
             free_bits: float = 0.0) -> Loss:
        """The negative K-sample bound with log w = log p(x|z) + beta (log p(z) - log q(z|x)),
        batch-mean; the metrics report the unweighted bound and ELBO."""
        q = self.encode(x, y)
        z = q.rsample(self.k)  # (K, B, D)
        if self.estimator == "standard" or not torch.is_grad_enabled():  # DReG changes the gradient only
            log_px, log_ratio = self._log_terms(x, z, q, y)
            log_w = log_px + beta * log_ratio
            loss = -iwae_bound(log_w).mean()
        else:
            # log w at a detached copy of z with q's parameters held fixed: its gradient reaches the
            # decoder and prior (the standard sum_k w~_k grad log w_k), and d log w_k / dz_k.
            z_fixed = z.detach().requires_grad_(True)
            log_px, log_ratio = self._log_terms(x, z_fixed, q.detach(), y)
            log_w = log_px + beta * log_ratio
            w = torch.softmax(log_w.detach().float(), dim=0)  # (K, B) normalised weights
            (dlogw_dz,) = torch.autograd.grad(log_w.sum(), z_fixed, retain_graph=True)
            # The encoder's gradient, sum_k w~_k^2 dlog w_k/dz_k dz_k/dphi, flows through z alone.
            encoder_term = ((w**2).unsqueeze(-1) * dlogw_dz.detach() * z).sum((0, -1))
            surrogate = -((w * log_w).sum(0) + encoder_term).mean()
            value = -iwae_bound(log_w.detach()).mean()
            loss = value + (surrogate - surrogate.detach())  # the value of -L_K, the DReG gradient
        with torch.no_grad():
            unweighted = (log_px + log_ratio).detach()  # beta = 1: the bound and ELBO themselves
            metrics = {"iwae_bound": iwae_bound(unweighted).mean(), "elbo": unweighted.mean(),
                       "kl": -log_ratio.detach().mean()}
        return Loss(loss, metrics)
