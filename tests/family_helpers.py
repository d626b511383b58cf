"""What the model tests share: a family's training loss on a batch, as the training step makes it, and
the tiny model section of every family with a latent (for tests that run each family on images)."""

from __future__ import annotations

import torch

from vaekit.contract import Batch
from vaekit.objectives import Loss, Weights, family_loss


def loss_of(model, x: torch.Tensor, y: torch.Tensor | None = None, *, beta: float = 1.0, free_bits: float = 0.0,
            capacity: float = 0.0) -> Loss:
    """The loss, auxiliary loss and metrics of `model` on the batch (x, y)."""
    return family_loss(model, Batch(x, y), Weights(beta, free_bits, capacity))


# What each family's tiny model section adds to {"name": family, "latent_dim": D} on images: every
# family with a latent needs an entry (the report's and the explorer's tests check it).
TINY_MODELS: dict[str, dict] = {
    "vae": {}, "cvae": {}, "iwae": {"k": 3}, "betatcvae": {}, "capacity_vae": {"capacity_steps": 10},
    "infovae": {"lam": 10.0}, "wae": {}, "ladder": {"lower_dims": [4], "hidden": 16},
    "hvae": {"lower_dims": [4], "hidden": 16},
    "vqvae": {"codebook_size": 5, "code_dim": 1, "prior_hidden": 8}, "vaegan": {"disc_features": 8},
}
