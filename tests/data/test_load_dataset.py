"""`load_dataset`'s shared post-processing: seeded splits, limit, binarize, checks; and the types."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import Dataset, Split, load_dataset
from vaekit.errors import ConfigError, DataError
from vaekit.registry import DATASETS
from vaekit.data.arrays import ArraysConfig


@pytest.fixture
def ids(tmp_path):
    """A .npy of 200 examples whose first feature is the example's row number."""
    x = np.stack([np.arange(200), np.zeros(200)], axis=1).astype(np.float32)
    np.save(tmp_path / "ids.npy", x)
    return tmp_path / "ids.npy"


@pytest.fixture
def grey(tmp_path):
    """A .npy of 100 vectors of grey values in [0, 1]."""
    np.save(tmp_path / "grey.npy", np.random.default_rng(0).random((100, 50)).astype(np.float32))
    return tmp_path / "grey.npy"


def load(path, **kw) -> Dataset:
    return load_dataset(ArraysConfig(path=str(path), **kw))


def rows(split: Split) -> list[int]:
    return split.x[:, 0].long().tolist()


def test_every_builder_is_registered():
    for name in ("digits", "binarized-mnist", "mnist", "fashion-mnist", "arrays", "images"):
        assert name in DATASETS


def test_unknown_name_suggests():
    with pytest.raises(ConfigError, match="did you mean 'mnist'"):
        load_dataset(DataConfig(name="mnst"))


def test_split_lookup():
    data = load_dataset(DataConfig(name="digits", limit=5))
    assert data.split("val") is data.val
    with pytest.raises(DataError, match="did you mean 'val'"):
        data.split("valid")
    with pytest.raises(DataError, match="one label per example"):
        Split(torch.zeros(3, 2), torch.zeros(2, dtype=torch.int64))


def test_carve_is_seeded_disjoint_and_complete(ids):
    a, b = load(ids), load(ids)
    other = load(ids, split_seed=1)
    assert (len(a.train), len(a.val), len(a.test)) == (160, 20, 20)
    for name in ("train", "val", "test"):
        assert rows(a.split(name)) == rows(b.split(name))
        assert rows(a.split(name)) == sorted(rows(a.split(name)))  # file order kept
    assert rows(a.val) != rows(other.val)
    together = rows(a.train) + rows(a.val) + rows(a.test)
    assert sorted(together) == list(range(200))  # disjoint and complete


def test_fractions(ids):
    data = load(ids, val_fraction=0.25, test_fraction=0.05)
    assert (len(data.train), len(data.val), len(data.test)) == (140, 50, 10)


def test_limit(ids):
    full = load(ids)
    small, again, larger = load(ids, limit=7), load(ids, limit=7), load(ids, limit=15)
    for name in ("train", "val", "test"):
        part = rows(small.split(name))
        assert len(part) == 7 and part == rows(again.split(name))
        assert set(part) <= set(rows(larger.split(name))) <= set(rows(full.split(name)))
    # The limited train split is a spread-out sample, not the first rows of the file.
    assert max(rows(small.train)) > 50
    assert len(load(ids, limit=1000).train) == 160


def test_threshold(grey):
    none, data = load(grey), load(grey, binarize="threshold")
    assert data.binary and not data.dynamic_binarize
    assert torch.equal(data.train.x, (none.train.x > 0.5).float())


def test_static_is_seeded(grey):
    none, a, b = load(grey), load(grey, binarize="static"), load(grey, binarize="static")
    assert a.binary and not a.dynamic_binarize
    assert torch.equal(a.train.x, b.train.x)
    assert set(a.train.x.unique().tolist()) == {0.0, 1.0}
    assert abs(float(a.train.x.mean()) - float(none.train.x.mean())) < 0.02  # a Bernoulli(x) draw


def test_static_draw_follows_the_seed(tmp_path):
    # Explicit splits, so that only the draw can differ: the same seed gives the same draw, another seed another.
    x = np.random.default_rng(0).random((30, 40)).astype(np.float32)
    np.savez(tmp_path / "d.npz", train=x, val=x[:5], test=x[:5])
    a, b = load(tmp_path / "d.npz", binarize="static"), load(tmp_path / "d.npz", binarize="static", split_seed=3)
    assert torch.equal(a.train.x, load(tmp_path / "d.npz", binarize="static").train.x)
    assert not torch.equal(a.train.x, b.train.x)


def test_dynamic_keeps_grey_training_values_and_fixes_val_and_test(grey):
    none, data = load(grey), load(grey, binarize="dynamic")
    assert data.dynamic_binarize and not data.binary
    assert torch.equal(data.train.x, none.train.x)
    for name in ("val", "test"):  # drawn once, so a likelihood is measured on fixed binary data
        x = data.split(name).x
        assert set(x.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(x, load(grey, binarize="dynamic").split(name).x)


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_bernoulli_modes_need_unit_range(tmp_path, mode):
    np.save(tmp_path / "x.npy", np.linspace(-1, 2, 60).reshape(20, 3))
    with pytest.raises(DataError, match=rf"binarize={mode} needs values in \[0, 1\].*binarize=threshold"):
        load(tmp_path / "x.npy", binarize=mode)
    assert load(tmp_path / "x.npy", binarize="threshold").binary


def test_binary_data_is_flagged_without_binarize(tmp_path):
    np.save(tmp_path / "x.npy", (np.arange(40).reshape(20, 2) % 2).astype(np.float32))
    assert load(tmp_path / "x.npy").binary


def test_non_finite_names_the_file(tmp_path):
    x = np.zeros((20, 3), np.float32)
    x[[4, 9], 1] = [np.inf, np.nan]
    np.save(tmp_path / "bad.npy", x)
    message = r"bad\.npy \(train split\) has 2 examples with NaN or infinite values \(first at index 4\); clean or drop"
    with pytest.raises(DataError, match=message):
        load(tmp_path / "bad.npy")


def test_empty_splits(ids, tmp_path):
    with pytest.raises(DataError, match=r"val split of arrays is empty; raise data\.val_fraction"):
        load(ids, val_fraction=0.0)
    np.savez(tmp_path / "d.npz", train=np.zeros((10, 2)), val=np.zeros((0, 2)), test=np.zeros((3, 2)))
    with pytest.raises(DataError, match="the val split of arrays .* is empty; put examples in it"):
        load(tmp_path / "d.npz")
    np.save(tmp_path / "two.npy", np.zeros((2, 2)))
    with pytest.raises(DataError, match="left no training examples"):
        load(tmp_path / "two.npy")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"limit": 0}, "data.limit=0 must be at least 1"),
        ({"val_fraction": 1.0}, r"data.val_fraction=1.0 must lie in \[0, 1\)"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "leaves no training examples"),
        ({"split_seed": -1}, "data.split_seed=-1 must be 0 or more"),
        ({"binarize": "statc"}, "did you mean 'static'"),
    ],
)
def test_bad_options(ids, options, message):
    with pytest.raises(DataError, match=message):
        load(ids, **options)


def test_classes_keeps_chosen_labels_in_train_and_val_only():
    from vaekit.config import DataConfig

    full = load_dataset(DataConfig(name="digits"))
    one = load_dataset(DataConfig(name="digits", classes=(0, 7)))
    for name in ("train", "val"):
        assert set(one.split(name).y.unique().tolist()) == {0, 7}
        expected = full.split(name).y
        assert len(one.split(name)) == int(((expected == 0) | (expected == 7)).sum())
    assert torch.equal(one.test.x, full.test.x)  # every class stays in the test split


def test_classes_without_labels_is_an_error(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((20, 3)))
    with pytest.raises(DataError, match="data.classes needs labels"):
        load(tmp_path / "x.npy", classes=(0,))


def test_cluster_labels_give_a_set_without_labels_classes(tmp_path):
    # Two well-separated groups of vectors, no labels: 2 clusters recover the groups in every split.
    rng = np.random.default_rng(0)
    group = rng.integers(0, 2, 400)
    np.save(tmp_path / "x.npy", (rng.normal(size=(400, 5)) * 0.1 + group[:, None] * 3).astype(np.float32))
    bare = load(tmp_path / "x.npy")
    assert bare.train.y is None and bare.num_classes is None
    data = load(tmp_path / "x.npy", cluster_labels=2)
    assert data.num_classes == 2
    for name in ("train", "val", "test"):
        split = data.split(name)
        assert torch.equal(split.x, bare.split(name).x)  # the examples are untouched
        truth = torch.from_numpy((split.x[:, 0] > 1.5).numpy()).long()
        assert torch.equal(split.y, truth) or torch.equal(split.y, 1 - truth)
    again = load(tmp_path / "x.npy", cluster_labels=2)
    assert torch.equal(again.train.y, data.train.y)  # seeded by data.split_seed


def test_cluster_labels_replace_labels_and_are_checked():
    digits = load_dataset(DataConfig(name="digits", cluster_labels=10))
    true = load_dataset(DataConfig(name="digits")).test.y
    assert digits.num_classes == 10 and set(digits.test.y.unique().tolist()) <= set(range(10))
    # Clusters of digit images follow the digits: most of each cluster is one digit.
    purity = sum(int(true[digits.test.y == c].bincount().max()) for c in digits.test.y.unique()) / len(true)
    assert purity > 0.6
    with pytest.raises(DataError, match="data.cluster_labels=1 must be 0"):
        load_dataset(DataConfig(name="digits", cluster_labels=1))
    with pytest.raises(DataError, match="use one of them"):
        load_dataset(DataConfig(name="digits", cluster_labels=5, classes=(0,)))
    with pytest.raises(DataError, match="needs at least 50 training examples"):
        load_dataset(DataConfig(name="digits", cluster_labels=50, limit=20))
