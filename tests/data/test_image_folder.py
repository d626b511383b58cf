"""The `images` set: a folder of PNG/JPEG files, with or without class subfolders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaekit.config import DataConfig
from vaekit.data import load_dataset
from vaekit.errors import DataError


def save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def grey(seed: int, h: int = 6, w: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def load(path: Path, **kw):
    return load_dataset(DataConfig(name="images", path=str(path), **kw))


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
