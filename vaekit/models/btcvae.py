"""beta-TCVAE, and the annealed-capacity beta-VAE.

Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in VAEs", NeurIPS 2018,
https://arxiv.org/abs/1802.04942: the KL term splits into index-code mutual information,
total correlation (TC) and dimension-wise KL,
    E_x KL(q(z|x) || p(z)) = I(x; z) + KL(q(z) || prod_j q(z_j)) + sum_j KL(q(z_j) || p(z_j)),
and only the TC is weighted by beta. q(z) = (1/N) sum_n q(z | x_n) and its marginals q(z_j) are
estimated on the minibatch by weighted sampling: the example's own posterior counts 1/N and each
of the M-1 others stands for (N-1)/(M-1) data points. (The paper's released code normalises by
1/(NM) instead, which shifts every estimate by a constant: its TC carries an offset of about
(D-1) log N even for independent latents, while this one goes to zero there.)

Burgess et al., "Understanding disentangling in beta-VAE", 2018, https://arxiv.org/abs/1804.03599:
loss = -recon + gamma |KL - C|, with the capacity C raised linearly to `capacity` nats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from vaekit.sections import NON_NEGATIVE, Range
from vaekit.distributions.gaussian import LOG_2PI
from vaekit.models.vae import VAE, VAEConfig
from vaekit.objectives import Loss
from vaekit.registry import MODELS


def pairwise_log_q(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_i,d | x_j) for every pair: z, mu, logvar (M, D) -> (M, M, D), [i, j, d]."""
    z, mu, logvar = z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0)
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar))


def minibatch_weights(m: int, dataset_size: int, device: torch.device) -> torch.Tensor:
    """log w_ij of the minibatch estimate q(z_i) ~ sum_j w_ij q(z_i | x_j): (M, M)."""
    n = max(dataset_size, m)
    if m == 1:
        return torch.full((1, 1), -math.log(n), device=device)
    w = torch.full((m, m), math.log((n - 1) / (n * (m - 1))), device=device)
    w.fill_diagonal_(-math.log(n))
    return w


def kl_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, log_pz: torch.Tensor,
                     dataset_size: int) -> dict[str, torch.Tensor]:
    """Per-example mutual-information, total-correlation and dimension-wise-KL terms, each (M,),
    by minibatch-weighted sampling over the batch (z drawn from q(z|x_i), one per example)."""
    log_qz_pairs = pairwise_log_q(z, mu, logvar)  # (M, M, D)
    log_w = minibatch_weights(z.shape[0], dataset_size, z.device)  # (M, M)
    log_qz = torch.logsumexp(log_qz_pairs.sum(-1) + log_w, dim=1)  # (M,)
    log_prod_qzj = torch.logsumexp(log_qz_pairs + log_w.unsqueeze(-1), dim=1).sum(-1)  # (M,)
    log_qz_x = torch.diagonal(log_qz_pairs.sum(-1))  # log q(z_i | x_i)
    return {"mi": log_qz_x - log_qz, "tc": log_qz - log_prod_qzj, "dwkl": log_prod_qzj - log_pz}


@dataclass(frozen=True)
class BetaTCVAEConfig(VAEConfig):
    name: str = "betatcvae"
    alpha: float = 1.0  # weight of the index-code mutual information
    tc_weight: float = 6.0  # beta of the paper: weight of the total correlation
    gamma: float = 1.0  # weight of the dimension-wise KL

    ranges: ClassVar[dict[str, Range]] = {"alpha": NON_NEGATIVE, "tc_weight": NON_NEGATIVE, "gamma": NON_NEGATIVE}


@MODELS.register("betatcvae", config=BetaTCVAEConfig)
class BetaTCVAE(VAE):
    """A VAE whose KL is split into MI, TC and dimension-wise KL, each with its own weight."""

    ignores = frozenset({"free_bits"})  # objective settings this family has no use for
    select_by = "objective"

    def __init__(self, config: BetaTCVAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        super().__init__(config, data_shape, num_classes)
        self.weights = (config.alpha, config.tc_weight, config.gamma)
        self.register_buffer("dataset_size", torch.tensor(0, dtype=torch.long))

    def on_train_start(self, data) -> None:
        self.dataset_size.fill_(len(data.train))

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, *, beta: float | torch.Tensor = 1.0,
             free_bits: float = 0.0) -> Loss:
        """-recon + beta * (alpha MI + tc_weight TC + gamma dim-wise KL); beta carries the warm-up."""
        out = self(x, y)
        n = max(int(self.dataset_size), x.shape[0])
        q = out.posterior
        terms = kl_decomposition(out.z, q.mu, q.logvar, self.prior.log_prob(out.z), n)
        a, b, g = self.weights
        penalty = a * terms["mi"] + b * terms["tc"] + g * terms["dwkl"]
        loss = (-out.recon + beta * penalty).mean()
        with torch.no_grad():
            metrics = {"elbo": out.elbo.mean(), "recon": out.recon.mean(), "kl": out.kl.mean(),
                       **{k: v.mean() for k, v in terms.items()}}
        return Loss(loss, metrics)


@dataclass(frozen=True)
class CapacityVAEConfig(VAEConfig):
    name: str = "capacity_vae"
    gamma: float = 1000.0  # weight of |KL - C|
    capacity: float = 25.0  # nats the KL is allowed to reach
    capacity_steps: int = 100_000  # steps over which C rises linearly from 0

    ranges: ClassVar[dict[str, Range]] = {"gamma": NON_NEGATIVE, "capacity": NON_NEGATIVE, "capacity_steps": NON_NEGATIVE}


@MODELS.register("capacity_vae", config=CapacityVAEConfig)
class CapacityVAE(VAE):
    """The annealed-capacity beta-VAE: the KL is pulled towards a target that rises during training."""

    ignores = frozenset({"free_bits", "beta"})  # gamma and the capacity schedule replace them
    select_by = "last"  # the loss pulls towards a capacity that rises: epochs are not comparable

    def __init__(self, config: CapacityVAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        super().__init__(config, data_shape, num_classes)
        self.gamma, self.capacity, self.capacity_steps = config.gamma, config.capacity, max(1, config.capacity_steps)
        # The step count is state: saved with the weights, so a resumed run continues the schedule.
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long))

    def current_capacity(self) -> float:
        return self.capacity * min(1.0, int(self.steps) / self.capacity_steps)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, *, beta: float | torch.Tensor = 1.0,
             free_bits: float = 0.0) -> Loss:
        out = self(x, y)
        c = self.current_capacity()
        if self.training:
            self.steps += 1
        loss = -out.recon.mean() + self.gamma * (out.kl.mean() - c).abs()
        with torch.no_grad():
            metrics = {"elbo": out.elbo.mean(), "recon": out.recon.mean(), "kl": out.kl.mean(),
                       "capacity": torch.tensor(c)}
        return Loss(loss, metrics)
