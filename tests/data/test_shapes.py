"""The synthetic `shapes` set: every factor combination once, factors that mean what they say,
deterministic seeded splits, and factors that follow the examples through every split, limit
and binarization."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import Split, load_dataset
from vaekit.data.shapes import FACTOR_NAMES, FACTOR_SIZES, all_factors, render
from vaekit.errors import DataError
from vaekit.registry import DATASETS


def image(**values: int) -> np.ndarray:
    """One (32, 32) image; factors not given take value index 2 (shape 0)."""
    f = [values.get(name, 0 if name == "shape" else 2) for name in FACTOR_NAMES]
    return render(np.array([f]))[0, 0].astype(bool)


def centroid(img: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(img)
    return float(cols.mean()), float(rows.mean())


def test_every_combination_once_and_every_image_different():
    f = all_factors()
    assert f.shape == (int(np.prod(FACTOR_SIZES)), 5) == (2880, 5) and f.dtype == np.int64
    assert len({tuple(row) for row in f}) == len(f)
    x = render(f)
    assert x.shape == (2880, 1, 32, 32) and set(np.unique(x)) == {0, 1}
    assert len(np.unique(x.reshape(len(x), -1), axis=0)) == len(x)  # no two combinations look alike
    pixels = x.reshape(len(x), -1).sum(1)
    assert pixels.min() >= 15  # even the smallest shape is more than a speck
    edges = np.concatenate([x[:, 0, 0], x[:, 0, -1], x[:, 0, :, 0], x[:, 0, :, -1]], axis=1)
    assert edges.sum() == 0  # every shape lies wholly inside the frame


def test_factors_mean_what_they_say():
    xs = [centroid(image(x=i))[0] for i in range(8)]
    ys = [centroid(image(y=i))[1] for i in range(8)]
    assert all(b - a == pytest.approx(2.0, abs=0.3) for a, b in pairwise(xs)), xs  # 2 px per step, rightwards
    assert all(b - a == pytest.approx(2.0, abs=0.3) for a, b in pairwise(ys)), ys  # downwards
    areas = [image(scale=i).sum() for i in range(3)]
    assert areas[0] < areas[1] < areas[2]
    square = image(shape=0, rotation=0)
    rows, cols = np.nonzero(square)
    assert square[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()  # upright: fills its box
    assert not image(shape=0, rotation=2).all() and image(shape=0, rotation=2).sum() == pytest.approx(square.sum(), rel=0.15)
    triangle = image(shape=2, rotation=0)
    top, bottom = np.nonzero(triangle)[0].min(), np.nonzero(triangle)[0].max()
    assert triangle[top].sum() < triangle[bottom].sum()  # a vertex up, an edge down
    ellipse = image(shape=1, rotation=0)
    rows, cols = np.nonzero(ellipse)
    assert cols.max() - cols.min() > rows.max() - rows.min()  # long axis horizontal when unrotated


def test_loaded_set_carries_factors_and_is_deterministic():
    assert "shapes" in DATASETS
    data = load_dataset(DataConfig(name="shapes"))
    assert (len(data.train), len(data.val), len(data.test)) == (2304, 288, 288)
    assert data.shape == (1, 32, 32) and data.is_image and data.binary and data.num_classes == 3
    assert data.factor_names == FACTOR_NAMES
    together = torch.cat([data.train.factors, data.val.factors, data.test.factors])
    assert sorted(map(tuple, together.tolist())) == sorted(map(tuple, all_factors().tolist()))  # disjoint, complete
    for split in (data.train, data.val, data.test):
        assert split.factors.dtype == torch.int64 and split.factors.shape == (len(split), 5)
        assert torch.equal(split.x, torch.from_numpy(render(split.factors.numpy())).float())  # aligned with x
        assert torch.equal(split.y, split.factors[:, 0])  # the label is the shape
    again = load_dataset(DataConfig(name="shapes"))
    assert torch.equal(again.test.factors, data.test.factors) and torch.equal(again.test.x, data.test.x)
    other = load_dataset(DataConfig(name="shapes", split_seed=1))
    assert not torch.equal(other.test.factors, data.test.factors)


@pytest.mark.parametrize("options", [{"limit": 50}, {"binarize": "static"}, {"binarize": "threshold"}, {"classes": (1,)}])
def test_factors_follow_the_examples(options):
    data = load_dataset(DataConfig(name="shapes", **options))
    for split in (data.train, data.val, data.test):
        assert split.factors is not None and len(split.factors) == len(split)
        assert torch.equal(split.x, torch.from_numpy(render(split.factors.numpy())).float())
    if "classes" in options:
        assert set(data.train.factors[:, 0].tolist()) == {1}


def test_other_sets_have_no_factors_and_a_split_checks_them():
    data = load_dataset(DataConfig(name="digits", limit=5))
    assert data.factor_names is None and data.train.factors is None
    with pytest.raises(DataError, match="one row per example"):
        Split(torch.zeros(3, 2), factors=torch.zeros(2, 5, dtype=torch.int64))
    with pytest.raises(DataError, match="one row per example"):
        Split(torch.zeros(3, 2), factors=torch.zeros(3, dtype=torch.int64))
