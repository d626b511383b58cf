"""Reconstruction fidelity: how close the reconstructions come to the inputs, per example.

A reconstruction is the likelihood's mean at the posterior mean (`model.reconstruct`), the
picture `vaekit reconstruct` draws. The errors are plain distances in data space, so they compare
models with different likelihoods, which the ELBO's reconstruction term does not. SSIM is the
structural similarity of Wang et al. 2004, "Image quality assessment: from error visibility to
structural similarity", IEEE TIP 13(4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.contract import Batch

# The constants of Wang et al. 2004.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
BCE_EPS = 1e-6  # keeps log(0) out of the cross-entropy when a reconstruction is exactly 0 or 1


@torch.no_grad()
def reconstruction_errors(model: nn.Module, x: torch.Tensor, batch_size: int = 500,
                          y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-example errors (N,) float64 between `x` and its reconstruction:

    - `squared_error`: sum over data dimensions of (x - x_hat)^2;
    - `abs_error`: mean over data dimensions of |x - x_hat|;
    - `bce`, only when every value of `x` is 0 or 1: the binary cross-entropy in nats, summed over
      dimensions, with x_hat clamped to [1e-6, 1 - 1e-6];
    - `ssim`, only for images (N, C, H, W) with values in [0, 1]: `ssim(x_hat, x)`.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    binary = bool(((x == 0) | (x == 1)).all())
    image = x.ndim == 4 and len(x) > 0 and float(x.min()) >= 0 and float(x.max()) <= 1
    names = ["squared_error", "abs_error", *(["bce"] if binary else []), *(["ssim"] if image else [])]
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(device)
        yb = None if y is None else y[start : start + batch_size].to(device)
        recon = model.reconstruct(Batch(xb, yb)).reshape(xb.shape)
        diff = (recon.double() - xb.double()).flatten(1)  # (B, D)
        parts["squared_error"].append(diff.pow(2).sum(dim=1).cpu())
        parts["abs_error"].append(diff.abs().mean(dim=1).cpu())
        if binary:
            xf = xb.double().flatten(1)
            p = (diff + xf).clamp(BCE_EPS, 1 - BCE_EPS)  # the reconstruction again, as a probability
            parts["bce"].append(-(xf * p.log() + (1 - xf) * (-p).log1p()).sum(dim=1).cpu())
        if image:
            parts["ssim"].append(ssim(recon, xb))
    model.train(was_training)
    return {k: torch.cat(v) for k, v in parts.items()}


def gaussian_window(size: int, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """A (size, size) Gaussian window that sums to 1, float64."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-t.pow(2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """The mean SSIM of each pair of images (N,) float64, for batches (N, C, H, W).

    The standard form of Wang et al. 2004: an 11x11 Gaussian window with sigma 1.5, K1 = 0.01,
    K2 = 0.03, the SSIM map over the window positions that lie wholly inside the image (no
    padding), averaged over positions and then over channels. Images smaller than 11 pixels get
    the largest odd window that fits (7x7 for 8x8 digits), with the same sigma.
    """
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"ssim needs two image batches (N, C, H, W) of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    _, c, h, w = a.shape
    size = min(SSIM_WINDOW, h, w)
    size -= 1 - size % 2  # odd, so the window has a centre pixel
    window = gaussian_window(size).to(a.device).expand(c, 1, size, size)  # one window per channel

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=c)  # (N, C, H - size + 1, W - size + 1)

    a, b = a.double(), b.double()
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.pow(2)
    var_b = blur(b * b) - mu_b.pow(2)
    cov = blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a.pow(2) + mu_b.pow(2) + c1) * (var_a + var_b + c2))
    return index.mean(dim=(2, 3)).mean(dim=1).cpu()

