"""Trackers: callbacks that log a training run to TensorBoard or MLflow besides metrics.jsonl.

`train.trackers: [tensorboard, mlflow]` turns them on from a config (so `vaekit train` needs no
Python); in Python, `train(..., callbacks=[TensorBoardTracker(), MLflowTracker()])` does the same.
Each logs the flattened config at the start, every numeric field of each epoch's metrics.jsonl
record with the epoch as its step, and at the end the summary's figures, samples.png and (MLflow)
the run's files.

A resumed run continues its trackers rather than starting new ones. TensorBoard's view is rebuilt
from metrics.jsonl, the record of what the checkpoint holds: the writer opens with `purge_step=0`,
which hides what earlier sessions wrote, and logs the earlier epochs again. MLflow continues the
same run, whose id is kept in RUN/mlflow_run.json, and logs the epochs its history lacks (an epoch
whose checkpoint was written just before a kill, say). Under torchrun only the first process logs.

The packages (the `tracking` extra) are imported lazily; a missing one is a one-line ConfigError
raised before training starts.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
import numbers
import os
import re
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from vaekit import files
from vaekit import run as rundir
from vaekit.checks import check_path
from vaekit.config import dump_config, to_dict
from vaekit.errors import ConfigError, InputError, TrainingError, VaekitError
from vaekit.sections import TRACKERS, TrainConfig

if TYPE_CHECKING:
    from vaekit.train.callbacks import TrainInfo

EXTRA = 'pip install "vaekit[tracking]"'
TENSORBOARD_DIR = "tensorboard"  # RUN/tensorboard: TensorBoard's default log dir
MLFLOW_DIR = "mlruns"  # RUN/mlruns: MLflow's default store, a local file store
MLFLOW_RUN = "mlflow_run.json"  # the MLflow run a resumed run continues: its store and id
# What MLflow keeps of a finished run, when written (a text run writes samples.txt, not the PNG).
ARTIFACTS = (rundir.CONFIG, rundir.SUMMARY, rundir.METRICS, rundir.SAMPLES, "samples.txt", "report.html")

_MODULES = {"tensorboard": ("torch.utils.tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow")}


def require(tracker: str) -> None:
    """A ConfigError naming the extra to install when `tracker`'s package cannot be imported."""
    module, package = _MODULES[tracker]
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"the {tracker} tracker (train.trackers) needs the {package} package, which is not "
                          f"installed; {EXTRA}") from None


def from_config(tc: TrainConfig) -> list[Any]:
    """The trackers `train.trackers` names, in its order; ConfigError for a missing package."""
    for name in tc.trackers:
        require(name)  # every one before any is built
    made = {"tensorboard": lambda: TensorBoardTracker(tc.tensorboard_dir),
            "mlflow": lambda: MLflowTracker(tc.mlflow_uri, experiment=tc.mlflow_experiment)}
    assert set(made) == set(TRACKERS)
    return [made[name]() for name in tc.trackers]


def flat_config(config: Any) -> dict[str, str | int | float | bool]:
    """The config as dotted keys (`train.lr`) and plain values, for hyper-parameter tables; lists
    and null are written as JSON (`[256, 128]`, `null`)."""
    flat: dict[str, str | int | float | bool] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif value is None or isinstance(value, list):
            flat[prefix] = json.dumps(value)
        else:
            flat[prefix] = value

    walk("", to_dict(config))
    return flat


def numeric(record: dict[str, Any]) -> dict[str, float]:
    """The numeric fields of a record (booleans as 0 and 1); text and null fields are left out."""
    return {k: float(v) for k, v in record.items() if isinstance(v, numbers.Real)}


def tensorboard_tag(key: str) -> str:
    """A metrics.jsonl key's TensorBoard tag: `train_elbo` -> `train/elbo`, `val_kl` -> `val/kl`,
    the rest under `run/` (`run/lr`), so that TensorBoard groups them by the part before the slash."""
    for split in ("train", "val"):
        if key.startswith(split + "_"):
            return f"{split}/{key[len(split) + 1:]}"
    return f"run/{key}"


class TensorBoardTracker:
    """Log a training run to TensorBoard event files in `log_dir` (None: RUN/tensorboard).

    Give each run a folder of its own: a resumed run rewrites the view of its folder.
    """

    def __init__(self, log_dir: str | Path | None = None) -> None:
        require("tensorboard")
        self.log_dir = None if log_dir is None else check_path(log_dir, "TensorBoardTracker's log_dir")
        self._writer: Any = None
        self._on = True

    def on_train_start(self, info: "TrainInfo") -> None:
        self._on = info.is_main
        if not self._on:
            return
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        log_dir = self.log_dir if self.log_dir is not None else info.run_dir / TENSORBOARD_DIR
        try:
            # purge_step=0: readers drop every event written before this one in the folder (an
            # earlier session's, an overwritten run's), and the view is logged again from metrics.jsonl.
            self._writer = SummaryWriter(str(log_dir), purge_step=0)
        except OSError as e:
            raise ConfigError(f"cannot write TensorBoard's log dir '{log_dir}' ({e.strerror or e}); "
                              f"choose another with train.tensorboard_dir") from None
        metrics = {tensorboard_tag(k): 0.0 for k in ("val_elbo", "val_recon", "val_kl")}  # the HPARAMS tab's columns
        for summary in hparams(flat_config(info.config), metrics):
            self._writer.file_writer.add_summary(summary, 0)
        self._writer.add_text("config", "```\n" + dump_config(info.config) + "```", 0)  # config.yaml, as Markdown
        for record in info.records:
            self._log(record)
        self._writer.flush()

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        if not self._on:
            return
        if self._writer is None:
            raise InputError("TensorBoardTracker: on_train_start was not called; pass the tracker to vaekit.train")
        self._log(record)
        self._writer.flush()  # the epoch shows now, not after the writer's two minutes

    def on_train_end(self, info: "TrainInfo") -> None:
        if self._writer is None:
            return
        try:
            if info.summary is not None:
                step = int(info.summary.get("epoch", 0))
                for key, value in numeric(info.summary).items():
                    self._writer.add_scalar(f"summary/{key}", value, step)
                samples = info.run_dir / rundir.SAMPLES
                if samples.is_file():
                    self._writer.add_image("samples", _rgb(samples), step, dataformats="HWC")
        finally:
            self._writer.close()
            self._writer = None

    def _log(self, record: dict[str, Any]) -> None:
        for key, value in numeric(record).items():
            self._writer.add_scalar(tensorboard_tag(key), value, record["epoch"])


class MLflowTracker:
    """Log a training run to an MLflow run.

    `tracking_uri` None takes $MLFLOW_TRACKING_URI, else a local file store in RUN/mlruns (the one
    store mlflow-skinny can write without a server or SQLAlchemy). `experiment` is created when
    missing; `run_name` None names the run after the run directory.
    """

    def __init__(self, tracking_uri: str | None = None, *, experiment: str = "vaekit", run_name: str | None = None) -> None:
        require("mlflow")
        for name, value, optional in (("tracking_uri", tracking_uri, True), ("experiment", experiment, False),
                                      ("run_name", run_name, True)):
            if not ((value is None and optional) or (isinstance(value, str) and value)):
                raise InputError(f"MLflowTracker's {name} must be a non-empty string{' or None' if optional else ''}, "
                                 f"got {value!r}")
        self.tracking_uri, self.experiment, self.run_name = tracking_uri, experiment, run_name
        self.run_id: str | None = None
        self._client: Any = None
        self._uri = ""
        self._run_dir = Path("RUN")
        self._on = True

    def on_train_start(self, info: "TrainInfo") -> None:
        self._on = info.is_main
        if not self._on:
            return
        from mlflow.tracking import MlflowClient

        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or (info.run_dir / MLFLOW_DIR).resolve().as_uri()
        self._uri, self._run_dir = uri, info.run_dir
        if re.match(r"(sqlite|postgresql|mysql|mssql)(\+\w+)?:", uri) and importlib.util.find_spec("sqlalchemy") is None:
            # mlflow-skinny's own message blames the model registry
            raise ConfigError(f"the MLflow store '{uri}' is a database, which needs SQLAlchemy, and mlflow-skinny has "
                              f"none; pip install mlflow (the full package), or use a file store (file:PATH) or a "
                              f"tracking server (http://HOST:PORT) in train.mlflow_uri or $MLFLOW_TRACKING_URI")
        with self._mlflow(f"could not start a run in the MLflow store '{uri}'", start=True):
            self._client = MlflowClient(uri)
            run_id, logged_params, last_epoch = self._continued(info, uri)
            if run_id is None:
                experiment = self._client.get_experiment_by_name(self.experiment)
                experiment_id = (experiment.experiment_id if experiment is not None
                                 else self._client.create_experiment(self.experiment))
                run = self._client.create_run(experiment_id, run_name=self.run_name or info.run_dir.resolve().name,
                                              tags={"vaekit.run_dir": str(info.run_dir.resolve())})
                run_id = run.info.run_id
                files.write_json(info.run_dir / MLFLOW_RUN, {"tracking_uri": uri, "run_id": run_id})
            self.run_id = run_id
            # MLflow's params cannot change: a resumed session's new keys are added, its changed
            # values (train.epochs, say) are in the config.yaml artifact.
            params = {_key(k): _param(v) for k, v in flat_config(info.config).items()}
            self._log_batch(params=[(k, v) for k, v in params.items() if k not in logged_params])
            for record in info.records:
                if record["epoch"] > last_epoch:
                    self._log_record(record)

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        if not self._on:
            return
        if self._client is None:
            raise InputError("MLflowTracker: on_train_start was not called; pass the tracker to vaekit.train")
        with self._mlflow(f"could not log epoch {record['epoch']} to the MLflow run {self.run_id} in '{self._uri}'"):
            self._log_record(record)

    def on_train_end(self, info: "TrainInfo") -> None:
        if self._client is None:
            return
        client, self._client = self._client, None
        status = "FINISHED" if info.error is None else "KILLED" if isinstance(info.error, KeyboardInterrupt) else "FAILED"
        with self._mlflow(f"could not close the MLflow run {self.run_id} in '{self._uri}'"):
            try:
                if info.summary is not None:
                    step = int(info.summary.get("epoch", 0))
                    stamp = _now()
                    client.log_batch(self.run_id, metrics=[_metric(f"summary/{k}", v, stamp, step)
                                                           for k, v in numeric(info.summary).items()])
                    for name in ARTIFACTS:
                        if (info.run_dir / name).is_file():
                            client.log_artifact(self.run_id, str(info.run_dir / name))
            finally:
                client.set_terminated(self.run_id, status=status)

    # ------------------------------------------------------------------------- helpers

    def _continued(self, info: "TrainInfo", uri: str) -> tuple[str | None, set[str], int]:
        """The run a resumed run continues (its id, its params' keys and its last epoch logged), or
        None when there is none in this store: a new run then logs every earlier epoch."""
        stored = _read_stored(info.run_dir / MLFLOW_RUN) if info.start_epoch > 0 else None
        if stored is None or stored.get("tracking_uri") != uri:
            return None, set(), 0
        from mlflow.exceptions import MlflowException

        try:
            run = self._client.get_run(stored["run_id"])
        except MlflowException:  # deleted from the store: start another
            return None, set(), 0
        if run.info.lifecycle_stage != "active":
            return None, set(), 0
        self._client.update_run(run.info.run_id, status="RUNNING")
        history = self._client.get_metric_history(run.info.run_id, "epoch")
        return run.info.run_id, set(run.data.params), int(max((m.value for m in history), default=0))

    def _log_record(self, record: dict[str, Any]) -> None:
        stamp = _now()
        self._log_batch(metrics=[_metric(k, v, stamp, record["epoch"]) for k, v in numeric(record).items()])

    def _log_batch(self, metrics: list = (), params: list[tuple[str, str]] = ()) -> None:
        from mlflow.entities import Param

        metrics, params = list(metrics), [Param(k, v) for k, v in params]
        # MLflow takes at most 1000 metrics and 100 params in one call.
        for i in range(0, len(metrics), 1000):
            self._client.log_batch(self.run_id, metrics=metrics[i:i + 1000])
        for i in range(0, len(params), 100):
            self._client.log_batch(self.run_id, params=params[i:i + 100])

    @contextlib.contextmanager
    def _mlflow(self, what: str, *, start: bool = False) -> Iterator[None]:
        """MLflow calls: quiet, allowed the local file store, and their errors one line."""
        from mlflow.exceptions import MlflowException

        try:
            with _quiet(), _file_store_allowed(self._uri):
                yield
        except VaekitError:  # vaekit's own (the run directory's file not written, say) says it already
            raise
        except (MlflowException, OSError) as e:
            cause = _first_line(e)
            if start:
                raise ConfigError(f"{what} ({cause}); check train.mlflow_uri or $MLFLOW_TRACKING_URI") from None
            raise TrainingError(f"{what} ({cause}); the run is kept: vaekit train --resume {self._run_dir} "
                                f"logs what is missing") from None


def _read_stored(path: Path) -> dict | None:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) and isinstance(stored.get("run_id"), str) else None


def _metric(key: str, value: float, stamp: int, step: int):
    from mlflow.entities import Metric

    return Metric(_key(key), value, stamp, int(step))


def _now() -> int:
    return int(time.time() * 1000)


def _key(key: str) -> str:
    """A name MLflow accepts (letters, digits, _ - . / and spaces): a table column's name may hold others."""
    return re.sub(r"[^\w\-./ ]", "_", key)


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."  # MLflow's longest param value


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    text = lines[0] if lines else type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _rgb(path: Path):
    """The PNG at `path` as an (H, W, 3) uint8 array."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's log lines and warnings (a deprecated store, a git repository not found, ...) left
    out: its errors still reach the user, as exceptions."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]  # alembic: full MLflow's database store
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    """MLflow 3 refuses its file store unless $MLFLOW_ALLOW_FILE_STORE says yes; mlflow-skinny has
    no other local store (SQLite needs SQLAlchemy). Say yes for a file store while vaekit uses it,
    unless the user has set the variable."""
    local = uri.startswith("file:") or not re.match(r"[A-Za-z][\w+.-]+:", uri)  # file:///..., or a plain path
    set_here = local and "MLFLOW_ALLOW_FILE_STORE" not in os.environ
    if set_here:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        if set_here:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
