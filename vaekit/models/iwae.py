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
from vaekit.contract import Batch, Terms, Traits, as_batch
from vaekit.errors import ConfigError
from vaekit.models.vae import VAE, VAEConfig
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

    # Selected by the K-sample bound, tighter than the ELBO it is not trained on.
    traits = Traits(select_by="objective", ignores=frozenset({"free_bits"}))

    def __init__(self, config: IWAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        if config.k < 1:
            raise ConfigError(f"model.k must be at least 1, got {config.k}")
        super().__init__(config, data_shape, num_classes)
        self.k = config.k
        self.estimator = config.estimator

    def forward(self, batch: Batch | torch.Tensor) -> Terms:
        """Terms of K posterior draws per example, (K, B): log p(x|z_k) and log q(z_k|x) - log p(z_k).
        The reduction forms the K-sample bound of them (with beta weighing the second). With the DReG
        estimator, in training, they are computed at a detached copy of the draws with q's
        parameters held fixed, and `reparam` hands the reduction both copies for the encoder's
        gradient; the values are the same."""
        b = as_batch(batch)
        q = self.encode(b)
        z = q.rsample(self.k)  # (K, B, D)
        ys = None if b.y is None else b.y.expand(self.k, *b.y.shape)
        if self.estimator == "standard" or not torch.is_grad_enabled():  # DReG changes the gradient only
            px = self.decode(z, ys)
            return Terms(px.log_prob(b.x, b.mask), q.log_prob(z) - self.prior.log_prob(z), z=z, posterior=q, px=px)
        z_fixed = z.detach().requires_grad_(True)
        q_fixed = q.detach()
        px = self.decode(z_fixed, ys)
        return Terms(px.log_prob(b.x, b.mask), q_fixed.log_prob(z_fixed) - self.prior.log_prob(z_fixed),
                     reparam=(z_fixed, z), z=z, posterior=q, px=px)
