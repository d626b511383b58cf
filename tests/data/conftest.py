"""Shared guards for the data tests: no test may reach the network or the user's data cache."""

from __future__ import annotations

import urllib.request

import pytest

_real_urlopen = urllib.request.urlopen


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Allow only file:// downloads, and point the default data dir at an empty temporary folder."""

    def guarded(url, *args, **kwargs):
        target = url if isinstance(url, str) else url.full_url
        if not target.startswith("file:"):
            raise AssertionError(f"a data test tried to reach the network: {target}")
        return _real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)
    monkeypatch.setenv("VAEKIT_DATA_DIR", str(tmp_path_factory.mktemp("vaekit-data-home")))
