"""The model card of runs that are not pictures: a text run's sentences, a table run's rows."""

from __future__ import annotations

import pandas as pd
import pytest

from vaekit.hub import push_run
from vaekit.hub_card import SHOWN_ROWS, SHOWN_SENTENCES
from vaekit.run import load_run
from vaekit.sample import sample_text
from vaekit.sample.rows import synthesize

from hub_helpers import FakeHub
from table_eval_helpers import train_table_run
from text_helpers import train_text_run


@pytest.fixture
def hub(monkeypatch) -> FakeHub:
    return FakeHub().install(monkeypatch)


def block(card: str, fence: str) -> list[str]:
    return card.split(fence + "\n", 1)[1].split("```", 1)[0].splitlines()


def test_a_text_run_shows_the_first_sentences_training_wrote(tmp_path, hub):
    run = train_text_run(tmp_path / "text")
    push_run(run, "alice/text-vae")
    files = hub.files("alice/text-vae")
    assert files["samples.txt"] == (run / "samples.txt").read_bytes()
    card = files["README.md"].decode()
    written = (run / "samples.txt").read_text().splitlines()
    assert block(card, "```text") == written[:SHOWN_SENTENCES] and len(written) >= 1
    assert "written at the end of training" in card
    assert "samples.png" not in files and "![samples]" not in card


def test_a_text_run_without_samples_gets_sentences_drawn_for_the_card(tmp_path, hub):
    run = train_text_run(tmp_path / "text", "--train.sample_grid=0")
    assert not (run / "samples.txt").exists()
    push_run(run, "alice/text-vae")
    card = hub.files("alice/text-vae")["README.md"].decode()
    assert block(card, "```text") == sample_text(load_run(run), SHOWN_SENTENCES, seed=0)
    assert not (run / "samples.txt").exists()


def test_a_table_run_shows_synthetic_rows_with_the_tables_header(tmp_path, hub):
    run = train_table_run(tmp_path / "table")
    push_run(run.path, "alice/table-vae")
    card = hub.files("alice/table-vae")["README.md"].decode()
    assert "table" in card.split("---", 2)[1]  # the data set's tag
    lines = [ln for ln in card.split("## Samples", 1)[1].splitlines() if ln.startswith("|")]
    header, rows = lines[0], lines[2:]
    expected = synthesize(load_run(run.path), SHOWN_ROWS, seed=0)  # the same draw, recomputed
    assert [c.strip() for c in header.strip("|").split("|")] == list(expected.columns)
    assert len(rows) == SHOWN_ROWS
    for line, (_, want) in zip(rows, expected.iterrows()):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells == ["" if pd.isna(v) else str(v) for v in want], (cells, list(want))
