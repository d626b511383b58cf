"""The posterior of a whole data set, encoded in batches: what `encode` returns, what the GMM
sampler fits and what evaluate's latent statistics (`vaekit.evaluate.latents`) start from."""

from __future__ import annotations

import torch
from torch import nn

from vaekit.contract import Batch


@torch.no_grad()
def posterior_moments(model: nn.Module, x: torch.Tensor, batch_size: int = 500,
                      y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances of every example: two (N, D) tensors on the CPU."""
    device = next(model.parameters()).device
    mus, logvars = [], []
    for start in range(0, len(x), batch_size):
        yb = None if y is None else y[start : start + batch_size].to(device)
        q = model.encode(Batch(x[start : start + batch_size].to(device), yb))
        mus.append(q.mu.float().cpu())
        logvars.append(q.logvar.float().cpu())
    return torch.cat(mus), torch.cat(logvars)
