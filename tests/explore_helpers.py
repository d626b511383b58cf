"""Helpers of the explorer's tests (tests/explore/): untrained in-memory runs of the families
that change what the explorer does (conditional, point-mass posterior), the files of a run
directory by hash, and pictures as pixels."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from conftest import make_dataset
from family_helpers import TINY_MODELS
from vaekit.config import parse_config
from vaekit.data.codec import Codec
from vaekit.models import build_model
from vaekit.run import Run

TINY_IMAGE_MODELS = TINY_MODELS  # every family with a latent, tiny (tests/family_helpers.py)


def memory_run(family: str, path: Path, latent_dim: int = 3, **model) -> Run:
    """An untrained image run of `family` on the tiny prototypes of conftest.make_dataset, held
    in memory (no files): what the explorer does differently for the family shows all the same."""
    data = make_dataset(n_train=32, n_eval=40)
    cfg = parse_config({"model": {"name": family, "latent_dim": latent_dim, **model,
                                  "encoder": {"hidden": [16]}, "decoder": {"hidden": [16]}}})
    torch.manual_seed(0)
    net = build_model(cfg.model, data.shape, data.num_classes).eval()
    path.mkdir(parents=True, exist_ok=True)
    return Run(path, cfg, net, tuple(data.shape), torch.device("cpu"), data, Codec(modality="image"))


def tree_hashes(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) by its relative path -> the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def pixels(data_url: str) -> np.ndarray:
    """The pixels of a PNG data URL as a uint8 array."""
    head, _, b64 = data_url.partition(",")
    assert head == "data:image/png;base64", head
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def expected_pixels(x: torch.Tensor) -> np.ndarray:
    """What an 8-bit grey picture of x (1, H, W) in [0, 1] holds: round(255 x), computed here."""
    return (x[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()
