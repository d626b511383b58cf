"""The callbacks' start and end hooks: called around the epochs when a callback defines them, with
what the session starts from and how it ended; callbacks with on_epoch_end alone are unchanged."""

from __future__ import annotations

import json

import pytest

from train_helpers import StopAt
from vaekit.errors import ConfigError
from vaekit.train import loop


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def on_train_start(self, info) -> None:
        self.calls.append(("start", info))

    def on_epoch_end(self, record: dict) -> None:
        self.calls.append(("epoch", record["epoch"]))

    def on_train_end(self, info) -> None:
        self.calls.append(("end", info))


def fit(config, out, data, **kw):
    return loop.train(config, out, dataset=data, log=lambda m: None, **kw)


def lines(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_start_and_end_frame_the_epochs(tiny_config, tiny_data, tmp_path):
    recorder, out = Recorder(), tmp_path / "run"
    run = fit(tiny_config(), out, tiny_data, callbacks=[recorder])
    assert [kind for kind, _ in recorder.calls] == ["start", "epoch", "epoch", "epoch", "end"]
    start, end = recorder.calls[0][1], recorder.calls[-1][1]
    assert (start.run_dir, start.start_epoch, start.records, start.is_main) == (out, 0, (), True)
    assert start.config == run.config and start.summary is None and start.error is None
    assert end.summary == json.loads((out / "summary.json").read_text()) and end.error is None


def test_a_resumed_session_starts_from_the_earlier_records_and_an_interrupted_one_ends_with_its_error(
        tiny_config, tiny_data, tmp_path):
    first, out = Recorder(), tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_config(), out, tiny_data, callbacks=[first, StopAt(2)])
    end = first.calls[-1][1]
    assert first.calls[-1][0] == "end" and isinstance(end.error, KeyboardInterrupt) and end.summary is None

    second = Recorder()
    fit(tiny_config(), out, tiny_data, resume=True, callbacks=[second])
    start = second.calls[0][1]
    assert start.start_epoch == 2 and list(start.records) == lines(out)[:2]
    assert [kind for kind, _ in second.calls] == ["start", "epoch", "end"]


def test_a_failing_start_ends_the_callbacks_started_before_it_only(tiny_config, tiny_data, tmp_path):
    class Broken:
        def on_train_start(self, info) -> None:
            raise ConfigError("no tracking server")

    before, after = Recorder(), Recorder()
    with pytest.raises(ConfigError, match="no tracking server"):
        fit(tiny_config(), tmp_path / "run", tiny_data, callbacks=[before, Broken(), after])
    assert [kind for kind, _ in before.calls] == ["start", "end"]
    assert isinstance(before.calls[-1][1].error, ConfigError) and after.calls == []
