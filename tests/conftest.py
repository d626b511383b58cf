"""Shared fixtures: tiny data sets and configs built in memory, and guards that keep every test
off the network and out of the user's data cache."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pytest
import torch

from vaekit.config import Config, parse_config
from vaekit.data import Dataset, Split

sys.path.insert(0, str(Path(__file__).parent))  # so test files can import cli_helpers

# Tiny tensors gain nothing from intra-op threads, and two xdist workers that each spin up a
# thread pool on a 2-core machine spend more time waiting for one another than computing.
torch.set_num_threads(1)

_real_urlopen = urllib.request.urlopen

# A config small enough that a run of a few epochs takes a fraction of a second.
TINY = (
    "model.latent_dim=4",
    "model.encoder.hidden=[32]",
    "model.decoder.hidden=[32]",
    "train.epochs=3",
    "train.batch_size=16",
    "train.lr=0.01",
    "train.sample_grid=0",
    "train.report=false",
    "train.progress=false",
    "train.eval_batch_size=64",
    "eval.importance_samples=20",
)


@pytest.fixture(scope="session", autouse=True)
def offline_session(tmp_path_factory: pytest.TempPathFactory):
    """Allow only file:// downloads, and point the default data and cache dirs at empty temporary folders,
    for the whole session (so module-scoped fixtures that train runs are covered too)."""

    def guarded(url, *args, **kwargs):
        target = url if isinstance(url, str) else url.full_url
        if not target.startswith("file:"):
            raise AssertionError(f"a test tried to reach the network: {target}")
        return _real_urlopen(url, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(urllib.request, "urlopen", guarded)
        mp.setenv("VAEKIT_DATA_DIR", str(tmp_path_factory.mktemp("vaekit-data-home")))
        mp.setenv("VAEKIT_CACHE_DIR", str(tmp_path_factory.mktemp("vaekit-cache-home")))  # cached classifiers
        yield


def make_dataset(n_train: int = 64, n_eval: int = 32, shape: tuple[int, ...] = (1, 8, 8), *, grey: bool = False,
                 dynamic: bool = False, seed: int = 0) -> Dataset:
    """Noisy copies of four random binary prototypes: structure a VAE can learn in a few epochs.

    `grey` gives values in (0, 1) (the prototype's pixel probabilities) instead of 0/1 draws;
    `dynamic` marks the training split for per-batch binarization (val and test stay binary).
    """
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, *shape, generator=g) < 0.5).float() * 0.8 + 0.1  # (4, *shape) in {0.1, 0.9}

    def split(n: int, soft: bool) -> Split:
        labels = torch.randint(0, 4, (n,), generator=g)
        p = protos[labels]
        x = p if soft else torch.bernoulli(p, generator=g)
        return Split(x.contiguous(), labels)

    soft_train = grey or dynamic
    return Dataset(
        name="tiny", train=split(n_train, soft_train), val=split(n_eval, grey), test=split(n_eval, grey),
        shape=tuple(shape), is_image=len(shape) == 3, binary=not soft_train, dynamic_binarize=dynamic, num_classes=4,
    )


@pytest.fixture(scope="session")
def make_data():
    """The `make_dataset` factory, for tests that need other sizes or shapes."""
    return make_dataset


@pytest.fixture
def tiny_data() -> Dataset:
    return make_dataset()


@pytest.fixture(scope="session")
def tiny_config():
    """`tiny_config(*overrides)`: the tiny config with dotted overrides applied."""

    def make(*overrides: str) -> Config:
        return parse_config({}, [*TINY, *overrides])

    return make
