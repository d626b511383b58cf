"""vaekit: variational autoencoders on PyTorch: train, evaluate, sample and explore.

    import vaekit
    config = vaekit.load_config("configs/digits.yaml", ["train.epochs=5"])
    run = vaekit.train(config, "runs/digits")
    print(vaekit.evaluate(run, importance_samples=500))
    images = vaekit.sample(run.model, 16, temperature=0.8, seed=0)
"""

__version__ = "0.1.0"

from vaekit.config import Config, load_config, parse_config  # noqa: E402
from vaekit.data import Dataset, Split, load_dataset  # noqa: E402
from vaekit.errors import (CheckpointError, ConfigError, DataError, InputError, OutputError,  # noqa: E402
                           TrainingError, VaekitError)
from vaekit.evaluate import evaluate  # noqa: E402
from vaekit.leaderboard import leaderboard  # noqa: E402
from vaekit.models import build_model  # noqa: E402
from vaekit.report import make_report  # noqa: E402
from vaekit.run import Run, load_run  # noqa: E402
from vaekit.sample import decode, encode, interpolate, reconstruct, sample, traverse  # noqa: E402
from vaekit.train.loop import StopTraining, train  # noqa: E402

fit = train

__all__ = [
    "CheckpointError", "Config", "ConfigError", "DataError", "Dataset", "InputError", "OutputError", "Run", "Split",
    "StopTraining", "TrainingError", "VaekitError", "build_model", "decode", "encode", "evaluate", "fit", "interpolate",
    "leaderboard", "load_config", "load_dataset", "load_run", "make_report", "parse_config", "reconstruct", "sample", "train",
    "traverse",
]
