"""What training says: the time budget instead of an epoch cap that will never be reached, the
right unit for tables, figures that all read higher-is-better, and a warning when the latent
units collapse."""

from __future__ import annotations

import re

import pytest

from vaekit.evaluate.latents import active_dims, few_active_warning, posterior_moments
from vaekit.train import loop


class FiveSecondEpochs:
    """A clock in which every epoch's training pass takes exactly 5 s (as in test_loop)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 5.0
        return self.now


def fit(config, out, data) -> tuple[object, list[str]]:
    lines: list[str] = []
    run = loop.train(config, out, dataset=data, log=lines.append)
    return run, lines


def epoch_lines(lines: list[str]) -> list[str]:
    return [ln for ln in lines if ln.startswith("epoch ")]


def test_a_time_budget_shows_the_budget_not_an_unreachable_epoch_cap(tmp_path, tiny_data, tiny_config, monkeypatch):
    monkeypatch.setattr(loop, "time", FiveSecondEpochs())
    config = tiny_config("train.epochs=1000000", "train.max_minutes=0.25")  # 15 s: three 5-second epochs
    run, lines = fit(config, tmp_path / "run", tiny_data)
    shown = epoch_lines(lines)
    assert len(shown) == 3 and run.summary()["stop_reason"] == "time_budget"
    assert not any("1000000" in ln for ln in lines)
    minutes = [float(re.match(r"epoch \d+ \((\d+\.\d) of 0.25 min\)  ", ln).group(1)) for ln in shown]
    assert minutes == pytest.approx([5 / 60, 10 / 60, 15 / 60], abs=0.05)  # one decimal: within 0.05 min


def test_an_epoch_cap_that_binds_is_shown_as_before(tmp_path, tiny_data, tiny_config, monkeypatch):
    monkeypatch.setattr(loop, "time", FiveSecondEpochs())
    _, lines = fit(tiny_config("train.epochs=2", "train.max_minutes=10"), tmp_path / "run", tiny_data)
    assert [ln.split("  ")[0] for ln in epoch_lines(lines)] == ["epoch 1/2", "epoch 2/2"]


def test_rows_of_a_table_are_counted_as_examples_not_images(tmp_path, make_data, tiny_config, tiny_data):
    _, vector_lines = fit(tiny_config("train.epochs=1"), tmp_path / "vec", make_data(shape=(16,)))
    _, image_lines = fit(tiny_config("train.epochs=1"), tmp_path / "img", tiny_data)
    assert epoch_lines(vector_lines)[0].endswith(" ex/s") and "img/s" not in "".join(vector_lines)
    assert epoch_lines(image_lines)[0].endswith(" img/s")


def test_every_printed_figure_reads_higher_is_better(tmp_path, tiny_data, tiny_config):
    # The IWAE is kept by its objective, a loss: printed negated, beside the (negative) ELBO.
    run, lines = fit(tiny_config("model.name=iwae", "train.epochs=2"), tmp_path / "run", tiny_data)
    assert "higher is better" in lines[0] and "minus iwae's training loss" in lines[0]
    for line, record in zip(epoch_lines(lines), run.metrics()):
        found = re.search(r"val elbo (-?\d+\.\d\d)  val objective (-?\d+\.\d\d)", line)
        assert found, line
        elbo, objective = float(found.group(1)), float(found.group(2))
        assert elbo < 0 and objective < 0  # log-likelihood bounds of binary data are negative
        assert objective == pytest.approx(-record["val_objective"], abs=0.006)  # printed to 2 decimals
    done = lines[-1] if lines[-1].startswith("done") else lines[-2]
    assert f"best val objective {-min(r['val_objective'] for r in run.metrics()):.2f}" in done


def test_a_collapsed_run_says_so_when_training_ends(tmp_path, tiny_data, tiny_config):
    # A heavy KL weight drives every posterior onto the prior within three epochs.
    run, lines = fit(tiny_config("objective.beta=100"), tmp_path / "run", tiny_data)
    warning = [ln for ln in lines if ln.startswith("warning: ")]
    assert len(warning) == 1 and "0 of 4" in warning[0]
    assert "objective.warmup_epochs" in warning[0] and "objective.free_bits" in warning[0] and "train.epochs" in warning[0]
    summary = run.summary()
    assert summary["val_active_units"] == 0 and summary["latent_dim"] == 4


def test_a_healthy_run_records_its_active_units_without_a_warning(tmp_path, tiny_data, tiny_config):
    run, lines = fit(tiny_config("train.epochs=6"), tmp_path / "run", tiny_data)
    mu, _ = posterior_moments(run.model, tiny_data.val.x, 64)
    expected = active_dims(mu, run.config.eval.active_units_threshold)
    assert run.summary()["val_active_units"] == len(expected) >= 2
    assert not any(ln.startswith("warning: ") for ln in lines)
    assert f"{len(expected)} of 4 latent units active" in lines[-1]


def test_the_warning_rule():
    assert few_active_warning([0, 1], 4) is None  # half is enough
    assert "only 1 of 4" in few_active_warning([2], 4) and "dimensions 2" in few_active_warning([2], 4)
    assert few_active_warning([0], 8, data_dims=2) is None  # 2-column data need no more than 2 units
    assert "0 of 8" in few_active_warning([], 8, data_dims=2)
