"""The run directory is the artifact.

    runs/NAME/
      config.yaml        the full, validated config
      model.safetensors  the best weights (EMA weights where enabled), with metadata
      train_state.pt     optimizer, schedule, RNG and counters: what `--resume` needs
      metrics.jsonl      one line per epoch
      summary.json       written when training ends: how and why it ended, best figures
      samples.png        a sample grid (image data)
      eval_SPLIT.json    written by `vaekit evaluate`

`load_run(dir)` rebuilds the model from config.yaml plus the registry and loads the weights;
every entry point (CLI, Python API) loads runs through it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import safe_open
from torch import nn

from vaekit.config import Config, dump_config, parse_config
from vaekit.errors import CheckpointError, ConfigError, VaekitError

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
STATE = "train_state.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
SAMPLES = "samples.png"


def outputs(run_dir: Path) -> list[Path]:
    """Every file a run and the commands on it write (what --overwrite clears), config.yaml aside."""
    patterns = [STATE, WEIGHTS, SUMMARY, METRICS, SAMPLES, "eval_*.json", "reconstructions.png",
                "interpolations.png", "embed_*.npy", "anomaly_*.json", "anomaly_*.npy", "report.html"]
    return [p for pattern in patterns for p in Path(run_dir).glob(pattern)]


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
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise CheckpointError(f"'{path}' is damaged (not valid YAML); restore it or retrain") from None
    return parse_config(raw, overrides)


def weights_metadata(path: str | Path) -> dict[str, str]:
    try:
        with safe_open(str(path), "pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:
        raise CheckpointError(f"weights file '{path}' is damaged ({type(e).__name__}); retrain or restore it") from None


@dataclass
class Run:
    """A trained run: its directory, config and model (in eval mode), and lazily its data."""

    path: Path
    config: Config
    model: nn.Module
    data_shape: tuple[int, ...]
    device: torch.device
    _dataset: Any = field(default=None, repr=False)

    def dataset(self):
        """The run's data set, loaded with the run's data config on first use."""
        if self._dataset is None:
            from vaekit.data import load_dataset

            self._dataset = load_dataset(self.config.data)
        return self._dataset

    def metrics(self) -> list[dict]:
        """The per-epoch lines of metrics.jsonl."""
        path = self.path / METRICS
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def summary(self) -> dict:
        path = self.path / SUMMARY
        return json.loads(path.read_text()) if path.is_file() else {}


def load_run(run_dir: str | Path, device: str = "cpu", overrides: list[str] | tuple[str, ...] = (), dataset=None) -> Run:
    """Rebuild a run's model from its config.yaml and the registry, and load its best weights.

    `overrides` change the stored config (for example `data.data_dir=...` on another machine);
    `dataset` supplies the data directly instead of loading it from the config.
    """
    from vaekit.models import build_model
    from vaekit.train.checkpoint import load_into, load_weights

    run_dir = Path(run_dir)
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
    num_classes = json.loads(meta.get("num_classes", "null"))
    model = build_model(config.model, data_shape, num_classes)
    load_into(model, load_weights(weights), str(run_dir))
    model.to(dev).eval()
    return Run(run_dir, config, model, data_shape, dev, dataset)


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
        summary = json.loads((run_dir / SUMMARY).read_text())
    except (OSError, ValueError):
        summary = {}
    if summary.get("status") == "complete" and (run_dir / WEIGHTS).is_file():
        return "complete"
    return "interrupted" if (run_dir / STATE).is_file() else "new"
