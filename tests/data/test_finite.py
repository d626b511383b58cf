"""Finiteness of what `load_dataset` hands on: values a float64 file holds as finite numbers but
float32, which vaekit computes in, only as infinities, are named as such, not as NaN."""

from __future__ import annotations

import numpy as np
import pytest

from vaekit.config import DataConfig
from vaekit.data import load_dataset
from vaekit.errors import DataError


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_values_beyond_float32_are_named_not_called_infinite(tmp_path, suffix):
    x = np.random.default_rng(0).random((20, 3))
    x[6, 2] = -4e39  # finite in float64, -inf in float32
    path = tmp_path / f"wide{suffix}"
    if suffix == ".npy":
        np.save(path, x)
    else:
        np.savetxt(path, x, delimiter=",")
    with pytest.raises(DataError, match=r"wide\.(npy|csv) \(train\) example 6 holds -4e\+39, beyond the float32 range"):
        load_dataset(DataConfig(name="arrays", path=str(path)))
    x[6, 2] = 3e38  # just inside: loads, finite
    np.save(tmp_path / "ok.npy", x)
    data = load_dataset(DataConfig(name="arrays", path=str(tmp_path / "ok.npy")))
    assert bool(data.train.x.isfinite().all())
