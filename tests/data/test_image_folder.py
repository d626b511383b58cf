"""The `images` set: a folder of PNG/JPEG files, with or without class subfolders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaekit.config import DataConfig
from vaekit.data import load_dataset
from vaekit.data.images import read_image
from vaekit.errors import DataError
from vaekit.data.images import ImagesConfig


def save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def grey(seed: int, h: int = 6, w: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def load(path: Path, **kw):
    return load_dataset(ImagesConfig(path=str(path), **kw))


def test_flat_folder(tmp_path):
    pictures = {f"{i:02d}.png": grey(i) for i in range(10)}
    for name, pixels in pictures.items():
        save(tmp_path / name, pixels)
    (tmp_path / "notes.txt").write_text("skipped")
    data = load(tmp_path)
    assert data.shape == (1, 6, 5) and data.is_image and data.num_classes is None and data.train.y is None
    assert len(data.train) + len(data.val) + len(data.test) == 10
    x = np.concatenate([s.x.numpy() for s in (data.train, data.val, data.test)])
    got = sorted(map(bytes, (x * 255).round().astype(np.uint8)))
    assert got == sorted(bytes(p[None]) for p in pictures.values())


def test_class_folders_give_sorted_labels(tmp_path):
    for i in range(6):
        save(tmp_path / "zebra" / f"{i}.png", np.full((4, 4), 255, np.uint8))
        save(tmp_path / "ant" / f"{i}.jpg", np.zeros((4, 4), np.uint8))
    (tmp_path / "empty").mkdir()  # no images: not a class
    data = load(tmp_path, val_fraction=0.25, test_fraction=0.25)
    assert data.num_classes == 2
    for split in (data.train, data.val, data.test):
        bright = split.x.flatten(1).mean(1) > 0.5
        assert split.y.tolist() == bright.long().tolist()  # 'ant' (dark) is 0, 'zebra' (bright) is 1


def test_color_and_resize(tmp_path):
    for i in range(5):
        save(tmp_path / f"{i}.png", np.random.default_rng(i).integers(0, 256, (8, 10, 3), dtype=np.uint8))
    assert load(tmp_path, color=True).shape == (3, 8, 10)
    assert load(tmp_path, color=True, image_size=(4, 6)).shape == (3, 4, 6)
    assert load(tmp_path, image_size=(4, 6)).shape == (1, 4, 6)


def test_sizes_must_match(tmp_path):
    save(tmp_path / "a.png", grey(0))
    save(tmp_path / "b.png", grey(1, 7, 7))
    with pytest.raises(DataError, match=r"b\.png is 7x7 but .*a\.png is 5x6; resize them all with data\.image_size"):
        load(tmp_path)
    save(tmp_path / "c.png", grey(2, 3, 9))
    assert load(tmp_path, image_size=(7, 7)).shape == (1, 7, 7)


def test_bad_image_size(tmp_path):
    save(tmp_path / "a.png", grey(0))
    with pytest.raises(DataError, match=r"image_size=\[4\] must be two positive sizes"):
        load(tmp_path, image_size=(4,))


def test_unreadable_image(tmp_path):
    save(tmp_path / "a.png", grey(0))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read image .*broken\.png"):
        load(tmp_path)


def test_mixed_layout_and_empty_folder(tmp_path):
    save(tmp_path / "loose.png", grey(0))
    save(tmp_path / "cls" / "a.png", grey(1))
    with pytest.raises(DataError, match="mixes images"):
        load(tmp_path)
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="holds no .png, .jpg or .jpeg files"):
        load(tmp_path / "none")


def test_path_must_be_a_folder(tmp_path):
    save(tmp_path / "a.png", grey(0))
    with pytest.raises(DataError, match="is a file"):
        load(tmp_path / "a.png")
    with pytest.raises(DataError, match="pass data.path="):
        load_dataset(DataConfig(name="images"))



# ----------------------------------------------------------------------------- pixel modes and bit depths
# Values are compared with a tolerance of 1e-6: each is one float32 division of an exact integer
# (relative error 2**-24), or a luma sum of three such products (a few ulp of 1).

EXACT = 1e-6


def read(path: Path, color: bool = False, size=None) -> np.ndarray:
    return read_image(path, color, size)


def test_16_bit_grey_is_scaled_by_65535_not_clipped(tmp_path):
    """Pillow's convert('L') clipped every 16-bit value above 255 to white: 99.5% of this ramp."""
    ramp = np.linspace(0, 65535, 64 * 48).round().astype(np.uint16).reshape(64, 48)
    save(tmp_path / "ramp.png", ramp)
    with Image.open(tmp_path / "ramp.png") as img:
        assert img.mode == "I;16"
    a = read(tmp_path / "ramp.png")
    assert a.dtype == np.float32 and a.shape == (64, 48, 1)
    np.testing.assert_allclose(a[..., 0], ramp / 65535, rtol=0, atol=EXACT)
    assert abs(float(a.mean()) - 0.5) < EXACT  # a symmetric ramp from 0 to 1
    assert len(np.unique(a)) == ramp.size  # 16-bit precision kept: no rounding to 256 levels


def test_a_folder_mixing_bit_depths_ends_on_one_scale(tmp_path):
    for i in range(6):  # the same grey levels as 8-bit and as 16-bit files (v * 257 is v on 16 bits)
        level = np.full((4, 4), 40 * i + 5, np.uint8)
        save(tmp_path / f"a{i}.png", level)
        save(tmp_path / f"b{i}.png", level.astype(np.uint16) * 257)
    data = load(tmp_path, val_fraction=0.25, test_fraction=0.25)
    x = np.concatenate([s.x.numpy() for s in (data.train, data.val, data.test)]).reshape(12, -1)
    levels = sorted(x[:, 0].tolist())
    np.testing.assert_allclose(levels, np.repeat([(40 * i + 5) / 255 for i in range(6)], 2), rtol=0, atol=EXACT)
    assert float(np.ptp(x, axis=1).max()) == 0  # flat images stay flat


def test_every_mode_reads_to_its_own_scale(tmp_path):
    v = np.array([[0, 51], [128, 255]], np.uint8)
    save(tmp_path / "l.png", v)
    Image.fromarray(v > 100).save(tmp_path / "one.png")  # mode '1'
    Image.fromarray(v).convert("P").save(tmp_path / "p.png")
    rgb = np.stack([v, v[::-1], v.T], -1)
    save(tmp_path / "rgb.png", rgb)
    Image.fromarray(np.linspace(0, 1, 4, dtype=np.float32).reshape(2, 2)).save(tmp_path / "f.tiff")
    Image.fromarray((v.astype(np.int32) * 257)).save(tmp_path / "i.tiff")  # 16-bit grey as mode 'I'
    for name in ("f", "i"):  # a TIFF behind a .png name: Pillow reads by content
        (tmp_path / f"{name}.png").write_bytes((tmp_path / f"{name}.tiff").read_bytes())
    with Image.open(tmp_path / "f.png") as f, Image.open(tmp_path / "i.png") as i:
        assert (f.mode, i.mode) == ("F", "I")
    np.testing.assert_allclose(read(tmp_path / "l.png")[..., 0], v / 255, atol=EXACT)
    np.testing.assert_array_equal(read(tmp_path / "one.png")[..., 0], (v > 100).astype(np.float32))
    np.testing.assert_allclose(read(tmp_path / "p.png")[..., 0], v / 255, atol=EXACT)
    np.testing.assert_allclose(read(tmp_path / "rgb.png", color=True), rgb / 255, atol=EXACT)
    luma = (rgb / 255) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(read(tmp_path / "rgb.png")[..., 0], luma, atol=EXACT)
    np.testing.assert_allclose(read(tmp_path / "f.png")[..., 0], np.linspace(0, 1, 4).reshape(2, 2), atol=EXACT)
    np.testing.assert_allclose(read(tmp_path / "i.png")[..., 0], v / 255, atol=EXACT)
    grey16 = read(tmp_path / "i.png", color=True)
    assert grey16.shape == (2, 2, 3) and np.array_equal(grey16[..., 0], grey16[..., 2])


def test_transparent_pixels_are_composited_on_black(tmp_path):
    alpha = np.array([[255, 0], [128, 51]], np.uint8)
    la = np.stack([np.full((2, 2), 200, np.uint8), alpha], -1)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    np.testing.assert_allclose(read(tmp_path / "la.png")[..., 0], 200 / 255 * alpha / 255, atol=EXACT)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 1], rgba[..., 3] = 255, alpha  # green, with the same opacities
    save(tmp_path / "rgba.png", rgba)
    expected = np.zeros((2, 2, 3))
    expected[..., 1] = alpha / 255
    np.testing.assert_allclose(read(tmp_path / "rgba.png", color=True), expected, atol=EXACT)
    Image.fromarray(np.array([[0, 128], [255, 10]], np.uint8)).save(tmp_path / "key.png", transparency=10)
    np.testing.assert_allclose(read(tmp_path / "key.png")[..., 0], [[0, 128 / 255], [1, 0]], atol=EXACT)


def test_jpeg_reads_to_within_its_compression(tmp_path):
    save(tmp_path / "flat.jpg", np.full((8, 8), 100, np.uint8))  # one flat block: JPEG keeps it
    np.testing.assert_allclose(read(tmp_path / "flat.jpg"), 100 / 255, atol=1 / 255)


def test_resizing_keeps_16_bit_values(tmp_path):
    save(tmp_path / "flat.png", np.full((8, 8), 1000, np.uint16))
    save(tmp_path / "ramp.png", np.tile(np.linspace(0, 65535, 8).round().astype(np.uint16), (8, 1)))
    flat = read(tmp_path / "flat.png", size=(3, 5))
    assert flat.shape == (3, 5, 1)
    np.testing.assert_allclose(flat, 1000 / 65535, atol=EXACT)  # an 8-bit resize gave 4/255 or white
    ramp = read(tmp_path / "ramp.png", size=(4, 4), color=True)
    assert ramp.shape == (4, 4, 3) and 0 <= ramp.min() and ramp.max() <= 1
    assert np.all(np.diff(ramp[0, :, 0]) > 0)  # still a ramp, not clipped flat


def test_float_and_32_bit_pixels_outside_the_unit_range_are_refused(tmp_path):
    Image.fromarray(np.array([[0, 2.5]], np.float32)).save(tmp_path / "f.tiff")
    Image.fromarray(np.array([[0, 70000]], np.int32)).save(tmp_path / "i.tiff")
    for name, shown in (("f", r"F-mode pixels in \[0, 2\.5\], outside \[0, 1\]"),
                        ("i", r"I-mode pixels in \[0, 70000\], outside 0\.\.65535 \(16 bits\)")):
        (tmp_path / f"{name}.png").write_bytes((tmp_path / f"{name}.tiff").read_bytes())
        with pytest.raises(DataError, match=rf"{name}\.png holds {shown}; save it as an 8- or 16-bit PNG"):
            read(tmp_path / f"{name}.png")
