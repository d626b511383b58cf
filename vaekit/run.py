"""The run directory is the artifact.

    runs/NAME/
      config.yaml        the full, validated config
      model.safetensors  the best weights (EMA weights where enabled), with metadata
      train_state.pt     optimizer, schedule, RNG and counters: what `--resume` needs
      metrics.jsonl      one line per epoch
      summary.json       written when training ends: how and why it ended, best figures
      samples.png        a sample grid (image data)
      codec.json         what turns model outputs back into the data's units (standardisation);
                         a readable copy of the one the weights' metadata carry
      eval_SPLIT.json    written by `vaekit evaluate`

`load_run(dir)` rebuilds the model from config.yaml plus the registry and loads the weights;
every entry point (CLI, Python API) loads runs through it. `load_run("hf://USER/REPO")` loads a run
shared on the Hugging Face Hub (`vaekit push`) from huggingface_hub's cache, downloading it first
when it is not there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from vaekit.checks import check_device, check_path
from vaekit.config import Config, dump_config, parse_config, read_yaml
from vaekit.data import Dataset, load_dataset
from vaekit.data.codec import fitted_by_data_set, read_codec, run_codec
from vaekit.errors import CheckpointError, ConfigError, DataError, InputError, OutputError, VaekitError
from vaekit.files import TEMP_NAME, read_error, read_json
from vaekit.hub_fetch import download_run, is_hub_uri, parse_uri
from vaekit.models import build_model
from vaekit.overrides import check_overrides
from vaekit.weights import load_into, load_weights
from vaekit.yamlio import loads_json

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
STATE = "train_state.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
SAMPLES = "samples.png"


def outputs(run_dir: Path) -> list[Path]:
    """Every file a run and the commands on it write (what --overwrite clears), config.yaml aside."""
    patterns = [STATE, WEIGHTS, SUMMARY, METRICS, SAMPLES, "eval_*.json", "reconstructions.png",
                "interpolations.png", "embed_*.npy", "anomaly_*.json", "anomaly_*.npy", "report.html",
                # a text run's: sentences instead of pictures
                "samples.txt", "reconstructions.tsv", "interpolations.txt", "embed_*_sentences.txt",
                # train.trackers' (vaekit.train.trackers): the MLflow run continued on resume, TensorBoard's events
                "mlflow_run.json", "tensorboard/events.out.tfevents.*",
                # vaekit export's files (and their .json) in RUN/export/: traced from the old weights
                "export/encoder.*", "export/decoder.*"]
    temp = [p for p in Path(run_dir).glob(".*.tmp") if TEMP_NAME.fullmatch(p.name)]  # left by killed writes
    return [p for pattern in patterns for p in Path(run_dir).glob(pattern)] + temp


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when it is there; asking for CUDA without it is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for, but no CUDA device is available; use --device cpu")
    return torch.device(name)


def read_config(run_dir: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise CheckpointError(f"'{run_dir}' is not a run directory (no {CONFIG}); pass the folder that vaekit train wrote")
    return parse_config(read_yaml(path), overrides)


def weights_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file; CheckpointError when it cannot be read."""
    try:
        with safe_open(str(path), "pt") as f:
            return dict(f.metadata() or {})
    except PermissionError as e:
        raise read_error(path, e, "retrain or restore it") from None
    except Exception as e:
        raise CheckpointError(f"weights file '{path}' is damaged ({type(e).__name__}); retrain or restore it") from None


def read_metrics(path: str | Path) -> list[tuple[str, dict]]:
    """(line, record) for each line of a metrics.jsonl. A damaged last line (a crash or a full disk
    mid-append) is dropped; a damaged line before it is a CheckpointError naming the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise read_error(path, e, "restore it, or delete it (the checkpoints do not need it)") from None
    numbered = [(i, line) for i, line in enumerate(lines, 1) if line.strip()]
    records = []
    for j, (i, line) in enumerate(numbered):
        try:
            record = loads_json(line)
        except ValueError:
            record = None
        if not (isinstance(record, dict) and isinstance(record.get("epoch"), int)):
            if j == len(numbered) - 1:
                break  # cut off mid-write: the next resume rewrites the file without it
            raise CheckpointError(f"'{path}' line {i} is damaged (not an epoch's record); delete that line, or the "
                                  f"whole file (the checkpoints do not need it), and run the command again")
        records.append((line, record))
    return records


@dataclass
class Run:
    """A trained run: its directory, config and model (in eval mode), and lazily its data.
    `source` is the hf:// name of a run loaded from the Hugging Face Hub (its `path` is then a
    snapshot in huggingface_hub's cache), None for a local run."""

    path: Path
    config: Config
    model: nn.Module
    data_shape: tuple[int, ...]
    device: torch.device
    _dataset: Any = field(default=None, repr=False)
    _codec: Any = field(default=None, repr=False)
    source: str | None = None

    def output_dir(self, what: str) -> Path:
        """Where a command writes `what` (its default file name) when not told: the run directory.
        A run from the Hub has none to write into, since its folder is huggingface_hub's cache and
        belongs to the commit it was downloaded from: an OutputError asks for an output location."""
        if self.source is not None:
            raise OutputError(f"{self.source} is read from the Hugging Face cache, which vaekit does not write into; "
                              f"pass --out FOLDER (out= in Python) for {what}")
        return self.path

    @property
    def codec(self):
        """What turns model outputs back into the data's units (`decode`) and data into what the
        model sees (`encode`): the standardisation stored with the run, or the identity."""
        if self._codec is None:
            self._codec = read_codec(self.path, _features(self.data_shape))
        return self._codec

    def dataset(self):
        """The run's data set, loaded with the run's data config on first use, in model space
        (the run's codec applied: standardised vectors, say)."""
        if self._dataset is None:
            own = self.codec if fitted_by_data_set(self.codec) else None  # a table's rows, a text's ids: coded as in training
            self._dataset = load_dataset(self.config.data, codec=own)
        if self._dataset.codec is None:  # data in their own units, loaded here or passed in
            self._dataset = self.codec.apply(self._dataset)
        elif fitted_by_data_set(self.codec) and self._dataset.codec != self.codec:
            raise DataError(f"the data passed to load_run are encoded differently from the run {self.path} (a table's "
                            f"other columns, categories or fitted transforms; a text's other vocabulary); leave "
                            f"`dataset` out to read the run's own data")
        return self._dataset

    def metrics(self) -> list[dict]:
        """The per-epoch records of metrics.jsonl (without a last line cut off mid-write)."""
        return [record for _, record in read_metrics(self.path / METRICS)]

    def summary(self) -> dict:
        """summary.json, written when training ends; {} before then."""
        path = self.path / SUMMARY
        if not path.is_file():
            return {}
        return read_json(path, f"run vaekit train --resume {self.path} to write it again")


def _features(data_shape: tuple[int, ...]) -> int | None:
    return data_shape[0] if len(data_shape) == 1 else None  # a codec standardises vectors only


def load_run(run_dir: str | Path, device: str = "cpu", overrides: list[str] | tuple[str, ...] = (), dataset=None) -> Run:
    """Rebuild a run's model from its config.yaml and the registry, and load its best weights.

    `run_dir` is a run directory, or `hf://USER/REPO` (`hf://USER/REPO@REVISION`) for a run shared
    on the Hugging Face Hub, read from huggingface_hub's cache and downloaded into it when missing
    (the `hub` extra; HF_HUB_OFFLINE=1 uses the cache alone).
    `overrides` change the stored config (for example `data.data_dir=...` on another machine);
    `dataset` supplies the data directly instead of loading it from the config (in the data's
    units, or already through the run's codec: `dataset.codec` says which).
    """
    source = str(parse_uri(run_dir)) if is_hub_uri(run_dir) else None
    if source is None:
        run_dir = check_path(run_dir, "load_run's run_dir (a run directory or hf://USER/REPO)")
    device = check_device(device, "load_run's device")
    check_overrides(overrides)
    if dataset is not None and not isinstance(dataset, Dataset):
        raise InputError(f"load_run's dataset must be a vaekit.Dataset (vaekit.load_dataset(config.data)) or None, "
                         f"got {type(dataset).__name__}")
    if source is not None:  # the arguments are checked first: a mistake costs no download
        run_dir = download_run(source)
    config = read_config(run_dir, overrides)
    weights = run_dir / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"'{run_dir}' has no {WEIGHTS} yet; let training finish an epoch, or resume it with --resume")
    meta = weights_metadata(weights)
    try:
        data_shape = tuple(json.loads(meta["data_shape"]))
    except (KeyError, ValueError):
        raise CheckpointError(f"'{weights}' lacks its data_shape metadata; it was not written by vaekit train") from None
    dev = resolve_device(device)
    try:
        num_classes = json.loads(meta.get("num_classes", "null"))
    except ValueError:
        raise CheckpointError(f"'{weights}' has damaged num_classes metadata; retrain or restore it") from None
    model = build_model(config.model, data_shape, num_classes)
    load_into(model, load_weights(weights), str(run_dir))
    model.to(dev).eval()
    codec = run_codec(run_dir, data_shape, meta, weights)  # a damaged or foreign codec.json fails here, not mid-command
    return Run(run_dir, config, model, data_shape, dev, dataset, codec, source)


def describes_weights(path: str | Path) -> bool:
    """Whether a file of figures in a run directory exists and was written after the run's weights,
    so that it measured these weights and not earlier ones."""
    path = Path(path)
    weights = path.parent / WEIGHTS
    return path.is_file() and weights.is_file() and path.stat().st_mtime >= weights.stat().st_mtime


def run_state(run_dir: str | Path, config: Config) -> str:
    """What `run_dir` holds for `config`: 'complete' (same config, finished), 'interrupted' (same
    config, a state to resume), 'other' (a run of another config), or 'new'. Whoever retrains
    reuses a complete run, resumes an interrupted one and replaces any other."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        return "new"
    try:
        same = dump_config(read_config(run_dir)) == dump_config(config)
    except VaekitError:
        return "other"
    if not same:
        return "other"
    try:
        summary = read_json(run_dir / SUMMARY, "") if (run_dir / SUMMARY).is_file() else {}
    except CheckpointError:  # a damaged summary marks no finished run: resume, which writes it again
        summary = {}
    if summary.get("status") == "complete" and (run_dir / WEIGHTS).is_file():
        return "complete"
    return "interrupted" if (run_dir / STATE).is_file() else "new"
