"""Reconstruction fidelity: per-example errors against hand computation, and SSIM against known
values and an independent loop over window positions."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
import torch
from torch import nn

from vaekit.data.shapes import all_factors, render
from vaekit.evaluate import reconstruction_errors, ssim
from vaekit.evaluate.fidelity import gaussian_window


class Shrink(nn.Module):
    """A stand-in model whose reconstruction of x is 0.5 x + 0.25, and which records the labels."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))
        self.labels: list[torch.Tensor | None] = []

    def reconstruct(self, batch) -> torch.Tensor:
        self.labels.append(batch.y)
        return 0.5 * batch.x + 0.25


# ----------------------------------------------------------------------------- errors


def test_errors_of_binary_images_by_hand():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(7, 1, 4, 4, generator=g) < 0.5).float()
    model = Shrink()
    errors = reconstruction_errors(model, x, batch_size=3, y=torch.arange(7))
    # Every pixel is off by exactly 0.25, whichever its value: squared 0.0625, summed over 16 pixels;
    # and the reconstruction gives the true value probability 0.75.
    assert set(errors) == {"squared_error", "abs_error", "bce", "ssim"}
    torch.testing.assert_close(errors["squared_error"], torch.full((7,), 16 * 0.0625, dtype=torch.float64))
    torch.testing.assert_close(errors["abs_error"], torch.full((7,), 0.25, dtype=torch.float64))
    torch.testing.assert_close(errors["bce"], torch.full((7,), 16 * math.log(4 / 3), dtype=torch.float64))
    assert errors["ssim"].shape == (7,) and (errors["ssim"] < 1).all()
    assert [len(y) for y in model.labels] == [3, 3, 1] and torch.equal(torch.cat(model.labels), torch.arange(7))


def test_errors_of_grey_vectors_have_no_cross_entropy_or_ssim():
    x = torch.tensor([[0.0, 0.5, 1.0], [0.2, 0.2, 0.2]])
    errors = reconstruction_errors(Shrink(), x)
    assert set(errors) == {"squared_error", "abs_error"}
    # 0.5 x + 0.25 - x = 0.25 - 0.5 x: (0.25, 0, -0.25) and (0.15, 0.15, 0.15)
    torch.testing.assert_close(errors["squared_error"], torch.tensor([0.125, 3 * 0.0225], dtype=torch.float64))
    torch.testing.assert_close(errors["abs_error"], torch.tensor([0.5 / 3, 0.15], dtype=torch.float64))


def test_a_perfect_reconstruction_has_no_error(tiny_data):
    class Identity(Shrink):
        def reconstruct(self, batch):
            return batch.x.clone()

    errors = reconstruction_errors(Identity(), tiny_data.test.x)
    assert float(errors["squared_error"].abs().max()) == 0 and float(errors["abs_error"].abs().max()) == 0
    torch.testing.assert_close(errors["ssim"], torch.ones(len(tiny_data.test.x), dtype=torch.float64))
    assert float(errors["bce"].max()) < 1e-4  # x log x at the 1e-6 clamp, not log 0


# ----------------------------------------------------------------------------- SSIM


def loop_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """SSIM written out the slow way: every channel, every window position, weighted sums."""
    n, c, h, w = a.shape
    size = min(11, h, w)
    size = size if size % 2 else size - 1
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-(t**2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    out = np.zeros(n)
    for i in range(n):
        per_channel = []
        for ch in range(c):
            values = []
            for r in range(h - size + 1):
                for s in range(w - size + 1):
                    pa, pb = a[i, ch, r : r + size, s : s + size], b[i, ch, r : r + size, s : s + size]
                    ma, mb = (window * pa).sum(), (window * pb).sum()
                    va, vb = (window * (pa - ma) ** 2).sum(), (window * (pb - mb) ** 2).sum()
                    cov = (window * (pa - ma) * (pb - mb)).sum()
                    values.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
            per_channel.append(np.mean(values))
        out[i] = np.mean(per_channel)
    return out


@pytest.mark.parametrize("shape", [(2, 2, 14, 13), (3, 1, 8, 8), (1, 1, 5, 6)])
def test_ssim_matches_a_loop_over_window_positions(shape):
    rng = np.random.default_rng(0)
    a = rng.random(shape)
    b = np.clip(a + rng.normal(0, 0.2, shape), 0, 1)
    expected = loop_ssim(a, b)
    got = ssim(torch.tensor(a), torch.tensor(b))
    assert got.shape == (shape[0],)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ssim(torch.tensor(a) * 255, torch.tensor(b) * 255, data_range=255).numpy(), expected,
                               rtol=1e-9)  # the constants scale with the range


def test_ssim_of_flat_images_is_the_luminance_term():
    a, b = torch.full((1, 1, 12, 12), 0.2), torch.full((1, 1, 12, 12), 0.6)
    c1 = 0.01**2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)  # no variance: the contrast term is c2 / c2
    assert float(ssim(a, b)) == pytest.approx(expected, rel=1e-6)


def test_identical_images_have_ssim_one_and_noise_lowers_it():
    g = torch.Generator().manual_seed(0)
    r, phase = torch.arange(32.0), torch.arange(4.0).view(4, 1, 1, 1)
    x = 0.5 + 0.3 * torch.sin(r.view(1, 1, 32, 1) / 3 + phase) * torch.cos(r.view(1, 1, 1, 32) / 4 - phase)  # smooth, grey
    torch.testing.assert_close(ssim(x, x), torch.ones(4, dtype=torch.float64))
    shapes = torch.from_numpy(render(all_factors()[::700])).float()  # (5, 1, 32, 32) binary
    torch.testing.assert_close(ssim(shapes, shapes), torch.ones(5, dtype=torch.float64))
    means = [float(ssim((x + s * torch.randn(x.shape, generator=g)).clamp(0, 1), x).mean()) for s in (0.02, 0.1, 0.3, 0.6)]
    assert all(b < a for a, b in pairwise(means)), means
    assert means[0] > 0.9 and means[-1] < 0.2


def test_small_images_get_a_smaller_odd_window():
    assert gaussian_window(11).shape == (11, 11) and float(gaussian_window(7).sum()) == pytest.approx(1.0)
    x = torch.rand(2, 1, 8, 8)
    assert ssim(x, x).shape == (2,)  # 8-pixel digits: a 7x7 window, 2x2 positions
    with pytest.raises(ValueError):
        ssim(x, x[:, :, :7])
