"""Runs on the Hugging Face Hub, read side: `hf://USER/REPO[@REVISION]` names, the download of a
run's files into the Hugging Face cache, and one-line `HubError`s for everything the Hub or the
network can answer. `load_run` calls `download_run`; `vaekit push` (`vaekit.hub`) shares the names
and the error translation.

huggingface_hub is an extra (`pip install "vaekit[hub]"`), imported here only when a Hub name is
used. The cache is huggingface_hub's own (`HF_HUB_CACHE`, by default ~/.cache/huggingface/hub):
a run downloaded once loads again with HF_HUB_OFFLINE=1, or when the network is down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaekit.errors import CheckpointError, HubError

SCHEME = "hf://"
INSTALL = 'pip install "vaekit[hub]"'
LOGIN = "log in with `hf auth login` or set HF_TOKEN"
# What load_run and a Run's methods read; a repository's other files (the card, pictures, a
# pushed train_state.pt) stay on the Hub.
RUN_FILES = ["config.yaml", "model.safetensors", "codec.json", "summary.json", "metrics.jsonl", "eval_*.json"]

# The Hub's rule for a user, organisation or repository name: letters, digits, '-', '_' and '.',
# neither starting nor ending with '-' or '.', without '--' or '..'; a repo id is at most 96 long.
_NAME = re.compile(r"(?![-.])[A-Za-z0-9_.-]+(?<![-.])")


@dataclass(frozen=True)
class HubRef:
    """A run on the Hub: its repository `USER/REPO` and a revision (branch, tag or commit; None
    for the default branch)."""

    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return SCHEME + self.repo_id + (f"@{self.revision}" if self.revision else "")


def is_hub_uri(value: object) -> bool:
    """Whether `value` is a Hub name (a str starting with hf://) rather than a local path."""
    return isinstance(value, str) and value.startswith(SCHEME)


def check_repo_id(text: str, what: str = "the repository") -> str:
    """`text` as a Hub repository id `USER/REPO`; a HubError naming the rule otherwise."""
    parts = text.split("/")
    if len(parts) != 2 or not all(_NAME.fullmatch(p) and "--" not in p and ".." not in p for p in parts) \
            or len(text) > 96:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise HubError(f"{what} {shown!r} is not a Hub repository name; write it as USER/REPO (letters, digits, "
                       f"'-', '_' and '.'; at most 96 characters), for example alice/digits-vae")
    return text


def parse_uri(uri: str) -> HubRef:
    """`hf://USER/REPO` or `hf://USER/REPO@REVISION` as a HubRef."""
    if not is_hub_uri(uri):
        raise HubError(f"{uri!r} is not a Hub name; write it as hf://USER/REPO or hf://USER/REPO@REVISION")
    repo_id, sep, revision = uri[len(SCHEME):].partition("@")
    if sep and not revision.strip():
        raise HubError(f"{uri!r} names no revision after '@'; write hf://{repo_id}@main (a branch, tag or commit), "
                       f"or drop the '@'")
    return HubRef(check_repo_id(repo_id, f"{uri!r}: the repository"), revision or None)


def require_hub() -> Any:
    """The huggingface_hub module; a HubError naming the extra when it is not installed."""
    try:
        import huggingface_hub
    except ImportError:
        raise HubError(f"runs on the Hugging Face Hub need the huggingface_hub package; install it with "
                       f"{INSTALL}") from None
    return huggingface_hub


def download_run(uri: str, token: str | bool | None = None) -> Path:
    """The local folder (a snapshot in the Hugging Face cache) holding the run `uri` names,
    downloading the files a run is loaded from when they are not cached yet. Offline
    (HF_HUB_OFFLINE=1, or the Hub out of reach) a cached copy is used; without one, a HubError.
    CheckpointError when the repository holds no vaekit run."""
    ref = parse_uri(uri)
    hub = require_hub()
    try:
        folder = hub.snapshot_download(ref.repo_id, revision=ref.revision, allow_patterns=RUN_FILES, token=token,
                                       library_name="vaekit")
    except Exception as e:
        error = hub_error(e, ref, "download")
        if error is None:
            raise
        raise error from None
    path = Path(folder)
    if not (path / "config.yaml").is_file():
        raise CheckpointError(f"{ref} is not a vaekit run (it has no config.yaml); check the name, or share a run "
                              f"with vaekit push RUN {ref.repo_id}")
    if not (path / "model.safetensors").is_file():
        raise CheckpointError(f"{ref} has a config.yaml but no model.safetensors; push the run again once training "
                              f"has finished an epoch")
    return path


def hub_error(e: BaseException, ref: HubRef, action: str) -> HubError | None:
    """The one-line HubError for a failure of huggingface_hub or the network while `action`
    ('download' or 'push') works on `ref`; None for anything else (a bug), which must pass through."""
    from huggingface_hub import errors as he  # huggingface_hub >= 0.24 has them all in one module

    push = action == "push"
    if isinstance(e, he.RevisionNotFoundError):
        if push:
            return HubError(f"{ref}: the Hub cannot find the branch to commit to; pass --revision BRANCH (created when "
                            f"missing), or leave it out for the default branch")
        return HubError(f"{ref}: the repository has no revision '{ref.revision or 'main'}'; name a branch, tag or "
                        f"commit it has (hf://{ref.repo_id}@main), or leave the revision out")
    if isinstance(e, he.GatedRepoError):
        return HubError(f"{ref} is gated; accept its conditions on huggingface.co/{ref.repo_id}, then {LOGIN}")
    if isinstance(e, he.RepositoryNotFoundError):
        if push:
            return HubError(f"cannot create or write {ref}: the Hub has no user or organisation "
                            f"'{ref.repo_id.split('/')[0]}' that the token at hand may write to; check the name, and "
                            f"{LOGIN} (a token with write access), or pass --token")
        return HubError(f"{ref}: no such repository on the Hugging Face Hub, or it is private; check the name, or "
                        f"{LOGIN} with access to it")
    if isinstance(e, getattr(he, "IncompleteSnapshotError", ())):  # newer huggingface_hub only
        return HubError(f"the cached copy of {ref} is incomplete and the Hub cannot be reached; connect to the "
                        f"network and load it again")
    if isinstance(e, (he.LocalEntryNotFoundError, he.OfflineModeIsEnabled)):
        if isinstance(e.__cause__, he.HfHubHTTPError):  # the Hub answered (403, 500, ...) and nothing is cached
            return hub_error(e.__cause__, ref, action)
        if _offline():
            what = "cannot be pushed" if push else "is not in the local Hugging Face cache"
            return HubError(f"{ref} {what} and HF_HUB_OFFLINE is set; unset HF_HUB_OFFLINE and connect to the "
                            f"network" + ("" if push else " to download it once"))
        return HubError(f"cannot reach the Hugging Face Hub to {action} {ref}"
                        + ("" if push else ", and it is not in the local cache")
                        + "; check the network connection (or HF_ENDPOINT) and try again")
    if isinstance(e, he.HfHubHTTPError):
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (401, 403):
            return HubError(f"the Hugging Face Hub refused to {action} {ref} (HTTP {status}): the token at hand may not "
                            + ("write to it; " if push else "read it; ")
                            + f"{LOGIN}" + (" (a token with write access), or pass --token" if push else ""))
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return HubError(f"the Hugging Face Hub failed to {action} {ref} ({first}); try again later")
    if isinstance(e, he.HFValidationError):
        return HubError(f"{ref}: {str(e).strip().splitlines()[0]}")
    if isinstance(e, _network_errors()):
        return HubError(f"cannot reach the Hugging Face Hub to {action} {ref} ({type(e).__name__}); check the "
                        f"network connection (or HF_ENDPOINT, a proxy) and try again")
    if isinstance(e, OSError) and e.errno is not None and not push:  # the cache cannot be written
        from vaekit.errors import os_cause

        return HubError(f"cannot download {ref}: {os_cause(e.errno)} ({e.filename or 'the Hugging Face cache'}); "
                        f"free some space, or point HF_HUB_CACHE at a writable folder")
    return None


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _network_errors() -> tuple[type[BaseException], ...]:
    """The transport errors of the HTTP clients huggingface_hub versions use (httpx2, httpx or
    requests): the network is down, a proxy refuses, a request times out."""
    import importlib

    found: list[type[BaseException]] = []
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"),
                         ("requests.exceptions", "ConnectionError"), ("requests.exceptions", "Timeout")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)
