"""Frozen, typed configs: YAML in and out, dotted overrides, loud validation.

A config is a tree of frozen dataclasses. Sections whose class depends on a registered name
(`model`, `model.encoder`, `model.likelihood`, `model.prior`) are *polymorphic*: their base class
names a registry, and the `name` key picks the registered config class. Every key is checked:
an unknown key or a wrong type raises `ConfigError` naming the dotted path and the nearest valid
key, and a number outside the range its class declares (`vaekit.ranges`) names the key and range.
Overrides are read by `vaekit.overrides`.

    cfg = load_config("configs/digits.yaml", ["model.latent_dim=8", "train.epochs=3"])
"""

from __future__ import annotations

import dataclasses
import numbers
import re
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Sequence, TypeVar, Union

import yaml

from vaekit.checks import check_int, check_path, check_real, check_seed
from vaekit.errors import ConfigError, InputError
from vaekit.overrides import apply_overrides, check_overrides  # noqa: F401 (part of this module's API)
# Range and its constants are what component config classes declare their `ranges` with.
from vaekit.ranges import AT_LEAST_1, NON_NEGATIVE, POSITIVE, Range, check_own_ranges, check_ranges, key_ranges  # noqa: F401
from vaekit.registry import LIKELIHOODS, MODELS, NETWORKS, PRIORS, Registry, suggest
from vaekit.yamlio import SECTIONS, describe, read_yaml

C = TypeVar("C")


# ----------------------------------------------------------------------------- base classes of
# the polymorphic sections; the concrete classes live beside their components.


@dataclass(frozen=True)
class NetworkConfig:
    """An encoder or decoder backbone; `name` picks it from the network registry."""

    registry: ClassVar[Registry] = NETWORKS
    name: str = "mlp"

    def __post_init__(self) -> None:
        check_own_ranges(self, "model.encoder/decoder")  # parsed configs were checked with their exact path


@dataclass(frozen=True)
class LikelihoodConfig:
    """The decoder's distribution p(x|z); `name` picks it from the likelihood registry."""

    registry: ClassVar[Registry] = LIKELIHOODS
    name: str = "bernoulli"

    def __post_init__(self) -> None:
        check_own_ranges(self, "model.likelihood")


@dataclass(frozen=True)
class PriorConfig:
    """The prior p(z); `name` picks it from the prior registry."""

    registry: ClassVar[Registry] = PRIORS
    name: str = "standard_normal"

    def __post_init__(self) -> None:
        check_own_ranges(self, "model.prior")


@dataclass(frozen=True)
class ModelConfig:
    """A model family; `name` picks it from the model registry."""

    registry: ClassVar[Registry] = MODELS
    name: str = "vae"

    def __post_init__(self) -> None:
        check_own_ranges(self, "model")


# ----------------------------------------------------------------------------- fixed sections

MAX_IMAGE_SIDE = 4096  # data.image_size: a typo such as [100000, 100000] would exhaust memory resizing


@dataclass(frozen=True)
class DataConfig:
    """Which data set to load and how."""

    name: str = "digits"
    data_dir: str | None = None  # local folder of the files; default $VAEKIT_DATA_DIR, then a cache
    path: str | None = None  # the file or folder for `arrays` and `images`
    download: bool = True  # fetch missing files from their published URL (checked by SHA-256)
    binarize: Literal["none", "threshold", "static", "dynamic"] = "none"
    val_fraction: float = 0.1  # carved (seeded) from train when the set has no validation split
    test_fraction: float = 0.1  # likewise for a test split, for sets that ship none
    split_seed: int = 0
    limit: int | None = None  # keep at most this many examples per split (quick runs, tests)
    image_size: tuple[int, ...] | None = None  # (H, W) to resize a folder of images (data.name=images) to
    color: bool = False  # images as RGB instead of grayscale
    label_column: str | int | None = None  # CSV column of labels, by header name or 0-based index; not a feature
    classes: tuple[int, ...] | None = None  # keep only these labels in train and val (test keeps all: one-class protocol)
    cluster_labels: int = 0  # N > 0: label every example by the N k-means clusters of the training split
    # Per-feature standardisation, fitted on the training split and stored with the run (codec.json):
    # "auto" standardises vector data under a real-valued likelihood (gaussian), "standard" insists.
    standardize: Literal["auto", "none", "standard"] = "auto"

    ranges: ClassVar[dict[str, Range]] = {"image_size": Range(min=1, max=MAX_IMAGE_SIDE)}

    def __post_init__(self) -> None:
        check_own_ranges(self, "data")
        if self.image_size is not None and self.name != "images":  # the named sets have sizes of their own
            raise ConfigError(f"data.image_size resizes a folder of your own images (data.name=images); data set "
                              f"'{self.name}' has a fixed size, so remove data.image_size")
        if isinstance(self.label_column, int) and not isinstance(self.label_column, bool):
            check_int(self.label_column, "data.label_column (a 0-based column index)", min=0, error=ConfigError)


@dataclass(frozen=True)
class ObjectiveConfig:
    """Weights of the ELBO's terms. The loss is -(recon - beta * KL), summed over data dimensions
    and averaged over the batch."""

    beta: float = 1.0
    warmup_epochs: float = 0.0  # beta rises linearly from 0 over this many epochs
    free_bits: float = 0.0  # nats per latent dimension (per layer for ladder) below which the KL is not pushed down

    def __post_init__(self) -> None:
        _at_least("objective", self, beta=0, warmup_epochs=0, free_bits=0)


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation loop."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: Literal["constant", "cosine", "plateau"] = "constant"
    lr_warmup_steps: int = 0
    min_lr: float = 0.0  # floor of the cosine and plateau schedules
    plateau_patience: int = 5  # plateau schedule: epochs without improvement before lr is halved
    plateau_factor: float = 0.5
    weight_decay: float = 0.0
    grad_clip: float = 0.0  # max global gradient norm; 0 turns clipping off
    max_bad_steps: int = 20  # consecutive non-finite steps tolerated before training stops
    skip_grad_norm: float = 0.0  # skip steps whose gradient norm exceeds this (spikes); 0 = off
    patience: int = 0  # epochs without a better validation score (see select_by) before stopping; 0 = never
    # What picks the kept checkpoint on the validation split: "elbo", "objective" (the family's own
    # training loss at the full beta), "last" (every epoch replaces the one before), or "auto":
    # the family's choice (its `select_by`).
    select_by: Literal["auto", "elbo", "objective", "last"] = "auto"
    ema_decay: float = 0.0  # EMA of the weights used for evaluation; 0 turns it off
    max_minutes: float = 0.0  # wall-clock budget; 0 = none
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 autocasts the forward pass
    compile: bool = False  # torch.compile the training step
    seed: int = 0
    eval_batch_size: int = 500
    progress: bool = True  # the live progress bar (off when output is not a terminal)
    sample_grid: int = 64  # samples written to samples.png at the end; 0 = none
    # Where samples.png draws its codes: the prior, or "gmm", a Gaussian mixture of
    # `sample_components` fitted to the training codes (Ghosh et al. 2020), which avoids the prior's
    # holes (regions no training code reaches) that decode to blends.
    sample_sampler: Literal["prior", "gmm"] = "prior"
    sample_components: int = 10
    report: bool = True  # write report.html (vaekit report) at the end of training

    def __post_init__(self) -> None:
        _at_least("train", self, epochs=1, batch_size=1, eval_batch_size=1, lr=0, min_lr=0, weight_decay=0,
                  grad_clip=0, max_bad_steps=0, skip_grad_norm=0, patience=0, max_minutes=0, sample_grid=0, sample_components=1,
                  plateau_patience=1, lr_warmup_steps=0)
        check_seed(self.seed, "train.seed", error=ConfigError)
        if self.min_lr > self.lr:  # the schedules would raise the rate to min_lr, not lower it
            raise ConfigError(f"train.min_lr ({self.min_lr:g}) must not exceed train.lr ({self.lr:g}), the rate the "
                              f"schedules decay from; lower train.min_lr")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must lie in [0, 1) (0 turns EMA off), got {self.ema_decay:g}")
        if not 0.0 < self.plateau_factor <= 1.0:
            raise ConfigError(f"train.plateau_factor must lie in (0, 1], got {self.plateau_factor:g}")


def _at_least(section: str, config: Any, **minimums: float) -> None:
    for key, low in minimums.items():
        value = getattr(config, key)
        if value < low:
            raise ConfigError(f"{section}.{key} must be at least {low:g}, got {value:g}")


@dataclass(frozen=True)
class EvalConfig:
    """What `vaekit evaluate` measures by default."""

    split: Literal["train", "val", "test"] = "test"
    importance_samples: int = 5000
    batch_size: int = 100  # data points per importance-sampling batch
    chunk_size: int = 0  # samples per chunk; 0 picks one that fills about 16 MiB of activations
    active_units_threshold: float = 0.01

    def __post_init__(self) -> None:
        _at_least("eval", self, importance_samples=1, batch_size=1, chunk_size=0, active_units_threshold=0)


@dataclass(frozen=True)
class Config:
    """A whole run: data, model, objective, training and evaluation."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# ----------------------------------------------------------------------------- parsing


def from_dict(cls: type[C], data: Any, path: str = "") -> C:
    """Build the dataclass `cls` from a mapping, checking every key and type."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or 'config'}: expected a mapping of keys, got {_show(data)}")
    cls = _concrete(cls, data, path)
    known = {f.name: f for f in fields(cls) if f.init}
    for key in data:
        if key not in known:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(f"unknown config key '{where}'{suggest(str(key), list(known))}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in known.items():
        if name in data:
            try:
                values[name] = _coerce(hints[name], data[name], f"{path}.{name}" if path else name)
            except ConfigError as e:
                if is_dataclass(hints[name]):  # a nested section has said what it had to say
                    raise
                raise ConfigError(f"{e}{_switch_hint(cls, name, data[name], path)}") from None
        elif _polymorphic_default(f):  # an absent section gets the class its default name picks
            default = f.default_factory()  # type: ignore[misc]
            values[name] = from_dict(hints[name], {"name": default.name}, f"{path}.{name}" if path else name)
    check_ranges(cls, values, path or "config")  # here with the exact dotted path; __post_init__ checks again
    return cls(**values)


def _polymorphic_default(f: dataclasses.Field) -> bool:
    """Whether a field's default is the bare base class of a polymorphic section (`Config.model`
    is a `ModelConfig`), which has none of the keys of the class its name picks."""
    if f.default_factory is dataclasses.MISSING:
        return False
    cls = f.default_factory
    return isinstance(cls, type) and "registry" in vars(cls)


def _switch_hint(cls: type, key: str, value: Any, path: str) -> str:
    """When a rejected value would fit the same key of another registered choice (an MLP's
    `hidden` list left under a conv encoder, say), say so: the section's name was switched."""
    registry = getattr(cls, "registry", None)
    if registry is None:
        return ""
    for other in registry.names():
        other_cls = registry.config_class(other)
        if other_cls is None or other_cls is cls or key not in {f.name for f in fields(other_cls)}:
            continue
        try:
            _coerce(typing.get_type_hints(other_cls)[key], value, key)
        except ConfigError:
            continue
        return f"; that value fits the {registry.kind} '{other}' (a key left over from switching {path}.name?)"
    return ""


def _concrete(cls: type, data: Mapping, path: str) -> type:
    """For a polymorphic base class, the registered config class that `data['name']` picks."""
    registry = getattr(cls, "registry", None)
    if registry is None:
        return cls
    name = data.get("name", cls().name)
    if not isinstance(name, str):
        raise ConfigError(f"{path}.name: expected a string, got {_show(name)}")
    try:
        concrete = registry.config_class(name)
    except ConfigError as e:
        raise ConfigError(f"{path}.name: {e}") from None
    return concrete or cls


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _coerce(option, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: {_show(value)} fits none of its types")
    if origin is Literal:
        if value in args:
            return value
        choices = [str(a) for a in args]
        hint = suggest(str(value), choices) if isinstance(value, str) else f" (choose one of: {', '.join(choices)})"
        raise ConfigError(f"{path}: {_show(value)} is not allowed{hint}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {_show(value)}")
        item = args[0] if args else Any
        return tuple(_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if is_dataclass(tp):
        return from_dict(tp, value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected true or false, got {_show(value)}")
    # numbers.Integral and numbers.Real take NumPy's scalars too (np.int64(4) from an array, say)
    if tp is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return check_int(value, path, error=ConfigError)  # what torch and NumPy can hold
        raise ConfigError(f"{path}: expected an integer, got {_show(value)}")
    if tp is float:
        if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # an integer beyond any float
                raise ConfigError(f"{path} must be a finite number, got an integer of {len(str(value))} digits") from None
            return check_real(value, path, error=ConfigError)  # no NaN or infinity: no setting means one
        raise ConfigError(f"{path}: expected a number, got {_show(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{path}: expected a string, got {_show(value)}")
    return value


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _show(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def to_dict(config: Any) -> dict:
    """The plain-data form of a config (lists, not tuples), as written to config.yaml."""

    def plain(v: Any) -> Any:
        if is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in fields(v) if f.init}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    return plain(config)


def parse_config(raw: Mapping | None, overrides: Sequence[str] = ()) -> Config:
    """A validated `Config` from a raw mapping (None: all defaults) plus dotted overrides."""
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"a config is a mapping of {SECTIONS}; got {describe(raw)}")
    return from_dict(Config, apply_overrides(dict(raw or {}), overrides))


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config file, apply dotted overrides and validate the result."""
    path = check_path(path, "load_config's path (of a YAML config file)")
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found; presets live in configs/")
    return parse_config(read_yaml(path), overrides)


def require_config(value: Any, fn: str) -> Config:
    """`value` if it is a Config; otherwise InputError saying how to make one of what was passed."""
    if isinstance(value, Config):
        return value
    if isinstance(value, (str, Path)):
        raise InputError(f"{fn} expects a Config, got the path {str(value)!r}; load it with "
                         f"vaekit.load_config({str(value)!r}) first")
    if isinstance(value, Mapping):
        raise InputError(f"{fn} expects a Config, got a {type(value).__name__}; make one with vaekit.parse_config(...) first")
    raise InputError(f"{fn} expects a Config (vaekit.load_config(path)), got {type(value).__name__}")


def dump_config(config: Config) -> str:
    """The YAML text of a config; `parse_config(yaml.safe_load(text))` gives it back."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def replace(config: C, **changes: Any) -> C:
    """A copy of a frozen config with some fields changed."""
    return dataclasses.replace(config, **changes)
