"""Your own images: `data.path` names a folder of PNG or JPEG files, read with Pillow.

Either the folder holds the images directly (no labels), or it holds one subfolder per class
(labels number the subfolders in sorted order; a subfolder without images is not a class). Files
of other types are skipped. Images are grayscale unless `data.color`; `data.image_size` (H, W)
resizes them, and without it every image must already have the same size. No split is shipped,
so `load_dataset` carves seeded validation and test splits.

Every pixel mode Pillow reads is scaled by its own bit depth, so a folder mixing 8-bit and 16-bit
files ends on one [0, 1] scale: 1-bit as 0 and 1; 8-bit modes over 255; 16-bit grey (I;16, and
I from other formats) over 65535; float (F) as it is, which must lie in [0, 1]. Pillow's own
conversion to 8 bits would clip 16-bit values above 255 to white. Values stay float32, with no
rounding to 8 bits, also through resizing. Transparent pixels are composited on black (colour
times opacity), whatever colour they hide. Grey from colour is ITU-R 601 luma,
0.299 R + 0.587 G + 0.114 B, as Pillow computes it, without its rounding. (Pillow itself reads
16-bit colour, and 16-bit grey with alpha, as 8 bits per channel: right scale, low bits dropped.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from vaekit.sections import MAX_IMAGE_SIDE, DataConfig, Range
from vaekit.data.base import RawSet, Split
from vaekit.data.download import resolve_path
from vaekit.data.files import reading
from vaekit.errors import DataError
from vaekit.registry import DATASETS

NAME = "images"
WHAT = "a folder of PNG or JPEG files (optionally one subfolder per class)"
EXTENSIONS = {".png", ".jpg", ".jpeg"}


def list_images(root: Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """(image files in a fixed order, their labels or None, class names) for a folder."""
    with reading(root, f"point data.path= at {WHAT}"):
        return _list_images(root)


def _list_images(root: Path) -> tuple[list[Path], list[int] | None, list[str]]:
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


LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601-2, Pillow's weights for 'L'
SIXTEEN_BIT = 65535.0
ALPHA = {"LA", "La", "PA", "RGBA", "RGBa"}  # 8-bit modes with an opacity channel


def read_image(path: Path, color: bool, size: tuple[int, int] | None) -> np.ndarray:
    """One image as float32 (H, W, C) in [0, 1], C = 3 for color and 1 for grey, resized to
    `size` (H, W). See the module's docstring for how each pixel mode is scaled."""
    try:
        with reading(path, "move it out of the folder", "shrink it, or move it out"), Image.open(path) as img:
            img.load()
            a = _unit(img, path)  # (H, W, 1 or 3)
    except DataError:
        raise
    except Image.DecompressionBombError:
        raise DataError(f"image {path} has more pixels than Pillow will open ({Image.MAX_IMAGE_PIXELS}); "
                        f"shrink it, or move it out") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):  # SyntaxError: some damaged files
        raise DataError(f"cannot read image {path} (not a whole PNG or JPEG file); "
                        f"replace or delete that file") from None
    if color and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif not color and a.shape[2] == 3:
        a = (a @ LUMA)[..., None]
    if size is not None and a.shape[:2] != size:
        # Per channel in Pillow's float mode, so that nothing is rounded to 8 bits; the weights of a
        # bilinear filter are non-negative and sum to 1, up to the float rounding clipped here.
        with reading(path, "move it out of the folder", f"lower data.image_size (now {list(size)})"):
            a = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(a[..., c])).resize(
                (size[1], size[0]), Image.Resampling.BILINEAR)) for c in range(a.shape[2])], axis=2)  # Pillow takes (W, H)
            a = np.clip(a, 0.0, 1.0)
    return a


def _unit(img: Image.Image, path: Path) -> np.ndarray:
    """An opened image as float32 (H, W, 1) for grey modes or (H, W, 3) for colour, in [0, 1]."""
    mode = img.mode
    if mode in ALPHA or ("transparency" in img.info and mode in ("1", "L", "P", "RGB")):
        grey = mode in ("1", "L", "LA", "La")
        a = np.asarray(img.convert("LA" if grey else "RGBA"), dtype=np.float32) / 255.0
        return a[..., :-1] * a[..., -1:]  # composited on black
    if mode == "1":
        return np.asarray(img, dtype=np.float32)[..., None]  # booleans: 0 and 1
    if mode == "L":
        return (np.asarray(img, dtype=np.float32) / 255.0)[..., None]
    if mode.startswith("I;16"):
        return (np.asarray(img).astype(np.float32) / SIXTEEN_BIT)[..., None]
    if mode in ("I", "F"):
        # 'I' (32-bit integers) is how other formats hand over 16-bit grey; 'F' is float grey.
        a = np.asarray(img).astype(np.float32)
        if mode == "I":
            a /= SIXTEEN_BIT
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0 and hi <= 1):
            shown = f"[{lo * SIXTEEN_BIT:g}, {hi * SIXTEEN_BIT:g}]" if mode == "I" else f"[{lo:g}, {hi:g}]"
            want = "0..65535 (16 bits)" if mode == "I" else "[0, 1]"
            raise DataError(f"{path} holds {mode}-mode pixels in {shown}, outside {want}; save it as an 8- or "
                            f"16-bit PNG")
        return a[..., None]
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0  # RGB, P, CMYK, YCbCr, ...


@dataclass(frozen=True)
class ImagesConfig(DataConfig):
    """A folder of your own images (`data.name: images`): every key of DataConfig, and the size and
    colour to read them at."""

    name: str = NAME
    image_size: tuple[int, ...] | None = None  # (H, W) to resize every image to; None: all must share a size
    color: bool = False  # images as RGB instead of grayscale

    ranges: ClassVar[dict[str, Range]] = {"image_size": Range(min=1, max=MAX_IMAGE_SIDE)}


@DATASETS.register(NAME, config=ImagesConfig)
def build_images(config: ImagesConfig) -> RawSet:
    """Images from the folder at `data.path`: shape (1 or 3, H, W) in [0, 1]; subfolders give labels."""
    root = resolve_path(config, NAME, WHAT)
    if not root.is_dir():
        raise DataError(f"data.path {root} is a file; point data.path= at {WHAT}")
    size = _size(config.image_size)
    files, labels, classes = list_images(root)
    x = None
    for i, path in enumerate(files):
        a = read_image(path, config.color, size)  # (H, W, C)
        if x is None:
            with reading(root, f"point data.path= at {WHAT}", f"{len(files)} images of {a.shape[1]}x{a.shape[0]} do "
                                                              f"not fit in memory: lower data.image_size"):
                x = np.empty((len(files), a.shape[2], a.shape[0], a.shape[1]), dtype=np.float32)  # (N, C, H, W)
        elif a.shape[:2] != x.shape[2:]:
            raise DataError(
                f"{path} is {a.shape[1]}x{a.shape[0]} but {files[0]} is {x.shape[3]}x{x.shape[2]}; "
                f"resize them all with data.image_size=[H,W]"
            )
        x[i] = a.transpose(2, 0, 1)
    y = None if labels is None else torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return RawSet(
        train=Split(torch.from_numpy(x), y),  # x is float32 and ours: no copy (make_split would make one)
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
