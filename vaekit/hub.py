"""Sharing runs through the Hugging Face Hub: `push_run` (`vaekit push RUN USER/REPO`) uploads what
makes a run loadable, with a model card; `load_run("hf://USER/REPO")` loads it back anywhere
(`vaekit.hub_fetch`).

What is pushed: config.yaml and model.safetensors (required), and those of codec.json,
summary.json, metrics.jsonl, eval_*.json, samples.png, samples.txt and report.html the run has;
train_state.pt (what `--resume` needs, often the largest file) only when asked. The files are
copied into a temporary staging folder with the card, README.md, and uploaded from there as one
commit: the run directory is never written into. A push replaces the files of these names a
repository holds from an earlier push, and deletes those this run does not have (a stale
eval_val.json, a train_state.pt pushed before); other files of the repository are left alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from vaekit.errors import CheckpointError, HubError, OutputError, os_cause
from vaekit.hub_card import CARD, model_card
from vaekit.hub_fetch import SCHEME, HubRef, check_repo_id, hub_error, require_hub
from vaekit.run import CONFIG, STATE, WEIGHTS, Run, load_run

OPTIONAL = ["codec.json", "summary.json", "metrics.jsonl", "eval_*.json", "samples.png", "samples.txt", "report.html"]
# Every name a push may upload: what a later push replaces or deletes
OWNED = [CONFIG, WEIGHTS, *OPTIONAL, STATE]


def shared_files(run_dir: str | Path, with_state: bool = False) -> list[Path]:
    """The files of a run that a push uploads, in upload order (see the module)."""
    run_dir = Path(run_dir)
    found = [run_dir / CONFIG, run_dir / WEIGHTS]
    found += [p for pattern in OPTIONAL for p in sorted(run_dir.glob(pattern)) if p.is_file()]
    if with_state:
        if not (run_dir / STATE).is_file():
            raise CheckpointError(f"'{run_dir}' has no {STATE} to push (a finished run loaded from the Hub, or one "
                                  f"copied without it); push without --with-state")
        found.append(run_dir / STATE)
    return found


def push_run(run: Run | str | Path, repo_id: str, *, private: bool = False, token: str | None = None,
             revision: str | None = None, message: str | None = None, with_state: bool = False,
             log: Callable[[str], None] | None = None) -> str:
    """Upload a run to the Hub repository `repo_id` (USER/REPO, created when missing; `private`
    applies to a new one) as one commit on `revision` (a branch, created from the default branch
    when missing; None: the default branch), with a model card; the commit's URL.

    `run` is a loaded Run or a run directory; it must load (`load_run`), so that what is pushed
    loads back. `token` defaults to the one of `hf auth login` or HF_TOKEN. `with_state` adds
    train_state.pt, so that whoever downloads the run can `--resume` it.
    """
    log = log or (lambda line: None)
    hub = require_hub()  # a missing extra fails before any work
    text = repo_id.removeprefix(SCHEME) if isinstance(repo_id, str) else repo_id
    if not isinstance(text, str):
        raise HubError(f"the repository must be a name USER/REPO, got {type(repo_id).__name__}")
    if "@" in text:
        raise HubError(f"the repository {repo_id!r} names a revision; pass the branch as --revision "
                       f"(revision= in Python) and the repository as USER/REPO")
    ref = HubRef(check_repo_id(text), _branch(revision))
    run = run if isinstance(run, Run) else load_run(run)
    files = shared_files(run.path, with_state)
    message = message or f"vaekit push: a {run.config.model.name} model trained on {run.config.data.name}"
    staging = _staging()
    try:
        try:
            for path in files:
                shutil.copyfile(path, staging / path.name)  # the contents, whatever links the run's folder holds
            (staging / CARD).write_text(model_card(run, ref.repo_id, staging), encoding="utf-8")
        except OSError as e:
            if e.errno is None:  # an error of ours (OutputError) or a library's: as it is
                raise
            raise _staging_error(e.errno) from None
        log(f"push: {len(os.listdir(staging))} files to {ref}")
        try:
            api = hub.HfApi(token=token)
            url = api.create_repo(ref.repo_id, private=private, exist_ok=True)
            if ref.revision:
                api.create_branch(ref.repo_id, branch=ref.revision, exist_ok=True)
            info = api.upload_folder(repo_id=ref.repo_id, folder_path=str(staging), revision=ref.revision,
                                     commit_message=message, delete_patterns=OWNED)
        except Exception as e:
            error = hub_error(e, ref, "push")
            if error is None:
                raise
            raise error from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(getattr(info, "commit_url", None) or url)


def _staging() -> Path:
    """A new temporary folder for the files of one push."""
    try:
        return Path(tempfile.mkdtemp(prefix="vaekit-push-"))
    except OSError as e:
        raise _staging_error(e.errno) from None


def _staging_error(code: int | None) -> OutputError:
    cause = os_cause(code) if code else "it cannot be written"
    return OutputError(f"cannot stage the run's files for the upload in {tempfile.gettempdir()} ({cause}); free some "
                       f"space there, or point TMPDIR at another folder")


def _branch(revision: str | None) -> str | None:
    if revision is None:
        return None
    if not isinstance(revision, str) or not revision.strip() or revision != revision.strip():
        raise HubError(f"the branch {revision!r} is not a branch name; pass a name such as main or v1, "
                       f"or leave it out for the default branch")
    return revision
