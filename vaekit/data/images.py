"""Your own images: `data.path` names a folder of PNG or JPEG files, read with Pillow.

Either the folder holds the images directly (no labels), or it holds one subfolder per class
(labels number the subfolders in sorted order; a subfolder without images is not a class). Files
of other types are skipped. Images are grayscale unless `data.color`; `data.image_size` (H, W)
resizes them, and without it every image must already have the same size. No split is shipped,
so `load_dataset` carves seeded validation and test splits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vaekit.config import DataConfig
from vaekit.data.base import RawSet, make_split
from vaekit.data.download import resolve_path
from vaekit.errors import DataError
from vaekit.registry import DATASETS

NAME = "images"
WHAT = "a folder of PNG or JPEG files (optionally one subfolder per class)"
EXTENSIONS = {".png", ".jpg", ".jpeg"}


def list_images(root: Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """(image files in a fixed order, their labels or None, class names) for a folder."""
    loose = _images_in(root)
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and _images_in(d))
    if loose and class_dirs:
        raise DataError(
            f"{root} mixes images ({loose[0].name}, ...) with class folders ({class_dirs[0].name}, ...); "
            f"move the loose images into a class folder, or the class folders out"
        )
    if loose:
        return loose, None, []
    files: list[Path] = []
    labels: list[int] = []
    for label, d in enumerate(class_dirs):
        found = _images_in(d)
        files += found
        labels += [label] * len(found)
    if not files:
        raise DataError(f"{root} holds no .png, .jpg or .jpeg files; point data.path= at {WHAT}")
    return files, labels, [d.name for d in class_dirs]


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file() and not p.name.startswith(".")
    )


def read_image(path: Path, color: bool, size: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 (H, W) for grayscale or (H, W, 3) for color, resized to `size` (H, W)."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB" if color else "L")
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # Pillow takes (W, H)
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"cannot read image {path} ({e}); replace or delete that file") from None


@DATASETS.register(NAME)
def build_images(config: DataConfig) -> RawSet:
    """Images from the folder at `data.path`: shape (1 or 3, H, W) in [0, 1]; subfolders give labels."""
    root = resolve_path(config, NAME, WHAT)
    if not root.is_dir():
        raise DataError(f"data.path {root} is a file; point data.path= at {WHAT}")
    size = _size(config.image_size)
    files, labels, classes = list_images(root)
    pixels = []
    for path in files:
        a = read_image(path, config.color, size)
        if pixels and a.shape != pixels[0].shape:
            raise DataError(
                f"{path} is {a.shape[1]}x{a.shape[0]} but {files[0]} is {pixels[0].shape[1]}x{pixels[0].shape[0]}; "
                f"resize them all with data.image_size=[H,W]"
            )
        pixels.append(a)
    x = np.stack(pixels)  # (N, H, W) or (N, H, W, 3)
    x = x.transpose(0, 3, 1, 2) if config.color else x[:, None]  # (N, C, H, W)
    y = None if labels is None else np.asarray(labels)
    return RawSet(
        train=make_split(x, y, scale=255.0),
        val=None,
        test=None,
        shape=tuple(x.shape[1:]),
        is_image=True,
        num_classes=len(classes) if labels is not None else None,
        source=str(root),
    )


def _size(image_size: tuple[int, ...] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if len(image_size) != 2 or min(image_size) < 1:
        raise DataError(f"data.image_size={list(image_size)} must be two positive sizes [H, W], for example [28, 28]")
    return int(image_size[0]), int(image_size[1])
