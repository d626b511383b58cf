"""A leaderboard of text runs: two tiny sentence VAEs and the language model with their decoder,
on the shipped corpus, ranked by test NLL, with the text group's columns (perplexity, distinct-n)
and sampled sentences where image runs get a grid."""

from __future__ import annotations

import csv
import io
import math
import re
from html import unescape
from pathlib import Path

import pytest
import yaml

from cli_helpers import cli
from text_helpers import SENTENCES
from vaekit.run import load_run
from vaekit.sample.text import sample_text

NETWORK = {"name": "rnn", "embedding_size": 16, "hidden_size": 24}


def config(path: Path, family: str) -> Path:
    model = {"name": family, "decoder": {**NETWORK, "word_dropout": 0.25}}
    if family != "lm":  # the language model has the decoder alone
        model.update(latent_dim=4, encoder=NETWORK)
    path.write_text(yaml.safe_dump({
        "data": {"name": "text", "path": str(SENTENCES), "max_length": 16},
        "model": model,
        "train": {"batch_size": 32, "report": False, "sample_grid": 0, "progress": False},
    }))
    return path


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("text-board")
    paths = [config(root / f"{family}.yaml", family) for family in ("vae", "iwae", "lm")]
    code, out, err = cli("leaderboard", *paths, "--budget", "1ep", "-k", 5, "--samples", 4, "--out", root / "out")
    assert code == 0, err
    return root / "out", out


def test_text_entries_are_ranked_by_nll_with_perplexity_beside_it(board):
    out, printed = board
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert {r["name"] for r in rows} == {"vae", "iwae", "lm"} and all(r["status"] == "trained" for r in rows)
    nlls = [float(r["nll"]) for r in rows]
    assert nlls == sorted(nlls) and [r["rank"] for r in rows] == ["1", "2", "3"]
    for r in rows:
        per_token = float(r["nll"]) * 40 / float(r["num_tokens"])  # 40 test sentences (10% of the 400)
        assert float(r["nll_nats_per_token"]) == pytest.approx(per_token, rel=1e-9)
        assert float(r["perplexity"]) == pytest.approx(math.exp(per_token), rel=1e-9)
        assert r["bits_per_dim"] == ""  # per padded position: not a figure of text
        assert 0 < float(r["distinct_1"]) <= 1
        assert (r["token_accuracy"] == "") == (r["name"] == "lm")  # nothing to reconstruct without a latent
        assert (r["active_units"] == "") == (r["name"] == "lm")
    header = printed.splitlines()[4]
    assert "perplexity" in header and "distinct_2" in header and "distinct_2_real" not in header


def test_the_page_lists_each_entrys_sampled_sentences(board):
    out, _ = board
    page = (out / "leaderboard.html").read_text()
    lists = re.findall(r'<figure class="sentences"><ol>(.*?)</ol><figcaption>#\d+ (\w+) ', page)
    assert sorted(name for _, name in lists) == ["iwae", "lm", "vae"]
    for items, name in lists:
        shown = [unescape(s) for s in re.findall(r"<li>(.*?)</li>", items)]
        assert shown == sample_text(load_run(out / name), 4, seed=0)
