"""MNIST and Fashion-MNIST: IDX parsing (gzipped or not), malformed files, search and download."""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import load_dataset, mnist
from vaekit.data.mnist import FILES, IMAGES_MAGIC, LABELS_MAGIC, read_idx
from vaekit.errors import DataError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(a: np.ndarray) -> bytes:
    magic = IMAGES_MAGIC if a.ndim == 3 else LABELS_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in a.shape)
    return header + a.astype(np.uint8).tobytes()


def write_set(folder: Path, n_train: int = 20, n_test: int = 5, gz: bool = True, size: int = 28) -> dict:
    """Tiny IDX files with the published names; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for key, a in arrays.items():
        data = idx_bytes(a)
        name = FILES[key] + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(data) if gz else data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, gz):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x"
    path.write_bytes(gzip.compress(idx_bytes(a)) if gz else idx_bytes(a))
    np.testing.assert_array_equal(read_idx(path, IMAGES_MAGIC), a)


def test_wrong_magic(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match=r"not an IDX image file \(magic 00000801, expected 00000803\)"):
        read_idx(path, IMAGES_MAGIC)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_values(tmp_path, gz):
    data = idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-10]
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match=r"images holds 3126 bytes of values, but its header promises 3136"):
        read_idx(path, IMAGES_MAGIC)


def test_truncated_header_and_gzip(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(np.zeros((4, 28, 28), np.uint8))[:10])
    with pytest.raises(DataError, match="ends inside its IDX header"):
        read_idx(path, IMAGES_MAGIC)
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 28, 28), np.uint8)))[:-20])
    with pytest.raises(DataError, match="damaged gzip file"):
        read_idx(path, IMAGES_MAGIC)


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist(tmp_path, gz):
    arrays = write_set(tmp_path / "mnist", gz=gz)
    data = load_dataset(DataConfig(name="mnist", data_dir=str(tmp_path), download=False, val_fraction=0.25))
    assert (len(data.train), len(data.val), len(data.test)) == (15, 5, 5)
    assert data.shape == (1, 28, 28) and data.is_image and data.num_classes == 10 and not data.binary
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    np.testing.assert_allclose(data.test.x.numpy()[:, 0], arrays["test_images"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.test.y.numpy(), arrays["test_labels"])
    # The carved validation split comes from train and leaves the shipped test split alone.
    seen = np.concatenate([data.train.x.numpy(), data.val.x.numpy()])[:, 0]
    assert sorted(map(bytes, (seen * 255).round().astype(np.uint8))) == sorted(map(bytes, arrays["train_images"]))


def test_image_label_count_mismatch(tmp_path):
    write_set(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(19, np.uint8))))
    with pytest.raises(DataError, match="has 20 images but .* has 19 labels"):
        load_dataset(DataConfig(name="mnist", data_dir=str(tmp_path), download=False))


def test_missing_files(tmp_path):
    with pytest.raises(DataError, match=r"mnist files not found .*looked in .*--data-dir"):
        load_dataset(DataConfig(name="mnist", data_dir=str(tmp_path), download=False))


def test_fashion_mnist_in_system_folder(tmp_path, monkeypatch):
    write_set(tmp_path / "debian", gz=False)
    monkeypatch.setattr(mnist, "FASHION_SYSTEM_DIRS", [str(tmp_path / "debian")])
    data = load_dataset(DataConfig(name="fashion-mnist", data_dir=str(tmp_path / "empty"), download=False))
    assert len(data.test) == 5 and data.num_classes == 10


def test_download_from_file_urls(tmp_path, monkeypatch):
    write_set(tmp_path / "server")
    sums = {k: hashlib.sha256((tmp_path / "server" / f"{n}.gz").read_bytes()).hexdigest() for k, n in FILES.items()}
    monkeypatch.setattr(mnist, "MNIST_URL", (tmp_path / "server").as_uri() + "/")
    monkeypatch.setattr(mnist, "MNIST_SHA256", sums)
    data = load_dataset(DataConfig(name="mnist", data_dir=str(tmp_path / "root")))
    assert len(data.test) == 5
    assert (tmp_path / "root" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()


def test_download_bad_checksum(tmp_path, monkeypatch):
    write_set(tmp_path / "server")
    monkeypatch.setattr(mnist, "MNIST_URL", (tmp_path / "server").as_uri() + "/")
    with pytest.raises(DataError, match="SHA-256"):
        load_dataset(DataConfig(name="mnist", data_dir=str(tmp_path / "root")))
    assert list((tmp_path / "root" / "mnist").iterdir()) == []


def test_offline(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    monkeypatch.setattr(mnist, "FASHION_SYSTEM_DIRS", [])
    with pytest.raises(DataError, match=r"could not download http://fashion-mnist.*\(offline\); put .* or pass --data-dir"):
        load_dataset(DataConfig(name="fashion-mnist", data_dir=str(tmp_path)))


@pytest.mark.skipif(not (FASHION / "t10k-labels-idx1-ubyte.gz").is_file(), reason="Debian's Fashion-MNIST is not installed")
def test_real_fashion_mnist(tmp_path):
    data = load_dataset(DataConfig(name="fashion-mnist", data_dir=str(tmp_path), download=False))
    assert (len(data.train), len(data.val), len(data.test)) == (54_000, 6_000, 10_000)
    assert data.train.y.unique().tolist() == list(range(10))
    assert 0 <= float(data.train.x.min()) and float(data.train.x.max()) == 1.0

