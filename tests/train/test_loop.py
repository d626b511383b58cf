"""The training loop on tiny in-memory data: learning, the run directory, resume, the guards.

Resuming must give exactly the run an uninterrupted one gives (weights compared with
torch.equal, metrics line by line apart from timing), and no failure may damage a checkpoint
written before it.
"""

from __future__ import annotations

import errno
import itertools
import json
import math

import pytest
import torch
import yaml

from train_helpers import StopAt
from vaekit.config import parse_config
from vaekit.data import Dataset, Split
from vaekit.errors import CheckpointError, ConfigError, DataError, OutputError, TrainingError
from vaekit.evaluate import elbo_stats
from vaekit.evaluate.elbo import objective_stats
from vaekit.models import build_model
from vaekit.run import load_run
from vaekit import weights
from vaekit.train import loop
from vaekit.train.checkpoint import load_state
from vaekit.weights import load_weights
from vaekit.train.schedules import beta_at, lr_at
from vaekit.train.step import Step

TIMING = ("time", "images_per_sec")
STEPS = 4  # 64 training examples in batches of 16


def quiet(msg: str) -> None:
    pass


def fit(config, out, data, **kw):
    return loop.train(config, out, dataset=data, log=quiet, **kw)


def metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def untimed(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors that differ: {different}"


def spy_on_loss(monkeypatch, poison=()):
    """Wrap the training step's objective so that every call is recorded (its batch and beta),
    and the calls numbered in `poison` (from 1; or every call, for `poison=True`) return NaN."""
    calls: list[dict] = []
    real, count = Step._objective, itertools.count(1)

    def objective(self, batch, beta, capacity):
        result = real(self, batch, beta, capacity)
        n = next(count)
        calls.append({"x": batch.x.clone(), "beta": float(beta)})
        if poison is True or n in poison:
            result.loss = result.loss * float("nan")
        return result

    monkeypatch.setattr(Step, "_objective", objective)
    return calls


# ----------------------------------------------------------------------------- learning


def test_training_raises_the_elbo(tmp_path, tiny_data, tiny_config):
    run = fit(tiny_config("train.epochs=6"), tmp_path / "run", tiny_data)
    m = run.metrics()
    assert m[-1]["train_elbo"] > m[0]["train_elbo"] + 3
    assert m[-1]["val_elbo"] > m[0]["val_elbo"] + 3
    assert all(r["skipped_steps"] == 0 for r in m)


@pytest.mark.parametrize("ema", [0.0, 0.8])
def test_saved_weights_are_the_best_epochs(tmp_path, tiny_data, tiny_config, ema):
    """model.safetensors holds the weights (the EMA weights, where on) that scored best_val."""
    run = fit(tiny_config("train.epochs=4", f"train.ema_decay={ema}"), tmp_path / "run", tiny_data)
    summary = run.summary()
    vals = [r["val_elbo"] for r in run.metrics()]
    assert summary["best_val"] == max(vals) and summary["best_epoch"] == vals.index(max(vals)) + 1
    again = elbo_stats(run.model, tiny_data.val.x, 64)["elbo"]
    assert again == pytest.approx(summary["best_val"], rel=1e-9, abs=1e-9)
    raw = load_state(run.path / "train_state.pt")["model"]  # the optimised weights, never the EMA
    ema_differs = not all(torch.equal(raw[k], v) for k, v in load_weights(run.path / "model.safetensors").items())
    assert ema_differs == (ema > 0 or summary["best_epoch"] < 4)


def test_families_not_trained_on_the_elbo_keep_the_epoch_with_their_best_validation_objective(tmp_path, tiny_data, tiny_config):
    run = fit(tiny_config("model.name=infovae", "train.epochs=4"), tmp_path / "run", tiny_data)
    summary, m = run.summary(), run.metrics()
    objectives = [r["val_objective"] for r in m]
    assert summary["selected_by"] == "objective"
    assert summary["best_val"] == -min(objectives) and summary["best_epoch"] == objectives.index(min(objectives)) + 1
    again = objective_stats(run.model, tiny_data.val.x, 64, y=tiny_data.val.y)
    assert again == pytest.approx(min(objectives), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("select_by, family", [("last", "vae"), ("elbo", "infovae"), ("auto", "vaegan")])
def test_select_by_overrides_the_familys_choice(tmp_path, tiny_data, tiny_config, select_by, family):
    # lr = 0 for the VAE: its validation ELBO never improves, yet "last" keeps the last epoch.
    lr = "train.lr=0" if family == "vae" else "train.lr=0.001"
    run = fit(tiny_config(f"model.name={family}", "train.epochs=3", f"train.select_by={select_by}", lr),
              tmp_path / "run", tiny_data)
    summary, m = run.summary(), run.metrics()
    if select_by == "elbo":
        vals = [r["val_elbo"] for r in m]
        assert summary["selected_by"] == "elbo" and summary["best_epoch"] == vals.index(max(vals)) + 1
        assert "val_objective" not in m[0]
    else:  # the VAE-GAN's discriminator moves its metric: it keeps the last epoch by default
        assert summary["selected_by"] == "last" and summary["best_epoch"] == 3


def test_the_objective_of_a_vae_at_beta_one_is_its_negative_elbo(tiny_data, tiny_config):
    model = build_model(tiny_config().model, tiny_data.shape)
    assert objective_stats(model, tiny_data.val.x, 64) == pytest.approx(-elbo_stats(model, tiny_data.val.x, 64)["elbo"], rel=1e-6)


def test_run_directory_files(tmp_path, tiny_data, tiny_config):
    config = tiny_config("train.epochs=3", "train.sample_grid=4")
    run = fit(config, tmp_path / "run", tiny_data)
    out = run.path
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert [r["step"] for r in records] == [STEPS, 2 * STEPS, 3 * STEPS]
    for key in ("train_elbo", "train_recon", "train_kl", "val_elbo", "val_recon", "val_kl", "val_elbo_stderr",
                "lr", "beta", "skipped_steps", *TIMING):
        assert all(math.isfinite(r[key]) for r in records), key

    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["stop_reason"] == "epochs"
    assert summary["epoch"] == 3 and summary["step"] == 3 * STEPS and summary["skipped_steps"] == 0
    assert summary["num_params"] == sum(p.numel() for p in run.model.parameters())
    assert summary["data_shape"] == [1, 8, 8] and summary["data"] == "tiny"
    assert parse_config(yaml.safe_load((out / "config.yaml").read_text())) == config
    assert (out / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_the_loop_passes_the_beta_and_lr_schedules(tmp_path, tiny_data, tiny_config, monkeypatch):
    config = tiny_config("train.epochs=3", "objective.warmup_epochs=2", "train.lr_schedule=cosine",
                         "train.lr_warmup_steps=2")
    calls = spy_on_loss(monkeypatch)
    fit(config, tmp_path / "run", tiny_data)
    assert [c["beta"] for c in calls] == pytest.approx([beta_at(s, STEPS, config.objective) for s in range(3 * STEPS)])
    lrs = [r["lr"] for r in metrics(tmp_path / "run")]
    assert lrs == pytest.approx([lr_at(k * STEPS - 1, 3 * STEPS, config.train) for k in (1, 2, 3)])


def test_the_loop_passes_the_cyclical_beta_schedule_and_a_resumed_run_follows_it(tmp_path, tiny_data, tiny_config,
                                                                                 monkeypatch):
    config = tiny_config("train.epochs=3", "objective.cycles=2", "objective.cycle_ratio=0.5", "objective.beta=2")
    calls = spy_on_loss(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        fit(config, tmp_path / "run", tiny_data, callbacks=[StopAt(1)])
    fit(config, tmp_path / "run", tiny_data, resume=True)
    # T = 12 steps, 2 cycles of 6, beta rising over the first 3 steps of each, then held at 2.
    cycle = [0.0, 2 / 3, 4 / 3, 2.0, 2.0, 2.0]
    assert [c["beta"] for c in calls] == pytest.approx(cycle + cycle)
    assert [r["beta"] for r in metrics(tmp_path / "run")] == pytest.approx([2.0, 2 / 3, 2.0])  # each epoch's last step


def test_cycles_shorter_than_a_step_and_families_without_beta_are_refused(tmp_path, tiny_data, tiny_config):
    with pytest.raises(ConfigError, match="objective.cycles=13 cuts a training of 12 steps"):
        fit(tiny_config("objective.cycles=13"), tmp_path / "a", tiny_data)
    with pytest.raises(ConfigError, match="does not use objective.beta, warmup_epochs or cycles"):
        fit(tiny_config("model.name=capacity_vae", "objective.cycles=2"), tmp_path / "b", tiny_data)


def test_dynamic_binarization_draws_fresh_binary_batches(tmp_path, make_data, tiny_config, monkeypatch):
    data = make_data(dynamic=True)
    assert data.dynamic_binarize and not data.binary  # grey training values
    calls = spy_on_loss(monkeypatch)
    fit(tiny_config("train.epochs=2", "train.batch_size=64"), tmp_path / "run", data)  # one full batch per epoch
    first, second = calls[0]["x"], calls[1]["x"]
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(first.sum(0), second.sum(0))  # the same 64 examples, drawn anew


def test_without_dynamic_binarization_grey_values_reach_the_loss(tmp_path, make_data, tiny_config, monkeypatch):
    calls = spy_on_loss(monkeypatch)
    fit(tiny_config("train.epochs=1"), tmp_path / "run", make_data(grey=True))
    x = calls[0]["x"]
    near = lambda v: torch.isclose(x, torch.tensor(v))  # noqa: E731
    assert (near(0.1) | near(0.9)).all() and near(0.1).any()  # the grey values, not 0/1 draws


# ----------------------------------------------------------------------------- resume

RESUME_VARIANTS = {
    "schedules": ("train.lr_schedule=cosine", "train.lr_warmup_steps=3", "objective.warmup_epochs=2"),
    "ema": ("train.ema_decay=0.9",),
    "dynamic": (),
    "plateau": ("train.lr_schedule=plateau", "train.plateau_patience=1", "train.lr=0.1"),
    "cyclical": ("objective.cycles=2", "objective.cycle_ratio=0.5"),
}


@pytest.mark.parametrize("variant", list(RESUME_VARIANTS))
def test_resume_equals_an_uninterrupted_run(tmp_path, make_data, tiny_config, variant):
    config = tiny_config("train.epochs=6", *RESUME_VARIANTS[variant])
    data = make_data(dynamic=variant == "dynamic")
    whole = fit(config, tmp_path / "whole", data)

    parts = tmp_path / "parts"
    with pytest.raises(KeyboardInterrupt):
        fit(config, parts, data, callbacks=[StopAt(3)])
    assert len(metrics(parts)) == 3
    # A kill between the metrics line and the state of epoch 4 leaves a line the state does not know.
    with open(parts / "metrics.jsonl", "a") as f:
        f.write(json.dumps({**metrics(parts)[-1], "epoch": 4}) + "\n")
    resumed = fit(config, parts, data, resume=True)

    assert_same_weights(load_weights(whole.path / "model.safetensors"), load_weights(parts / "model.safetensors"))
    a, b = load_state(whole.path / "train_state.pt"), load_state(parts / "train_state.pt")
    assert_same_weights(a["model"], b["model"])
    if variant == "ema":
        assert all(torch.equal(x, y) for x, y in zip(a["ema"], b["ema"]))
    assert untimed(metrics(whole.path)) == untimed(metrics(parts))
    ignore = ("elapsed",)
    assert {k: v for k, v in whole.summary().items() if k not in ignore} == {
        k: v for k, v in resumed.summary().items() if k not in ignore}
    if variant == "plateau":
        assert whole.summary()["plateau_scale"] < 1  # the schedule did cut the rate in this run


def test_resume_with_more_epochs_equals_a_longer_run(tmp_path, tiny_data, tiny_config):
    longer = fit(tiny_config("train.epochs=5"), tmp_path / "long", tiny_data)
    fit(tiny_config("train.epochs=2"), tmp_path / "grown", tiny_data)
    grown = fit(tiny_config("train.epochs=5"), tmp_path / "grown", tiny_data, resume=True)
    assert_same_weights(load_weights(longer.path / "model.safetensors"), load_weights(grown.path / "model.safetensors"))
    assert untimed(longer.metrics()) == untimed(grown.metrics())


def test_resume_of_a_finished_run_changes_nothing(tmp_path, tiny_data, tiny_config):
    run = fit(tiny_config("train.epochs=2"), tmp_path / "run", tiny_data)
    weights = (run.path / "model.safetensors").read_bytes()
    again = fit(tiny_config("train.epochs=2"), tmp_path / "run", tiny_data, resume=True)
    assert (run.path / "model.safetensors").read_bytes() == weights
    assert len(again.metrics()) == 2


def test_resume_of_a_non_run_is_a_checkpoint_error(tmp_path, tiny_data, tiny_config):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no run to resume"):
        fit(tiny_config(), tmp_path / "empty", tiny_data, resume=True)


def test_resume_on_data_of_another_shape_is_refused(tmp_path, make_data, tiny_config):
    fit(tiny_config("train.epochs=1"), tmp_path / "run", make_data())
    with pytest.raises(CheckpointError, match="shape"):
        fit(tiny_config("train.epochs=2"), tmp_path / "run", make_data(shape=(1, 4, 4)), resume=True)


# ----------------------------------------------------------------------------- guards


def test_non_finite_steps_are_skipped_and_counted(tmp_path, tiny_data, tiny_config, monkeypatch):
    spy_on_loss(monkeypatch, poison={2, 5, 6})
    run = fit(tiny_config("train.epochs=3"), tmp_path / "run", tiny_data)
    assert [r["skipped_steps"] for r in run.metrics()] == [1, 3, 3]
    assert run.summary()["skipped_steps"] == 3 and run.summary()["step"] == 3 * STEPS
    assert all(torch.isfinite(v).all() for v in load_weights(run.path / "model.safetensors").values())


def test_only_bad_steps_in_a_row_stop_training(tmp_path, tiny_data, tiny_config, monkeypatch):
    spy_on_loss(monkeypatch, poison={1, 2, 4, 5, 7, 8, 10, 11})  # never three in a row
    run = fit(tiny_config("train.epochs=3", "train.max_bad_steps=2"), tmp_path / "run", tiny_data)
    assert run.summary()["skipped_steps"] == 8


def test_gradient_spikes_are_skipped(tmp_path, tiny_data, tiny_config):
    config = tiny_config("train.epochs=1", "train.skip_grad_norm=1.0e-9", "train.max_bad_steps=100")
    run = fit(config, tmp_path / "run", tiny_data)
    assert run.summary()["skipped_steps"] == STEPS
    torch.manual_seed(config.train.seed)  # the loop seeds, then builds: the same initial weights
    initial = build_model(config.model, tiny_data.shape).state_dict()
    assert_same_weights(initial, load_weights(run.path / "model.safetensors"))  # no step was taken


def test_persistent_nan_stops_with_a_one_line_error(tmp_path, tiny_data, tiny_config, monkeypatch):
    calls = spy_on_loss(monkeypatch, poison=True)
    with pytest.raises(TrainingError) as e:
        fit(tiny_config("train.max_bad_steps=3", "train.batch_size=8"), tmp_path / "run", tiny_data)
    message = str(e.value)
    assert "\n" not in message and "4 non-finite" in message and "train.lr" in message
    assert len(calls) == 4  # stopped at the first step past the limit
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_divergence_keeps_the_earlier_checkpoint(tmp_path, tiny_data, tiny_config):
    out = tmp_path / "run"
    fit(tiny_config("train.epochs=2"), out, tiny_data)
    before = {name: (out / name).read_bytes() for name in ("model.safetensors", "train_state.pt", "metrics.jsonl")}
    with pytest.raises(TrainingError) as e:
        fit(tiny_config("train.epochs=4", "train.lr=1.0e+30"), out, tiny_data, resume=True)
    assert "\n" not in str(e.value) and "train.lr" in str(e.value)
    assert {name: (out / name).read_bytes() for name in before} == before
    run = load_run(out)
    assert all(torch.isfinite(p).all() for p in run.model.parameters())


def test_early_stopping_records_its_reason(tmp_path, tiny_data, tiny_config):
    # lr = 0: the weights never move, so the validation ELBO never beats epoch 1.
    run = fit(tiny_config("train.epochs=20", "train.patience=2", "train.lr=0"), tmp_path / "run", tiny_data)
    summary = run.summary()
    assert summary["stop_reason"] == "early_stopping" and summary["epoch"] == 3 and summary["best_epoch"] == 1
    assert len(run.metrics()) == 3


def test_time_budget_stops_before_an_epoch_that_would_overrun_it(tmp_path, tiny_data, tiny_config):
    run = fit(tiny_config("train.epochs=20", "train.max_minutes=1.0e-9"), tmp_path / "run", tiny_data)
    assert run.summary()["stop_reason"] == "time_budget" and len(run.metrics()) == 1


class FiveSecondEpochs:
    """A clock for the loop in which every epoch's training pass takes exactly 5 s: the loop reads
    it at the start and the end of each pass (and for the progress bar every 20 steps, which these
    few steps never reach)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 5.0
        return self.now


def test_time_budget_is_a_ceiling_the_run_never_passes(tmp_path, tiny_data, tiny_config, monkeypatch):
    monkeypatch.setattr(loop, "time", FiveSecondEpochs())
    run = fit(tiny_config("train.epochs=20", f"train.max_minutes={17.5 / 60}", "train.progress=false"),
              tmp_path / "run", tiny_data)
    # Epochs end at 5, 10, 15 s; a fourth would end at 20 s > 17.5 s, so it never starts.
    assert run.summary()["stop_reason"] == "time_budget" and len(run.metrics()) == 3
    assert run.summary()["elapsed"] == 15.0


# ----------------------------------------------------------------------------- output directory


def test_an_existing_run_needs_resume_or_overwrite(tmp_path, tiny_data, tiny_config):
    fit(tiny_config("train.epochs=2"), tmp_path / "run", tiny_data)
    with pytest.raises(OutputError, match="--resume .*--overwrite"):
        fit(tiny_config("train.epochs=1"), tmp_path / "run", tiny_data)
    run = fit(tiny_config("train.epochs=1"), tmp_path / "run", tiny_data, overwrite=True)
    assert len(run.metrics()) == 1 and run.summary()["epoch"] == 1


def test_a_failed_overwrite_keeps_the_old_run(tmp_path, tiny_data, tiny_config):
    out = tmp_path / "run"
    fit(tiny_config("train.epochs=1"), out, tiny_data)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = Dataset("bad", *(Split(s.x * 3 - 1) for s in (tiny_data.train, tiny_data.val, tiny_data.test)),
                  shape=tiny_data.shape, is_image=True, binary=False, dynamic_binarize=False, num_classes=None)
    with pytest.raises(DataError, match="gaussian"):  # values outside [0, 1] under the Bernoulli likelihood
        fit(tiny_config("train.epochs=1"), out, bad, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("below", ["run", "deeper/run"])
def test_an_unwritable_output_directory_is_an_output_error(tmp_path, tiny_data, tiny_config, below):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file where a folder should be")
    with pytest.raises(OutputError, match="choose another --out"):
        fit(tiny_config(), blocker / below, tiny_data)


def test_a_failed_checkpoint_write_keeps_the_last_one(tmp_path, tiny_data, tiny_config, monkeypatch):
    """The second epoch's weights fail half-way through writing: the first epoch's file stays whole."""
    real, calls = weights.save_file, itertools.count(1)

    def flaky(state, path, metadata=None):
        if next(calls) == 2:
            with open(path, "wb") as f:
                f.write(b"half a file")
            raise OSError(errno.ENOSPC, "No space left on device")
        real(state, path, metadata=metadata)

    monkeypatch.setattr(weights, "save_file", flaky)
    out = tmp_path / "run"
    with pytest.raises(OutputError, match="model.safetensors' \\(no space left on the device\\); free some space"):
        fit(tiny_config("train.epochs=3", "train.lr=0.01"), out, tiny_data)
    assert not list(out.glob(".*.tmp"))
    run = load_run(out)
    assert len(run.metrics()) == 1  # epoch 2 never completed
    assert elbo_stats(run.model, tiny_data.val.x, 64)["elbo"] == pytest.approx(run.metrics()[0]["val_elbo"])


# ----------------------------------------------------------------------------- precision, compile


def test_bf16_autocast_trains(tmp_path, tiny_data, tiny_config):
    run = fit(tiny_config("train.epochs=2", "train.precision=bf16"), tmp_path / "run", tiny_data)
    m = run.metrics()
    assert all(math.isfinite(r["train_elbo"]) and math.isfinite(r["val_elbo"]) for r in m)
    assert m[-1]["skipped_steps"] == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside torch while dynamo imports
def test_compiled_training_step_smoke(tmp_path, tiny_data, tiny_config, monkeypatch):
    """train.compile=true runs the step through torch.compile and saves the plain module. The
    eager backend keeps this fast: it traces with dynamo like Inductor does, without the C++ code
    generation that takes about a minute on a small CPU machine."""
    real, compiled = torch.compile, []

    def eager_compile(fn, **kw):
        compiled.append(fn)
        return real(fn, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    run = fit(tiny_config("train.epochs=2", "train.compile=true"), tmp_path / "run", tiny_data)
    assert len(compiled) == 1
    assert all(math.isfinite(r["train_elbo"]) for r in run.metrics())
    assert not any("_orig_mod" in k for k in load_weights(run.path / "model.safetensors"))
    plain = torch.nn.Linear(2, 2)
    assert weights.unwrap(real(plain)) is plain  # what checkpoints unwrap is what torch.compile wraps
