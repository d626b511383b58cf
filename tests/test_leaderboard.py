"""`vaekit leaderboard`: budgets, ranking, failed rows, re-running, resuming and the three tables.

One module-scoped leaderboard trains tiny configs on digits for one epoch; tests that change it
work on a copy. The configs name MNIST, so every entry that trains proves `data=` overrode them
(MNIST would need the network, which the test session forbids).
"""

from __future__ import annotations

import base64
import csv
import importlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image

from vaekit.errors import ConfigError

from cli_helpers import cli

lb = importlib.import_module("vaekit.leaderboard")  # `vaekit.leaderboard` the attribute is the function
runner = importlib.import_module("vaekit.leaderboard.runner")  # where evaluate is looked up
loop = importlib.import_module("vaekit.train.loop")  # where train_or_reuse looks up train

SEED, K = 3, 5
COMMON = {"data": "digits", "budget": "1ep", "seed": SEED, "importance_samples": K,
          "overrides": ["data.limit=200"], "samples": 16}
TINY = {
    "data": {"name": "mnist"},  # replaced by data="digits"
    "model": {"name": "vae", "latent_dim": 4, "encoder": {"name": "mlp", "hidden": [32]},
              "decoder": {"name": "mlp", "hidden": [32]}},
    "train": {"batch_size": 50, "lr": 0.01, "sample_grid": 0, "progress": False, "epochs": 99},
}


def write_config(path: Path, raw: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return path


def with_changes(**sections: dict) -> dict:
    raw = json.loads(json.dumps(TINY))
    for name, changes in sections.items():
        raw[name] = {**raw[name], **changes}
    return raw


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("configs")
    wide = {"encoder": {"name": "mlp", "hidden": [64]}, "decoder": {"name": "mlp", "hidden": [64]}, "latent_dim": 8}
    paths = {
        "small": write_config(root / "small.yaml", TINY),
        "diverge": write_config(root / "diverge.yaml", with_changes(train={"lr": 1e6, "max_bad_steps": 1})),
        "broken": write_config(root / "broken.yaml", with_changes(model={"name": "nope"})),
        "wide": write_config(root / "wide.yaml", with_changes(model=wide)),
        "badyaml": root / "badyaml.yaml",
        "small-2": write_config(root / "other" / "small.yaml", with_changes(train={"lr": 0.003})),
    }
    paths["badyaml"].write_text("model: [\n")
    return paths


@pytest.fixture(scope="module")
def board(configs, tmp_path_factory):
    out = tmp_path_factory.mktemp("board") / "out"
    entries = lb.leaderboard(list(configs.values()), out=out, log=lambda msg: None, **COMMON)
    return out, entries


def by_name(entries) -> dict:
    return {e.name: e for e in entries}


@pytest.fixture
def board_copy(board, tmp_path) -> Path:
    return Path(shutil.copytree(board[0], tmp_path / "out"))


class Spy:
    """Wraps `train(config, out_dir, ...)` or `evaluate(run, ...)` and records each call's run directory."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, *args, **kwargs):
        run_dir = args[0].path if hasattr(args[0], "path") else args[1]
        self.calls.append(Path(run_dir).name)
        return self.fn(*args, **kwargs)


# ----------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("text, minutes, epochs", [
    ("10m", 10.0, None), ("90s", 1.5, None), ("1.5h", 90.0, None), ("2 min", 2.0, None), ("45 seconds", 0.75, None),
    ("20ep", None, 20), ("20 epochs", None, 20), ("1 epoch", None, 1), ("3EP", None, 3),
])
def test_parse_budget_reads_times_and_epochs(text, minutes, epochs):
    budget = lb.parse_budget(text)
    assert (budget.minutes, budget.epochs) == (minutes, epochs)


@pytest.mark.parametrize("text", ["10", "ten minutes", "1.5ep", "0m", "0ep", "5 parsecs", "", "-3m", "m"])
def test_parse_budget_rejects_anything_else_with_examples(text):
    with pytest.raises(ConfigError) as info:
        lb.parse_budget(text)
    message = str(info.value)
    assert "\n" not in message and "10m" in message and "20ep" in message


def test_budget_overrides_set_time_or_epochs():
    assert lb.parse_budget("20ep").overrides() == ["train.epochs=20", "train.max_minutes=0"]
    minutes, cap = lb.parse_budget("90s").overrides()
    assert minutes == "train.max_minutes=1.5" and int(cap.split("=")[1]) >= 10_000


# ----------------------------------------------------------------------------- ranking


def entry(name: str, status: str = "trained", **metrics) -> lb.Entry:
    return lb.Entry(name=name, config=f"{name}.yaml", run_dir=Path(name), status=status, metrics=metrics)


def test_rank_orders_by_value_then_missing_then_failed():
    entries = [entry("failed", "failed"), entry("no-nll", elbo=-1.0), entry("worse", nll=30.0), entry("best", nll=20.0),
               entry("nan", nll=float("nan")), entry("tie", nll=30.0), entry("diverged", "diverged", nll=1.0)]
    ranked = lb.rank(entries)
    assert [e.name for e in ranked] == ["best", "worse", "tie", "no-nll", "nan", "failed", "diverged"]
    assert [e.rank for e in ranked] == [1, 2, 2, None, None, None, None]


def test_rank_by_another_column_knows_its_direction():
    entries = [entry("a", elbo=-30.0, kl=1.0), entry("b", elbo=-20.0, kl=5.0)]
    assert [e.name for e in lb.rank(entries, "elbo")] == ["b", "a"]  # a higher ELBO is better
    assert [e.name for e in lb.rank(entries, "kl")] == ["a", "b"]
    assert [e.name for e in lb.rank(entries, "kl", better="higher")] == ["b", "a"]


def test_an_unknown_rank_column_is_an_error_that_keeps_the_runs(configs, board_copy):
    with pytest.raises(ConfigError, match="cannot rank by 'nlll': no entry has that column.*did you mean 'nll'"):
        lb.leaderboard([configs["small"]], out=board_copy, rank_by="nlll", log=lambda msg: None, **COMMON)
    assert (board_copy / "small" / "summary.json").is_file()
    (ranked,) = lb.leaderboard([configs["small"]], out=board_copy, rank_by="mutual_information", log=lambda m: None,
                               **COMMON)  # a column of the latent metric group
    assert ranked.status == "reused" and ranked.rank == 1 and "mutual_information" in ranked.extras()


# ----------------------------------------------------------------------------- one leaderboard


def test_every_config_gets_a_row_and_failures_do_not_stop_the_rest(board):
    rows = by_name(board[1])
    assert set(rows) == {"small", "diverge", "broken", "wide", "badyaml", "small-2"}
    for name in ("small", "wide", "small-2"):
        assert rows[name].status == "trained" and rows[name].error is None, rows[name]
        assert rows[name].epochs == 1 and rows[name].value("nll") > 0 and rows[name].samples is not None
    assert rows["diverge"].status == "diverged" and "non-finite" in rows["diverge"].error
    assert rows["broken"].status == "failed" and "unknown model 'nope'" in rows["broken"].error
    assert rows["badyaml"].status == "failed" and "not valid YAML" in rows["badyaml"].error


def test_when_every_entry_fails_the_tables_are_written_and_the_first_failure_is_raised(configs, tmp_path):
    """A mistake every entry shares (a config missing, a bad override) once gave exit code 0."""
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"every entry failed, so nothing is ranked .*; the first, broken: .*unknown "
                                          r"model 'nope'"):
        lb.leaderboard([configs["broken"], tmp_path / "missing.yaml"], out=out, log=lambda msg: None, **COMMON)
    assert "failed: config file" in (out / "leaderboard.md").read_text()


def test_ranked_by_test_nll_with_failed_rows_last(board):
    entries = board[1]
    ok = [e for e in entries if not e.failed]
    assert [e.name for e in entries[len(ok):]] == ["diverge", "broken", "badyaml"]  # failed: config order
    nlls = [e.value("nll") for e in ok]
    assert nlls == sorted(nlls) and len(set(nlls)) == 3
    assert [e.rank for e in ok] == [1, 2, 3]


def test_every_entry_trains_under_the_same_budget_seed_and_data(board):
    out, entries = board
    assert (out / "small").is_dir() and (out / "small-2").is_dir()  # the same stem twice: two runs
    for e in entries:
        if not e.failed:
            config = yaml.safe_load((out / e.name / "config.yaml").read_text())
            assert config["data"]["name"] == "digits" and config["data"]["limit"] == 200
            assert config["train"]["seed"] == SEED and config["train"]["epochs"] == 1
            assert config["train"]["max_minutes"] == 0
            stored = json.loads((out / e.name / "eval_test.json").read_text())
            assert stored["importance_samples"] == K and stored["split"] == "test" and stored["num_examples"] == 180
    assert len({e.test_split for e in entries if not e.failed}) == 1


def test_markdown_lists_the_ranked_rows(board):
    out, entries = board
    text = (out / "leaderboard.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| rank")]
    assert [row.split(" | ")[1] for row in rows] == [e.name for e in entries]
    assert rows[0].startswith("| 1 | ") and "±" in rows[0] and rows[-1].startswith("|  | badyaml")
    assert "K = 5" in text and "1 epoch" in text and "seed 3" in text


def test_csv_parses_back_to_the_entries(board):
    out, entries = board
    with open(out / "leaderboard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == [e.name for e in entries]
    for row, e in zip(rows, entries):
        assert row["status"] == e.status and row["model"] == (e.family or "")
        if e.failed:
            assert row["nll"] == "" and row["rank"] == "" and row["error"] == e.error
        else:
            assert float(row["nll"]) == pytest.approx(e.value("nll")) and int(row["rank"]) == e.rank
            assert int(row["params"]) == e.params and float(row["active_units"]) == e.value("active_units")


def test_html_is_self_contained_with_the_sample_grids(board):
    out, entries = board
    page = (out / "leaderboard.html").read_text()
    assert not re.search(r"https?:|src=\"//|<link|<script", page, flags=re.IGNORECASE)
    assert "<style>" in page
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == sum(not e.failed for e in entries) == 3
    for uri in uris:
        with Image.open(io.BytesIO(base64.b64decode(uri))) as img:
            assert img.format == "PNG" and img.width >= 4 * (8 + 2)  # a 4x4 grid of 8x8 digits, at least
    assert page.count("<tr") == len(entries) + 1 and "unknown model" in page


# ----------------------------------------------------------------------------- re-running


def test_rerun_skips_complete_entries_and_reuses_their_evaluation(configs, board_copy, monkeypatch):
    weights = {p.parent.name: p.stat().st_mtime_ns for p in board_copy.glob("*/model.safetensors")}
    train, evaluate = Spy(loop.train), Spy(runner.evaluate)
    monkeypatch.setattr(loop, "train", train)
    monkeypatch.setattr(runner, "evaluate", evaluate)
    entries = lb.leaderboard(list(configs.values()), out=board_copy, log=lambda msg: None, **COMMON)
    assert train.calls == ["diverge"]  # the only entry without a complete run
    assert evaluate.calls == []
    assert {e.name: e.status for e in entries if not e.failed} == {"small": "reused", "wide": "reused",
                                                                   "small-2": "reused"}
    assert {p.parent.name: p.stat().st_mtime_ns for p in board_copy.glob("*/model.safetensors")} == weights


def test_another_k_reevaluates_and_a_family_without_nll_keeps_a_row(configs, board_copy, monkeypatch):
    real = runner.evaluate

    def no_bound_for_small(run, *args, **kwargs):
        if run.path.name == "small" and "likelihood" in kwargs.get("metrics", ["likelihood"]):
            raise NotImplementedError("this family has no likelihood bound")
        return real(run, *args, **kwargs)

    train = Spy(loop.train)
    monkeypatch.setattr(loop, "train", train)
    monkeypatch.setattr(runner, "evaluate", no_bound_for_small)
    paths = [configs["small"], configs["wide"]]
    entries = lb.leaderboard(paths, out=board_copy, log=lambda msg: None, **{**COMMON, "importance_samples": K + 1})
    assert train.calls == []
    assert [e.name for e in entries] == ["wide", "small"]  # a missing NLL ranks after the values
    wide, small = entries
    assert wide.rank == 1 and wide.metrics["importance_samples"] == K + 1
    assert small.rank is None and small.status == "reused" and "no likelihood bound" in small.error
    assert small.value("nll") is None and small.value("elbo") < 0 and small.value("active_units") is not None


def test_a_changed_config_retrains_and_an_interrupted_run_resumes(configs, board_copy, monkeypatch):
    class Interrupt:
        def on_epoch_end(self, record):
            raise KeyboardInterrupt

    real = loop.train
    monkeypatch.setattr(loop, "train", lambda *args, **kwargs: real(*args, callbacks=[Interrupt()], **kwargs))
    two = {**COMMON, "budget": "2ep"}
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C stops the leaderboard; it is no failed row
        lb.leaderboard([configs["small"]], out=board_copy, log=lambda msg: None, **two)
    run = board_copy / "small"
    assert not (run / "summary.json").exists() and not (run / "eval_test.json").exists()  # the 1-epoch run is gone
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 2

    monkeypatch.setattr(loop, "train", real)
    (entry,) = lb.leaderboard([configs["small"]], out=board_copy, log=lambda msg: None, **two)
    assert entry.status == "resumed" and entry.epochs == 2 and entry.rank == 1
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]


# ----------------------------------------------------------------------------- command line



def test_cli_prints_the_table_and_the_paths(configs, board_copy):
    code, out, err = cli("leaderboard", *configs.values(), "--data", "digits", "--budget", "1 epoch", "--seed", SEED,
                         "-k", K, "--out", board_copy, "--samples", 16, "--data.limit=200")
    assert code == 0, err
    assert "| 1 | " in out and "| diverge |" in out
    assert out.strip().splitlines()[-3:] == [str(board_copy / name) for name in lb.FILES]
    assert "not retrained" in err and "[small]" not in err  # the same settings: every complete run is reused


@pytest.mark.parametrize("args, message", [
    (["--budget", "ten"], "budget 'ten' is not understood; give a time such as 90s"),
    (["--budget", "1ep", "--samples", "-1"], "argument --samples: must be at least 0"),
    (["--budget", "1ep", "--metrics", "fidelty"], "unknown metric group 'fidelty'"),
    (["--budget", "1ep", "-k", "0"], "argument -k/--importance-samples: must be at least 1"),
    # A bad override fails every entry: the tables are written, and the first failure is the error.
    (["--budget", "1ep", "--train.nope=1"], "every entry failed, so nothing is ranked"),
    (["--budget", "1ep", "--data", "nonsense"], "every entry failed, so nothing is ranked"),
])
def test_cli_errors_are_one_line_with_exit_code_2(configs, tmp_path, args, message):
    code, out, err = cli("leaderboard", configs["small"], "--out", tmp_path / "out", *args)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"vaekit: error: {message}")


# ----------------------------------------------------------------------------- the package


def test_the_package_reexports_the_public_names():
    for name in lb.__all__:
        assert getattr(lb, name) is not None, name
    assert lb.Entry is runner.Entry and lb.leaderboard is runner.leaderboard
    import vaekit
    assert vaekit.leaderboard is lb.leaderboard  # the attribute is the function, as before the split
