"""The Hub tests run offline against a Hugging Face cache of their own: huggingface_hub refuses
every request (HF_HUB_OFFLINE), except where a test points it at a local `HubServer`."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_helpers import train_digits

@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache, offline mode on and no token, for this process and the
    processes it starts (huggingface_hub reads its environment once, at import: both are set)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return cache


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """One digits run for every Hub test that only reads it (tests that change a run copy it)."""
    return train_digits(tmp_path_factory.mktemp("hub") / "digits")
