"""`load_dataset`: build a registered set, then apply the post-processing every set shares.

In order: check the values are finite; carve seeded validation and test splits for sets that ship
none; check no split is empty; apply `limit`; binarize. Everything random here is seeded by
`data.split_seed`, so the same config always gives the same splits and the same static draw.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from vaekit.sections import DataConfig
from vaekit.data.base import SPLITS, Dataset, RawSet, Split
from vaekit.data.codec import fitted_by_data_set
from vaekit.errors import ConfigError, DataError, InputError
from vaekit.registry import DATASETS, suggest

BINARIZE = ("none", "threshold", "static", "dynamic")
# Separate random streams per purpose and split, so that changing `limit` never changes the carve
# and the static draw of one split does not depend on the size of another.
CARVE, LIMIT, DRAW = 0, 1, 2


def load_dataset(config: DataConfig, codec: Any = None) -> Dataset:
    """The data set `config.name` names, split, limited, binarized and checked as `config` says.

    `codec`: a run's stored codec of a kind its data set fits while reading (a table's schema,
    `vaekit.data.codec.fitted_by_data_set`), used instead of fitting a new one, so a run's data
    are encoded exactly as in training."""
    _check_options(config)
    try:
        builder = DATASETS.get(config.name)
    except ConfigError as e:
        raise ConfigError(f"data.name: {e}") from None
    config = _own_section(config)
    if codec is not None and not fitted_by_data_set(codec):
        raise InputError("load_dataset's codec is for the codecs a data set fits itself (a table's); apply any other "
                         "with codec.apply(load_dataset(config))")
    raw: RawSet = builder(config) if codec is None else builder(config, codec=codec)
    for name in SPLITS:
        split = getattr(raw, name)
        if split is not None:
            check_finite(split, f"{raw.source} ({name} split)")
    splits = carve(raw, config.val_fraction, config.test_fraction, config.split_seed)
    if config.classes is not None:
        splits = {**splits, **{name: keep_classes(splits[name], config.classes, config.name, name) for name in ("train", "val")}}
    for name, split in splits.items():
        if len(split) == 0:
            raise DataError(_empty_message(config, raw, name))
    if config.limit is not None:
        splits = {
            name: limit(s, config.limit, _rng(config.split_seed, LIMIT, SPLITS.index(name))) for name, s in splits.items()
        }
    splits = {name: binarize(s, config.binarize, config.split_seed, name, config.name) for name, s in splits.items()}
    num_classes = raw.num_classes
    if config.cluster_labels:
        splits, num_classes = cluster_labelled(splits, config.cluster_labels, config.split_seed, config.name)
    if config.binarize in ("threshold", "static"):
        binary = True
    else:
        binary = all(is_binary(s.x) for s in splits.values())
    return Dataset(
        name=config.name,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        shape=tuple(raw.shape),
        is_image=raw.is_image,
        binary=binary,
        dynamic_binarize=config.binarize == "dynamic",
        num_classes=num_classes,
        factor_names=raw.factor_names,
        codec=raw.codec,
        counts=dict(raw.counts),
    )


def cluster_labelled(splits: dict[str, Split], k: int, seed: int, set_name: str) -> tuple[dict[str, Split], int]:
    """Every split labelled by the k k-means clusters of the training split (`vaekit.data.clusters`,
    seeded by `seed`), in place of any labels it had: classes for a conditional VAE on data
    without them. Returns the splits and k."""
    from vaekit.data.clusters import fit_clusters

    train = splits["train"]
    if len(train) < k:
        raise DataError(f"data.cluster_labels={k} needs at least {k} training examples, and {set_name} has "
                        f"{len(train)}; lower data.cluster_labels")
    clusters = fit_clusters(train.x, k, seed=seed)
    return {name: dataclasses.replace(s, y=clusters.assign(s.x)) for name, s in splits.items()}, k


def keep_classes(split: Split, classes: tuple[int, ...], set_name: str, split_name: str = "train") -> Split:
    """Only the examples whose label is one of `classes` (the one-class protocol trains on one
    class and tests on all). DataError when a class has no training example (a label the set
    does not have), or when the validation split keeps no example at all, before the split is
    found empty: the message names the labels there are."""
    if split.y is None:
        raise DataError(f"data.classes needs labels, and data set '{set_name}' has none; remove data.classes")
    if not classes:
        raise DataError("data.classes is empty, which keeps no example; list the labels to keep, or remove data.classes")
    labels = sorted(set(torch.unique(split.y).tolist()))
    missing = sorted(set(classes) - set(labels))
    keep = torch.isin(split.y.long(), torch.tensor(list(classes), dtype=torch.long))
    if split_name == "train" and missing:
        raise DataError(f"data.classes: no example of {_label_list(missing)} in data set '{set_name}' "
                        f"(it has {_label_list(labels)}); choose among those, or remove data.classes")
    if not bool(keep.any()):
        raise DataError(f"data.classes: the {split_name} split of data set '{set_name}' has no example of "
                        f"{_label_list(sorted(set(classes)))} (it has {_label_list(labels)} there); "
                        f"raise data.{split_name}_fraction or choose other labels")
    return _take(split, keep)


def _label_list(labels: list[int]) -> str:
    """Sorted labels in words: 'label 42', 'labels 0-9' for a run of consecutive ones, else
    'labels 0, 3, 7' (abridged)."""
    if len(labels) == 1:
        return f"label {labels[0]}"
    if len(labels) > 2 and labels == list(range(labels[0], labels[-1] + 1)):
        return f"labels {labels[0]}-{labels[-1]}"
    text = ", ".join(str(v) for v in labels[:12])
    return "labels " + text + (f", ... ({len(labels)} in all)" if len(labels) > 12 else "")


def check_finite(split: Split, where: str) -> None:
    """DataError when any example holds NaN or an infinity."""
    if split.x.numel() == 0:
        return
    # min and max propagate NaN and expose infinities, and aminmax is several times faster than
    # isfinite over tens of millions of values; the per-row search runs only when it fails.
    lo, hi = torch.aminmax(split.x)
    if bool(torch.isfinite(lo) & torch.isfinite(hi)):
        return
    rows = np.flatnonzero(~np.isfinite(split.x.numpy()).reshape(len(split), -1).all(axis=1))
    raise DataError(
        f"{where} has {len(rows)} examples with NaN or infinite values (first at index {int(rows[0])}); "
        f"clean or drop those rows"
    )


def is_binary(x: torch.Tensor) -> bool:
    """Whether every value is 0 or 1."""
    a = x.numpy()  # numpy's comparisons are several times faster than torch's here, and share memory
    return bool(((a == 0) | (a == 1)).all())


def carve(raw: RawSet, val_fraction: float, test_fraction: float, seed: int) -> dict[str, Split]:
    """All three splits: the shipped ones as they are, missing ones carved at random from train.

    Fractions are of the examples shipped as train. Carved splits keep the file order.
    """
    if raw.val is not None and raw.test is not None:
        return {"train": raw.train, "val": raw.val, "test": raw.test}
    index = carve_indices(len(raw.train), 0.0 if raw.val is not None else val_fraction,
                          0.0 if raw.test is not None else test_fraction, seed)
    out = {name: take(raw.train, rows) for name, rows in index.items()}
    out.update({name: getattr(raw, name) for name in ("val", "test") if getattr(raw, name) is not None})
    return {name: out[name] for name in SPLITS}


def carve_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Row indices (sorted, so carved splits keep the file order) of train, val and test for `n`
    examples: a seeded permutation cut into test, then val, then the rest for train. A fraction of
    0 gives an empty split."""
    perm = _rng(seed, CARVE).permutation(n)
    sizes = {"test": _count(n, test_fraction), "val": _count(n, val_fraction)}
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = np.sort(perm[start : start + size])
        start += size
    out["train"] = np.sort(perm[start:])
    return {name: out[name] for name in SPLITS}


def limit(split: Split, n: int, rng: np.random.Generator) -> Split:
    """At most `n` examples: a seeded random subset, in file order.

    A random subset rather than a prefix, because file order is not always random: the first
    1,000 binarized-MNIST test images are markedly harder than the rest, and a user's CSV may be
    sorted by class. Subsets for a smaller `n` are contained in those for a larger one.
    """
    if len(split) <= n:
        return split
    return take(split, np.sort(rng.permutation(len(split))[:n]))


def binarize(split: Split, mode: str, seed: int, split_name: str, set_name: str) -> Split:
    """Apply one binarize mode to a split. 'dynamic' leaves the training split grey, for the
    training loop to redraw every batch, and draws val and test once, as 'static' does: a
    likelihood is measured on fixed binary data (the convention of the IWAE paper)."""
    if mode in ("static", "dynamic") and len(split):
        lo, hi = float(split.x.min()), float(split.x.max())
        if lo < 0 or hi > 1:
            raise DataError(
                f"binarize={mode} needs values in [0, 1], but {set_name} ({split_name}) has values in "
                f"[{lo:g}, {hi:g}]; rescale the data to [0, 1] or use data.binarize=threshold"
            )
    if mode == "threshold":
        return dataclasses.replace(split, x=(split.x > 0.5).to(torch.float32))
    if mode == "static" or (mode == "dynamic" and split_name != "train"):
        g = torch.Generator().manual_seed(int(_rng(seed, DRAW, SPLITS.index(split_name)).integers(2**62)))
        return dataclasses.replace(split, x=torch.bernoulli(split.x, generator=g))
    return split


def take(split: Split, index: np.ndarray) -> Split:
    """The examples of `split` at `index`."""
    i = torch.from_numpy(np.asarray(index, dtype=np.int64))
    return _take(split, i)


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _count(n: int, fraction: float) -> int:
    # At least one example for any positive fraction, so tiny sets still get every split.
    return max(1, round(n * fraction)) if fraction > 0 else 0


def _check_options(config: DataConfig) -> None:
    if config.binarize not in BINARIZE:
        raise DataError(f"data.binarize={config.binarize!r} is not a mode{suggest(str(config.binarize), list(BINARIZE))}")
    for key in ("val_fraction", "test_fraction"):
        value = getattr(config, key)
        if not 0 <= value < 1:
            raise DataError(f"data.{key}={value} must lie in [0, 1); for example data.{key}=0.1")
    if config.val_fraction + config.test_fraction >= 1:
        raise DataError(
            f"data.val_fraction + data.test_fraction = {config.val_fraction + config.test_fraction:g} leaves no "
            f"training examples; make their sum less than 1"
        )
    if config.split_seed < 0:
        raise DataError(f"data.split_seed={config.split_seed} must be 0 or more; for example data.split_seed=0")
    if config.limit is not None and config.limit < 1:
        raise DataError(f"data.limit={config.limit} must be at least 1; leave it unset to keep every example")
    if config.cluster_labels == 1 or config.cluster_labels < 0:
        raise DataError(f"data.cluster_labels={config.cluster_labels} must be 0 (the set's own labels) or at least 2 "
                        f"clusters; for example data.cluster_labels=10")
    if config.cluster_labels and config.classes is not None:
        raise DataError("data.classes picks classes of the set's own labels, which data.cluster_labels replaces; "
                        "use one of them")


def _empty_message(config: DataConfig, raw: RawSet, name: str) -> str:
    shipped = getattr(raw, name)
    if shipped is not None and len(shipped) == 0:
        return f"the {name} split of {config.name} ({raw.source}) is empty; put examples in it"
    if name == "train":
        return (
            f"carving validation and test examples left no training examples of {config.name} "
            f"({len(raw.train)} in all); lower data.val_fraction and data.test_fraction or add examples"
        )
    return f"the {name} split of {config.name} is empty; raise data.{name}_fraction above 0"


def _own_section(config: DataConfig) -> DataConfig:
    """`config` as the section class its data set registered (a plain DataConfig naming 'arrays'
    becomes an ArraysConfig with that set's defaults for the keys it adds), so a builder reads its
    own keys whatever the caller built."""
    wanted = DATASETS.config_class(config.name) or DataConfig
    if isinstance(config, wanted):
        return config
    return wanted(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init})


def _take(split: Split, index) -> Split:
    """The examples `index` selects, with their labels, factors and mask."""
    def take(t):
        return None if t is None else t[index]
    return Split(split.x[index], take(split.y), take(split.factors), take(split.mask), take(split.lengths))
