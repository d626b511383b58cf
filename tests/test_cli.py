"""The command line end to end on tiny data: every command, and every kind of bad input.

Commands run in-process through `vaekit.cli.main` (which returns the exit code), and once each
way through a real `python -m vaekit` subprocess. Every user error must exit with code 2 and one
line on stderr, never a traceback; no failure may touch a checkpoint written before it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from vaekit.data.binarized_mnist import write_amat_text
from vaekit.run import load_run
from vaekit.sample import encode

from cli_helpers import cli, error_line

CONFIGS = Path(__file__).parents[1] / "configs"
DIGITS = str(CONFIGS / "digits.yaml")
MNIST_CONV = str(CONFIGS / "mnist_conv.yaml")
QUICK = ["--train.epochs=2", "--data.limit=200", "--train.batch_size", "50", "--train.lr=2e-3",
         "--model.encoder.hidden=[64]", "--model.decoder.hidden=[64]"]
LATENT = 8  # digits.yaml
TEST_SIZE = 180  # digits carves 10% (180 of 1,797) for the test split; data.limit=200 keeps them all




@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, str]:
    """One digits run for the commands that read a run; tests that change a run copy it first."""
    run = tmp_path_factory.mktemp("cli") / "run"
    code, out, err = cli("train", DIGITS, "--out", run, *QUICK)
    assert code == 0, err
    return run, out


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    return Path(shutil.copytree(trained[0], tmp_path / "run"))


# ----------------------------------------------------------------------------- commands


def test_train_writes_the_run_with_the_overrides(trained):
    run, stdout = trained
    summary = json.loads(stdout)
    assert summary["status"] == "complete" and summary["epoch"] == 2
    assert summary == json.loads((run / "summary.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["train"]["epochs"] == 2 and config["data"]["limit"] == 200 and config["train"]["batch_size"] == 50
    assert config["train"]["lr"] == 2e-3 and config["model"]["encoder"]["hidden"] == [64]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    with Image.open(run / "samples.png") as img:
        assert img.format == "PNG"


def test_evaluate_writes_eval_split_json(trained):
    run = trained[0]
    code, out, err = cli("evaluate", run, "-k", "5", "--limit", "40")
    assert code == 0, err
    result = json.loads(out)
    assert json.loads((run / "eval_test.json").read_text()) == result
    assert result["split"] == "test" and result["importance_samples"] == 5 and result["num_examples"] == 40
    assert result["latent_dim"] == LATENT and result["num_dims"] == 64 and result["nll"] > 0
    code, _, err = cli("evaluate", run, "--split", "val", "-k", "2", "--limit", "10")
    assert code == 0, err
    assert json.loads((run / "eval_val.json").read_text())["split"] == "val"


def test_evaluate_out_writes_the_figures_elsewhere(trained, tmp_path):
    run = trained[0]
    before = sorted(p.name for p in run.iterdir())
    stamps = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    code, out, err = cli("evaluate", run, "-k", "2", "--limit", "10", "--split", "val", "--out", tmp_path / "evals")
    assert code == 0, err
    assert json.loads((tmp_path / "evals" / "eval_val.json").read_text())["split"] == "val"
    assert json.loads(out)["num_examples"] == 10
    assert sorted(p.name for p in run.iterdir()) == before  # the run directory is left alone
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == stamps
    code, _, err = cli("evaluate", run, "-k", "2", "--limit", "10", "--out", tmp_path / "one.json")
    assert code == 0, err
    assert json.loads((tmp_path / "one.json").read_text())["split"] == "test"
    (tmp_path / "file").write_text("")
    code, _, err = cli("evaluate", run, "-k", "2", "--out", tmp_path / "file" / "evals")
    assert code == 2 and "choose another --out" in error_line(err) and err.count("\n") == 1


def test_sample_is_repeatable_with_a_seed(trained, tmp_path):
    run = trained[0]
    paths = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        code, out, err = cli("sample", run, "-n", "9", "--seed", seed, "--temperature", "0.8",
                             "--out", tmp_path / f"{name}.png")
        assert code == 0, err
        paths[name] = Path(out.strip())
    assert paths["a"] == tmp_path / "a.png"
    with Image.open(paths["a"]) as img:
        assert img.format == "PNG" and img.size == (8 * (3 * 10 + 2), 8 * (3 * 10 + 2))  # 3x3 grid of 8x8, enlarged 8x
    assert paths["a"].read_bytes() == paths["b"].read_bytes()
    assert paths["a"].read_bytes() != paths["c"].read_bytes()


def test_reconstruct_and_interpolate_write_grids(trained, tmp_path):
    run = trained[0]
    code, out, err = cli("reconstruct", run, "-n", "4", "--out", tmp_path / "r.png")
    assert code == 0, err
    with Image.open(out.strip()) as img:
        assert img.size == (8 * (8 * 10 + 2), 8 * (10 + 2))  # one row: 4 originals beside 4 reconstructions
    code, out, err = cli("interpolate", run, "--pairs", "2", "--steps", "5", "--out", tmp_path / "i.png")
    assert code == 0, err
    with Image.open(out.strip()) as img:
        assert img.size == (8 * (5 * 10 + 2), 8 * (2 * 10 + 2))  # a row of 5 steps per pair


def test_embed_writes_latent_means_and_labels(trained, tmp_path):
    run = trained[0]
    code, out, err = cli("embed", run, "--out", tmp_path / "emb")
    assert code == 0, err
    mu = np.load(tmp_path / "emb" / "embed_test_mu.npy")
    logvar = np.load(tmp_path / "emb" / "embed_test_logvar.npy")
    labels = np.load(tmp_path / "emb" / "embed_test_labels.npy")
    assert mu.shape == logvar.shape == (TEST_SIZE, LATENT) and labels.shape == (TEST_SIZE,)
    assert len(out.split()) == 3
    loaded = load_run(run)
    expected, _ = encode(loaded.model, loaded.dataset().test.x)
    np.testing.assert_allclose(mu, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_train_resume_continues_the_run(run_copy):
    code, out, err = cli("train", "--resume", run_copy, "--train.epochs=3")
    assert code == 0, err
    assert "resuming" in err
    assert json.loads(out)["epoch"] == 3
    assert [json.loads(line)["epoch"] for line in (run_copy / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def subprocess_env(tmp_path) -> dict:
    return {**os.environ, "VAEKIT_DATA_DIR": str(tmp_path / "data-home"), "OMP_NUM_THREADS": "1"}


def test_a_real_subprocess_trains(tmp_path):
    run, data = tmp_path / "run", tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((120, 1, 8, 8)).astype(np.float32))  # no scikit-learn import
    done = subprocess.run([sys.executable, "-m", "vaekit", "train", DIGITS, "--out", str(run), "--train.epochs", "1",
                           "--data.name=arrays", f"--data.path={data}", "--data.limit=100",
                           "--model.encoder.hidden=[32]", "--model.decoder.hidden=[32]"],
                          capture_output=True, text=True, env=subprocess_env(tmp_path), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["epoch"] == 1 and "Traceback" not in done.stderr
    assert load_run(run).config.data.limit == 100


def test_a_real_subprocess_reports_a_bad_input_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "vaekit", "train", DIGITS, "--out", str(tmp_path / "run"),
                           "--model.latnt_dim=3"], capture_output=True, text=True, env=subprocess_env(tmp_path),
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "did you mean 'latent_dim'" in done.stderr


# ----------------------------------------------------------------------------- bad inputs to train


def arrays(path) -> list[str]:
    return ["--data.name=arrays", f"--data.path={path}"]


def write_bad_inputs(d: Path) -> dict[str, list[str]]:
    """Bad data files in `d`, and the `train` arguments (after CONFIG --out OUT) that read each."""
    rng = np.random.default_rng(0)
    np.save(d / "good.npy", rng.random((50, 5)).astype(np.float32))
    whole = (d / "good.npy").read_bytes()
    (d / "truncated.npy").write_bytes(whole[: len(whole) // 2])
    (d / "text.npy").write_text("1,2,3\n4,5,6\n")
    np.save(d / "five_d.npy", rng.random((6, 1, 2, 3, 4)).astype(np.float32))
    with_nan = rng.random((50, 5))
    with_nan[7, 2] = np.nan
    np.save(d / "nan.npy", with_nan)
    np.save(d / "wide.npy", rng.normal(size=(50, 5)).astype(np.float32))  # outside [0, 1]
    np.save(d / "img30.npy", rng.random((20, 1, 30, 30)).astype(np.float32))
    (d / "pngs").mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8)).save(d / "pngs" / f"{i}.png")
    for name, damage in (("amat_truncated", "truncate"), ("amat_short_rows", "short_rows")):
        folder = d / name / "binarized-mnist"
        folder.mkdir(parents=True)
        for split in ("train", "valid", "test"):
            path = folder / f"binarized_mnist_{split}.amat"
            write_amat_text((rng.random((3, 784)) < 0.5).astype(np.uint8), path)
            if split == "train" and damage == "truncate":
                path.write_bytes(path.read_bytes()[:2000])  # cut in the middle of the second line
            elif split == "train":
                path.write_text("0 1 0 1\n1 1 0 0\n")
    amat = ["--data.name=binarized-mnist", "--data.download=false", "--data-dir"]
    return {
        "missing file": (DIGITS, [*arrays(d / "missing.npy")], "not found"),
        "truncated npy": (DIGITS, arrays(d / "truncated.npy"), "cannot read"),
        "text named npy": (DIGITS, arrays(d / "text.npy"), "not a NumPy file"),
        "5-d array": (DIGITS, arrays(d / "five_d.npy"), "expected (N, D) vectors"),
        "nan values": (DIGITS, arrays(d / "nan.npy"), "NaN"),
        "outside [0, 1] under bernoulli": (DIGITS, arrays(d / "wide.npy"), "model.likelihood.name=gaussian"),
        "truncated amat": (DIGITS, [*amat, str(d / "amat_truncated")], "truncated"),
        "amat rows too short": (DIGITS, [*amat, str(d / "amat_short_rows")], "4 values, expected 784"),
        "30x30 arrays for the conv preset": (MNIST_CONV, arrays(d / "img30.npy"), "data.image_size"),
        "30x30 pngs for the conv preset": (MNIST_CONV, ["--data.name=images", f"--data.path={d / 'pngs'}"],
                                           "data.image_size"),
        "config typo": (DIGITS, ["--model.latnt_dim=3"], "did you mean 'latent_dim'"),
        "wrong type": (DIGITS, ["--train.epochs=abc"], "train.epochs: expected an integer"),
        "wrong choice": (DIGITS, ["--train.precision=fp8"], "train.precision"),
        "no dotted key": (DIGITS, ["--epochs=3"], "unrecognised argument"),
        "override without value": (DIGITS, ["--train.epochs"], "has no value"),
        "zero limit": (DIGITS, ["--data.limit=0"], "data.limit"),
    }


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    return write_bad_inputs(tmp_path_factory.mktemp("bad-inputs"))


BAD = [
    "missing file", "truncated npy", "text named npy", "5-d array", "nan values", "outside [0, 1] under bernoulli",
    "truncated amat", "amat rows too short", "30x30 arrays for the conv preset", "30x30 pngs for the conv preset",
    "config typo", "wrong type", "wrong choice", "no dotted key", "override without value", "zero limit",
]


def test_every_bad_input_is_exercised(bad_inputs):
    assert set(BAD) == set(bad_inputs)


@pytest.mark.parametrize("case", BAD)
def test_bad_input_to_train_is_one_line_and_exit_code_2(bad_inputs, tmp_path, case):
    config, extra, expected = bad_inputs[case]
    code, out, err = cli("train", config, "--out", tmp_path / "run", *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1, err  # the error line and nothing else
    assert expected in error_line(err)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_unwritable_output_directory(tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = cli("train", DIGITS, "--out", tmp_path / "file" / "run", *QUICK)
    assert code == 2 and "choose another --out" in error_line(err) and err.count("\n") == 1


def test_train_without_a_config_or_resume(tmp_path):
    code, _, err = cli("train")
    assert code == 2 and "CONFIG.yaml" in error_line(err)


@pytest.mark.parametrize("target", ["empty", "missing"])
def test_resume_of_a_non_run(tmp_path, target):
    (tmp_path / "empty").mkdir()
    code, _, err = cli("train", "--resume", tmp_path / target)
    assert code == 2 and "not a run directory" in error_line(err) and err.count("\n") == 1


def test_an_existing_run_is_not_overwritten_without_asking(run_copy):
    before = (run_copy / "model.safetensors").read_bytes()
    code, _, err = cli("train", DIGITS, "--out", run_copy, *QUICK)
    assert code == 2 and "--resume" in error_line(err) and "--overwrite" in error_line(err)
    assert (run_copy / "model.safetensors").read_bytes() == before


# ----------------------------------------------------------------------------- failures keep checkpoints


def snapshot(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in ("model.safetensors", "train_state.pt")}


@pytest.mark.parametrize("args, expected", [
    (("train", "--resume", "{run}", "--train.epochs=4", "--train.lr=1e30"), "diverged"),
    (("train", "--resume", "{run}", "--data.name=arrays", "--data.path={tmp}/missing.npy"), "not found"),
    (("train", "--resume", "{run}", "--model.latent_dim=3"), "does not fit this config"),
    (("train", DIGITS, "--out", "{run}", "--overwrite", "--data.name=arrays", "--data.path={tmp}/nan.npy"), "NaN"),
], ids=["diverging-lr", "missing-data", "other-model", "overwrite-with-bad-data"])
def test_a_failed_run_keeps_the_earlier_checkpoint(run_copy, tmp_path, args, expected):
    with_nan = np.random.default_rng(0).random((40, 5))
    with_nan[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", with_nan)
    before = snapshot(run_copy)
    code, _, err = cli(*(a.format(run=run_copy, tmp=tmp_path) for a in args))
    assert code == 2 and expected in error_line(err)
    assert snapshot(run_copy) == before
    assert load_run(run_copy).model is not None


# ----------------------------------------------------------------------------- bad inputs to the run commands


def test_evaluate_with_an_incompatible_config_override(trained):
    code, _, err = cli("evaluate", trained[0], "--model.latent_dim=3", "-k", "2")
    assert code == 2 and "does not fit this config" in error_line(err) and err.count("\n") == 1


@pytest.mark.parametrize("edit, expected", [
    (lambda text: text.replace("latent_dim: 8", "latent_dim: 5"), "does not fit this config"),
    (lambda text: text.replace("latent_dim: 8", "latent_dimm: 8"), "did you mean 'latent_dim'"),
    (lambda text: text + "\n  : [unclosed\n", "is not valid YAML at line"),
    (lambda text: text + "train:\n  epochs: 3\n", "sets 'train' twice (lines"),  # YAML would keep the last silently
    (lambda text: "", "is empty"),
])
def test_an_edited_config_yaml_is_reported(run_copy, edit, expected):
    path = run_copy / "config.yaml"
    text = path.read_text()
    assert "latent_dim: 8" in text
    path.write_text(edit(text))
    code, _, err = cli("sample", run_copy, "-n", "2")
    assert code == 2 and expected in error_line(err) and err.count("\n") == 1


@pytest.mark.parametrize("damage, expected", [("delete", "no model.safetensors"), ("truncate", "damaged")])
def test_a_missing_or_damaged_checkpoint_is_reported(run_copy, damage, expected):
    weights = run_copy / "model.safetensors"
    if damage == "delete":
        weights.unlink()
    else:
        weights.write_bytes(weights.read_bytes()[:100])
    code, _, err = cli("evaluate", run_copy, "-k", "2")
    assert code == 2 and expected in error_line(err) and err.count("\n") == 1


@pytest.mark.parametrize("args, expected", [
    (("sample", "{run}", "-n", "0"), "at least 1"),
    (("sample", "{run}", "--temperature", "0"), "positive"),
    (("evaluate", "{run}", "-k", "0"), "at least 1"),
    (("sample", "{run}", "--out", "{tmp}/file/s.png"), "choose another --out"),
    (("embed", "{run}", "--out", "{tmp}/file/emb"), "choose another --out"),
    (("anomaly", "{run}", "--out", "{tmp}/file/scores"), "choose another --out"),  # was an OSError traceback
    (("evaluate", "{tmp}/nowhere"), "not a run directory"),
    (("sample", "{run}", "extra"), "unrecognised argument"),
])
def test_bad_arguments_to_the_run_commands(trained, tmp_path, args, expected):
    (tmp_path / "file").write_text("")
    code, _, err = cli(*(a.format(run=trained[0], tmp=tmp_path) for a in args))
    assert code == 2 and expected in error_line(err) and err.count("\n") == 1


@pytest.mark.parametrize("args", [
    ("sample", "-n", "0"), ("sample", "-n", "-3"), ("sample", "--temperature", "nan"), ("sample", "--temperature", "inf"),
    ("interpolate", "--steps", "0"), ("interpolate", "--steps", "-3"), ("interpolate", "--pairs", "-2"),
    ("reconstruct", "-n", "0"), ("anomaly", "--score", "nll", "-k", "0"), ("evaluate", "-k", "0"),
], ids=" ".join)
def test_a_number_out_of_range_writes_nothing_into_a_real_run(trained, tmp_path, args):
    """The issue's cases: each of these once wrote a picture (or ended in a torch traceback)."""
    run = trained[0]
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    command, *options = args
    code, out, err = cli(command, run, *options)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert error_line(err).endswith(f"; see vaekit {command} --help")
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before
    code, _, err = cli(command, run, *options, "--out", tmp_path / "out.png")
    assert code == 2 and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_it(trained):
    code, _, err = cli("evaluate", trained[0], "--device", "cuda", "-k", "2")
    assert code == 2 and "no CUDA device" in error_line(err)


def test_an_unknown_command_is_an_argparse_error():
    code, out, err = cli("trian")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "invalid choice: 'trian'" in error_line(err) and err.endswith("; see vaekit --help\n")
