"""A small classifier trained on a data set's training split, cached, whose penultimate-layer
activations are the feature space of the sample-quality metrics (`vaekit.evaluate.quality`).

FID needs a feature space in which distances mean something. Inception features are the standard
one, but their weights cannot ship with vaekit and are made for 299x299 natural photographs. A
classifier trained on the data set itself is the offline alternative of Heusel et al. (2017,
arXiv:1706.08500, the MNIST experiments) and of most VAE papers on small images. Its figures are
comparable between runs on the same data set, never with published Inception FIDs.

    extractor = feature_extractor(load_dataset(DataConfig(name="digits")))
    extractor.features(x)   # (N, 128)
    extractor.accuracy      # on the validation split

A data set without labels, or with a single class, is labelled by k-means instead
(`vaekit.data.clusters`): the classifier then learns to tell its 50 main modes apart, and
`info["labels"]` says "kmeans" rather than "classes".

The network is a small conv net for images of at least 8x8 pixels and an MLP otherwise. It is
trained with Adam from a fixed seed, so the same data always give the same weights, and cached in
`$VAEKIT_CACHE_DIR/classifiers/` (default `~/.cache/vaekit/classifiers/`) as `KEY.safetensors`
plus `KEY.json`. The key hashes the data set's name, the data options that change the examples
and a sample of the training data, so another data set never reuses a wrong classifier.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vaekit.data.base import Dataset, Split
from vaekit.data.clusters import default_k, fit_clusters, standard_moments
from vaekit.errors import CheckpointError, DataError, OutputError
from vaekit.seeding import seeded
from vaekit.files import write_json
from vaekit.weights import load_into, load_weights, save_weights

DEFAULT_CACHE = "~/.cache/vaekit"
VERSION = 1  # part of the key: a change of architecture or recipe must not reuse old weights
FEATURE_DIM = 128
BATCH_SIZE = 32
LR = 1e-3
MIN_STEPS = 200  # tiny sets get more epochs, so that every set gets about this many Adam steps
MIN_EPOCHS, MAX_EPOCHS = 3, 20
HASH_EXAMPLES = 1024  # examples hashed for the key: enough to tell sets apart, cheap for MNIST
# Data options that change what the examples look like; the others (limit, split_seed, ...)
# change which examples there are, which the hash of the training sample already sees.
KEY_OPTIONS = ("path", "binarize", "image_size", "color", "label_column", "classes")


class ConvClassifier(nn.Module):
    """Three 3x3 convolutions (the last two of stride 2), pooled to 2x2, then 128 features."""

    def __init__(self, shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        c = shape[0]
        self.register_buffer("mean", torch.zeros(1, c, 1, 1))
        self.register_buffer("std", torch.ones(1, c, 1, 1))
        self.body = nn.Sequential(
            nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),  # (B, 256) whatever the image size
            nn.Linear(256, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - self.mean) / self.std)  # (B, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, K) logits


class MLPClassifier(nn.Module):
    """Two hidden layers, 256 and 128 units; the second gives the features."""

    def __init__(self, shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        d = math.prod(shape)
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))
        self.body = nn.Sequential(nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x.flatten(1) - self.mean) / self.std)  # (B, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, K) logits


ARCHITECTURES = {"conv": ConvClassifier, "mlp": MLPClassifier}


def architecture(shape: tuple[int, ...]) -> str:
    """'conv' for images (C, H, W) of at least 8x8 pixels, else 'mlp'."""
    return "conv" if len(shape) == 3 and shape[1] >= 8 and shape[2] >= 8 else "mlp"


class FeatureExtractor:
    """A trained classifier: `features(x)` gives its penultimate activations, `accuracy` its
    accuracy on held-out data (against their clusters when `labels` is "kmeans"), `info` the rest
    of its cache record."""

    def __init__(self, net: nn.Module, info: dict[str, Any], path: Path | None = None) -> None:
        self.net = net.eval()
        self.info = info
        self.path = path

    @property
    def accuracy(self) -> float:
        return float(self.info["accuracy"])

    @property
    def labels(self) -> str:
        """What it was trained to predict: "classes" (the data's labels) or "kmeans" (clusters)."""
        return str(self.info.get("labels", "classes"))  # records before pseudo-labels had labels only

    @property
    def feature_dim(self) -> int:
        return int(self.info["feature_dim"])

    @torch.no_grad()
    def features(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Penultimate-layer activations of examples x (N, *shape): (N, F) float32 on the CPU."""
        return self._map(self.net.features, x, batch_size)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """The predicted class of each example: (N,) int64."""
        return self._map(self.net, x, batch_size).argmax(1)

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int) -> torch.Tensor:
        shape = tuple(self.info["shape"])
        if tuple(x.shape[1:]) != shape:
            raise DataError(f"the classifier takes examples of shape {shape}, got {tuple(x.shape[1:])}")
        device = next(self.net.parameters()).device
        out = [fn(x[i : i + batch_size].to(device, torch.float32)).float().cpu() for i in range(0, len(x), batch_size)]
        return torch.cat(out)


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """`cache_dir`, else `$VAEKIT_CACHE_DIR`, else `~/.cache/vaekit`."""
    return Path(cache_dir or os.environ.get("VAEKIT_CACHE_DIR") or DEFAULT_CACHE).expanduser()


def cache_key(dataset: Dataset, data_config: Any = None) -> str:
    """`NAME-HASH`: the hash covers the data options that change the examples, the shape and a
    fixed sample of the training split (examples and all labels)."""
    options = {}
    if data_config is not None:
        names = {f.name for f in fields(data_config)}
        options = {k: getattr(data_config, k) for k in KEY_OPTIONS if k in names}
    train = dataset.train
    head = json.dumps({"version": VERSION, "name": dataset.name, "shape": list(dataset.shape), "n": len(train),
                       "dynamic": dataset.dynamic_binarize, "options": options}, sort_keys=True, default=str)
    h = hashlib.sha256(head.encode())
    index = np.linspace(0, len(train) - 1, min(len(train), HASH_EXAMPLES)).round().astype(np.int64)
    h.update(np.ascontiguousarray(train.x[torch.from_numpy(index)].numpy()).tobytes())
    if train.y is not None:
        h.update(np.ascontiguousarray(train.y.numpy()).tobytes())
    if not _has_classes(dataset):
        # Pseudo-labels: the recipe is part of the key, so a change of k never reuses old weights.
        h.update(f"kmeans-{default_k(len(train))}".encode())
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset.name)[:40] or "data"
    return f"{safe}-{h.hexdigest()[:16]}"


def feature_extractor(dataset: Dataset, cache_dir: str | Path | None = None, retrain: bool = False, *,
                      data_config: Any = None, seed: int = 0, device: str | torch.device = "cpu",
                      log: Callable[[str], None] | None = None) -> FeatureExtractor:
    """The classifier of `dataset`: loaded from the cache, else trained on the training split
    (seeded, so deterministic) and cached. `data_config`, the `DataConfig` the set was loaded
    with, adds the options that change the examples to the cache key. `retrain` ignores a cached
    classifier and replaces it. A set without labels (or with one class) is labelled by k-means."""
    _check_labels(dataset)
    log = log or (lambda message: None)
    folder = cache_root(cache_dir) / "classifiers"
    key = cache_key(dataset, data_config)
    weights, record = folder / f"{key}.safetensors", folder / f"{key}.json"
    device = torch.device(device)
    if not retrain and weights.is_file() and record.is_file():
        try:
            return _load(weights, record, device)
        except (CheckpointError, KeyError, ValueError, TypeError) as e:
            # A damaged cache entry is worth a retrain, not a failure: it holds nothing the user made.
            log(f"classifier cache entry {weights} is unusable ({e}); retraining")
    log(f"training the feature classifier for {dataset.name} (cached in {folder})")
    net, info = train_classifier(dataset, seed=seed, device=device)
    info["key"] = key
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the classifier cache '{folder}' ({e.strerror}); "
                          f"set VAEKIT_CACHE_DIR to a writable folder") from None
    meta = {k: json.dumps(info[k]) for k in ("arch", "shape", "num_classes")}
    save_weights(net, weights, meta)
    write_json(record, info)  # written last: its presence marks a complete entry
    return FeatureExtractor(net, info, weights)


def train_classifier(dataset: Dataset, *, seed: int = 0, device: torch.device | str = "cpu",
                     epochs: int | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Train the classifier on `dataset.train` with Adam; returns it in eval mode and its record
    (accuracy on the validation split, or the test split when there are no validation labels).
    Without two classes of labels, the targets are the training split's k-means clusters, and the
    accuracy is measured against the clusters the held-out examples fall in."""
    _check_labels(dataset)
    train = dataset.train
    shape = tuple(dataset.shape)
    targets, held_out, split_name, num_classes, source = _targets(dataset, seed)
    arch = architecture(shape)
    device = torch.device(device)
    steps_per_epoch = math.ceil(len(train) / BATCH_SIZE)
    if epochs is None:
        epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch)))
    g = torch.Generator().manual_seed(seed)
    with seeded(seed, device):  # the initial weights come from the seed, the caller's stream is untouched
        net = ARCHITECTURES[arch](shape, num_classes)
    _set_normalization(net, train.x, arch)
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    for _ in range(epochs):
        for idx in torch.randperm(len(train), generator=g).split(BATCH_SIZE):
            x = train.x[idx]
            if dataset.dynamic_binarize:
                x = torch.bernoulli(x, generator=g)  # the split is grey; the model trains on fresh draws
            loss = F.cross_entropy(net(x.to(device)), targets[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    info = {
        "accuracy": _accuracy(net, held_out, device),
        "accuracy_split": split_name,
        "labels": source,
        "epochs": epochs,
        "dataset": dataset.name,
        "shape": list(shape),
        "num_examples": len(train),
        "num_classes": num_classes,
        "feature_dim": FEATURE_DIM,
        "arch": arch,
        "seed": seed,
        "version": VERSION,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return net, info


def _has_classes(dataset: Dataset) -> bool:
    """Whether the training labels can train the classifier: present, with at least 2 classes."""
    y = dataset.train.y
    return y is not None and len(torch.unique(y)) >= 2


def _check_labels(dataset: Dataset) -> None:
    if len(dataset.train) < 2:
        raise DataError(f"the feature classifier needs at least 2 training examples, '{dataset.name}' has "
                        f"{len(dataset.train)}")
    y = dataset.train.y
    if y is not None and (y.dtype.is_floating_point or y.dim() != 1):
        raise DataError(f"the feature classifier needs integer class labels, and those of '{dataset.name}' are "
                        f"{y.dtype} of shape {tuple(y.shape)}")
    if y is not None and len(y) and int(y.min()) < 0:
        raise DataError(f"labels of '{dataset.name}' must be 0 or more for the classifier, found {int(y.min())}")


def _targets(dataset: Dataset, seed: int) -> tuple[torch.Tensor, Split, str, int, str]:
    """(training targets, held-out split with targets, its name, number of classes, "classes" or
    "kmeans"): the labels where there are two classes or more, else k-means clusters."""
    train = dataset.train
    if _has_classes(dataset):
        held_out, name = (dataset.val, "val") if dataset.val.y is not None else (dataset.test, "test")
        return train.y, held_out, name, dataset.num_classes or int(train.y.max()) + 1, "classes"
    clusters = fit_clusters(train.x, default_k(len(train)), seed=seed)
    held_out, name = (dataset.val, "val") if len(dataset.val) else (dataset.test, "test")
    return clusters.assign(train.x), Split(held_out.x, clusters.assign(held_out.x)), name, clusters.k, "kmeans"


def _set_normalization(net: nn.Module, x: torch.Tensor, arch: str) -> None:
    # Standardize inputs with training statistics: the same recipe then fits pixels in [0, 1]
    # and arrays of any scale.
    mean, std = standard_moments(x, per_channel=arch == "conv")
    net.mean.copy_(mean.reshape(net.mean.shape))
    net.std.copy_(std.clamp_min(1e-6).reshape(net.std.shape))


@torch.no_grad()
def _accuracy(net: nn.Module, split: Split, device: torch.device, batch_size: int = 500) -> float:
    correct = 0
    for i in range(0, len(split), batch_size):
        pred = net(split.x[i : i + batch_size].to(device)).argmax(1).cpu()
        correct += int((pred == split.y[i : i + batch_size]).sum())
    return correct / len(split)


def _load(weights: Path, record: Path, device: torch.device) -> FeatureExtractor:
    info = json.loads(record.read_text())
    net = ARCHITECTURES[info["arch"]](tuple(info["shape"]), int(info["num_classes"]))
    load_into(net, load_weights(weights), str(weights))
    return FeatureExtractor(net.to(device), info, weights)
