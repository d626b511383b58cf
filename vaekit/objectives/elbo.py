"""The ELBO's units and the loss the reduction (`vaekit.objectives.reduce`) returns.

Reduction convention, used everywhere in vaekit: every term is first a per-example quantity of
shape (B,) in nats, summed over data (and latent) dimensions; the training loss is the mean over
the batch. Reported figures are nats per example, nats per dimension (divide by the number of
data dimensions) and bits per dimension (divide that by ln 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Loss:
    """What `vaekit.objectives.reduce` returns to the training step: the scalar to minimise and
    detached batch-mean metrics (tensors, so the loop never forces a device sync per step)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]
    # The objective of the model's auxiliary parameters (a GAN's discriminator, a learned code
    # prior), if it has any: the loop steps them with their own optimizer on this loss alone.
    aux_loss: torch.Tensor | None = None


def bits_per_dim(nats_per_example: float, num_dims: int) -> float:
    """Convert a negative log-likelihood in nats per example to bits per data dimension."""
    return nats_per_example / (num_dims * math.log(2))
