"""Every number a command takes has a range, checked while parsing; argparse's own errors are one
line; every option has help. None of these needs a trained run: a range error comes before the
run is read, so an empty folder stands in for one and must stay empty."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from vaekit.checks import MAX_IMAGES, SEED_MAX, TSNE_SEED_MAX
from vaekit.cli import parser

from cli_helpers import cli

CONFIGS = Path(__file__).parents[1] / "configs"
DIGITS = str(CONFIGS / "digits.yaml")



def one_error_line(code: int, out: str, err: str) -> str:
    """The single `vaekit: error:` line of a failed command (exit 2, nothing on stdout)."""
    assert code == 2 and out == "", (code, out, err)
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("vaekit: error: "), err
    return err.strip()


# (command and options after RUN, what the error says): every numeric option below and above its range.
OUT_OF_RANGE = [
    (["sample", "-n", "0"], "argument -n/--n: must be at least 1, got 0"),
    (["sample", "-n", "-3"], "must be at least 1, got -3"),
    (["sample", "-n", str(MAX_IMAGES + 1)], f"must be at most {MAX_IMAGES}"),
    (["sample", "-n", "2.5"], "expected an integer, got '2.5'"),
    (["sample", "--temperature", "nan"], "argument --temperature: must be a finite number, got nan"),
    (["sample", "--temperature", "inf"], "must be a finite number, got inf"),
    (["sample", "--temperature", "0"], "must be positive, got 0"),
    (["sample", "--temperature", "-1"], "must be positive, got -1"),
    (["sample", "--temperature", "1e6"], "must be at most 1000"),
    (["sample", "--temperature", "warm"], "expected a number, got 'warm'"),
    (["sample", "--components", "0"], "argument --components: must be at least 1"),
    (["sample", "--class", "-1"], "argument --class: must be at least 0"),
    (["sample", "--seed", "-1"], "argument --seed: must be an integer from 0 to 2**63-1, got -1"),
    (["sample", "--seed", "1234567890123456789012345"], "from 0 to 2**63-1, got 1234567890...(25 digits)"),
    (["reconstruct", "-n", "0"], "argument -n/--n: must be at least 1"),
    (["interpolate", "--pairs", "-2"], "argument --pairs: must be at least 1, got -2"),
    (["interpolate", "--steps", "0"], "argument --steps: must be at least 2, got 0"),
    (["interpolate", "--steps", "-3"], "argument --steps: must be at least 2, got -3"),
    (["interpolate", "--steps", "1"], "must be at least 2, got 1"),
    (["interpolate", "--steps", "101"], "must be at most 100"),
    (["interpolate", "--seed", "-5"], "argument --seed: must be an integer from 0"),
    (["evaluate", "-k", "0"], "argument --importance-samples/-k: must be at least 1"),
    (["evaluate", "--batch-size", "0"], "argument --batch-size: must be at least 1"),
    (["evaluate", "--limit", "0"], "argument --limit: must be at least 1"),
    (["evaluate", "--components", "0"], "argument --components: must be at least 1"),
    (["evaluate", "--seed", "99999999999999999999"], "argument --seed: must be an integer from 0 to 2**63-1"),
    (["anomaly", "--score", "nll", "-k", "0"], "argument -k/--importance-samples: must be at least 1"),
    (["anomaly", "--normal", "-1"], "argument --normal: must be at least 0"),
    (["report", "--limit", "0"], "argument --limit: must be at least 1"),
    (["report", "--seed", str(TSNE_SEED_MAX + 1)], f"must be an integer from 0 to {TSNE_SEED_MAX}"),
]


@pytest.mark.parametrize("args, expected", OUT_OF_RANGE, ids=[" ".join(a) for a, _ in OUT_OF_RANGE])
def test_a_number_out_of_range_is_one_line_and_nothing_is_written(tmp_path, args, expected):
    run = tmp_path / "run"
    run.mkdir()
    command, *options = args
    line = one_error_line(*cli(command, run, *options, "--out", tmp_path / "out" / "x.png"))
    assert expected in line and line.endswith(f"; see vaekit {command} --help")
    assert list(tmp_path.iterdir()) == [run] and not any(run.iterdir())  # no picture, no folder


@pytest.mark.parametrize("args, expected", [
    (["leaderboard", DIGITS, "--budget", "1ep", "-k", "0"], "must be at least 1"),
    (["leaderboard", DIGITS, "--budget", "1ep", "--samples", "-1"], "argument --samples: must be at least 0"),
    (["leaderboard", DIGITS, "--budget", "1ep", "--seed", "-1"], "must be an integer from 0"),
    (["oneclass", DIGITS, "-k", "0"], "must be at least 1"),
    (["oneclass", DIGITS, "--classes", "1", "-2"], "argument --classes: must be at least 0, got -2"),
])
def test_ranges_of_the_commands_that_train(tmp_path, args, expected):
    line = one_error_line(*cli(*args, "--out", tmp_path / "out"))
    assert expected in line and line.endswith(f"; see vaekit {args[0]} --help")
    assert not (tmp_path / "out").exists()


def test_the_ends_of_each_range_are_accepted():
    p = parser()
    args, _ = p.parse_known_args(["sample", "r", "-n", str(MAX_IMAGES), "--seed", str(SEED_MAX), "--temperature", "1e-3"])
    assert (args.n, args.seed, args.temperature) == (MAX_IMAGES, SEED_MAX, 1e-3)
    args, _ = p.parse_known_args(["interpolate", "r", "--steps", "2", "--pairs", "1", "--seed", "0"])
    assert (args.steps, args.pairs) == (2, 1)
    args, _ = p.parse_known_args(["report", "r", "--seed", str(TSNE_SEED_MAX), "--limit", "1"])
    assert args.seed == TSNE_SEED_MAX
    args, _ = p.parse_known_args(["leaderboard", "c.yaml", "--budget", "1ep", "--samples", "0"])
    assert args.samples == 0


@pytest.mark.parametrize("args, expected", [
    (["evaluate", "r", "--split", "tset"], "argument --split: invalid choice: 'tset'"),
    (["anomaly", "r", "--score", "mse"], "argument --score: invalid choice: 'mse'"),
    (["sample", "r", "-n"], "argument -n/--n: expected one argument"),
    (["sample"], "the following arguments are required: run"),
    (["leaderboard", DIGITS], "the following arguments are required: --budget"),
    (["trian"], "argument COMMAND: invalid choice: 'trian'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_argparse_errors_are_one_line(args, expected):
    line = one_error_line(*cli(*args))
    command = args[0] if args and args[0] != "trian" else None
    assert expected in line and line.endswith(f"; see vaekit{' ' + command if command else ''} --help")


def test_help_still_works():
    code, out, err = cli("train", "--help")
    assert code == 0 and err == "" and out.startswith("usage: vaekit train")
    assert "--train.epochs=5 --model.latent_dim 4" in out and "dotted path" in out
    code, out, _ = cli("--help")
    assert code == 0 and "sample" in out


def subcommands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_option_of_every_command_has_help():
    commands = subcommands()
    assert {"train", "evaluate", "sample", "reconstruct", "interpolate", "anomaly", "leaderboard", "oneclass",
            "embed", "report"} <= set(commands)
    missing = [f"vaekit {name} {'/'.join(a.option_strings) or a.dest}"
               for name, sub in commands.items() for a in sub._actions
               if not (a.help and a.help.strip() and a.help != argparse.SUPPRESS)]
    assert not missing, f"options without help: {missing}"
    for name, sub in commands.items():
        assert sub.description, name
        if name != "train":  # the run commands say what their dotted overrides do
            assert "override" in (sub.epilog or ""), name


def test_every_numeric_option_has_a_checked_type():
    """No option is parsed by bare int or float: each goes through a range (vaekit.checks)."""
    bare = [f"vaekit {name} {'/'.join(a.option_strings)}" for name, sub in subcommands().items() for a in sub._actions
            if a.type in (int, float)]
    assert not bare, f"options without a range: {bare}"


def test_evaluate_takes_out():
    args, _ = parser().parse_known_args(["evaluate", "r", "--out", "somewhere"])
    assert args.out == "somewhere"


# ----------------------------------------------------------------------------- configs on the command line


@pytest.mark.parametrize("text, expected", [
    ("42\n", "holds the number 42, not settings; a config is a mapping of sections data:, model:, objective:, train:, eval:"),
    ("", "is empty; write the settings"),
    ("# only a comment\n", "is empty"),
    ("- a\n", "holds a list of 1 item, not settings"),
    ("just text\n", "holds the text 'just text'"),
    ("train:\n  epochs: 1\nmodel:\n  latent_dim: 2\ntrain:\n  epochs: 2\n", "sets 'train' twice (lines 1 and 5); keep one"),
    ("model:\n  encoder:\n    hidden: [8]\n    hidden: [4]\n", "sets 'model.encoder.hidden' twice (lines 3 and 4)"),
])
def test_a_config_file_that_is_not_a_mapping_or_repeats_a_key(tmp_path, text, expected):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    line = one_error_line(*cli("train", config, "--out", tmp_path / "run"))
    assert f"config file '{config}'" in line and expected in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, expected", [
    ("--train.seed=1234567890123456789012345", "train.seed must be at most 2**63-1 (the largest 64-bit integer)"),
    ("--train.seed=-1", "train.seed must be an integer from 0 to 2**63-1, got -1"),
    ("--data.split_seed=-2", "data.split_seed=-2 must be 0 or more"),
    ("--model.latent_dim=99999999999999999999", "model.latent_dim must be at most 2**63-1"),
    ("--train.lr=.nan", "train.lr must be a finite number, got nan"),
    ("--data.classes=[42]", "data.classes: no example of label 42 in data set 'digits' (it has labels 0-9)"),
])
def test_config_numbers_out_of_range(tmp_path, override, expected):
    line = one_error_line(*cli("train", DIGITS, "--out", tmp_path / "run", "--data.limit=100", override))
    assert expected in line
    assert "Overflow" not in line and "carving" not in line
    assert not (tmp_path / "run" / "model.safetensors").exists()
