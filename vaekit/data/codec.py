"""The run's codec: what turns the values a model sees back into the data's own units.

Vector data under a real-valued likelihood are standardised per feature (`data.standardize`):
a column of incomes in the tens of thousands next to one of ages would otherwise swamp the
Gaussian likelihood and drive training to NaN, whatever the learning rate. The mean and standard
deviation are fitted on the training split only, applied to every split, and stored with the run
(in the weights' metadata, the copy that counts, and as `codec.json`, the copy to read), so that
`load_run` can turn samples and reconstructions back into the original units without the data:

    run = vaekit.load_run("runs/table")
    x = run.codec.decode(vaekit.sample(run.model, 10))   # in the CSV's own units
    z = vaekit.encode(run.model, run.codec.encode(raw_rows))

Images keep the identity codec: they are already scaled to [0, 1]. The codec also names the
data's modality ("image": (C, H, W) in [0, 1], written as PNG; "vector": rows, written as arrays),
so every command renders a run's outputs the way its data reads without looking at shapes; text,
tables and sound add their modalities (a vocabulary, a column schema, an audio front end) here:
a table's `vaekit.data.table.TableCodec` ("table") and a text set's `vaekit.data.text.TextCodec`
("text") are read back by `codec_from_dict`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, TypeVar

import numpy as np
import torch

from vaekit.data.base import Dataset, Split
from vaekit.errors import CheckpointError, ConfigError, InputError
from vaekit.registry import suggest
from vaekit.yamlio import loads_json

FILE = "codec.json"
META_KEY = "codec"  # the key of the codec in the weights' safetensors metadata
MODES = ("auto", "none", "standard")
KINDS = ("identity", "standard")
MODALITIES = ("image", "vector")
# A column whose standard deviation is this small next to its mean is constant up to float32
# rounding (eps 1.2e-7): it is centred and left unscaled, not blown up into noise.
CONSTANT = 1e-6
T = TypeVar("T", torch.Tensor, np.ndarray)


@dataclass(frozen=True)
class Codec:
    """`encode`: data units -> model space; `decode`: back. `mean` and `std` are per feature (D,);
    `modality` says how the data read ("image" or "vector")."""

    kind: str = "identity"
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    modality: str = "vector"

    @property
    def is_image(self) -> bool:
        return self.modality == "image"

    @property
    def identity(self) -> bool:
        return self.kind == "identity"

    @property
    def log_scale(self) -> float:
        """sum_d log std_d: add it to an NLL in model space (nats per example) for the NLL in the
        data's units; subtract it from an ELBO. 0 for the identity."""
        return float(sum(math.log(s) for s in self.std))

    def encode(self, x: T) -> T:
        """Data units -> what the model sees: (x - mean) / std over the last dimension."""
        if self.identity:
            return x
        mean, std = self._stats(x)
        return (x - mean) / std

    def decode(self, x: T) -> T:
        """Model outputs (samples, reconstructions, means) -> the data's units: x * std + mean."""
        if self.identity:
            return x
        mean, std = self._stats(x)
        return x * std + mean

    def apply(self, data: Dataset) -> Dataset:
        """`data` with every split encoded, marked with this codec (`data.codec`)."""
        if data.codec is not None:
            raise InputError("the data set went through a codec already; pass it in the data's own units "
                             "(as load_dataset gives it)")
        if self.identity:
            return dataclasses.replace(data, codec=self)
        splits = {name: dataclasses.replace(s, x=self.encode(s.x)) for name, s in
                  (("train", data.train), ("val", data.val), ("test", data.test))}
        return dataclasses.replace(data, **splits, binary=False, codec=self)

    def to_dict(self) -> dict[str, Any]:
        """The plain-data form written to codec.json."""
        if self.identity:
            return {"kind": "identity", "modality": self.modality}
        return {"kind": self.kind, "modality": self.modality, "mean": list(self.mean), "std": list(self.std),
                "log_scale": self.log_scale}

    def _stats(self, x: T) -> tuple[T, T]:
        if x.shape[-1] != len(self.mean):
            raise InputError(f"the codec standardises {len(self.mean)} features, but the values have "
                             f"{x.shape[-1]} in their last dimension; pass (N, {len(self.mean)}) rows")
        if isinstance(x, torch.Tensor):
            dtype = x.dtype if x.is_floating_point() else torch.float32
            return (torch.tensor(self.mean, dtype=dtype, device=x.device),
                    torch.tensor(self.std, dtype=dtype, device=x.device))
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return np.asarray(self.mean, dtype=dtype), np.asarray(self.std, dtype=dtype)


IDENTITY = Codec()


def standardizes(mode: str, data: Dataset, real_valued: bool, likelihood: str) -> bool:
    """Whether `data.standardize=mode` standardises `data` under a likelihood (named `likelihood`;
    `real_valued` if it models any real value). 'auto' does for vectors under a real-valued
    likelihood; 'standard' must be possible, and is refused where it cannot be."""
    if mode not in MODES:
        raise ConfigError(f"data.standardize={mode!r} is not a mode{suggest(str(mode), list(MODES))}")
    if mode == "none":
        return False
    possible = not data.is_image and real_valued and not data.dynamic_binarize
    if mode == "auto":
        return possible
    if data.is_image:
        raise ConfigError("data.standardize=standard applies to vector data, and images are already scaled to "
                          "[0, 1]; remove it or set data.standardize=none")
    if data.dynamic_binarize:
        raise ConfigError("data.standardize=standard cannot be combined with data.binarize=dynamic, which needs "
                          "values in [0, 1]; use one of them")
    if not real_valued:
        raise ConfigError(f"data.standardize=standard gives values outside [0, 1], which the {likelihood} "
                          f"likelihood cannot model; use model.likelihood.name=gaussian or data.standardize=none")
    return True


def fit_codec(data: Dataset, standardize: bool) -> Codec:
    """The identity, or the per-feature mean and standard deviation (numpy's: ddof 0) of the
    training split, in float64; constant columns get std 1, so they are centred only."""
    modality = "image" if data.is_image else "vector"
    if not standardize:
        return Codec(modality=modality)
    x = data.train.x.double().flatten(1)  # (N, D)
    mean = x.mean(dim=0)
    std = (x - mean).pow(2).mean(dim=0).sqrt()
    std = torch.where(std > CONSTANT * mean.abs(), std, torch.ones_like(std))
    std = torch.where(std > 0, std, torch.ones_like(std))  # all-zero columns
    return Codec("standard", tuple(mean.tolist()), tuple(std.tolist()), modality)


# Codecs that a data set fits while it reads its files (a table's column schema, a text set's
# vocabulary): the data set applies them itself, and `load_dataset(config, codec=...)` hands it a
# run's stored one to reuse.
FITTED_BY_DATA_SET = ("table", "text")


def fitted_by_data_set(codec: Any) -> bool:
    """Whether `codec` is one its data set applies while reading (pass it to load_dataset)."""
    return codec is not None and codec.modality in FITTED_BY_DATA_SET


def codec_from_dict(raw: Any, where: str, features: int | None = None, modality: str = "vector") -> Any:
    """A codec from its codec.json form, checked: CheckpointError naming `where` when damaged.
    `modality` is the one to assume for a codec written before codecs named theirs. A table's
    codec (modality "table") is a `vaekit.data.table.TableCodec`, a text set's (modality "text") a
    `vaekit.data.text.TextCodec`."""
    damaged = f"'{where}' is damaged"
    fix = "restore it, or retrain the run"
    if isinstance(raw, dict) and raw.get("modality") == "text":
        from vaekit.data.text import TextCodec

        text = TextCodec.from_dict(raw, f"'{where}'")
        if features is not None and text.max_length != features:
            raise CheckpointError(f"{damaged} (its sequences hold {text.max_length} token ids, the run's examples "
                                  f"{features}); {fix}")
        return text
    if isinstance(raw, dict) and raw.get("modality") == "table":
        from vaekit.data.table import TableCodec  # pandas, only for table runs

        table = TableCodec.from_dict(raw, f"'{where}'")
        if features is not None and table.width != features:
            raise CheckpointError(f"{damaged} (its columns fill {table.width} entries per row, the run's rows have "
                                  f"{features}); {fix}")
        return table
    if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
        raise CheckpointError(f"{damaged} (no codec kind of {', '.join(KINDS)}); {fix}")
    modality = raw.get("modality", modality)
    if modality not in MODALITIES:
        raise CheckpointError(f"{damaged} (its modality {modality!r} is none of {', '.join(MODALITIES)}); {fix}")
    if raw["kind"] == "identity":
        return Codec(modality=modality)
    try:
        mean = tuple(float(v) for v in raw["mean"])
        std = tuple(float(v) for v in raw["std"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{damaged} (its mean and std are not lists of numbers); {fix}") from None
    ok = len(mean) == len(std) and all(math.isfinite(v) for v in mean) and all(math.isfinite(s) and s > 0 for s in std)
    if not ok or (features is not None and len(mean) != features):
        raise CheckpointError(f"{damaged} (its mean and std do not fit {features} features with positive "
                              f"finite scales); {fix}")
    return Codec(raw["kind"], mean, std, modality)


def read_codec(run_dir: str | Path, features: int | None = None, modality: str = "vector") -> Any:
    """The codec stored in a run directory; the identity for runs written before codecs were."""
    path = Path(run_dir) / FILE
    if not path.is_file():
        return Codec(modality=modality)
    try:
        raw = loads_json(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        raise CheckpointError(f"'{path}' is damaged (not readable JSON); restore it, or retrain the run") from None
    return codec_from_dict(raw, str(path), features, modality)


def stored_codec(metadata: Mapping[str, str], where: str) -> Any:
    """The codec a weights file's `metadata` carry, or None (weights from before codecs)."""
    stored = metadata.get(META_KEY)
    if stored is None:
        return None
    try:
        return codec_from_dict(loads_json(stored), where)
    except ValueError:  # a CheckpointError too
        raise CheckpointError(f"weights file '{where}' has damaged codec metadata; retrain or restore it") from None


def codec_metadata(codec: Any) -> str:
    """The codec as the weights' metadata carry it (under META_KEY): its codec.json form, as JSON."""
    return json.dumps(codec.to_dict())


def run_codec(run_dir: str | Path, data_shape: tuple[int, ...], metadata: Mapping[str, str],
              weights: str | Path) -> Any:
    """The codec of a run whose examples have `data_shape` and whose weights file `weights` carries
    `metadata`. The weights are the source of truth: their copy is used, and a codec.json that
    differs from it (another run's, or edited) is a CheckpointError; a missing one is no error.
    Weights written before they carried a codec fall back to codec.json, the identity without it."""
    path = Path(run_dir) / FILE
    features = data_shape[0] if len(data_shape) == 1 else None  # a codec standardises vectors only
    # Runs from before the codec named its modality: their images were (C, H, W), their vectors (D,).
    modality = "image" if len(data_shape) == 3 else "vector"
    stored = metadata.get(META_KEY)
    if stored is None:
        codec = read_codec(run_dir, features, modality)
        if not codec.identity and features is None:  # images never standardised: another run's file
            raise CheckpointError(f"'{path}' standardises {len(codec.mean)} features, but this run's examples are "
                                  f"images of shape {list(data_shape)}, which are never standardised: it is another "
                                  f"run's file; delete it, or restore this run's own")
        return codec
    try:  # a CheckpointError is a ValueError too
        codec = codec_from_dict(loads_json(stored), str(weights), features, modality)
    except ValueError:
        codec = None
    if codec is not None and fitted_by_data_set(codec):
        if path.is_file() and read_codec(run_dir, None, modality) != codec:
            raise CheckpointError(f"'{path}' does not match the codec the weights '{weights}' were trained with "
                                  f"(another run's file, or edited); delete it (the weights' copy is then used) "
                                  f"or restore the run's own")
        return codec
    if codec is None or not codec.identity and features is None:
        raise CheckpointError(f"weights file '{weights}' has damaged codec metadata; retrain or restore it")
    if path.is_file() and read_codec(run_dir, None, modality) != codec:  # floats round-trip JSON exactly: == is exact
        raise CheckpointError(f"'{path}' does not match the codec the weights '{weights}' were trained with "
                              f"(another run's file, or edited); delete it (the weights' copy is then used, "
                              f"and vaekit train --resume writes it again) or restore the run's own")
    return codec
