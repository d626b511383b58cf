"""Maximum mean discrepancy between two samples, with RBF or inverse-multiquadratic kernels.

Gretton et al., "A Kernel Two-Sample Test", JMLR 2012: the unbiased estimate
MMD^2 = mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j).
The IMQ kernel k(a, b) = C / (C + |a - b|^2), summed over several scales C = 2 D s^2, is the
choice of the WAE paper (heavier tails than the RBF, so far-apart codes still get gradient).
"""

from __future__ import annotations

from typing import Literal

import torch

SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _kernel(d2: torch.Tensor, dim: int, kernel: str, scales: tuple[float, ...]) -> torch.Tensor:
    out = torch.zeros_like(d2)
    for s in scales:
        c = 2.0 * dim * s
        out = out + (c / (c + d2) if kernel == "imq" else torch.exp(-d2 / c))
    return out


def mmd(x: torch.Tensor, y: torch.Tensor, kernel: Literal["imq", "rbf"] = "imq",
        scales: tuple[float, ...] = SCALES) -> torch.Tensor:
    """Unbiased MMD^2 between samples x (N, D) and y (M, D); near zero when they share a distribution."""
    n, m, dim = x.shape[0], y.shape[0], x.shape[1]
    kxx = _kernel(torch.cdist(x, x).pow(2), dim, kernel, scales)
    kyy = _kernel(torch.cdist(y, y).pow(2), dim, kernel, scales)
    kxy = _kernel(torch.cdist(x, y).pow(2), dim, kernel, scales)
    xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return xx + yy - 2 * kxy.mean()
