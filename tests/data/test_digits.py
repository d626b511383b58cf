"""scikit-learn's digits: shapes, range, labels and the carved splits."""

from __future__ import annotations

import torch

from vaekit.config import DataConfig
from vaekit.data import load_dataset


def test_digits_shapes_and_range():
    data = load_dataset(DataConfig(name="digits"))
    assert (len(data.train), len(data.val), len(data.test)) == (1437, 180, 180)
    assert data.shape == (1, 8, 8) and data.is_image and data.num_classes == 10
    assert not data.binary and not data.dynamic_binarize
    for split in (data.train, data.val, data.test):
        assert split.x.shape[1:] == (1, 8, 8) and split.x.dtype == torch.float32
        assert float(split.x.min()) == 0.0 and float(split.x.max()) == 1.0
        assert split.y.dtype == torch.int64 and set(split.y.tolist()) == set(range(10))
    values = torch.unique(data.train.x * 16)
    assert torch.equal(values, torch.arange(17, dtype=torch.float32))  # grey levels 0..16, divided by 16
