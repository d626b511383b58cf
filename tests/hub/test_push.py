"""`vaekit push` against a local fake of the Hub's write API (hub_helpers.FakeHub): which files go
up, the model card, the options, and every failure as one line."""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from vaekit.errors import CheckpointError, HubError
from vaekit.hub import push_run

from cli_helpers import cli, error_line
from hub_helpers import FakeHub, HubServer, train_digits

REPO = "alice/digits-vae"
LOADABLE = {"config.yaml", "model.safetensors", "codec.json", "summary.json", "metrics.jsonl", "eval_test.json",
            "samples.png"}  # what the digits run has of what a push uploads


@pytest.fixture
def hub(monkeypatch) -> FakeHub:
    return FakeHub().install(monkeypatch)


@pytest.fixture
def run_copy(digits_run, tmp_path) -> Path:
    return Path(shutil.copytree(digits_run, tmp_path / "run"))


def state_of(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file of a folder: its SHA-256 and modification time, to see that nothing changed."""
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def front_matter(card: str) -> dict:
    found = re.match(r"---\n(.*?)\n---\n", card, flags=re.S)
    assert found, card[:200]
    return yaml.safe_load(found.group(1))


def table(card: str, after: str) -> dict[str, str]:
    """The first Markdown table after the line containing `after`: first cell -> second cell."""
    lines = card.split(after, 1)[1].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    rows = {}
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        cells = [c.strip() for c in ln.strip("|").split("|")]
        rows[cells[0]] = cells[1]
    return rows


# ----------------------------------------------------------------------------- what goes up


def test_push_uploads_what_loading_needs_and_the_card_and_leaves_the_run_alone(digits_run, hub):
    before = state_of(digits_run)
    url = push_run(digits_run, REPO)
    files = hub.files(REPO)
    assert set(files) == LOADABLE | {"README.md"}  # no train_state.pt
    assert (digits_run / "train_state.pt").is_file()
    for name in LOADABLE:
        assert files[name] == (digits_run / name).read_bytes(), name
    assert state_of(digits_run) == before
    assert url == f"https://huggingface.co/{REPO}/commit/{hub.repos[REPO]['heads']['main']}"
    assert [c[0] for c in hub.calls] == ["create_repo", "upload_folder"]
    assert hub.calls[0][1] == {"repo_id": REPO, "private": False, "exist_ok": True}


def test_with_state_adds_the_training_state(digits_run, hub):
    push_run(digits_run, REPO, with_state=True)
    assert hub.files(REPO)["train_state.pt"] == (digits_run / "train_state.pt").read_bytes()


def test_a_second_push_mirrors_the_run_and_keeps_the_repositorys_other_files(run_copy, hub):
    shutil.copy(run_copy / "eval_test.json", run_copy / "eval_val.json")
    push_run(run_copy, REPO, with_state=True)
    hub.files(REPO)["notes.md"] = b"written on the Hub"
    (run_copy / "eval_val.json").unlink()
    push_run(run_copy, REPO)
    assert set(hub.files(REPO)) == LOADABLE | {"README.md", "notes.md"}  # eval_val.json and train_state.pt are gone


def test_the_cli_passes_every_option(digits_run, hub):
    code, out, err = cli("push", digits_run, REPO, "--private", "--token", "hf_abc", "--branch", "dev",
                         "--message", "first model", "--with-state")
    assert code == 0, err
    assert out.strip() == f"https://huggingface.co/{REPO}/commit/{hub.repos[REPO]['heads']['dev']}"
    assert [c[0] for c in hub.calls] == ["create_repo", "create_branch", "upload_folder"]
    assert all(token == "hf_abc" for _, _, token in hub.calls)
    assert hub.repos[REPO]["private"] is True
    assert hub.calls[1][1] == {"repo_id": REPO, "branch": "dev", "exist_ok": True}
    assert hub.calls[2][1]["revision"] == "dev" and hub.calls[2][1]["commit_message"] == "first model"
    assert "train_state.pt" in hub.files(REPO, "dev") and hub.files(REPO, "main") == {}


# ----------------------------------------------------------------------------- the card


def test_the_card_has_front_matter_usage_metrics_samples_and_config(digits_run, hub):
    import json

    push_run(digits_run, REPO)
    card = hub.files(REPO)["README.md"].decode()
    front = front_matter(card)
    assert front["library_name"] == "vaekit"
    assert front["tags"] == ["vaekit", "vae", "pytorch", "digits"]  # the family, vae, is not repeated
    from huggingface_hub import ModelCard  # the Hub's own reader of cards agrees

    assert ModelCard(card).data.to_dict() == front
    assert f'```python\nimport vaekit\nrun = vaekit.load_run("hf://{REPO}")\n```' in card
    # every numeric figure of eval_test.json, to the 6 digits the card shows
    stored = json.loads((digits_run / "eval_test.json").read_text())
    shown = table(card, "on the test split")
    numeric = {k: v for k, v in stored.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert set(shown) == set(numeric) - {"num_examples", "importance_samples", "seconds", "num_dims"}
    for name, value in shown.items():
        assert float(value) == pytest.approx(numeric[name], rel=5e-6, abs=1e-12), name
    assert "50 examples" in card and "K=5" in card and "seeded random subset" in card
    summary = json.loads((digits_run / "summary.json").read_text())
    training = table(card, "Training (`summary.json`)")
    assert float(training["best validation elbo"]) == pytest.approx(summary["best_val"], rel=5e-6)
    assert training["epochs trained"] == "2" and training["parameters"] == str(summary["num_params"])
    assert "![samples](samples.png)" in card and "written at the end of training" in card
    config = card.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert config == (digits_run / "config.yaml").read_text()


def test_an_image_run_without_samples_gets_a_grid_drawn_into_the_upload(tmp_path, hub):
    import io

    import numpy as np
    from PIL import Image

    from vaekit.run import load_run
    from vaekit.sample import sample_grid, save_grid

    run = train_digits(tmp_path / "run", "--train.sample_grid=0")
    assert not (run / "samples.png").exists()
    push_run(run, REPO)
    assert not (run / "samples.png").exists()  # drawn into the staging folder, not the run
    pushed = np.asarray(Image.open(io.BytesIO(hub.files(REPO)["samples.png"])))
    images, nrow = sample_grid(load_run(run).model, 64, seed=0)  # the prior's draws with seed 0, as the card says
    expected = np.asarray(Image.open(save_grid(images, tmp_path / "expected.png", nrow)))
    assert pushed.shape == expected.shape and np.array_equal(pushed, expected)
    assert "drawn from the prior (seed 0) when the run was pushed" in hub.files(REPO)["README.md"].decode()


def test_a_run_without_figures_says_how_to_add_them(run_copy, hub):
    (run_copy / "eval_test.json").unlink()
    push_run(run_copy, REPO)
    assert "`vaekit evaluate RUN` before `vaekit push` adds them here" in hub.files(REPO)["README.md"].decode()


# ----------------------------------------------------------------------------- failures


@pytest.mark.parametrize("repo", ["digits-vae", "alice/digits/vae", "alice/-vae", "alice/a--b", "alice/", "",
                                  "alice/digits vae"])
def test_a_bad_repository_name_is_one_line(digits_run, hub, repo):
    code, _, err = cli("push", digits_run, repo)
    assert code == 2
    assert "write it as USER/REPO" in error_line(err)
    assert hub.calls == []


def test_a_revision_in_the_repository_name_points_at_the_option(digits_run, hub):
    code, _, err = cli("push", digits_run, "alice/vae@dev")
    assert code == 2 and "pass the branch as --revision" in error_line(err)


def test_a_folder_that_is_no_run_is_refused_before_any_upload(tmp_path, hub):
    with pytest.raises(CheckpointError, match="not a run directory"):
        push_run(tmp_path, REPO)
    assert hub.calls == []


def test_with_state_needs_the_state(run_copy, hub):
    (run_copy / "train_state.pt").unlink()
    code, _, err = cli("push", run_copy, REPO, "--with-state")
    assert code == 2 and "has no train_state.pt to push" in error_line(err)
    assert hub.calls == []


def test_config_overrides_are_refused(digits_run, hub):
    code, _, err = cli("push", digits_run, REPO, "--model.latent_dim=3")
    assert code == 2 and "config overrides (model.latent_dim=3) do not apply" in error_line(err)


def test_offline_a_push_is_one_line(digits_run):
    """No fake here: huggingface_hub's own offline mode refuses the request."""
    code, _, err = cli("push", digits_run, REPO)
    assert code == 2
    assert error_line(err) == (f"vaekit: error: hf://{REPO} cannot be pushed and HF_HUB_OFFLINE is set; unset "
                               f"HF_HUB_OFFLINE and connect to the network")


@pytest.mark.parametrize("status, code, says", [
    (401, None, "refused to push hf://alice/digits-vae (HTTP 401): the token at hand may not write to it"),
    (403, None, "(HTTP 403)"),
    (404, "RepoNotFound", "the Hub has no user or organisation 'alice' that the token at hand may write to"),
    (500, None, "failed to push hf://alice/digits-vae"),
])
def test_the_hubs_refusals_are_one_line(digits_run, monkeypatch, status, code, says):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with HubServer(status, code) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        exit_code, _, err = cli("push", digits_run, REPO, "--token", "hf_abc")
    assert exit_code == 2
    assert says in error_line(err)
    assert any("/api/repos/create" in r for r in server.requests)


def test_without_huggingface_hub_the_error_names_the_extra(digits_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import huggingface_hub raises ImportError
    code, _, err = cli("push", digits_run, REPO)
    assert code == 2
    assert error_line(err) == ('vaekit: error: runs on the Hugging Face Hub need the huggingface_hub package; '
                               'install it with pip install "vaekit[hub]"')
    with pytest.raises(HubError, match=r'pip install "vaekit\[hub\]"'):
        push_run(digits_run, REPO)


def test_a_temporary_folder_that_cannot_be_written_is_one_line(digits_run, hub, tmp_path, monkeypatch):
    import errno
    import tempfile

    import vaekit.hub

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(blocked))  # mkdtemp inside a file: not a folder
    code, _, err = cli("push", digits_run, REPO)
    assert code == 2
    assert error_line(err) == (f"vaekit: error: cannot stage the run's files for the upload in {blocked} (a part of the "
                               f"path is a file, not a folder); free some space there, or point TMPDIR at another "
                               f"folder")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(vaekit.hub.shutil, "copyfile", full)
    code, _, err = cli("push", digits_run, REPO)
    assert code == 2 and "(no space left on the device); free some space there" in error_line(err)
    assert list((tmp_path / "tmp").iterdir()) == []  # the staging folder is removed
    assert hub.calls == []
