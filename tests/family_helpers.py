"""What the model tests share: a family's training loss on a batch, as the training step makes it."""

from __future__ import annotations

import torch

from vaekit.contract import Batch
from vaekit.objectives import Loss, Weights, family_loss


def loss_of(model, x: torch.Tensor, y: torch.Tensor | None = None, *, beta: float = 1.0, free_bits: float = 0.0,
            capacity: float = 0.0) -> Loss:
    """The loss, auxiliary loss and metrics of `model` on the batch (x, y)."""
    return family_loss(model, Batch(x, y), Weights(beta, free_bits, capacity))
