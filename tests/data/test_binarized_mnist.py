"""Binarized MNIST: both file forms, malformed files, checksums, download, and the real data."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from vaekit.config import DataConfig
from vaekit.data import binarized_mnist, load_dataset
from vaekit.data.binarized_mnist import SHA256, read_amat, write_amat_text
from vaekit.data.download import sha256_file
from vaekit.errors import DataError

REAL = Path("/work/shared/data/binarized-mnist")
ROWS = {"train": 6, "valid": 3, "test": 4}


def images(rows: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((rows, 784)) < 0.3).astype(np.uint8)


def write_set(folder: Path, form: str = "text") -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for i, (split, rows) in enumerate(ROWS.items()):
        x = arrays[split] = images(rows, seed=i)
        path = folder / f"binarized_mnist_{split}.amat"
        if form == "text":
            write_amat_text(x, path)
        else:
            scipy.io.savemat(path, {"X": x}, do_compression=True)
    return arrays


@pytest.fixture
def small_rows(monkeypatch):
    monkeypatch.setattr(binarized_mnist, "ROWS", dict(ROWS))


def test_text_form_matches_original_layout(tmp_path):
    x = images(2)
    path = tmp_path / "f.amat"
    write_amat_text(x, path)
    expected = "".join(" ".join(str(v) for v in row) + "\n" for row in x).encode()
    assert path.read_bytes() == expected
    assert len(expected) == 2 * 1568
    np.testing.assert_array_equal(read_amat(path), x)


def test_matlab_form_detected_by_content(tmp_path):
    x = images(3)
    path = tmp_path / "binarized_mnist_train.amat"  # a MATLAB file under the text form's name
    scipy.io.savemat(path, {"X": x})
    assert path.read_bytes().startswith(b"MATLAB 5.0")
    np.testing.assert_array_equal(read_amat(path), x)


def test_truncated_text_names_file_and_line(tmp_path):
    path = tmp_path / "f.amat"
    write_amat_text(images(3), path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"f\.amat ends in the middle of line 3 \(after 2 complete lines\).*truncated"):
        read_amat(path)


def test_empty_text_file(tmp_path):
    path = tmp_path / "f.amat"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"f\.amat is empty; re-download it"):
        read_amat(path)


def test_short_row_names_line(tmp_path):
    path = tmp_path / "f.amat"
    lines = [" ".join(["0"] * 784), " ".join(["1"] * 783), " ".join(["0"] * 784)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"f\.amat line 2 has 783 values, expected 784"):
        read_amat(path)


def test_non_binary_values(tmp_path):
    path = tmp_path / "f.amat"
    path.write_text(" ".join(["0"] * 783 + ["2"]) + "\n")
    with pytest.raises(DataError, match="line 1 holds values other than 0 and 1"):
        read_amat(path)


def test_other_spacing_is_rejected(tmp_path):
    path = tmp_path / "f.amat"
    path.write_text(" ".join(["0"] * 784) + "\r\n")
    with pytest.raises(DataError, match="published layout"):
        read_amat(path)


def test_corrupt_matlab_file(tmp_path):
    path = tmp_path / "f.amat"
    scipy.io.savemat(path, {"X": images(50)}, do_compression=True)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match=r"cannot read MATLAB file .*f\.amat"):
        read_amat(path)


@pytest.mark.parametrize("form", ["text", "matlab"])
def test_load_small_set(tmp_path, small_rows, form):
    arrays = write_set(tmp_path / "binarized-mnist", form)
    data = load_dataset(DataConfig(name="binarized-mnist", data_dir=str(tmp_path), download=False))
    assert (len(data.train), len(data.val), len(data.test)) == (6, 3, 4)
    assert data.shape == (1, 28, 28) and data.is_image and data.binary and not data.dynamic_binarize
    assert data.num_classes is None and data.train.y is None
    np.testing.assert_array_equal(data.val.x.numpy().reshape(3, 784), arrays["valid"])


def test_wrong_row_count(tmp_path, small_rows, monkeypatch):
    write_set(tmp_path)
    monkeypatch.setitem(binarized_mnist.ROWS, "test", 5)
    with pytest.raises(DataError, match=r"binarized_mnist_test\.amat has 4 images, expected 5"):
        load_dataset(DataConfig(name="binarized-mnist", data_dir=str(tmp_path), download=False))


def test_sha256sums_mismatch(tmp_path, small_rows):
    write_set(tmp_path)
    sums = [f"{sha256_file(p)}  {p.name}" for p in sorted(tmp_path.glob("*.amat"))]
    (tmp_path / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    config = DataConfig(name="binarized-mnist", data_dir=str(tmp_path), download=False)
    load_dataset(config)
    write_amat_text(images(4, seed=9), tmp_path / "binarized_mnist_test.amat")
    with pytest.raises(DataError, match=r"binarized_mnist_test\.amat does not match its SHA-256"):
        load_dataset(config)


def test_download_from_file_urls(tmp_path, small_rows, monkeypatch):
    arrays = write_set(tmp_path / "server")
    sums = {s: sha256_file(tmp_path / "server" / f"binarized_mnist_{s}.amat") for s in ROWS}
    monkeypatch.setattr(binarized_mnist, "URL", (tmp_path / "server").as_uri() + "/binarized_mnist_{}.amat")
    monkeypatch.setattr(binarized_mnist, "SHA256", sums)
    root = tmp_path / "root"
    data = load_dataset(DataConfig(name="binarized-mnist", data_dir=str(root)))
    assert sorted(p.name for p in (root / "binarized-mnist").iterdir()) == [
        "binarized_mnist_test.amat", "binarized_mnist_train.amat", "binarized_mnist_valid.amat",
    ]
    np.testing.assert_array_equal(data.test.x.numpy().reshape(-1, 784), arrays["test"])


def test_offline_download_fails_cleanly(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    with pytest.raises(DataError, match=r"could not download http://www\.cs\.toronto\.edu/.*binarized_mnist_train\.amat"):
        load_dataset(DataConfig(name="binarized-mnist", data_dir=str(tmp_path)))
    assert list((tmp_path / "binarized-mnist").iterdir()) == []


@pytest.mark.skipif(not REAL.is_dir(), reason="the real binarized MNIST files are not on this machine")
def test_real_files(tmp_path):
    # Rewriting the MATLAB copy as text gives the published file byte for byte: the text form is
    # understood right, and the fast writer and reader follow it.
    x = scipy.io.loadmat(REAL / "binarized_mnist_valid.amat")["X"]
    text = "".join(" ".join(map(str, row)) + "\n" for row in x.tolist()).encode()
    assert hashlib.sha256(text).hexdigest() == SHA256["valid"]
    path = tmp_path / "binarized_mnist_valid.amat"
    write_amat_text(x, path)
    assert sha256_file(path) == SHA256["valid"]
    np.testing.assert_array_equal(read_amat(path), x)

    data = load_dataset(DataConfig(name="binarized-mnist", data_dir=str(REAL.parent), download=False))
    assert (len(data.train), len(data.val), len(data.test)) == (50_000, 10_000, 10_000)
    means = [round(float(s.x.mean()), 4) for s in (data.train, data.val, data.test)]
    assert means == [0.1306, 0.1311, 0.1325]
    assert data.binary
