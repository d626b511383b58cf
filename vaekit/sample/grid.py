"""Image grids as PNG files (Pillow; no torchvision)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vaekit.files import atomic_write


def grid_array(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile (N, C, H, W) images with values in [0, 1] into one uint8 (H', W') or (H', W', 3) array."""
    images = images.detach().float().clamp(0, 1).cpu()
    n, c, h, w = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(n / nrow))
    canvas = torch.ones(c, ncol * (h + pad) + pad, nrow * (w + pad) + pad)  # white gutters
    for i in range(n):
        r, k = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        canvas[:, top : top + h, left : left + w] = images[i]
    arr = (canvas * 255).round().to(torch.uint8).numpy()
    return arr[0] if c == 1 else np.transpose(arr[:3], (1, 2, 0))


def grid_image(images: torch.Tensor, nrow: int | None = None, size: int = 64) -> Image.Image:
    """The grid of (N, C, H, W) images in [0, 1] as a Pillow image, each enlarged (nearest
    neighbour) to about `size` pixels a side: 8x8 digits become 64x64 blocks."""
    img = Image.fromarray(grid_array(images, nrow))
    scale = max(1, size // max(images.shape[-2:]))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def grid_png(images: torch.Tensor, nrow: int | None = None, size: int = 64) -> bytes:
    """The grid as PNG bytes (for a page that embeds it)."""
    buf = io.BytesIO()
    grid_image(images, nrow, size).save(buf, format="PNG")
    return buf.getvalue()


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int | None = None) -> Path:
    """Write a PNG grid of images, atomically. `scale` enlarges them (nearest neighbour); by
    default tiny images (8x8 digits) are enlarged to about 64 pixels a side."""
    size = 64 if scale is None else scale * max(images.shape[-2:])
    img = grid_image(images, nrow, size)
    path = Path(path)
    atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))
    return path


def sample_grid(model: torch.nn.Module, n: int, seed: int, sampler=None) -> tuple[torch.Tensor, int | None]:
    """About n samples (codes from `sampler`; None: the prior) and the grid's row length, as every
    picture of samples lays them out (samples.png, the report, the leaderboard): a conditional
    model gets one row per class, labels 0, 1, ..., K-1 from the top; other models a square grid
    (row length None)."""
    from vaekit.sample.ops import sample

    classes = model.num_classes if model.traits.conditional else None
    if not classes:
        return sample(model, n, seed=seed, sampler=sampler), None
    per_class = max(1, n // classes)
    y = torch.arange(per_class * classes) // per_class  # (K * per_class,): row k holds class k
    return sample(model, len(y), seed=seed, y=y, sampler=sampler), per_class


def reconstruction_pairs(model, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Originals beside their reconstructions, interleaved (original, reconstruction, ...):
    (2N, *shape), the layout of reconstructions.png and the report's reconstructions."""
    from vaekit.sample.ops import reconstruct

    r = reconstruct(model, x, y)
    return torch.stack([x.cpu(), r], dim=1).reshape(-1, *x.shape[1:])
