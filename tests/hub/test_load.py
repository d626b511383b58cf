"""`load_run("hf://USER/REPO[@REVISION]")` and the commands that take hf:// runs, offline: the
Hugging Face cache is filled with what a push uploaded (hub_helpers.FakeHub.to_cache), in the
layout huggingface_hub writes; nothing reaches the network."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vaekit
from vaekit.errors import CheckpointError, HubError, OutputError
from vaekit.hub import push_run
from vaekit.hub_fetch import RUN_FILES, parse_uri
from vaekit.run import load_run

from cli_helpers import cli, error_line
from hub_helpers import FakeHub, HubServer, write_cache

REPO = "alice/digits-vae"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub(monkeypatch) -> FakeHub:
    return FakeHub().install(monkeypatch)


@pytest.fixture
def pushed(digits_run, hub, hf_cache) -> Path:
    """The digits run pushed to REPO, then downloaded into the cache as snapshot_download would
    have: the snapshot folder."""
    push_run(digits_run, REPO)
    return hub.to_cache(hf_cache, REPO, patterns=RUN_FILES)


def snapshot_state(cache: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted(cache.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- the round trip


def test_a_pushed_run_loads_from_the_cache_as_the_local_run_does(digits_run, pushed, hf_cache):
    from huggingface_hub import scan_cache_dir

    repos = scan_cache_dir(hf_cache).repos  # huggingface_hub reads the cache the fake wrote as its own
    assert [(r.repo_id, [sorted(v.refs) for v in r.revisions]) for r in repos] == [(REPO, [["main"]])]
    local, hub_run = load_run(digits_run), load_run(f"hf://{REPO}")
    assert hub_run.source == f"hf://{REPO}" and local.source is None
    assert hub_run.path == pushed
    assert hub_run.config == local.config and hub_run.data_shape == local.data_shape
    assert hub_run.codec == local.codec
    assert hub_run.summary() == local.summary() and hub_run.metrics() == local.metrics()
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    x = local.dataset().test.x[:6]
    assert torch.equal(vaekit.decode(hub_run.model, z), vaekit.decode(local.model, z))
    assert all(torch.equal(a, b) for a, b in zip(vaekit.encode(hub_run.model, x), vaekit.encode(local.model, x)))
    assert torch.equal(vaekit.sample(hub_run.model, 5, seed=3), vaekit.sample(local.model, 5, seed=3))


def test_only_the_files_loading_needs_are_downloaded():
    assert RUN_FILES == ["config.yaml", "model.safetensors", "codec.json", "summary.json", "metrics.jsonl",
                         "eval_*.json"]


def test_a_revision_names_a_branch_or_a_commit(tmp_path, digits_run, hub, hf_cache):
    from hub_helpers import train_digits

    other = train_digits(tmp_path / "other", "--train.seed=1")
    push_run(digits_run, REPO)
    push_run(other, REPO, revision="dev")
    hub.to_cache(hf_cache, REPO, patterns=RUN_FILES)
    hub.to_cache(hf_cache, REPO, "dev", patterns=RUN_FILES)
    z = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))

    def decoded(name: str) -> torch.Tensor:
        return vaekit.decode(load_run(name).model, z)

    assert torch.equal(decoded(f"hf://{REPO}"), decoded(str(digits_run)))
    assert torch.equal(decoded(f"hf://{REPO}@dev"), decoded(str(other)))
    assert not torch.equal(decoded(f"hf://{REPO}@dev"), decoded(f"hf://{REPO}"))
    commit = hub.repos[REPO]["heads"]["dev"]  # a commit is read from snapshots/COMMIT, without a ref
    shutil.rmtree(hf_cache)
    hub.to_cache(hf_cache, REPO, "dev", patterns=RUN_FILES, ref=False)
    assert torch.equal(decoded(f"hf://{REPO}@{commit}"), decoded(str(other)))


def test_with_hf_hub_offline_in_the_environment_a_fresh_process_loads_from_the_cache(digits_run, pushed, hf_cache,
                                                                                     tmp_path):
    """The variables as a user sets them, read by huggingface_hub at import (no patched constants)."""
    code = (f"import torch, vaekit\n"
            f"z = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))\n"
            f"a = vaekit.decode(vaekit.load_run('hf://{REPO}').model, z)\n"
            f"b = vaekit.decode(vaekit.load_run({str(digits_run)!r}).model, z)\n"
            f"assert torch.equal(a, b)\n"
            f"print('same')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    assert env["HF_HUB_OFFLINE"] == "1" and env["HF_HUB_CACHE"] == str(hf_cache)
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "same", proc.stderr


# ----------------------------------------------------------------------------- the commands


def test_commands_take_a_hub_run_and_write_only_where_told(digits_run, pushed, hf_cache, tmp_path):
    before = snapshot_state(hf_cache)
    code, out, err = cli("sample", f"hf://{REPO}", "-n", "4", "--seed", "2", "--out", tmp_path / "hub.png")
    assert code == 0, err
    code, _, err = cli("sample", digits_run, "-n", "4", "--seed", "2", "--out", tmp_path / "local.png")
    assert code == 0, err
    assert (tmp_path / "hub.png").read_bytes() == (tmp_path / "local.png").read_bytes()
    code, out, err = cli("evaluate", f"hf://{REPO}", "-k", "2", "--limit", "10", "--out", tmp_path / "figures")
    assert code == 0, err
    assert (tmp_path / "figures" / "eval_test.json").is_file()
    assert snapshot_state(hf_cache) == before


@pytest.mark.parametrize("command", [["sample"], ["reconstruct"], ["interpolate"], ["embed"], ["anomaly"],
                                     ["evaluate", "-k", "2"], ["report"], ["export"]])
def test_without_out_a_hub_run_is_refused_before_any_work(pushed, hf_cache, command):
    before = snapshot_state(hf_cache)
    code, _, err = cli(command[0], f"hf://{REPO}", *command[1:])
    assert code == 2
    line = error_line(err)
    assert line.startswith(f"vaekit: error: hf://{REPO} is read from the Hugging Face cache, which vaekit does not "
                           f"write into; pass --out FOLDER")
    assert snapshot_state(hf_cache) == before


def test_the_python_api_refuses_to_write_into_the_cache(pushed):
    run = load_run(f"hf://{REPO}")
    with pytest.raises(OutputError, match="out= in Python"):
        vaekit.evaluate(run, importance_samples=2, limit=5, log=lambda line: None)
    with pytest.raises(OutputError, match="out= in Python"):
        vaekit.make_report(run)


@pytest.mark.parametrize("flag", ["--resume", "--out"])
def test_training_takes_no_hub_run(flag):
    args = ["train", f"{flag}", f"hf://{REPO}"] + (["configs/digits.yaml"] if flag == "--out" else [])
    code, _, err = cli(*args)
    assert code == 2 and "takes a local run directory, not hf://alice/digits-vae" in error_line(err)


# ----------------------------------------------------------------------------- failures


def test_offline_and_not_cached_is_one_line():
    code, _, err = cli("sample", f"hf://{REPO}", "--out", "x.png")
    assert code == 2
    assert error_line(err) == (f"vaekit: error: hf://{REPO} is not in the local Hugging Face cache and HF_HUB_OFFLINE "
                               f"is set; unset HF_HUB_OFFLINE and connect to the network to download it once")


def test_offline_a_branch_that_is_not_cached_is_the_same_error(pushed):
    with pytest.raises(HubError, match=f"hf://{REPO}@dev is not in the local Hugging Face cache"):
        load_run(f"hf://{REPO}@dev")


def test_a_repository_without_a_run_is_a_checkpoint_error(hf_cache):
    write_cache(hf_cache, "bob/bert", "b" * 40, {"README.md": b"# a language model\n"})
    with pytest.raises(CheckpointError, match=r"hf://bob/bert is not a vaekit run \(it has no config.yaml\)"):
        load_run("hf://bob/bert")


def test_a_run_without_weights_is_a_checkpoint_error(digits_run, hf_cache):
    write_cache(hf_cache, "bob/vae", "c" * 40, {"config.yaml": (digits_run / "config.yaml").read_bytes()})
    with pytest.raises(CheckpointError, match="has a config.yaml but no model.safetensors"):
        load_run("hf://bob/vae")


@pytest.mark.parametrize("status, code, says", [
    (404, "RepoNotFound", "hf://alice/digits-vae@v9: no such repository on the Hugging Face Hub, or it is private"),
    (404, "RevisionNotFound", "hf://alice/digits-vae@v9: the repository has no revision 'v9'"),
    (404, "GatedRepo", "hf://alice/digits-vae@v9 is gated"),
    (401, None, "refused to download hf://alice/digits-vae@v9 (HTTP 401): the token at hand may not read it"),
    (403, None, "(HTTP 403)"),
    (500, None, "failed to download hf://alice/digits-vae@v9"),
])
def test_online_the_hubs_answers_are_one_line(monkeypatch, status, code, says):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with HubServer(status, code) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        exit_code, _, err = cli("sample", f"hf://{REPO}@v9", "--out", "x.png")
    assert exit_code == 2
    assert says in error_line(err)
    assert any(f"/api/models/{REPO}/revision/v9" in r for r in server.requests)


def test_online_a_hub_out_of_reach_is_one_line(monkeypatch):
    import socket

    from huggingface_hub import constants

    with socket.socket() as s:  # a port nobody listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(HubError, match=f"cannot reach the Hugging Face Hub to download hf://{REPO}, and it is not in "
                                       f"the local cache; check the network connection"):
        load_run(f"hf://{REPO}")


@pytest.mark.parametrize("name, says", [
    ("hf://alice", "is not a Hub repository name; write it as USER/REPO"),
    ("hf://alice/vae/extra", "is not a Hub repository name"),
    ("hf://alice/vae@", "names no revision after '@'"),
    ("hf://", "is not a Hub repository name"),
])
def test_a_malformed_hub_name_is_one_line(name, says):
    code, _, err = cli("sample", name, "--out", "x.png")
    assert code == 2 and says in error_line(err)


def test_hub_names_parse():
    assert parse_uri("hf://alice/vae").repo_id == "alice/vae" and parse_uri("hf://alice/vae").revision is None
    ref = parse_uri("hf://alice/my.vae_2@refs/pr/1")
    assert (ref.repo_id, ref.revision, str(ref)) == ("alice/my.vae_2", "refs/pr/1", "hf://alice/my.vae_2@refs/pr/1")


def test_without_huggingface_hub_loading_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(HubError, match=r'^runs on the Hugging Face Hub need the huggingface_hub package; install it '
                                       r'with pip install "vaekit\[hub\]"$'):
        load_run(f"hf://{REPO}")


def test_a_hub_run_can_be_pushed_on_from_the_cache(pushed, hub, hf_cache):
    before = snapshot_state(hf_cache)
    push_run(f"hf://{REPO}", "bob/digits-copy")
    copied = hub.files("bob/digits-copy")
    for name in ("config.yaml", "model.safetensors", "codec.json", "summary.json", "metrics.jsonl", "eval_test.json"):
        assert copied[name] == hub.files(REPO)[name], name
    assert "samples.png" in copied  # not downloaded with the run: drawn for the card
    assert snapshot_state(hf_cache) == before
