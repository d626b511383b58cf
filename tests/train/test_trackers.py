"""train.trackers: what TensorBoard and MLflow hold after training, read back with their own
readers (TensorBoard's event accumulator, MLflow's client) and compared with metrics.jsonl,
config.yaml, summary.json and samples.png; resume continues both; only the first process of a
distributed run logs; a missing package or a bad setting is one line before training."""

from __future__ import annotations

import io
import json
import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from cli_helpers import cli, error_line
from vaekit.config import parse_config
from vaekit.errors import ConfigError, TrainingError
from vaekit.train import loop, trackers
from vaekit.train.callbacks import TrainInfo

CONFIGS = Path(__file__).parents[2] / "configs"
EXTRA = 'pip install "vaekit[tracking]"'


@pytest.fixture(autouse=True)
def mlflow_env(monkeypatch):
    """No tracking URI from the machine's environment, and the file store allowed for the readers
    (the trackers allow it for themselves only while they write)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)


def fit(config, out, data, said=None, **kw):
    return loop.train(config, out, dataset=data, log=(said.append if said is not None else lambda m: None), **kw)


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def numeric_keys(rows: list[dict]) -> set[str]:
    return {k for r in rows for k, v in r.items() if isinstance(v, (int, float))}


# ----------------------------------------------------------------------------- readers


def tensorboard(log_dir: Path):
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def tb_tag(key: str) -> str:
    """The tag the docs give a metrics.jsonl key: train_X -> train/X, val_X -> val/X, else run/KEY."""
    head, _, rest = key.partition("_")
    return f"{head}/{rest}" if head in ("train", "val") else f"run/{key}"


def assert_tensorboard_equals_metrics(acc, rows: list[dict]) -> None:
    for key in numeric_keys(rows):
        events = acc.Scalars(tb_tag(key))
        assert [e.step for e in events] == [r["epoch"] for r in rows], key  # each epoch once, the epoch as step
        for event, row in zip(events, rows):
            assert np.float32(event.value) == np.float32(row[key]), (key, row["epoch"])  # stored as float32


def mlflow_client(out: Path, monkeypatch, uri: str | None = None):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(uri or (out / "mlruns").resolve().as_uri())


def assert_mlflow_equals_metrics(client, run_id: str, rows: list[dict]) -> None:
    for key in numeric_keys(rows):
        history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        assert history == [(r["epoch"], float(r[key])) for r in rows], key  # each epoch once, exactly


def leaves(tree: dict, prefix: str = "") -> dict:
    """config.yaml's keys, dotted."""
    out = {}
    for k, v in tree.items():
        out.update(leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


# ----------------------------------------------------------------------------- TensorBoard


def test_tensorboard_holds_every_numeric_field_of_every_epoch_the_config_and_the_samples(tiny_config, tiny_data, tmp_path):
    out = tmp_path / "run"
    fit(tiny_config("train.trackers=[tensorboard]", "train.sample_grid=16"), out, tiny_data)
    acc, rows = tensorboard(out / "tensorboard"), records(out)
    assert {"train/elbo", "train/kl", "val/elbo", "val/recon", "run/lr", "run/time"} <= set(acc.Tags()["scalars"])
    assert_tensorboard_equals_metrics(acc, rows)

    summary = json.loads((out / "summary.json").read_text())
    assert [(e.step, e.value) for e in acc.Scalars("summary/val_active_units")] == [(3, summary["val_active_units"])]
    [image] = acc.Images("samples")
    written = np.asarray(Image.open(out / "samples.png").convert("RGB"))
    logged = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)).convert("RGB"))
    assert image.step == 3 and np.array_equal(logged, written)

    from tensorboard.plugins.hparams import metadata

    content = acc.PluginTagToContent("hparams")
    hparams = metadata.parse_session_start_info_plugin_data(content["_hparams_/session_start_info"]).hparams
    config = leaves(yaml.safe_load((out / "config.yaml").read_text()))
    assert set(hparams) == set(config)
    assert hparams["train.lr"].number_value == config["train.lr"] == 0.01
    assert hparams["model.encoder.hidden"].string_value == "[32]" and hparams["data.limit"].string_value == "null"
    assert not (out / "mlruns").exists() and not (out / "mlflow_run.json").exists()


def test_tensorboard_writes_where_train_tensorboard_dir_says(tiny_config, tiny_data, tmp_path):
    out, log_dir = tmp_path / "run", tmp_path / "tb" / "first"
    fit(tiny_config("train.trackers=[tensorboard]", f"train.tensorboard_dir={log_dir}", "train.epochs=1"), out, tiny_data)
    assert not (out / "tensorboard").exists()
    assert_tensorboard_equals_metrics(tensorboard(log_dir), records(out))


# ----------------------------------------------------------------------------- MLflow


def test_mlflow_run_holds_the_metrics_the_config_and_the_run_files(tiny_config, tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    fit(tiny_config("train.trackers=[mlflow]", "train.sample_grid=16", "train.mlflow_experiment=tiny"), out, tiny_data)
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # allowed while vaekit wrote, not left behind
    stored = json.loads((out / "mlflow_run.json").read_text())
    assert stored["tracking_uri"] == (out / "mlruns").resolve().as_uri()  # the default: a file store in the run
    client = mlflow_client(out, monkeypatch)
    run = client.get_run(stored["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert client.get_experiment(run.info.experiment_id).name == "tiny"
    assert_mlflow_equals_metrics(client, run.info.run_id, records(out))

    config = leaves(yaml.safe_load((out / "config.yaml").read_text()))
    params = run.data.params
    assert set(params) == set(config)
    assert params["train.epochs"] == "3" and params["model.encoder.hidden"] == "[32]"
    assert params["train.trackers"] == '["mlflow"]' and params["data.limit"] == "null"

    summary = json.loads((out / "summary.json").read_text())
    assert run.data.metrics["summary/val_active_units"] == summary["val_active_units"]
    names = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert names == {"config.yaml", "summary.json", "metrics.jsonl", "samples.png"}  # no report (train.report=false)
    for name in names:
        copy = client.download_artifacts(run.info.run_id, name, str(tmp_path))
        assert Path(copy).read_bytes() == (out / name).read_bytes(), name


def test_resume_continues_the_same_mlflow_run_and_tensorboard_steps(tiny_config, tiny_data, tmp_path, monkeypatch):
    """Killed after epoch 2's checkpoint but before MLflow logged it: the resumed session continues
    the same MLflow run, logs epoch 2 then 3 and 4, each once; TensorBoard's view holds each epoch
    once. The resumed session's changed train.epochs cannot change MLflow's param."""
    out = tmp_path / "run"
    config = tiny_config("train.trackers=[tensorboard, mlflow]", "train.sample_grid=16")
    real = trackers.MLflowTracker._log_record

    def killed_at_two(self, record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt
        real(self, record)

    monkeypatch.setattr(trackers.MLflowTracker, "_log_record", killed_at_two)
    with pytest.raises(KeyboardInterrupt):
        fit(config, out, tiny_data)
    monkeypatch.setattr(trackers.MLflowTracker, "_log_record", real)
    run_id = json.loads((out / "mlflow_run.json").read_text())["run_id"]
    client = mlflow_client(out, monkeypatch)
    assert client.get_run(run_id).info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(run_id, "val_elbo")] == [1]
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")

    fit(changed(config, epochs=4), out, tiny_data, resume=True)
    rows = records(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert json.loads((out / "mlflow_run.json").read_text())["run_id"] == run_id
    client = mlflow_client(out, monkeypatch)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and len(client.search_runs([run.info.experiment_id])) == 1
    assert_mlflow_equals_metrics(client, run_id, rows)
    assert run.data.params["train.epochs"] == "3"  # the first session's; config.yaml says 4
    logged_config = Path(client.download_artifacts(run_id, "config.yaml", str(tmp_path)))
    assert yaml.safe_load(logged_config.read_text())["train"]["epochs"] == 4
    acc = tensorboard(out / "tensorboard")
    assert_tensorboard_equals_metrics(acc, rows)
    assert [i.step for i in acc.Images("samples")] == [4]


def changed(config, **train):
    """`config` with some train keys changed, as a resume's overrides would change them."""
    return replace(config, train=replace(config.train, **train))


def test_a_resume_on_another_mlflow_store_starts_a_run_there_with_every_epoch(tiny_config, tiny_data, tmp_path, monkeypatch):
    """$MLFLOW_TRACKING_URI is MLflow's own default; a resumed run whose store changed (and a
    tracker turned on at the resume) logs the earlier epochs from metrics.jsonl."""
    out, other = tmp_path / "run", (tmp_path / "store").resolve().as_uri()
    config = tiny_config("train.trackers=[mlflow]", "train.epochs=2")
    fit(config, out, tiny_data)
    first = json.loads((out / "mlflow_run.json").read_text())["run_id"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    fit(changed(config, epochs=3, trackers=("mlflow", "tensorboard")), out, tiny_data, resume=True)
    rows = records(out)
    stored = json.loads((out / "mlflow_run.json").read_text())
    assert stored["tracking_uri"] == other and stored["run_id"] != first
    assert_mlflow_equals_metrics(mlflow_client(out, monkeypatch, other), stored["run_id"], rows)
    assert_mlflow_equals_metrics(mlflow_client(out, monkeypatch), first, rows[:2])  # the first store keeps its run
    assert_tensorboard_equals_metrics(tensorboard(out / "tensorboard"), rows)


def test_overwrite_drops_the_trackers_files_of_the_run_before(tiny_config, tiny_data, tmp_path):
    out = tmp_path / "run"
    fit(tiny_config("train.trackers=[tensorboard, mlflow]", "train.epochs=1"), out, tiny_data)
    assert (out / "mlflow_run.json").is_file() and list((out / "tensorboard").glob("events.*"))
    fit(tiny_config("train.epochs=1"), out, tiny_data, overwrite=True)
    assert not (out / "mlflow_run.json").exists() and not list((out / "tensorboard").glob("events.*"))


def test_an_mlflow_failure_at_the_end_is_a_warning_of_a_finished_run(tiny_config, tiny_data, tmp_path, monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    def refused(self, run_id, path, artifact_path=None):
        raise MlflowException("artifact store unreachable")

    monkeypatch.setattr(MlflowClient, "log_artifact", refused)
    said: list[str] = []
    run = fit(tiny_config("train.trackers=[mlflow]", "train.epochs=1"), tmp_path / "run", tiny_data, said)
    assert run.summary()["status"] == "complete"
    [warning] = [line for line in said if line.startswith("warning: ")]
    assert "artifact store unreachable" in warning and "MLflow run" in warning
    run_id = json.loads((tmp_path / "run" / "mlflow_run.json").read_text())["run_id"]
    assert mlflow_client(tmp_path / "run", monkeypatch).get_run(run_id).info.status == "FINISHED"


def test_mlflow_lost_mid_training_ends_it_in_one_line_and_resume_logs_what_is_missing(tiny_config, tiny_data, tmp_path,
                                                                                      monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    out, real = tmp_path / "run", MlflowClient.log_batch

    def lost_at_two(self, run_id, metrics=(), params=(), tags=()):
        if any(m.key == "epoch" and m.value == 2 for m in metrics):
            raise MlflowException("connection refused\nmore detail")
        return real(self, run_id, metrics=metrics, params=params, tags=tags)

    monkeypatch.setattr(MlflowClient, "log_batch", lost_at_two)
    config = tiny_config("train.trackers=[mlflow]")
    with pytest.raises(TrainingError) as e:
        fit(config, out, tiny_data)
    assert str(e.value).startswith("could not log epoch 2 to the MLflow run ") and "\n" not in str(e.value)
    assert f"(connection refused); the run is kept: vaekit train --resume {out} logs what is missing" in str(e.value)
    monkeypatch.setattr(MlflowClient, "log_batch", real)
    fit(config, out, tiny_data, resume=True)
    run_id = json.loads((out / "mlflow_run.json").read_text())["run_id"]
    assert_mlflow_equals_metrics(mlflow_client(out, monkeypatch), run_id, records(out))


def test_a_database_store_without_sqlalchemy_is_one_line_naming_the_fix(tiny_config, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # as mlflow-skinny installs it: absent
    with pytest.raises(ConfigError, match=r"needs SQLAlchemy.*pip install mlflow .*file:PATH"):
        fit(tiny_config("train.trackers=[mlflow]", f"train.mlflow_uri=sqlite:///{tmp_path}/m.db"), tmp_path / "run", tiny_data)


# ----------------------------------------------------------------------------- distributed


def test_only_the_first_process_logs(tiny_config, tmp_path):
    info = TrainInfo(tiny_config("train.trackers=[tensorboard, mlflow]"), tmp_path, 0, (), is_main=False)
    for tracker in (trackers.TensorBoardTracker(), trackers.MLflowTracker()):
        tracker.on_train_start(info)
        tracker.on_epoch_end({"epoch": 1, "step": 4, "val_elbo": -40.0})
        tracker.on_train_end(info)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("tracker, module", [("tensorboard", "torch.utils.tensorboard"), ("mlflow", "mlflow")])
def test_a_missing_package_is_one_line_naming_the_extra_before_any_work(tracker, module, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    out = tmp_path / "run"
    code, _, err = cli("train", CONFIGS / "digits.yaml", "--out", out, f"--train.trackers=[{tracker}]")
    assert code == 2 and EXTRA in error_line(err) and tracker in error_line(err)
    assert not out.exists()
    with pytest.raises(ConfigError, match=EXTRA.replace("[", r"\[").replace("]", r"\]")):
        trackers.TensorBoardTracker() if tracker == "tensorboard" else trackers.MLflowTracker()


def test_an_unknown_tracker_is_one_line_naming_the_choices(tmp_path):
    code, _, err = cli("train", CONFIGS / "digits.yaml", "--out", tmp_path / "run", "--train.trackers=[wandb]")
    assert code == 2
    assert error_line(err) == "vaekit: error: train.trackers: unknown tracker 'wandb'; the trackers are tensorboard, mlflow"
    with pytest.raises(ConfigError, match=r"'tensorbord' \(did you mean 'tensorboard'\?\); the trackers are"):
        parse_config({}, ["train.trackers=[tensorbord]"])


@pytest.mark.parametrize("overrides, message", [
    (["train.trackers=[mlflow, mlflow]"], "names 'mlflow' more than once"),
    (["train.mlflow_uri=http://localhost:5000"], "train.mlflow_uri sets up the mlflow tracker, which is off"),
    (["train.mlflow_experiment=mine"], "add mlflow to train.trackers"),
    (["train.tensorboard_dir=tb"], "add tensorboard to train.trackers"),
    (["train.trackers=[tensorboard]", "train.tensorboard_dir="], "train.tensorboard_dir is empty"),
    (["train.trackers=tensorboard"], "expected a list"),
])
def test_tracker_settings_are_checked(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        parse_config({}, overrides)


# ----------------------------------------------------------------------------- the command


def test_vaekit_train_logs_digits_to_both_quietly_and_resumes_them(tmp_path, monkeypatch):
    out = tmp_path / "digits"
    args = ["--train.epochs=2", "--train.report=false", "--train.sample_grid=0", "--train.progress=false",
            "--data.limit=200", "--model.encoder.hidden=[32]", "--model.decoder.hidden=[32]"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, stdout, err = cli("train", CONFIGS / "digits.yaml", "--out", out, "--train.trackers=[tensorboard, mlflow]", *args)
    assert code == 0, err
    assert json.loads(stdout)["status"] == "complete"
    lines = err.strip().splitlines()
    assert all(line.startswith(("figures in", "epoch ", "done (", "warning: ")) for line in lines), lines
    assert not [line for line in lines if "mlflow" in line.lower() or "tensorboard" in line.lower()], lines
    noise = [w for w in caught if "mlflow" in w.filename or "tensorboard" in w.filename]
    assert not noise, [str(w.message) for w in noise]

    code, _, err = cli("train", "--resume", out, "--train.epochs=3")
    assert code == 0, err
    rows = records(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert_tensorboard_equals_metrics(tensorboard(out / "tensorboard"), rows)
    run_id = json.loads((out / "mlflow_run.json").read_text())["run_id"]
    client = mlflow_client(out, monkeypatch)
    assert len(client.search_runs([client.get_run(run_id).info.experiment_id])) == 1
    assert_mlflow_equals_metrics(client, run_id, rows)
