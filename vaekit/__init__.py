"""vaekit: variational autoencoders on PyTorch: train, evaluate, sample and explore.

    import vaekit
    config = vaekit.load_config("configs/digits.yaml", ["train.epochs=5"])
    run = vaekit.train(config, "runs/digits")
    print(vaekit.evaluate(run, importance_samples=500))
    images = vaekit.sample(run.model, 16, temperature=0.8, seed=0)
"""

from vaekit.version import __version__  # noqa: F401 (vaekit.__version__)
from vaekit.config import Config, load_config, parse_config
from vaekit.data import Dataset, Split, load_dataset
from vaekit.errors import (CheckpointError, ConfigError, DataError, HubError, InputError, OutputError,
                           TrainingError, VaekitError)
from vaekit.evaluate import evaluate
from vaekit.export import export_run
from vaekit.hub import push_run
from vaekit.leaderboard import leaderboard
from vaekit.models import build_model
from vaekit.report import make_report
from vaekit.run import Run, load_run
from vaekit.sample import decode, encode, interpolate, reconstruct, sample, traverse
from vaekit.train.loop import StopTraining, train
from vaekit.train.trackers import MLflowTracker, TensorBoardTracker

fit = train

__all__ = [
    "CheckpointError", "Config", "ConfigError", "DataError", "Dataset", "HubError", "InputError", "MLflowTracker",
    "OutputError", "Run", "Split", "StopTraining", "TensorBoardTracker", "TrainingError", "VaekitError",
    "build_model", "decode", "encode", "evaluate", "export_run", "fit", "interpolate", "leaderboard", "load_config",
    "load_dataset", "load_run", "make_report", "parse_config", "push_run", "reconstruct", "sample", "train",
    "traverse",
]
