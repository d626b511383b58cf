"""Checkpoint files: atomic writes, damaged and mismatched files, compile wrappers."""

from __future__ import annotations

import errno

import pytest
import torch
from torch import nn

from vaekit.errors import CheckpointError, OutputError
from vaekit import weights
from vaekit.files import atomic_write
from vaekit.train.checkpoint import load_state, save_state
from vaekit.weights import load_into, load_weights, save_weights, unwrap


def net(width: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))


def leftovers(folder) -> list:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_atomic_write_failure_keeps_the_old_file_and_no_temp_files(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write(target, lambda tmp: open(tmp, "w").write("old"))

    def half_then_fail(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write("ne")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old" and leftovers(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C mid-write cleans up too
        atomic_write(target, lambda tmp: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert target.read_text() == "old" and leftovers(tmp_path) == []


@pytest.mark.parametrize("what", ["weights", "state"])
def test_a_failing_writer_keeps_the_previous_checkpoint(tmp_path, monkeypatch, what):
    model = net()
    if what == "weights":
        path, save = tmp_path / "model.safetensors", lambda: save_weights(model, path, {"k": "v"})
    else:
        path, save = tmp_path / "train_state.pt", lambda: save_state({"a": torch.ones(3)}, path)
    save()
    before = path.read_bytes()

    def writer(obj, tmp, *args, **kwargs):
        with open(tmp, "wb") as f:
            f.write(b"\x00" * 10)  # a truncated file...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the failure

    if what == "weights":
        monkeypatch.setattr(weights, "save_file", writer)
    else:
        monkeypatch.setattr(torch, "save", writer)
    with pytest.raises(OutputError, match="no space left on the device"):
        save()
    assert path.read_bytes() == before and leftovers(tmp_path) == []


def test_unwritable_folder_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="choose another output directory"):
        atomic_write(blocker / "x.txt", lambda tmp: None)


def test_weights_round_trip_with_metadata(tmp_path):
    model = net()
    save_weights(model, tmp_path / "w.safetensors", {"data_shape": "[4]"})
    state = load_weights(tmp_path / "w.safetensors")
    other = net(3)
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    load_into(other, state, "here")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))


def test_missing_and_damaged_files_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no weights"):
        load_weights(tmp_path / "none.safetensors")
    save_weights(net(), tmp_path / "w.safetensors", {})
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "w.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged"):
        load_weights(tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="nothing to resume"):
        load_state(tmp_path / "none.pt")
    (tmp_path / "state.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="damaged"):
        load_state(tmp_path / "state.pt")


def test_load_into_names_the_first_mismatch(tmp_path):
    state = net(3).state_dict()
    with pytest.raises(CheckpointError, match=r"'0.weight' has shape \(3, 4\) there but \(5, 4\)"):
        load_into(net(5), state, "run")
    with pytest.raises(CheckpointError, match="missing"):
        load_into(net(3), {k: v for k, v in state.items() if k != "2.bias"}, "run")
    with pytest.raises(CheckpointError, match="unexpected"):
        load_into(net(3), {**state, "extra": torch.zeros(1)}, "run")


class Wrapper(nn.Module):
    """Holds the real module as torch.compile's wrapper does (the real one is exercised by the
    compile smoke test of the training loop; importing dynamo here would cost seconds)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self._orig_mod = inner


def test_wrappers_are_unwrapped_before_saving(tmp_path):
    model = net()
    wrapped = Wrapper(Wrapper(model))
    assert unwrap(wrapped) is model and unwrap(model) is model
    save_weights(wrapped, tmp_path / "w.safetensors", {})
    assert set(load_weights(tmp_path / "w.safetensors")) == set(model.state_dict())  # no '_orig_mod.' prefixes
