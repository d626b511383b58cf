"""Sampling, reconstruction, interpolation, embedding, and the PNG grids that show them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from vaekit.config import parse_config
from vaekit.models import build_model
from vaekit.sample import decode, encode, grid_array, interpolate, reconstruct, sample, save_grid

SHAPE = (1, 8, 8)


@pytest.fixture
def model():
    torch.manual_seed(0)
    cfg = parse_config({"model": {"latent_dim": 3, "encoder": {"hidden": [16]}, "decoder": {"hidden": [16]}}})
    return build_model(cfg.model, SHAPE).eval()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.rand(6, *SHAPE, generator=torch.Generator().manual_seed(1))


def test_same_seed_same_samples_other_seed_other_samples(model):
    a = sample(model, 8, seed=1)
    assert a.shape == (8, *SHAPE) and ((a >= 0) & (a <= 1)).all()  # Bernoulli means
    assert torch.equal(a, sample(model, 8, seed=1))
    assert not torch.allclose(a, sample(model, 8, seed=2))
    assert not torch.allclose(sample(model, 8), sample(model, 8))  # no seed: fresh draws each call


def test_temperature_scales_the_prior_draws(model):
    g = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    z1 = model.prior.sample(20000, 1.0, g())
    z_half = model.prior.sample(20000, 0.5, g())
    torch.testing.assert_close(z_half, 0.5 * z1)  # the same draws, scaled
    assert z1.std().item() == pytest.approx(1.0, abs=0.02)
    assert z_half.std().item() == pytest.approx(0.5, abs=0.01)


def test_temperature_reaches_the_generated_examples():
    """With an identity decoder and a Gaussian likelihood, a sample is the latent draw itself,
    so `sample(..., temperature=t)` must be t times the draw at temperature 1."""
    cfg = parse_config({"model": {"latent_dim": 4, "likelihood": {"name": "gaussian", "variance": "fixed"},
                                  "encoder": {"hidden": [8]}, "decoder": {"hidden": [8]}}})
    m = build_model(cfg.model, (4,))
    m.decoder = nn.Identity()
    base = sample(m, 500, temperature=1.0, seed=0)
    for t in (0.1, 0.7, 2.0):
        torch.testing.assert_close(sample(m, 500, temperature=t, seed=0), t * base)


@pytest.mark.parametrize("kwargs, message", [({"n": 0}, "at least 1"), ({"n": 2, "temperature": 0.0}, "positive"),
                                             ({"n": 2, "temperature": -1.0}, "positive")])
def test_sample_rejects_meaningless_arguments(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample(model, **kwargs)


def test_interpolation_ends_at_the_decodings_of_the_two_posterior_means(model, x):
    xa, xb = x[:3], x[3:]
    path = interpolate(model, xa, xb, steps=5)
    assert path.shape == (3, 5, *SHAPE)
    mu_a, _ = encode(model, xa)
    mu_b, _ = encode(model, xb)
    torch.testing.assert_close(path[:, 0], decode(model, mu_a))
    torch.testing.assert_close(path[:, -1], decode(model, mu_b))
    torch.testing.assert_close(path[:, 2], decode(model, (mu_a + mu_b) / 2))  # the midpoint in latent space
    assert not torch.allclose(path[:, 0], path[:, -1])


def test_reconstruction_decodes_the_posterior_mean(model, x):
    r = reconstruct(model, x)
    assert r.shape == x.shape
    torch.testing.assert_close(r, decode(model, encode(model, x)[0]))


def test_encode_is_the_same_in_any_batch_size(model, x):
    mu, logvar = encode(model, x, batch_size=4)
    assert mu.shape == logvar.shape == (6, 3)
    q = model.encode(x)
    torch.testing.assert_close(mu, q.mu)
    torch.testing.assert_close(logvar, q.logvar)


# ----------------------------------------------------------------------------- grids


def test_grid_array_layout():
    images = torch.stack([torch.full((1, 3, 4), i / 10) for i in range(5)])  # 5 flat grey 3x4 images
    arr = grid_array(images, nrow=3, pad=2)
    assert arr.dtype == np.uint8 and arr.shape == (2 * (3 + 2) + 2, 3 * (4 + 2) + 2)  # 2 rows of 3
    for i in range(5):
        r, k = divmod(i, 3)
        top, left = 2 + r * 5, 2 + k * 6
        cell = arr[top : top + 3, left : left + 4]
        assert (cell == round(i / 10 * 255)).all(), i
        arr[top : top + 3, left : left + 4] = 255
    assert (arr == 255).all()  # everything else, the sixth (empty) cell included, is white gutter


def test_grid_array_defaults_and_clamping():
    images = torch.linspace(-1, 2, 10).view(10, 1, 1, 1)
    arr = grid_array(images, pad=0)
    assert arr.shape == (3, 4)  # ceil(sqrt(10)) = 4 per row, 3 rows
    assert arr.min() == 0 and arr.max() == 255


def test_grid_array_keeps_colour_channels():
    red = torch.zeros(2, 3, 2, 2)
    red[:, 0] = 1.0
    arr = grid_array(red, nrow=2, pad=1)
    assert arr.shape == (4, 7, 3)
    assert arr[1, 1].tolist() == [255, 0, 0] and arr[0, 0].tolist() == [255, 255, 255]


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB")])
def test_save_grid_writes_a_png_that_reads_back(tmp_path, channels, mode):
    images = torch.rand(4, channels, 8, 8, generator=torch.Generator().manual_seed(0))
    path = save_grid(images, tmp_path / "grid.png", nrow=2)
    assert path == tmp_path / "grid.png"
    expected = grid_array(images, nrow=2)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.mode == mode
        assert img.size == (expected.shape[1] * 8, expected.shape[0] * 8)  # 8x8 images enlarged 8 times
        back = np.asarray(img)
    np.testing.assert_array_equal(back[::8, ::8], expected)  # nearest-neighbour enlargement
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


def test_save_grid_scale(tmp_path):
    images = torch.rand(3, 1, 28, 28)
    with Image.open(save_grid(images, tmp_path / "a.png")) as img:
        h, w = grid_array(images).shape
        assert img.size == (2 * w, 2 * h)  # 64 // 28 = 2
    with Image.open(save_grid(images, tmp_path / "b.png", scale=1)) as img:
        np.testing.assert_array_equal(np.asarray(img), grid_array(images))
