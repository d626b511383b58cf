"""The ELBO, written once.

Reduction convention, used everywhere in vaekit: every term is first a per-example quantity of
shape (B,) in nats, summed over data (and latent) dimensions; the training loss is the mean over
the batch. Reported figures are nats per example, nats per dimension (divide by the number of
data dimensions) and bits per dimension (divide that by ln 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaekit.errors import ConfigError


@dataclass
class Loss:
    """What a model's `loss` returns to the training loop: the scalar to minimise and detached
    batch-mean metrics (tensors, so the loop never forces a device sync per step)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]
    # The objective of the model's auxiliary parameters (a GAN's discriminator, a learned code
    # prior), if it has any: the loop steps them with their own optimizer on this loss alone.
    aux_loss: torch.Tensor | None = None


def kl_term(kl: torch.Tensor, kl_per_dim: torch.Tensor | None, free_bits: float) -> torch.Tensor:
    """The batch-mean KL to penalise. With free bits (Kingma et al. 2016), each latent dimension's
    batch-mean KL counts at least `free_bits` nats, so dimensions below it get no gradient."""
    if free_bits <= 0.0:
        return kl.mean()
    if kl_per_dim is None:
        raise ConfigError("free bits need a KL per latent dimension, which this prior has no closed form for; "
                          "set objective.free_bits=0 or use model.prior.name=standard_normal")
    return torch.clamp(kl_per_dim.mean(0), min=free_bits).sum()


def elbo_loss(recon: torch.Tensor, kl: torch.Tensor, *, beta: float = 1.0, free_bits: float = 0.0,
              kl_per_dim: torch.Tensor | None = None) -> Loss:
    """Negative (beta-weighted) ELBO from per-example log p(x|z) and KL, both (B,).

    loss = mean_b[-recon_b] + beta * KL-term; the metrics report the unweighted ELBO.
    """
    loss = -recon.mean() + beta * kl_term(kl, kl_per_dim, free_bits)
    with torch.no_grad():
        metrics = {"elbo": (recon - kl).mean(), "recon": recon.mean(), "kl": kl.mean()}
    return Loss(loss, metrics)


def bits_per_dim(nats_per_example: float, num_dims: int) -> float:
    """Convert a negative log-likelihood in nats per example to bits per data dimension."""
    return nats_per_example / (num_dims * math.log(2))
