"""The Hub tests run offline against a Hugging Face cache of their own: huggingface_hub refuses
every request (HF_HUB_OFFLINE), except where a test points it at a local `HubServer`."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import cli

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DIGITS = CONFIGS / "digits.yaml"
# A digits run in a few seconds, with a sample grid (samples.png) as the quick-start run has one
QUICK = ["--train.epochs=2", "--data.limit=200", "--train.batch_size=50", "--model.latent_dim=4",
         "--model.encoder.hidden=[32]", "--model.decoder.hidden=[32]", "--train.sample_grid=16",
         "--train.sample_sampler=prior", "--train.report=false", "--train.progress=false"]


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


def train_digits(out: Path, *overrides: str) -> Path:
    """A tiny digits run in `out`, trained by `vaekit train`, with eval_test.json from `vaekit evaluate`."""
    code, _, err = cli("train", DIGITS, "--out", out, *QUICK, *overrides)
    assert code == 0, err
    code, _, err = cli("evaluate", out, "-k", "5", "--limit", "50")
    assert code == 0, err
    return out


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """One digits run for every Hub test that only reads it (tests that change a run copy it)."""
    return train_digits(tmp_path_factory.mktemp("hub") / "digits")
