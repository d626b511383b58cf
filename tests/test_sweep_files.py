"""Files that went wrong in the bad-input sweep: a run's codec.json deleted or swapped (the weights
carry the codec now), weights of another dtype, data files that cannot be read or hold no
features, output paths (--out a folder, a wrong suffix, empty), writes where no file can be made,
allocations that run out of memory, and a leaderboard whose every entry failed.

Each must end in one typed error line (exit code 2) or the right output, never garbage.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from vaekit import commands as cli_module
from vaekit.cli import main
from vaekit.config import DataConfig
from vaekit.data import codec as codecs
from vaekit.data.arrays import ArraysConfig, build_arrays
from vaekit.errors import CheckpointError, DataError, OutputError
from vaekit.run import load_run
from vaekit import files, weights
from vaekit.train import loop

from cli_helpers import cli, error_line

CONFIGS = Path(__file__).parents[1] / "configs"
TINY = ["--model.latent_dim=4", "--model.encoder.hidden=[32]", "--model.decoder.hidden=[32]", "--train.epochs=1",
        "--train.batch_size=32", "--train.report=false", "--train.progress=false", "--eval.importance_samples=5"]
SCALES = np.array([1.0, 10.0, 100.0, 0.1, 1.0])
MEANS = np.array([0.0, 50.0, 1000.0, 0.0, -3.0])




@pytest.fixture(scope="module")
def vectors(tmp_path_factory) -> Path:
    """300 rows of 5 columns on scales from 0.1 to 100 around means up to 1000: standardised."""
    path = tmp_path_factory.mktemp("data") / "vec.npy"
    rng = np.random.default_rng(0)
    np.save(path, (rng.normal(size=(300, 5)) * SCALES + MEANS).astype(np.float32))
    return path


@pytest.fixture(scope="module")
def vrun(tmp_path_factory, vectors) -> Path:
    run = tmp_path_factory.mktemp("vrun") / "run"
    code, _, err = cli("train", CONFIGS / "digits.yaml", "--out", run, "--data.name=arrays", f"--data.path={vectors}",
                       "--model.likelihood.name=gaussian", *TINY)
    assert code == 0, err
    return run


@pytest.fixture(scope="module")
def irun(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("irun") / "run"
    code, _, err = cli("train", CONFIGS / "digits.yaml", "--out", run, "--data.limit=100", "--train.sample_grid=0",
                       *TINY)
    assert code == 0, err
    return run


def copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def drop_codec_metadata(run: Path) -> None:
    """Rewrite the weights as a run from before the weights carried their codec."""
    path = run / "model.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    meta.pop(codecs.META_KEY)
    save_file(load_file(path), path, metadata=meta)


# ----------------------------------------------------------------------------- the codec


def test_the_weights_carry_the_codec_of_codec_json(vrun):
    with safe_open(str(vrun / "model.safetensors"), "pt") as f:
        stored = json.loads(f.metadata()[codecs.META_KEY])
    assert stored == json.loads((vrun / "codec.json").read_text()) and stored["kind"] == "standard"


def test_a_deleted_codec_json_is_replaced_by_the_weights_copy(vrun, tmp_path):
    """The sweep's dm08/dm39/dm40: without codec.json, outputs came out in standardised units."""
    run = copy(vrun, tmp_path)
    (run / "codec.json").unlink()
    assert load_run(run).codec == load_run(vrun).codec  # both parsed from the same JSON: exact
    code, out, err = cli("sample", run, "-n", "200", "--out", tmp_path / "s.npy")
    assert code == 0, err
    means = np.load(out.strip()).mean(axis=0)
    # In the data's units the third column sits near 1000 (std 100); standardised, near 0.
    assert abs(means[2] - 1000) < 300 and abs(means[1] - 50) < 30


@pytest.mark.parametrize("text", ['{"kind": "identity"}',
                                  '{"kind": "standard", "mean": [0, 0, 0, 0, 0], "std": [1, 1, 1, 1, 2]}'])
def test_a_codec_json_that_differs_from_the_weights_is_refused(vrun, tmp_path, text):
    """The sweep's dm42: an identity codec.json on a standardised run gave standardised samples."""
    run = copy(vrun, tmp_path)
    (run / "codec.json").write_text(text)
    for args in (("sample", run, "--out", tmp_path / "s.npy"), ("train", "--resume", run, "--train.epochs=2")):
        code, _, err = cli(*args)
        assert code == 2 and "codec.json' does not match the codec the weights" in error_line(err)
    assert not (tmp_path / "s.npy").exists()


def test_resume_without_codec_json_trains_on_the_weights_codec_and_writes_it_again(vrun, tmp_path):
    """The sweep's dm41: the resumed epoch trained on raw data and reported a val ELBO of -8e30."""
    run = copy(vrun, tmp_path)
    before = (run / "codec.json").read_text()
    (run / "codec.json").unlink()
    code, _, err = cli("train", "--resume", run, "--train.epochs=2")
    assert code == 0, err
    assert json.loads((run / "codec.json").read_text()) == json.loads(before)
    elbos = [json.loads(line)["val_elbo"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    # Standardised 5-D data give an ELBO of a few nats a dimension; raw ones gave -8e30.
    assert len(elbos) == 2 and elbos[1] > -30


def test_runs_from_before_keep_reading_codec_json(vrun, tmp_path):
    run = copy(vrun, tmp_path)
    drop_codec_metadata(run)
    assert load_run(run).codec == codecs.read_codec(run, 5) and not load_run(run).codec.identity


def test_another_run_s_vector_codec_in_an_image_run_names_codec_json(irun, vrun, tmp_path):
    """The sweep's dm44: the API's 'pass (N, 5) rows' instead of a word about codec.json."""
    run = copy(irun, tmp_path)
    shutil.copy(vrun / "codec.json", run / "codec.json")
    code, _, err = cli("sample", run, "--out", tmp_path / "s.png")
    assert code == 2 and "codec.json' does not match the codec the weights" in error_line(err)
    drop_codec_metadata(run)  # a run from before: the shape gives it away
    code, _, err = cli("sample", run, "--out", tmp_path / "s.png")
    assert code == 2 and "standardises 5 features, but this run's examples are images" in error_line(err)


@pytest.mark.parametrize("stored", ["{cut", '{"kind": "standard", "mean": [0, 0, 0], "std": [1, 1, 1]}'])
def test_damaged_codec_metadata_is_a_checkpoint_error(vrun, tmp_path, stored):
    run = copy(vrun, tmp_path)
    path = run / "model.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    save_file(load_file(path), path, metadata={**meta, codecs.META_KEY: stored})
    with pytest.raises(CheckpointError, match="damaged codec metadata"):
        load_run(run)


# ----------------------------------------------------------------------------- weights of another dtype


def test_integer_weights_are_refused_naming_the_tensor_and_both_dtypes():
    """The sweep's dm37: int32 weights loaded into the float model gave a uniform grey grid."""
    net = nn.Linear(3, 2)
    state = {k: v.to(torch.int32) for k, v in net.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"holds 'weight' as int32, but the model holds it as float32"):
        weights.load_into(nn.Linear(3, 2), state, "run")


def test_float16_weights_and_integer_buffers_still_load():
    net = nn.Linear(3, 2)
    net.register_buffer("count", torch.tensor(7))  # an integer buffer is an integer in the model too
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    other = nn.Linear(3, 2)
    other.register_buffer("count", torch.tensor(0))
    weights.load_into(other, half, "run")
    assert torch.equal(other.weight, half["weight"].float())  # float16 -> float32 is exact
    assert int(other.count) == 7
    with pytest.raises(CheckpointError, match="holds 'count' as float32, but the model holds it as int64"):
        weights.load_into(other, {**half, "count": torch.tensor(7.0)}, "run")


# ----------------------------------------------------------------------------- data files


def arrays(path: Path, **kwargs):
    return build_arrays(ArraysConfig(path=str(path), **kwargs))


@pytest.mark.parametrize("shape", [(100, 0), (10, 0, 4), (10, 3, 0, 4)])
def test_an_array_without_features_is_a_data_error(tmp_path, shape):
    """The sweep's d_zero_cols_npy: a (100, 0) array trained and reported an ELBO of -0.02."""
    np.save(tmp_path / "x.npy", np.zeros(shape, dtype=np.float32))
    with pytest.raises(DataError, match=r"has no features \(shape"):
        arrays(tmp_path / "x.npy")


def test_a_csv_holding_only_its_label_column_has_no_features(tmp_path):
    (tmp_path / "t.csv").write_text("label\n0\n1\n2\n")
    with pytest.raises(DataError, match="has no features"):
        arrays(tmp_path / "t.csv", label_column="label")


@pytest.mark.parametrize("name", ["x.csv", "x.npy", "x.npz"])
def test_a_data_path_that_is_a_folder_is_a_data_error(tmp_path, name):
    """The sweep's d_csvdir_csv: IsADirectoryError traceback."""
    (tmp_path / name).mkdir()
    with pytest.raises(DataError, match=rf"cannot read .*{name} \(it is a folder, not a file\); point data.path="):
        arrays(tmp_path / name)


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc/self/mem")
@pytest.mark.parametrize("name", ["x.csv", "x.npy"])
def test_an_input_output_error_is_a_data_error(tmp_path, name):
    """The sweep's d_proc_mem_csv: reading /proc/self/mem from offset 0 fails with EIO."""
    (tmp_path / name).symlink_to("/proc/self/mem")
    with pytest.raises(DataError, match=rf"cannot read .*{name} \(an input/output error"):
        arrays(tmp_path / name)


def test_a_binary_csv_is_a_data_error(tmp_path):
    (tmp_path / "b.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match="is not a CSV text file"):
        arrays(tmp_path / "b.csv")


def test_every_reader_names_the_file_it_cannot_read(tmp_path):
    from vaekit.data.binarized_mnist import read_amat
    from vaekit.data.download import sha256_file
    from vaekit.data.mnist import IMAGES_MAGIC, read_idx

    folder = tmp_path / "a-folder"
    folder.mkdir()
    for read in (lambda: read_idx(folder, IMAGES_MAGIC), lambda: read_amat(folder), lambda: sha256_file(folder)):
        with pytest.raises(DataError, match=r"a-folder \(it is a folder, not a file\)"):
            read()


def test_image_reads_name_the_file_on_an_io_error_and_when_memory_runs_out(tmp_path, monkeypatch):
    from PIL import Image

    from vaekit.data import images

    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "a.png")

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Image.Image, "resize", out_of_memory)  # the sweep's i_size_huge, without the memory
    with pytest.raises(DataError, match=r"reading .*a\.png ran out of memory; lower data.image_size \(now \[9, 9\]\)"):
        images.read_image(tmp_path / "a.png", False, (9, 9))

    def eio(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Image, "open", eio)
    with pytest.raises(DataError, match=r"cannot read .*a\.png \(an input/output error"):
        images.read_image(tmp_path / "a.png", False, None)


def test_permission_denied_says_how_to_make_it_readable():
    from vaekit.data.files import read_failure

    error = read_failure("d/x.csv", PermissionError(errno.EACCES, "Permission denied"), "point data.path= at a file")
    assert str(error) == ("cannot read d/x.csv (permission denied); make it readable (chmod a+r), or point "
                          "data.path= at a file")
    assert read_failure("x.png", OSError("cannot identify image file"), "fix") is None  # a library's words: its reader's


# ----------------------------------------------------------------------------- writes and output paths


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_file_system_that_makes_no_files_is_not_a_removed_folder(tmp_path):
    """The sweep's s17/rc05/rp04/p69: writing under /proc said 'the folder was removed'."""
    with pytest.raises(OutputError, match=r"cannot write to '/proc' \(the file system refuses new files there\)"):
        files.write_text("/proc/x.txt", "x")
    with pytest.raises(OutputError, match=r"\(no such folder\)"):
        files.write_text(tmp_path / "gone" / "x.txt", "x")


def test_out_names_a_file_a_folder_or_a_file_without_its_suffix(irun, vrun, tmp_path):
    """The sweep's s20-s23: a folder got FOLDER.png beside it, x.jpg and x.npy silently became x.png."""
    (tmp_path / "folder").mkdir()
    for out, written in [("folder", "folder/samples.png"), ("new/", "new/samples.png"), ("x", "x.png"),
                         ("y.PNG", "y.PNG")]:
        code, stdout, err = cli("sample", irun, "-n", "4", "--out", f"{tmp_path}/{out}")  # a str keeps the slash
        assert code == 0 and stdout.strip() == str(tmp_path / written), err
    code, stdout, err = cli("reconstruct", vrun, "-n", "4", "--out", tmp_path / "folder")
    assert code == 0 and stdout.strip() == str(tmp_path / "folder" / "reconstructions.npy"), err
    code, stdout, err = cli("sample", vrun, "-n", "4", "--out", tmp_path / "v")
    assert code == 0 and stdout.strip() == str(tmp_path / "v.npy"), err


@pytest.mark.parametrize("run, out, message", [
    ("irun", "x.jpg", "images are written as PNG; name the file {tmp}/x.png"),
    ("irun", "x.npy", "images are written as PNG; name the file {tmp}/x.png"),
    ("vrun", "x.png", "vectors are written as NumPy arrays; name the file {tmp}/x.npy"),
])
def test_a_wrong_suffix_is_refused_before_anything_is_written(request, tmp_path, run, out, message):
    for command in ("sample", "reconstruct", "interpolate"):
        code, _, err = cli(command, request.getfixturevalue(run), "--out", tmp_path / out)
        assert code == 2 and error_line(err).endswith(message.format(tmp=tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [("train", str(CONFIGS / "digits.yaml")), ("sample", "RUN"), ("evaluate", "RUN"),
                                  ("report", "RUN"), ("embed", "RUN"), ("anomaly", "RUN"),
                                  ("leaderboard", str(CONFIGS / "digits.yaml"), "--budget", "1ep")])
def test_an_empty_out_is_refused_on_every_command(irun, tmp_path, monkeypatch, args):
    """The sweep's t67: train --out "" trained into ./runs/digits."""
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*(str(irun) if a == "RUN" else a for a in args), "--out", "")
    assert code == 2
    assert error_line(err) == "vaekit: error: --out is empty; name a file or folder, or drop --out for the default"
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- out of memory


@pytest.mark.parametrize("error, shown", [
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                  "tried to allocate 25600000000 bytes. Error code 12 (Cannot allocate memory)"),
     " (tried to allocate 25.6 GB)"),
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79 GiB"),
     " (tried to allocate 20.00 GiB)"),
    (MemoryError(), ""),
])
def test_running_out_of_memory_is_one_line_with_exit_code_2(monkeypatch, error, shown):
    """The sweep's t10/t86: a model too wide for the machine ended in the allocator's traceback."""
    def allocate(args, overrides):
        raise error

    monkeypatch.setattr(cli_module, "cmd_train", allocate)
    code, _, err = cli("train", CONFIGS / "digits.yaml")
    line = error_line(err)
    assert code == 2 and err.count("\n") == 1
    assert line.startswith(f"vaekit: error: out of memory{shown}: the model, batch or request is too large")


def test_any_other_runtime_error_is_still_a_bug(monkeypatch):
    def bug(args, overrides):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_module, "cmd_train", bug)
    with pytest.raises(RuntimeError, match="boom"):
        main(["train", str(CONFIGS / "digits.yaml")])


def test_a_sample_grid_too_large_leaves_a_finished_run(tmp_path, monkeypatch):
    """The sweep's x40: the grid failed to allocate after training, and the run had no summary.json."""
    def allocate(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 25600000000 bytes.")

    monkeypatch.setattr(loop, "save_grid", allocate)
    run = tmp_path / "run"
    code, _, err = cli("train", CONFIGS / "digits.yaml", "--out", run, "--data.limit=100", *TINY)
    assert code == 2 and "out of memory (tried to allocate 25.6 GB)" in error_line(err)
    assert json.loads((run / "summary.json").read_text())["status"] == "complete"
    assert load_run(run).summary()["epoch"] == 1
