"""The feature classifier: trained on the digits, cached under a key that tells data sets apart,
reloaded without training, deterministic; data without labels trains on its k-means clusters."""

from __future__ import annotations

import json

import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import Dataset, Split, load_dataset
from vaekit.errors import DataError
from vaekit.evaluate import classifier
from vaekit.evaluate.classifier import (
    architecture,
    cache_key,
    cache_root,
    feature_extractor,
    train_classifier,
)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset(DataConfig(name="digits"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("classifier-cache")


@pytest.fixture(scope="module")
def extractor(digits, cache):
    return feature_extractor(digits, cache, data_config=DataConfig(name="digits"))


def forbid_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the classifier was trained again instead of loaded from the cache")

    monkeypatch.setattr(classifier, "train_classifier", fail)


def test_the_digits_classifier_is_accurate_and_gives_features(extractor, digits):
    assert extractor.accuracy > 0.9  # on the validation split, which it never trained on
    pred = extractor.predict(digits.val.x)
    assert extractor.accuracy == pytest.approx(float((pred == digits.val.y).double().mean()))
    feats = extractor.features(digits.test.x)
    assert feats.shape == (len(digits.test), 128) and feats.dtype == torch.float32
    assert torch.isfinite(feats).all() and (feats >= 0).all()  # ReLU activations
    assert feats.std(0).sum() > 0  # examples differ in feature space
    with pytest.raises(DataError, match="shape"):
        extractor.features(torch.zeros(2, 64))


def test_the_cache_holds_weights_and_a_record(extractor, digits, cache):
    folder = cache / "classifiers"
    key = cache_key(digits, DataConfig(name="digits"))
    assert sorted(p.name for p in folder.iterdir()) == [f"{key}.json", f"{key}.safetensors"]  # no temp files left
    record = json.loads((folder / f"{key}.json").read_text())
    assert record["accuracy"] == extractor.accuracy and record["accuracy_split"] == "val"
    assert record["dataset"] == "digits" and record["shape"] == [1, 8, 8] and record["num_examples"] == 1437
    assert record["feature_dim"] == 128 and record["arch"] == "conv" and record["epochs"] >= 3
    assert record["date"].startswith("20")


def test_a_cached_classifier_is_loaded_not_retrained(extractor, digits, cache, monkeypatch):
    forbid_training(monkeypatch)
    again = feature_extractor(digits, cache, data_config=DataConfig(name="digits"))
    assert again.accuracy == extractor.accuracy
    assert torch.equal(again.features(digits.test.x), extractor.features(digits.test.x))
    with pytest.raises(AssertionError, match="trained again"):
        feature_extractor(digits, cache, retrain=True, data_config=DataConfig(name="digits"))


def test_the_cache_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VAEKIT_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    assert cache_root(tmp_path / "other") == tmp_path / "other"
    monkeypatch.delenv("VAEKIT_CACHE_DIR")
    assert str(cache_root()).endswith(".cache/vaekit") and "~" not in str(cache_root())


def test_the_key_tells_data_sets_apart(digits, make_data):
    config = DataConfig(name="digits")
    key = cache_key(digits, config)
    assert key.startswith("digits-") and key == cache_key(load_dataset(config), config)  # the same set, the same key
    limited = load_dataset(DataConfig(name="digits", limit=500))
    assert cache_key(limited, DataConfig(name="digits", limit=500)) != key  # other examples
    assert cache_key(digits, DataConfig(name="digits", binarize="threshold")) != key  # other options
    other_pixels = Dataset(**{**digits.__dict__, "train": Split(digits.train.x.flip(-1), digits.train.y)})
    assert cache_key(other_pixels, config) != key  # same name and size, other images
    tiny = make_data()
    assert cache_key(tiny).startswith("tiny-") and cache_key(tiny) != cache_key(make_data(seed=1))


def test_training_is_deterministic_and_seeded(make_data):
    data = make_data(n_train=128)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    a, info = train_classifier(data, seed=0, epochs=1)
    assert torch.equal(torch.rand(3), expected)  # the caller's random stream is untouched
    b, _ = train_classifier(data, seed=0, epochs=1)
    c, _ = train_classifier(data, seed=1, epochs=1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not torch.equal(a.state_dict()["head.weight"], c.state_dict()["head.weight"])
    assert info["epochs"] == 1 and info["seed"] == 0


def test_vectors_and_small_images_get_an_mlp(make_data, tmp_path):
    assert architecture((1, 28, 28)) == "conv" and architecture((3, 8, 8)) == "conv"
    assert architecture((1, 4, 4)) == "mlp" and architecture((10,)) == "mlp"
    data = make_data(n_train=128, shape=(12,))
    fx = feature_extractor(data, tmp_path)
    assert fx.info["arch"] == "mlp" and fx.features(data.test.x).shape == (len(data.test), 128)
    assert fx.accuracy > 0.9  # four noisy prototypes


def test_a_damaged_cache_entry_is_retrained(make_data, tmp_path):
    data = make_data(n_train=64)
    first = feature_extractor(data, tmp_path)
    first.path.write_bytes(b"not a safetensors file")
    messages = []
    second = feature_extractor(data, tmp_path, log=messages.append)
    assert any("unusable" in m for m in messages)
    assert torch.equal(second.features(data.test.x), first.features(data.test.x))  # the same seed, the same net
    assert feature_extractor(data, tmp_path).accuracy == second.accuracy  # and the entry is whole again


def unlabelled(data: Dataset) -> Dataset:
    return Dataset(**{**data.__dict__, "train": Split(data.train.x), "val": Split(data.val.x),
                      "test": Split(data.test.x), "num_classes": None})


def test_data_without_labels_is_labelled_by_its_clusters(make_data, tmp_path):
    data = make_data(n_train=128)  # noisy copies of 4 prototypes: 128 // 16 = 8 clusters
    fx = feature_extractor(unlabelled(data), tmp_path)
    assert fx.labels == "kmeans" and fx.info["num_classes"] == 8 and fx.info["accuracy_split"] == "val"
    assert fx.features(data.test.x).shape == (len(data.test), 128)
    # The clusters split the prototypes, never merge them, so the learned classes refine the true
    # ones: each predicted cluster holds the examples of a single prototype.
    pred = fx.predict(data.test.x)
    for c in pred.unique():
        assert len(data.test.y[pred == c].unique()) == 1
    assert fx.accuracy > 0.9  # against the clusters the validation examples fall in
    labelled = feature_extractor(data, tmp_path)
    assert labelled.labels == "classes" and labelled.info["num_classes"] == 4
    assert cache_key(unlabelled(data)) != cache_key(data)  # the two never share a cache entry
    assert len(list((tmp_path / "classifiers").glob("*.json"))) == 2


def test_one_class_is_labelled_by_its_clusters(make_data, tmp_path):
    data = make_data(n_train=64)
    one = Dataset(**{**data.__dict__, "train": Split(data.train.x, torch.zeros(len(data.train), dtype=torch.long))})
    fx = feature_extractor(one, tmp_path)
    assert fx.labels == "kmeans" and fx.info["num_classes"] == 4


def test_labels_that_cannot_be_classes_are_a_clear_error(make_data, tmp_path):
    data = make_data()
    negative = Dataset(**{**data.__dict__, "train": Split(data.train.x, data.train.y - 1)})
    with pytest.raises(DataError, match="0 or more"):
        feature_extractor(negative, tmp_path)
    vectors = Dataset(**{**data.__dict__, "train": Split(data.train.x, torch.rand(len(data.train), 3))})
    with pytest.raises(DataError, match="integer class labels"):
        feature_extractor(vectors, tmp_path)
    single = Dataset(**{**data.__dict__, "train": Split(data.train.x[:1], data.train.y[:1])})
    with pytest.raises(DataError, match="at least 2 training examples"):
        feature_extractor(single, tmp_path)
    assert not (tmp_path / "classifiers").exists()  # nothing trained, nothing written
