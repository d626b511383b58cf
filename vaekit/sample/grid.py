"""Image grids as PNG files (Pillow; no torchvision)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vaekit.train.checkpoint import atomic_write


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


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int | None = None) -> Path:
    """Write a PNG grid of images, atomically. `scale` enlarges them (nearest neighbour); by
    default tiny images (8x8 digits) are enlarged to about 64 pixels a side."""
    if scale is None:
        scale = max(1, 64 // max(images.shape[-2:]))
    arr = grid_array(images, nrow)
    img = Image.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))
    return path
