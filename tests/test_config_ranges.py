"""Config values that enter through YAML, overrides or Python: NumPy numbers, the ranges every
registered config class declares, YAML tags, and the keys that only make sense together
(min_lr and lr, image_size and data.name, label_column as an index)."""

from __future__ import annotations

import dataclasses
import re
import typing

import numpy as np
import pytest

from vaekit.config import (
    DataConfig, TrainConfig, key_ranges, load_config, parse_config,
)
from vaekit.data import load_dataset
from vaekit.distributions import GaussianConfig
from vaekit.errors import ConfigError, DataError
from vaekit.registry import LIKELIHOODS, MODELS, NETWORKS, PRIORS
from vaekit.data.arrays import ArraysConfig
from vaekit.data.images import ImagesConfig

# ----------------------------------------------------------------------------- NumPy numbers


def test_numpy_scalars_are_numbers():
    cfg = parse_config({"model": {"latent_dim": np.int64(4), "encoder": {"hidden": [np.int32(8), 16]}},
                        "train": {"lr": np.float32(0.5), "epochs": np.uint8(3)}})
    assert cfg.model.latent_dim == 4 and type(cfg.model.latent_dim) is int
    assert cfg.model.encoder.hidden == (8, 16) and all(type(h) is int for h in cfg.model.encoder.hidden)
    assert cfg.train.lr == 0.5 and type(cfg.train.lr) is float and cfg.train.epochs == 3


@pytest.mark.parametrize("raw, message", [
    ({"train": {"seed": np.uint64(2**64 - 1)}}, "train.seed must be at most 2\\*\\*63-1"),
    ({"train": {"lr": np.float64("nan")}}, "train.lr must be a finite number"),
    ({"model": {"latent_dim": np.float64(4.0)}}, "expected an integer"),
    ({"model": {"latent_dim": np.bool_(True)}}, "expected an integer"),
    ({"model": {"latent_dim": True}}, "expected an integer"),
])
def test_numpy_scalars_keep_the_bounds(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


# ----------------------------------------------------------------------------- declared ranges

# Numeric keys that take any finite value on purpose: the InfoVAE's alpha (its KL weight is
# 1 - alpha, of either sign in the paper), a clamp range checked as a pair, a pseudo-input mean.
UNBOUNDED = {("model", "infovae", "alpha"), ("model", "wae", "alpha"), ("model", "hvae", "logvar_min"),
             ("model", "hvae", "logvar_max"), ("prior", "vampprior", "init_mean"), ("model", "vqvae", "ema_decay")}
SECTIONS = [(MODELS, "model"), (LIKELIHOODS, "likelihood"), (PRIORS, "prior"), (NETWORKS, "encoder"), (NETWORKS, "decoder")]


def _raw(key: str, name: str, field: str, value) -> dict:
    section = {"name": name, field: value}
    if key == "model":
        return {"model": section}
    return {"model": {key: section}}


def _numeric_fields(cls: type):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        # numbers, and lists of numbers (not lists of sections, such as the mixed likelihood's layout)
        if tp in (int, float) or typing.get_origin(tp) is tuple and typing.get_args(tp)[:1] in ((int,), (float,)):
            yield f.name, tp


@pytest.mark.parametrize("registry, key", SECTIONS, ids=[k for _, k in SECTIONS])
def test_every_registered_numeric_key_has_a_range_or_is_meant_unbounded(registry, key):
    for name in registry.names():
        cls = registry.config_class(name)
        declared = key_ranges(cls)
        for field, _ in _numeric_fields(cls):
            kind = "model" if key == "model" else key.replace("encoder", "network").replace("decoder", "network")
            if (kind, name, field) in UNBOUNDED:
                continue
            assert field in declared, f"{key} '{name}': numeric key '{field}' declares no range"


@pytest.mark.parametrize("registry, key", SECTIONS, ids=[k for _, k in SECTIONS])
def test_a_value_below_its_range_names_the_dotted_key(registry, key):
    checked = 0
    for name in registry.names():
        cls = registry.config_class(name)
        hints = typing.get_type_hints(cls)
        for field, r in key_ranges(cls).items():
            integer = hints[field] is int or typing.get_args(hints[field])[:1] == (int,)
            low = r.min if r.min is not None else r.min_exclusive
            bad = (int(low) - 1 if r.min is not None else int(low)) if integer else (low - 0.5 if r.min is not None else low)
            value = [bad] if typing.get_origin(hints[field]) is tuple else bad
            path = "model" if key == "model" else f"model.{key}"
            where = f"{path}.{field}" + ("[0]" if isinstance(value, list) else "")
            with pytest.raises(ConfigError, match=rf"^{re.escape(where)} must be"):
                parse_config(_raw(key, name, field, value))
            checked += 1
    assert checked > 0


def test_ranges_hold_for_configs_built_in_python_too():
    with pytest.raises(ConfigError, match="model.likelihood.sigma must be positive, got -1"):
        GaussianConfig(sigma=-1.0)
    cfg = parse_config({"model": {"likelihood": {"name": "gaussian"}}})
    with pytest.raises(ConfigError, match="min_sigma must be positive"):
        dataclasses.replace(cfg.model.likelihood, min_sigma=0.0)
    with pytest.raises(ConfigError, match=r"model.encoder/decoder.hidden\[1\] must be at least 1, got 0"):
        dataclasses.replace(cfg.model.encoder, hidden=(8, 0))


@pytest.mark.parametrize("sigma", ["0", "-1", "1e-4"])
def test_gaussian_sigma_must_be_positive_and_above_its_floor(sigma):
    # -1 and 0 used to reach math.log in the constructor: "math domain error"
    with pytest.raises(ConfigError, match=r"model.likelihood.sigma (must be positive|\(0.0001\) is below model.likelihood.min_sigma)"):
        parse_config({}, ["model.likelihood.name=gaussian", "model.likelihood.variance=fixed",
                          f"model.likelihood.sigma={sigma}"])
    # a decoded sigma ignores `sigma`, so only its sign is checked there
    assert parse_config({}, ["model.likelihood.name=gaussian", "model.likelihood.variance=decoder",
                             "model.likelihood.sigma=1e-4"]).model.likelihood.sigma == 1e-4


# ----------------------------------------------------------------------------- YAML tags


def test_a_python_tag_is_named_and_never_run(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "c.yaml"
    path.write_text(f"train:\n  epochs: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match=r"gives 'train.epochs' the YAML tag !!python/object/apply:os.system "
                                          r"\(line 2\), which vaekit does not read; .*remove the tag"):
        load_config(path)
    assert not marker.exists()
    with pytest.raises(ConfigError, match=r"override 'train.epochs' uses the YAML tag !custom"):
        parse_config({}, ["train.epochs=!custom 3"])


# ----------------------------------------------------------------------------- keys read together


def test_min_lr_must_not_exceed_lr():
    with pytest.raises(ConfigError, match=r"train.min_lr \(1\) must not exceed train.lr \(0.002\)"):
        parse_config({}, ["train.lr=0.002", "train.min_lr=1"])
    assert TrainConfig(lr=0.0).lr == 0.0  # lr=0 (a frozen run, documented) keeps working
    assert TrainConfig(lr=0.01, min_lr=0.01).min_lr == 0.01


def test_image_size_is_for_image_folders_only_and_bounded():
    with pytest.raises(ConfigError, match=r"data.image_size belongs to the dataset 'images' \(data.name=images\)"):
        parse_config({}, ["data.image_size=[4,4]"])  # digits have a size of their own
    with pytest.raises(ConfigError, match=r"data.image_size\[0\] must be at most 4096, got 100000"):
        parse_config({}, ["data.name=images", "data.image_size=[100000,100000]"])
    with pytest.raises(ConfigError, match=r"data.image_size\[1\] must be at least 1, got 0"):
        ImagesConfig(image_size=(4, 0))
    assert parse_config({}, ["data.name=images", "data.image_size=[4096,1]"]).data.image_size == (4096, 1)


def test_label_column_takes_a_column_index(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("".join(f"{i % 3},{i * 0.1:.1f},{i % 2}\n" for i in range(30)))  # labels in columns 0 and 2
    cfg = parse_config({}, ["data.name=arrays", f"data.path={path}", "data.label_column=2"])
    assert cfg.data.label_column == 2  # was refused: "expected a string, got 2 (int)"
    data = load_dataset(cfg.data)
    assert data.shape == (2,) and data.num_classes == 2
    with pytest.raises(DataError, match=r"t.csv has 3 columns, so data.label_column=7 is out of range; "
                                        r"give a 0-based index below 3"):
        load_dataset(ArraysConfig(path=str(tmp_path / "t.csv"), label_column=7))
    with pytest.raises(ConfigError, match="data.label_column .* must be at least 0, got -1"):
        parse_config({}, ["data.name=arrays", "data.label_column=-1"])
    index0 = load_dataset(ArraysConfig(path=str(path), label_column=0))
    assert index0.num_classes == 3 and index0.shape == (2,)  # 0 is an index, not "no column"
