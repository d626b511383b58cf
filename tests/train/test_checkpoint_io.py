"""Run files on a real file system: the umask's permissions, failed writes as one OutputError,
temporary files of killed writes, damaged JSON, and weights that hold NaN or an infinity."""

from __future__ import annotations

import errno
import os
import stat

import pytest
import torch
from safetensors import SafetensorError
from torch import nn

from vaekit.errors import CheckpointError, OutputError
from vaekit.sample.grid import save_grid
from vaekit import files, weights
from vaekit.files import append_text, atomic_write, read_json, remove_temp_files, write_json, write_text
from vaekit.train.checkpoint import load_state, save_state
from vaekit.weights import load_weights, save_weights


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """`umask(value)` sets the process umask for the test; the old one comes back afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


# ----------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_every_writer_gives_the_umask_s_mode(tmp_path, umask, mask, expected):
    """mkstemp made every file 0o600, so nobody else could read a shared run directory."""
    umask(mask)
    writers = {
        "config.yaml": lambda p: write_text(p, "a: 1\n"),
        "summary.json": lambda p: write_json(p, {"a": 1}),
        "model.safetensors": lambda p: save_weights(net(), p, {}),
        "train_state.pt": lambda p: save_state({"a": torch.ones(2)}, p),
        "samples.png": lambda p: save_grid(torch.rand(4, 1, 3, 3), p),
        "metrics.jsonl": lambda p: append_text(p, "{}\n"),
    }
    for name, write in writers.items():
        write(tmp_path / name)
        write(tmp_path / name)  # replacing a file gives the new one the same mode
        assert mode(tmp_path / name) == expected, name


# ----------------------------------------------------------------------------- failed writes


FAILURES = {  # what each writer raises when the disk fills, as the libraries word it
    "oserror": OSError(errno.ENOSPC, "No space left on device"),
    "safetensors": SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"),
    "quota": SafetensorError("Error while serializing: I/O error: Disk quota exceeded (os error 122)"),
    "read-only": OSError(errno.EROFS, "Read-only file system"),
    "permission": PermissionError(errno.EACCES, "Permission denied"),
}
REASONS = {  # (the cause, the start of the fix) in the message
    "oserror": ("no space left on the device", "free some space"),
    "safetensors": ("no space left on the device", "free some space"),
    "quota": ("the disk quota is exceeded", "free some space"),
    "read-only": ("the file system is read-only", "choose another location"),
    "permission": ("permission denied", "make the folder writable"),
}


@pytest.mark.parametrize("kind", FAILURES)
def test_a_failed_write_is_one_output_error_and_keeps_the_old_file(tmp_path, kind):
    target = tmp_path / "model.safetensors"
    write_text(target, "old")

    def fail(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write("ne")
        raise FAILURES[kind]

    with pytest.raises(OutputError) as info:
        atomic_write(target, fail)
    message = str(info.value)
    reason, fix = REASONS[kind]
    assert message.startswith(f"cannot write '{target}' ({reason}); {fix}")
    assert "vaekit train --resume RUN" in message and "\n" not in message
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["model.safetensors"]


def test_torch_save_s_writer_failure_is_diagnosed_by_the_free_space(tmp_path, monkeypatch):
    """torch.save's writer says only "enforce fail at inline_container.cc ... unexpected pos": the
    free space of the folder tells a full disk from another failure."""
    enforce = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    target = tmp_path / "train_state.pt"

    def fail(tmp: str) -> None:
        raise enforce

    monkeypatch.setattr(files, "_NEARLY_FULL", 0)  # any disk has space
    with pytest.raises(OutputError, match=r"train_state\.pt' \(the write failed part-way\); check the disk"):
        atomic_write(target, fail)
    monkeypatch.setattr(files, "_NEARLY_FULL", 1 << 62)  # no disk has that much free
    with pytest.raises(OutputError, match=r"train_state\.pt' \(no space left on the device\); free some space"):
        atomic_write(target, fail)
    assert os.listdir(tmp_path) == []


def test_other_exceptions_pass_through_unchanged(tmp_path):
    """A bug in a writer (or an error of ours) is not reported as a full disk."""
    for e in (RuntimeError("a bug"), SafetensorError("cannot serialize a non-contiguous tensor"),
              CheckpointError("ours"), KeyboardInterrupt()):
        def fail(tmp: str, e=e) -> None:
            raise e

        with pytest.raises(type(e)) as info:
            atomic_write(tmp_path / "f", fail)
        assert info.value is e
    assert os.listdir(tmp_path) == []


def test_a_failed_append_is_cut_back_and_is_an_output_error(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    append_text(path, '{"epoch": 1}\n')
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, bytes(data[:5]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OutputError, match=r"metrics\.jsonl' \(no space left on the device\)"):
        append_text(path, '{"epoch": 2}\n')
    monkeypatch.undo()
    assert path.read_text() == '{"epoch": 1}\n'  # not '{"epoch": 1}\n{"epo'


def test_temporary_files_of_killed_writes_are_found_by_name_only(tmp_path):
    orphans = [".model.safetensors.k3j_9x0a.tmp", ".train_state.pt.abcdefgh.tmp"]
    kept = ["model.safetensors", ".model.safetensors.tmp", "notes.tmp", ".x.ABCDEFGH.tmp", ".x.abc.tmp", ".write-test"]
    for name in orphans + kept:
        (tmp_path / name).write_text("")
    (tmp_path / ".dir.abcdefgh.tmp").mkdir()  # not a file
    assert sorted(p.name for p in remove_temp_files(tmp_path)) == sorted(orphans)
    assert sorted(os.listdir(tmp_path)) == sorted(kept + [".dir.abcdefgh.tmp"])
    # atomic_write's own temporary names match the pattern, so a killed write's file would be found
    seen = []
    atomic_write(tmp_path / "f.bin", lambda tmp: seen.append(os.path.basename(tmp)))
    assert files.TEMP_NAME.fullmatch(seen[0]) and seen[0].startswith(".f.bin.")


# ----------------------------------------------------------------------------- damaged and non-finite files


@pytest.mark.parametrize("text", ['{"status": "compl', "", "[1, 2]", "\xff\xfe",
                                  '{"status": "complete", "epoch": 3, "status": "failed"}'])
def test_damaged_json_is_a_checkpoint_error(tmp_path, text):
    path = tmp_path / "summary.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(CheckpointError, match=r"summary\.json' is damaged .*; delete it"):
        read_json(path, "delete it")


@pytest.mark.parametrize("value, kind", [(float("nan"), "NaN"), (float("inf"), "an infinity"),
                                         (-float("inf"), "an infinity")])
def test_weights_holding_nan_or_inf_are_refused(tmp_path, value, kind):
    model = net()
    with torch.no_grad():
        model[2].bias[1] = value
    save_weights(model, tmp_path / "model.safetensors", {})
    with pytest.raises(CheckpointError, match=rf"weights file '.*model\.safetensors' holds {kind} in '2\.bias'; "
                                              r"the run diverged or the file is damaged: retrain, or resume"):
        load_weights(tmp_path / "model.safetensors")


def test_a_training_state_holding_nan_is_refused_but_integer_tensors_pass(tmp_path):
    good = {"model": net().state_dict(), "ema": [torch.ones(3)], "rng": torch.get_rng_state(),
            "counters": {"best_val": -float("inf")},
            "optimizer": {"state": {0: {"exp_avg_sq": torch.tensor([float("inf")])}}}}
    save_state(good, tmp_path / "s.pt")
    assert set(load_state(tmp_path / "s.pt")) == set(good)  # -inf outside a tensor and an optimizer's inf are fine
    save_state({**good, "ema": [torch.ones(3), torch.tensor([1.0, float("nan")])]}, tmp_path / "s.pt")
    with pytest.raises(CheckpointError, match=r"training state '.*s\.pt' holds NaN in 'ema\[1\]'.*--overwrite"):
        load_state(tmp_path / "s.pt")


def test_an_unreadable_run_file_says_permission_denied(tmp_path, monkeypatch):
    """A run of another user, written 0o600 by an older vaekit: not 'damaged', but unreadable."""
    save_weights(net(), tmp_path / "model.safetensors", {})

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(weights, "load_file", denied)
    with pytest.raises(CheckpointError, match=r"'.*model\.safetensors' \(permission denied\); ask its owner"):
        load_weights(tmp_path / "model.safetensors")


def test_a_run_s_json_files_refuse_a_key_set_twice(tmp_path):
    """codec.json and eval_SPLIT.json go through the same strict reader as summary.json: the
    standard library would keep the last of two values without a word."""
    from vaekit.data.codec import read_codec
    from vaekit.evaluate.results import read_result

    twice = '{"kind": "identity", "kind": "standard"}'
    (tmp_path / "codec.json").write_text(twice)
    with pytest.raises(CheckpointError, match="codec.json' is damaged"):
        read_codec(tmp_path)
    (tmp_path / "eval_test.json").write_text('{"nll": 90.0, "nll": 80.0}')
    assert read_result(tmp_path / "eval_test.json") is None  # recomputed, never trusted half-right
    (tmp_path / "eval_test.json").write_text('{"nll": 90.0}')
    assert read_result(tmp_path / "eval_test.json") == {"nll": 90.0}
