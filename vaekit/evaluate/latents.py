"""Latent-space statistics: posterior moments over a split and active units."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def posterior_moments(model: nn.Module, x: torch.Tensor, batch_size: int = 500,
                      y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances of every example: two (N, D) tensors on the CPU."""
    device = next(model.parameters()).device
    mus, logvars = [], []
    for start in range(0, len(x), batch_size):
        yb = None if y is None else y[start : start + batch_size].to(device)
        q = model.encode(x[start : start + batch_size].to(device), yb)
        mus.append(q.mu.float().cpu())
        logvars.append(q.logvar.float().cpu())
    return torch.cat(mus), torch.cat(logvars)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """Active units (Burda et al. 2016): dimensions u with Cov_x(E_q[u | x]) > threshold.

    Returns the count and the per-dimension variance of the posterior means, (D,).
    """
    var = mu.double().var(dim=0, unbiased=True) if mu.shape[0] > 1 else torch.zeros(mu.shape[1], dtype=torch.float64)
    return int((var > threshold).sum()), var
