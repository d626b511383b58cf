"""`shapes`: a synthetic set of 32x32 binary images with known generative factors, built in memory.

Every combination of five factors appears exactly once (3 x 3 x 5 x 8 x 8 = 2,880 images), like
dSprites (Matthey et al. 2017) at a size that renders in a few milliseconds and needs no
download. The disentanglement metrics (`vaekit.evaluate.disentangle`) need exactly this: the
true factors of every image, and for each value of a factor many images that share it.

    data = load_dataset(DataConfig(name="shapes"))
    data.train.factors  # (2304, 5) int64: value indices of shape, scale, rotation, x, y
    data.factor_names   # ('shape', 'scale', 'rotation', 'x', 'y')

`y` is the shape (0 square, 1 ellipse, 2 triangle). No validation or test split is shipped, so
`load_dataset` carves seeded ones, as for `digits`.
"""

from __future__ import annotations

import numpy as np
import torch

from vaekit.sections import DataConfig
from vaekit.data.base import RawSet, Split, make_split
from vaekit.registry import DATASETS

SIZE = 32  # pixels per side
SHAPES = ("square", "ellipse", "triangle")
SCALES = (3.5, 5.0, 6.5)  # pixels per unit of the shape's own frame
# Within [0, 90) degrees every shape looks different at every angle: the square repeats itself
# every 90, the triangle every 120 and the ellipse every 180 degrees.
ROTATIONS = (0.0, 18.0, 36.0, 54.0, 72.0)  # degrees, counter-clockwise
# Pixel centres lie at k + 0.5; the largest shape reaches 1.2 * 6.5 = 7.8 px from its centre,
# so every shape stays whole inside the image.
POSITIONS = tuple(8.5 + 2.0 * i for i in range(8))  # centre x and y, in pixels from the top-left corner
FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")
FACTOR_VALUES: dict[str, tuple] = dict(zip(FACTOR_NAMES, (SHAPES, SCALES, ROTATIONS, POSITIONS, POSITIONS)))
FACTOR_SIZES = tuple(len(v) for v in FACTOR_VALUES.values())


def all_factors() -> np.ndarray:
    """Every combination of factor values once: (2880, 5) int64 value indices, in row-major order
    (the last factor, y, varies fastest)."""
    return np.indices(FACTOR_SIZES).reshape(len(FACTOR_SIZES), -1).T.astype(np.int64)


def render(factors: np.ndarray) -> np.ndarray:
    """Binary images (N, 1, 32, 32) uint8 for factor value indices (N, 5); a pixel is on when its
    centre lies inside the shape."""
    f = np.asarray(factors, dtype=np.int64).reshape(-1, len(FACTOR_NAMES))
    scale = np.asarray(SCALES, dtype=np.float32)[f[:, 1]][:, None, None]
    theta = np.deg2rad(np.asarray(ROTATIONS, dtype=np.float32))[f[:, 2]][:, None, None]
    cx = np.asarray(POSITIONS, dtype=np.float32)[f[:, 3]][:, None, None]
    cy = np.asarray(POSITIONS, dtype=np.float32)[f[:, 4]][:, None, None]
    centres = np.arange(SIZE, dtype=np.float32) + 0.5
    dx, dy = centres[None, None, :] - cx, centres[None, :, None] - cy  # (N, 1, W), (N, H, 1)
    # Into the shape's own frame: undo the rotation (image y points down, so a counter-clockwise
    # turn on screen is clockwise in these coordinates), then the scale.
    cos, sin = np.cos(theta), np.sin(theta)
    u = (cos * dx - sin * dy) / scale  # (N, H, W)
    v = (sin * dx + cos * dy) / scale
    images = np.zeros((len(f), SIZE, SIZE), dtype=np.uint8)
    for index, inside in enumerate((_square, _ellipse, _triangle)):
        rows = f[:, 0] == index
        images[rows] = inside(u[rows], v[rows])
    return images[:, None]


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 0.8


def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u / 1.1) ** 2 + (v / 0.6) ** 2 <= 1.0  # elongated, so that its rotation shows


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # An equilateral triangle of circumradius 1.2 with a vertex pointing up: inside its three edges,
    # each at the inradius 0.6 along its outward normal (the bottom edge's points down, +v here).
    inside = np.ones(u.shape, dtype=bool)
    for angle in (90.0, -30.0, -150.0):
        a = np.deg2rad(angle)
        inside &= u * np.cos(a) + v * np.sin(a) <= 0.6
    return inside


@DATASETS.register("shapes")
def build_shapes(config: DataConfig) -> RawSet:
    """All 2,880 shapes as one training pool of shape (1, 32, 32) in {0, 1}, with their factors."""
    factors = all_factors()
    images = make_split(render(factors), factors[:, 0])  # y: the shape
    return RawSet(
        train=Split(images.x, images.y, torch.from_numpy(factors)),
        val=None,
        test=None,
        shape=(1, SIZE, SIZE),
        is_image=True,
        num_classes=len(SHAPES),
        source="vaekit shapes (built in memory)",
        factor_names=FACTOR_NAMES,
    )

