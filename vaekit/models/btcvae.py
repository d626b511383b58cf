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
from vaekit.contract import Batch, KLTarget, Terms, Traits
from vaekit.distributions.gaussian import LOG_2PI
from vaekit.models.vae import VAE, VAEConfig
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

    traits = Traits(select_by="objective", ignores=frozenset({"free_bits"}))

    def __init__(self, config: BetaTCVAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        super().__init__(config, data_shape, num_classes)
        self.weights = (config.alpha, config.tc_weight, config.gamma)
        self.register_buffer("dataset_size", torch.tensor(0, dtype=torch.long))

    def on_train_start(self, facts) -> None:
        self.dataset_size.fill_(int(facts["train_size"]))

    def forward(self, batch: Batch | torch.Tensor) -> Terms:
        """The VAE's terms, with beta weighing alpha MI + tc_weight TC + gamma dim-wise KL in
        place of the KL (beta carries the warm-up); the three parts are logged."""
        out = super().forward(batch)
        n = max(int(self.dataset_size), out.z.shape[0])
        q = out.posterior
        parts = kl_decomposition(out.z, q.mu, q.logvar, self.prior.log_prob(out.z), n)
        a, b, g = self.weights
        out.regularizer = a * parts["mi"] + b * parts["tc"] + g * parts["dwkl"]
        out.logs.update(parts)
        return out


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

    # gamma and the capacity schedule replace beta and free bits; the loss pulls towards a capacity
    # that rises, so epochs are not comparable and the last one is kept. The schedule is the
    # trainer's (vaekit.train.schedules.capacity_at): the step count lives in the training state.
    traits = Traits(select_by="last", ignores=frozenset({"free_bits", "beta"}))

    def __init__(self, config: CapacityVAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        super().__init__(config, data_shape, num_classes)
        self.traits = Traits(select_by="last", ignores=frozenset({"free_bits", "beta"}),
                             kl_target=KLTarget(config.gamma, config.capacity, max(1, config.capacity_steps)))
        # Runs saved before the schedule moved to the trainer kept a step counter with the weights.
        self._register_load_state_dict_pre_hook(_drop_old_step_counter)


def _drop_old_step_counter(state_dict, prefix, *args) -> None:
    state_dict.pop(prefix + "steps", None)
