"""The `arrays` set: .npy, .npz (pooled or explicit splits) and .csv files, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import load_dataset
from vaekit.errors import DataError
from vaekit.data.arrays import ArraysConfig


def load(path, **kw):
    return load_dataset(ArraysConfig(path=str(path), **kw))


def test_npy_vectors(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    data = load(tmp_path / "x.npy")
    assert (len(data.train), len(data.val), len(data.test)) == (40, 5, 5)
    assert data.shape == (3,) and not data.is_image and data.num_classes is None and data.train.y is None
    together = torch.cat([data.train.x, data.val.x, data.test.x]).numpy()
    assert sorted(map(tuple, together)) == sorted(map(tuple, x))


def test_npy_uint8_images_are_scaled(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (20, 5, 6), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    data = load(tmp_path / "x.npy", limit=None)
    assert data.shape == (1, 5, 6) and data.is_image
    assert 0 <= float(data.train.x.min()) and float(data.train.x.max()) <= 1


def test_npz_pooled_with_labels(tmp_path):
    x = np.random.default_rng(0).random((30, 2, 4, 4)).astype(np.float32)
    y = np.arange(30) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = load(tmp_path / "d.npz")
    assert data.shape == (2, 4, 4) and data.is_image and data.num_classes == 3
    assert data.val.y is not None and data.val.y.dtype == torch.int64


def test_npz_explicit_splits_are_kept(tmp_path):
    rng = np.random.default_rng(0)
    parts = {s: rng.random((n, 4)) for s, n in (("train", 10), ("val", 3), ("test", 2))}
    labels = {f"{s}_y": np.zeros(len(a), np.int64) for s, a in parts.items()}
    np.savez(tmp_path / "d.npz", **parts, **labels)
    data = load(tmp_path / "d.npz")
    assert (len(data.train), len(data.val), len(data.test)) == (10, 3, 2)
    np.testing.assert_allclose(data.val.x.numpy(), parts["val"], rtol=1e-6)
    assert data.num_classes == 1


def test_npz_train_only_is_carved(tmp_path):
    np.savez(tmp_path / "d.npz", train=np.zeros((20, 4)))
    data = load(tmp_path / "d.npz")
    assert (len(data.train), len(data.val), len(data.test)) == (16, 2, 2)


def test_npz_unknown_key(tmp_path):
    np.savez(tmp_path / "d.npz", train=np.zeros((20, 4)), valid=np.zeros((2, 4)))
    with pytest.raises(DataError, match=r"arrays \['train', 'valid'\]; expected 'x'"):
        load(tmp_path / "d.npz")


def test_object_array(tmp_path):
    np.save(tmp_path / "x.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="object array"):
        load(tmp_path / "x.npy")


@pytest.mark.parametrize("shape", [(10,), (2, 2, 2, 2, 2)])
def test_wrong_dims(tmp_path, shape):
    np.save(tmp_path / "x.npy", np.zeros(shape))
    with pytest.raises(DataError, match=r"expected \(N, D\) vectors, \(N, H, W\) or \(N, C, H, W\) images"):
        load(tmp_path / "x.npy")


def test_non_numeric_dtype(tmp_path):
    np.save(tmp_path / "x.npy", np.array([["a", "b"]] * 10))
    with pytest.raises(DataError, match="holds <U1 values; save numbers"):
        load(tmp_path / "x.npy")


def test_float_images_out_of_range(tmp_path):
    np.save(tmp_path / "x.npy", np.full((10, 4, 4), 200.0))
    with pytest.raises(DataError, match=r"values in \[200, 200\]; scale them to \[0, 1\]"):
        load(tmp_path / "x.npy")


def test_bad_labels(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 3)), y=np.zeros(9, np.int64))
    with pytest.raises(DataError, match="expected 10 non-negative integers"):
        load(tmp_path / "d.npz")


def test_csv_with_header_and_class_names(tmp_path):
    rows = ["a,kind,b"] + [f"{i},{'cat' if i % 2 else 'dog'},{i * 2}" for i in range(20)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    data = load(tmp_path / "d.csv", label_column="kind")
    assert data.shape == (2,) and data.num_classes == 2
    x = torch.cat([data.train.x, data.val.x, data.test.x])
    y = torch.cat([data.train.y, data.val.y, data.test.y])
    assert torch.equal(x[:, 1], 2 * x[:, 0])
    assert torch.equal(y, (x[:, 0] % 2 == 0).long())  # 'cat' < 'dog': cat is 0 and odd


def test_csv_without_header_label_index(tmp_path):
    (tmp_path / "d.csv").write_text("".join(f"{i % 3},{i}.5,1e-3\n" for i in range(20)))
    data = load(tmp_path / "d.csv", label_column="0")
    assert data.shape == (2,) and data.num_classes == 3
    assert len(data.train) + len(data.val) + len(data.test) == 20


def test_csv_without_labels(tmp_path):
    (tmp_path / "d.csv").write_text("".join(f"{i},{-i}\n" for i in range(10)))
    data = load(tmp_path / "d.csv")
    assert data.train.y is None and data.shape == (2,)


def test_csv_non_numeric_cell(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,oops\n5,6\n")
    with pytest.raises(DataError, match=r"d\.csv row 3, column 'b' holds 'oops', which is not a number"):
        load(tmp_path / "d.csv")


def test_csv_ragged_row(tmp_path):
    (tmp_path / "d.csv").write_text("1,2\n3\n")
    with pytest.raises(DataError, match="row 2 has 1 columns, expected 2"):
        load(tmp_path / "d.csv")


@pytest.mark.parametrize("header, label", [("x,label,label", "label"), ("x,x,label", "label"), ("a, a", None)])
def test_csv_header_naming_two_columns_alike_is_refused(tmp_path, header, label):
    (tmp_path / "d.csv").write_text(header + "\n" + "\n".join("1,2,0" if label else "1,2" for _ in range(4)) + "\n")
    with pytest.raises(DataError, match="names two columns '(label|x|a)' .*; rename one"):
        load(tmp_path / "d.csv", label_column=label)


def test_csv_unknown_label_column(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="has no column 'label'"):
        load(tmp_path / "d.csv", label_column="label")


def test_csv_nan_is_reported_with_the_file(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(10)) + "nan,1\n")
    with pytest.raises(DataError, match=r"d\.csv \(train split\) has 1 examples with NaN .*clean or drop those rows"):
        load(tmp_path / "d.csv")


def test_label_column_needs_csv(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 2)))
    with pytest.raises(DataError, match="label_column applies to CSV files"):
        load(tmp_path / "x.npy", label_column="y")


def test_missing_or_unsupported_path(tmp_path):
    with pytest.raises(DataError, match="pass data.path="):
        load_dataset(DataConfig(name="arrays"))
    with pytest.raises(DataError, match=r"nope\.npy not found .*data\.path="):
        load(tmp_path / "nope.npy")
    (tmp_path / "x.txt").write_text("1 2\n")
    with pytest.raises(DataError, match=r"is not a \.npy, \.npz or \.csv file"):
        load(tmp_path / "x.txt")


@pytest.mark.parametrize("name", ["x.npy", "d.npz"])
def test_corrupt_file(tmp_path, name):
    np.save(tmp_path / "x.npy", np.zeros((100, 4)))
    (tmp_path / name).write_bytes((tmp_path / "x.npy").read_bytes()[:100])
    with pytest.raises(DataError, match=rf"cannot read .*{name.replace('.', '[.]')}.*save it again"):
        load(tmp_path / name)
