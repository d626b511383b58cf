"""The one sample-grid recipe that samples.png, the report and the leaderboard share."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from vaekit.report import pictures
from vaekit.sample import grid_png, sample_grid
from vaekit.contract import Family, Traits


class LabelPainter(Family):
    """A conditional model whose sample k is an image filled with (label + 1) / 10."""

    traits = Traits(conditional=True)
    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def sample(self, n, temperature=1.0, generator=None, y=None):
        return ((y.float() + 1) / 10).view(n, 1, 1, 1).expand(n, 1, 4, 4).clone()


def test_a_conditional_model_gets_one_row_per_class_everywhere():
    images, nrow = sample_grid(LabelPainter(), 10, seed=0)
    assert nrow == 3 and len(images) == 9  # 10 // 3 per class, 3 classes
    rows = images[:, 0, 0, 0].view(3, nrow)  # the grid's rows, top to bottom
    expected = torch.tensor([0.1, 0.2, 0.3]).view(3, 1).expand(3, 3)
    torch.testing.assert_close(rows, expected)  # row k holds class k only
    again, report_nrow = pictures.sample_images(LabelPainter(), 10, seed=0)
    assert report_nrow == nrow
    torch.testing.assert_close(again, images)  # the report lays them out as samples.png does


def test_an_unconditional_grid_is_square_and_its_png_enlarges_small_images(tiny_config):
    from vaekit.models import build_model

    model = build_model(tiny_config().model, (1, 4, 4))
    images, nrow = sample_grid(model, 9, seed=0)
    assert images.shape == (9, 1, 4, 4) and nrow is None
    png = Image.open(io.BytesIO(grid_png(images, None, size=32)))
    side = 3 * (4 + 2) + 2  # three images of 4 pixels with 2-pixel gutters
    assert png.size == (side * 8, side * 8)  # each 4x4 image enlarged to 32 pixels
    assert np.asarray(png).dtype == np.uint8
