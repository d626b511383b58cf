"""Sampling, reconstruction, interpolation, embedding, and the PNG grids that show them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from vaekit.config import parse_config
from vaekit.errors import InputError
from vaekit.models import build_model
from vaekit.sample import decode, encode, grid_array, interpolate, reconstruct, sample, save_grid, traverse

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


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "at least 1"), ({"n": -3}, "at least 1"), ({"n": 2.5}, "must be an integer"),
    ({"n": True}, "must be an integer"), ({"n": "4"}, "must be an integer"),
    ({"n": 2, "temperature": 0.0}, "positive"), ({"n": 2, "temperature": -1.0}, "positive"),
    ({"n": 2, "temperature": float("nan")}, "finite"), ({"n": 2, "temperature": float("inf")}, "finite"),
    ({"n": 2, "temperature": 1e6}, "at most 1000"), ({"n": 2, "temperature": "hot"}, "must be a number"),
    ({"n": 2, "seed": -1}, "from 0 to 2\\*\\*63-1"), ({"n": 2, "seed": 10**25}, "from 0 to 2\\*\\*63-1"),
    ({"n": 2, "seed": 1.5}, "must be an integer"),
])
def test_sample_rejects_meaningless_arguments(model, kwargs, message):
    with pytest.raises(InputError, match=message) as e:
        sample(model, **kwargs)
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)


def test_the_largest_seed_works(model):
    a = sample(model, 2, seed=2**63 - 1)
    assert a.shape == (2, *SHAPE) and torch.isfinite(a).all()


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


# ----------------------------------------------------------------------------- arguments of the API


def raises_input_error(fn, *args, match: str, **kwargs) -> InputError:
    """The call raises InputError (a ValueError) with one line matching `match`."""
    with pytest.raises(InputError, match=match) as e:
        fn(*args, **kwargs)
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)
    return e.value


@pytest.mark.parametrize("z, message", [
    (torch.zeros(4, 5), r"decode expects codes z of shape \(N, 3\), got \(4, 5\)"),
    (torch.zeros(3), r"decode expects codes z of shape \(N, 3\), got \(3\)"),
    (torch.zeros(2, 1, 3), r"of shape \(N, 3\), got \(2, 1, 3\)"),
    (torch.zeros(0, 3), "at least one example"),
    (torch.tensor([[0.0, float("nan"), 1.0]]), "1 NaN or infinite values"),
    (torch.tensor([[0.0, float("inf"), 1.0]]), "NaN or infinite"),
    ([[0.0, 0.0, 0.0]], "as a torch.Tensor, got list"),
    (torch.zeros(2, 3, dtype=torch.complex64), "real codes"),
])
def test_decode_names_the_expected_shape(model, z, message):
    raises_input_error(decode, model, z, match=message)


@pytest.mark.parametrize("x, message", [
    (torch.rand(4, 5), r"encode expects data x of shape \(N, 1, 8, 8\), got \(4, 5\)$"),
    (torch.rand(4, 64), r"got \(4, 64\); reshape it with x.reshape\(-1, 1, 8, 8\)"),
    (torch.rand(1, 8, 8), r"got \(1, 8, 8\); reshape it"),
    (torch.rand(2, 3, 8, 8), r"got \(2, 3, 8, 8\)"),
    (torch.full((2, 1, 8, 8), float("nan")), "128 NaN or infinite values"),
    (torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8), r"floating-point data x.*torch.uint8.*x.float\(\) / 255"),
    (torch.rand(2, 1, 8, 8).numpy(), "as a torch.Tensor, got ndarray"),
    (torch.tensor(0.5), "at least one example"),
])
def test_encode_names_the_expected_shape_and_type(model, x, message):
    raises_input_error(encode, model, x, match=message)


@pytest.mark.parametrize("fn", [reconstruct, lambda m, x: traverse(m, x, 0)])
def test_reconstruct_and_traverse_check_their_data_too(model, fn):
    raises_input_error(fn, model, torch.rand(3, 7), match=r"of shape \(N, 1, 8, 8\), got \(3, 7\)")
    raises_input_error(fn, model, torch.full((1, 1, 8, 8), float("inf")), match="NaN or infinite")


def test_other_float_types_and_booleans_are_converted(model, x):
    mu, _ = encode(model, x)
    mu64, _ = encode(model, x.double())  # converted to the weights' float32: the same numbers exactly
    assert mu64.dtype == torch.float32 and torch.equal(mu64, mu)
    binary = x > 0.5
    torch.testing.assert_close(encode(model, binary)[0], encode(model, binary.float())[0], rtol=0, atol=0)
    codes = torch.tensor([[1, 0, -2]])  # integer codes are coordinates like any others
    torch.testing.assert_close(decode(model, codes), decode(model, codes.float()), rtol=0, atol=0)
    torch.testing.assert_close(decode(model, mu.double()), decode(model, mu), rtol=0, atol=0)


def test_interpolate_rejects_bad_steps_and_unpaired_examples(model, x):
    for steps, message in ((0, "at least 2"), (1, "at least 2"), (-3, "at least 2"), (2.0, "must be an integer")):
        raises_input_error(interpolate, model, x[:2], x[2:4], steps, match=message)
    raises_input_error(interpolate, model, x[:2], x[2:5], 4, match="as many examples; got 2 and 3")
    raises_input_error(interpolate, model, x[:2], torch.rand(2, 5), 4, match=r"data xb of shape \(N, 1, 8, 8\)")
    assert interpolate(model, x[:2], x[2:4], 2).shape == (2, 2, *SHAPE)  # the two ends alone


def test_traverse_rejects_bad_values_and_dims(model, x):
    raises_input_error(traverse, model, x, 3, match=r"dim must lie in 0..2")
    raises_input_error(traverse, model, x, 0, [float("nan")], match="finite")
    raises_input_error(traverse, model, x, 0, [], match="at least one value")
    raises_input_error(traverse, model, x, 0, units="sd", match="'prior' or 'posterior'")


def test_encode_rejects_a_bad_batch_size(model, x):
    raises_input_error(encode, model, x, batch_size=0, match="batch_size must be at least 1")


@pytest.fixture
def cvae():
    torch.manual_seed(0)
    cfg = parse_config({"model": {"name": "cvae", "latent_dim": 3, "encoder": {"hidden": [16]},
                                  "decoder": {"hidden": [16]}}})
    return build_model(cfg.model, SHAPE, num_classes=4).eval()


def test_labels_of_a_conditional_model_are_checked(cvae, x):
    raises_input_error(encode, cvae, x, y=torch.zeros(5, dtype=torch.long), match=r"one label per example in y, shape \(6,\), got \(5\)")
    raises_input_error(reconstruct, cvae, x, torch.zeros(6), match="integer labels y, got torch.float32")
    raises_input_error(decode, cvae, torch.zeros(2, 3), [0, 1], match="labels y as a torch.Tensor, got list")
    raises_input_error(sample, cvae, 4, y=torch.zeros(3, dtype=torch.long), match=r"shape \(4,\), got \(3\)")
    raises_input_error(sample, cvae, 4, y=-1, match="class y must be at least 0")
    assert sample(cvae, 4, y=2, seed=0).shape == (4, *SHAPE)
    assert encode(cvae, x, y=torch.arange(6) % 4)[0].shape == (6, 3)


# Per family, what its tiny model section adds; vqvae with code_dim 2, so that its codes are
# latent_dim * code_dim wide.
FAMILIES = {"vae": {}, "cvae": {}, "iwae": {"k": 2}, "betatcvae": {}, "capacity_vae": {"capacity_steps": 10},
            "infovae": {}, "wae": {}, "ladder": {"lower_dims": [4], "hidden": 16}, "hvae": {"lower_dims": [4], "hidden": 16},
            "vqvae": {"codebook_size": 5, "code_dim": 2, "prior_hidden": 8}, "vaegan": {"disc_features": 8}}


def test_every_family_declares_the_width_of_its_codes(x):
    from vaekit.registry import MODELS
    from vaekit.sample.ops import code_width

    latent = {n for n in MODELS.names() if MODELS.get(n).traits.latent}  # lm has no codes: tests/models/test_lm.py
    assert latent <= set(FAMILIES), "add the new model family to FAMILIES"
    y = torch.arange(len(x)) % 4
    for family, extra in FAMILIES.items():
        cfg = parse_config({"model": {"name": family, "latent_dim": 3, **extra, "encoder": {"hidden": [16]},
                                      "decoder": {"hidden": [16]}}})
        m = build_model(cfg.model, SHAPE, num_classes=4).eval()
        mu, _ = encode(m, x, y=y)
        assert code_width(m) == mu.shape[1], family
        assert decode(m, mu, y=y).shape == x.shape, family
        width = mu.shape[1]
        with pytest.raises(InputError, match=rf"decode expects codes z of shape \(N, {width}\), got \(6, {width + 1}\)"):
            decode(m, torch.zeros(6, width + 1), y=y)


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
