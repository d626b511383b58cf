"""The sections of a config: frozen, typed dataclasses, one per section of a YAML file.

`Config` is the whole tree. The polymorphic sections (`model`, `model.encoder`/`decoder`,
`model.likelihood`, `model.prior`) have a base class here that names its registry; the concrete
classes live beside their components and subclass these, declaring their number ranges with
`Range` and its constants (re-exported here for them). This module imports no component, so the
components can import it; parsing a YAML file into these classes is `vaekit.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from vaekit.checks import check_int, check_seed
from vaekit.errors import ConfigError
# Range and its constants are what component config classes declare their `ranges` with.
from vaekit.ranges import AT_LEAST_1, NON_NEGATIVE, POSITIVE, Range, check_own_ranges  # noqa: F401
from vaekit.registry import DATASETS, LIKELIHOODS, MODELS, NETWORKS, PRIORS, Registry, suggest


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
    """Which data set to load and how: the keys every data set shares. A data set with keys of its
    own (a folder of images, arrays) registers a subclass, chosen by `name` as the model section's
    class is (`vaekit.data.images.ImagesConfig`, `vaekit.data.arrays.ArraysConfig`)."""

    registry: ClassVar[Registry] = DATASETS

    name: str = "digits"
    data_dir: str | None = None  # local folder of the files; default $VAEKIT_DATA_DIR, then a cache
    path: str | None = None  # the file or folder for `arrays` and `images`; the first folder searched for named sets
    download: bool = True  # fetch missing files from their published URL (checked by SHA-256)
    binarize: Literal["none", "threshold", "static", "dynamic"] = "none"
    val_fraction: float = 0.1  # carved (seeded) from train when the set has no validation split
    test_fraction: float = 0.1  # likewise for a test split, for sets that ship none
    split_seed: int = 0
    limit: int | None = None  # keep at most this many examples per split (quick runs, tests)
    classes: tuple[int, ...] | None = None  # keep only these labels in train and val (test keeps all: one-class protocol)
    cluster_labels: int = 0  # N > 0: label every example by the N k-means clusters of the training split
    # Per-feature standardisation, fitted on the training split and stored with the run (codec.json):
    # "auto" standardises vector data under a real-valued likelihood (gaussian), "standard" insists.
    standardize: Literal["auto", "none", "standard"] = "auto"

    def __post_init__(self) -> None:
        check_own_ranges(self, "data")


@dataclass(frozen=True)
class ObjectiveConfig:
    """Weights of the ELBO's terms. The loss is -(recon - beta * KL), summed over data dimensions
    and averaged over the batch."""

    beta: float = 1.0
    warmup_epochs: float = 0.0  # beta rises linearly from 0 over this many epochs
    # Cyclical annealing (Fu et al. 2019): M > 0 cycles over the whole training, in each of which
    # beta rises linearly from 0 over the first `cycle_ratio` of the cycle, then holds.
    cycles: int = 0
    cycle_ratio: float = 0.5
    free_bits: float = 0.0  # nats per latent dimension (per layer for ladder) below which the KL is not pushed down

    def __post_init__(self) -> None:
        _at_least("objective", self, beta=0, warmup_epochs=0, cycles=0, free_bits=0)
        if not 0.0 < self.cycle_ratio <= 1.0:
            raise ConfigError(f"objective.cycle_ratio must lie in (0, 1] (the part of each cycle over which beta "
                              f"rises), got {self.cycle_ratio:g}")
        if self.cycles > 0 and self.warmup_epochs > 0:
            raise ConfigError("objective.warmup_epochs (linear annealing) and objective.cycles (cyclical annealing) "
                              "are two beta schedules; set one of them")
        if self.cycles == 0 and self.cycle_ratio != 0.5:
            raise ConfigError("objective.cycle_ratio shapes cyclical annealing, which is off; set objective.cycles "
                              "(the number of cycles) too, or remove cycle_ratio")


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
    # Aggressive training of the inference network (He et al. 2019): while on, each step first
    # trains the encoder alone on fresh batches until its loss stops falling, then the rest of the
    # model once; it ends for good after the first epoch whose validation I(x;z) falls.
    aggressive: bool = False
    aggressive_inner_steps: int = 100  # at most this many encoder steps per step
    aggressive_window: int = 10  # the inner loop stops when the mean loss of this many encoder steps rises
    # Where each epoch's figures, the config and the samples are logged besides metrics.jsonl
    # (vaekit.train.trackers, the `tracking` extra): any of TRACKERS.
    trackers: tuple[str, ...] = ()
    tensorboard_dir: str | None = None  # None: RUN/tensorboard
    mlflow_uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else a file store in RUN/mlruns
    mlflow_experiment: str = "vaekit"

    def __post_init__(self) -> None:
        _at_least("train", self, epochs=1, batch_size=1, eval_batch_size=1, lr=0, min_lr=0, weight_decay=0,
                  grad_clip=0, max_bad_steps=0, skip_grad_norm=0, patience=0, max_minutes=0, sample_grid=0, sample_components=1,
                  plateau_patience=1, lr_warmup_steps=0, aggressive_inner_steps=1, aggressive_window=1)
        if not self.aggressive and (self.aggressive_inner_steps, self.aggressive_window) != (100, 10):
            raise ConfigError("train.aggressive_inner_steps and aggressive_window shape aggressive training, which is "
                              "off; set train.aggressive=true too, or remove them")
        check_seed(self.seed, "train.seed", error=ConfigError)
        if self.min_lr > self.lr:  # the schedules would raise the rate to min_lr, not lower it
            raise ConfigError(f"train.min_lr ({self.min_lr:g}) must not exceed train.lr ({self.lr:g}), the rate the "
                              f"schedules decay from; lower train.min_lr")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must lie in [0, 1) (0 turns EMA off), got {self.ema_decay:g}")
        if not 0.0 < self.plateau_factor <= 1.0:
            raise ConfigError(f"train.plateau_factor must lie in (0, 1], got {self.plateau_factor:g}")
        _check_trackers(self)


TRACKERS = ("tensorboard", "mlflow")  # train.trackers: vaekit.train.trackers implements each


def _check_trackers(tc: TrainConfig) -> None:
    """train.trackers names known trackers once each, and their settings come with them."""
    choices = ", ".join(TRACKERS)
    for name in tc.trackers:
        if name not in TRACKERS:
            hint = suggest(name, list(TRACKERS)) if isinstance(name, str) else ""
            hint = hint if "did you mean" in hint else ""  # the choices follow anyway
            raise ConfigError(f"train.trackers: unknown tracker {name!r}{hint}; the trackers are {choices}")
    repeated = sorted({name for name in tc.trackers if tc.trackers.count(name) > 1})
    if repeated:
        raise ConfigError(f"train.trackers names {repeated[0]!r} more than once; name each tracker once")
    for key, tracker in (("tensorboard_dir", "tensorboard"), ("mlflow_uri", "mlflow"), ("mlflow_experiment", "mlflow")):
        value = getattr(tc, key)
        if value == "":
            raise ConfigError(f"train.{key} is empty; give it a value, or remove it for the default")
        if value != getattr(TrainConfig, key) and tracker not in tc.trackers:
            raise ConfigError(f"train.{key} sets up the {tracker} tracker, which is off; add {tracker} to "
                              f"train.trackers (--train.trackers=[{tracker}]), or remove it")


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
