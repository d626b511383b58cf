"""The commands on a text run: sentences out (samples.txt, reconstructions.tsv, interpolations.txt),
seeded and reproducible, greedy unless told; embed and anomaly on token ids; the end of training's
samples.txt and report; text-only options refused in one line elsewhere."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cli_helpers import cli, error_line
from text_helpers import train_text_run
from vaekit.contract import PAD_ID
from vaekit.evaluate.anomaly import anomaly_scores
from vaekit.run import load_run
from vaekit.sample import encode
from vaekit.sample.text import reconstruct_text, sample_text


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return train_text_run(tmp_path_factory.mktemp("text") / "run")


@pytest.fixture
def run_dir(trained, tmp_path) -> Path:
    """A copy of the run, for the tests that write into it."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


@pytest.fixture(scope="module")
def run(trained):
    return load_run(trained)


def lines(text: str) -> list[str]:
    return text.splitlines()


# ----------------------------------------------------------------------------- sample


def test_sample_writes_greedy_sentences_one_per_line(run_dir, run):
    code, out, err = cli("sample", run_dir, "-n", 7, "--seed", 3)
    assert code == 0, err
    assert out.strip() == str(run_dir / "samples.txt")
    written = lines((run_dir / "samples.txt").read_text(encoding="utf-8"))
    assert written == sample_text(run, 7, seed=3) and len(written) == 7
    words = set(run.codec.vocab.tokens)
    assert all(w in words for line in written for w in line.split())
    # --out - prints them instead, the same sentences
    code, printed, err = cli("sample", run_dir, "-n", 7, "--seed", 3, "--out", "-")
    assert code == 0, err and lines(printed) == written


def test_greedy_decoding_takes_the_likeliest_word_at_every_step(run):
    """The sampled sentence, read back by the decoder at its own code, is the argmax at each
    position: greedy, checked through the teacher-forced logits rather than the decoding loop."""
    generator = torch.Generator().manual_seed(5)
    px = run.model.generate(4, 1.0, generator)
    ids, lengths = px.greedy()
    logits = px.step_logits(px.teacher_inputs(ids))  # (4, L, V)
    for row, n in zip(range(4), lengths.tolist()):
        assert torch.equal(logits[row, :n].argmax(-1), ids[row, :n])
    assert sample_text(run, 4, seed=5) == run.codec.decode(ids, lengths)  # the same prior draws, decoded alike


def test_sampled_decoding_is_seeded_and_top_1_is_greedy(run_dir):
    def sampled(*args):
        code, out, err = cli("sample", run_dir, "-n", 12, "--out", "-", *args)
        assert code == 0, err
        return lines(out)

    greedy = sampled("--seed", 1)
    drawn = sampled("--seed", 1, "--decode", "sample")
    assert drawn == sampled("--seed", 1, "--decode", "sample")  # reproducible
    assert drawn != sampled("--seed", 2, "--decode", "sample")
    assert sampled("--seed", 1, "--decode", "sample", "--top-k", 1) == greedy  # one candidate: the argmax
    hot = sampled("--seed", 1, "--decode", "sample", "--token-temperature", 20)
    assert hot != drawn and len({w for line in hot for w in line.split()}) > len({w for line in greedy for w in line.split()})


# ----------------------------------------------------------------------------- reconstruct, interpolate


def test_reconstruct_writes_inputs_beside_greedy_reconstructions(run_dir, run):
    code, out, err = cli("reconstruct", run_dir, "-n", 5, "--split", "val")
    assert code == 0, err
    assert out.strip() == str(run_dir / "reconstructions.tsv")
    table = pd.read_csv(out.strip(), sep="\t", keep_default_na=False)
    assert list(table.columns) == ["input", "reconstruction"] and len(table) == 5
    x = run.dataset().val.x[:5]
    assert list(table["input"]) == run.codec.decode(x)
    mu = run.model.encode(x).mu
    ids, lengths = run.model.decode(mu).greedy()  # greedy at the posterior mean
    assert list(table["reconstruction"]) == run.codec.decode(ids, lengths)


def test_reconstruct_text_reads_sentences_as_the_model_does(run):
    pairs = reconstruct_text(run, ["the  girl sees a zebra ."])
    assert pairs[0][0] == "the girl sees a <unk> ."  # the run's tokenizer, <unk> for a word outside the vocabulary


def test_interpolate_between_two_sentences_starts_and_ends_at_their_reconstructions(run_dir, run):
    a, b = "the girl sees the dog .", "a fox sleeps in the garden at night ."
    code, out, err = cli("interpolate", run_dir, "--between", a, b, "--steps", 5, "--out", "-")
    assert code == 0, err
    block = lines(out)
    ends = [r for _, r in reconstruct_text(run, [a, b])]
    assert len(block) == 5 and block[0] == ends[0] and block[-1] == ends[1]


def test_interpolate_writes_one_block_per_pair_of_the_split(run_dir):
    code, out, err = cli("interpolate", run_dir, "--pairs", 3, "--steps", 4)
    assert code == 0, err
    text = Path(out.strip()).read_text(encoding="utf-8")
    assert out.strip().endswith("interpolations.txt")
    blocks = text.rstrip("\n").split("\n\n")
    assert len(blocks) == 3 and all(len(b.splitlines()) == 4 for b in blocks)


# ----------------------------------------------------------------------------- embed, anomaly


def test_embed_writes_codes_and_the_sentence_of_each_row(run_dir, run):
    code, out, err = cli("embed", run_dir, "--split", "val")
    assert code == 0, err
    mu = np.load(run_dir / "embed_val_mu.npy")
    sentences = lines((run_dir / "embed_val_sentences.txt").read_text(encoding="utf-8"))
    x = run.dataset().val.x
    assert len(sentences) == len(mu) == len(x) and sentences == run.codec.decode(x)
    np.testing.assert_allclose(mu, encode(run.model, x)[0].numpy(), atol=1e-5)


def test_anomaly_scores_sentences_per_sentence_or_per_token(run_dir, run):
    code, out, err = cli("anomaly", run_dir, "--out", run_dir / "a")
    assert code == 0, err
    per_sentence = np.load(run_dir / "a" / "anomaly_test_scores.npy")
    code, out, err = cli("anomaly", run_dir, "--per-token", "--out", run_dir / "b")
    assert code == 0, err
    result = json.loads(out)
    per_token = np.load(run_dir / "b" / "anomaly_test_scores.npy")
    x = run.dataset().test.x
    tokens = (x != PAD_ID).sum(1).numpy()
    np.testing.assert_allclose(per_token * tokens, per_sentence, rtol=1e-9)
    np.testing.assert_allclose(per_sentence, anomaly_scores(run.model, x).numpy(), rtol=1e-6)
    top = result["most_anomalous"]
    assert result["per_token"] is True and len(top) == 5
    assert [t["score"] for t in top] == sorted(per_token, reverse=True)[:5]
    assert [t["sentence"] for t in top] == run.codec.decode(x[[t["index"] for t in top]])


# ----------------------------------------------------------------------------- the end of training


def test_training_writes_samples_txt_and_a_report_of_sentences(trained, run):
    samples = lines((trained / "samples.txt").read_text(encoding="utf-8"))
    assert samples == sample_text(run, 8, seed=run.config.train.seed)  # train.sample_grid sentences
    page = (trained / "report.html").read_text(encoding="utf-8")
    from html import escape

    from vaekit.report.text import NUM_SAMPLES

    for sentence in sample_text(run, NUM_SAMPLES, seed=0)[:3]:
        assert f"<li>{escape(sentence)}</li>" in page
    assert "<th>input</th><th>reconstruction</th>" in page and "not images" not in page
    for section in ("samples", "reconstructions", "interpolations", "traversals", "latent-map"):
        assert f'<section id="{section}">' in page


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("args, message", [
    (["sample", "--class", 1], "model 'vae' takes no labels; train model.name=cvae on labelled text"),
    (["sample", "--top-k", 3], "top-k shapes the words drawn by sampled decoding"),
    (["sample", "--token-temperature", 0.5], "the token temperature shapes the words drawn by sampled decoding"),
    (["sample", "--top-k", 0], "argument --top-k: must be at least 1, got 0"),
    (["sample", "--decode", "beam"], "argument --decode: invalid choice"),
    (["sample", "--out", "s.png"], "sentences are written as text; name the file "),
    (["reconstruct", "--out", "r.txt"], "written as tab-separated values; name the file "),
])
def test_bad_options_on_a_text_run_are_one_line(trained, tmp_path, args, message):
    command, *rest = args
    rest = [tmp_path / a if str(a).endswith((".png", ".txt")) else a for a in rest]
    code, _, err = cli(command, trained, *rest)
    assert code == 2 and message in error_line(err)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory, tiny_config, make_data):
    from vaekit.train.loop import train

    out = tmp_path_factory.mktemp("image") / "run"
    train(tiny_config("train.epochs=1"), out, dataset=make_data(), log=lambda msg: None)
    return out


@pytest.mark.parametrize("command, args, flag", [
    ("sample", ["--decode", "greedy"], "--decode"),
    ("sample", ["--top-k", 5], "--top-k"),
    ("sample", ["--token-temperature", 2], "--token-temperature"),
    ("interpolate", ["--between", "a b", "c d"], "--between"),
    ("anomaly", ["--per-token"], "--per-token"),
])
def test_text_options_on_an_image_run_are_one_line(image_run, command, args, flag):
    code, _, err = cli(command, image_run, *args)
    assert code == 2
    assert error_line(err) == (f"vaekit: error: {flag} applies to runs trained on text; the run {image_run} models "
                               f"image data, so leave out {flag}")


# ----------------------------------------------------------------------------- a language model


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory) -> Path:
    """The tiny run's decoder without a latent (model.name=lm)."""
    import yaml

    from text_helpers import SENTENCES

    root = tmp_path_factory.mktemp("lm")
    (root / "lm.yaml").write_text(yaml.safe_dump({
        "data": {"name": "text", "path": str(SENTENCES), "max_length": 16},
        "model": {"name": "lm", "decoder": {"name": "rnn", "embedding_size": 16, "hidden_size": 32}},
        "train": {"epochs": 2, "batch_size": 32, "sample_grid": 8, "progress": False},
    }))
    code, _, err = cli("train", root / "lm.yaml", "--out", root / "run")
    assert code == 0, err
    return root / "run"


def test_a_language_model_samples_word_by_word_and_refuses_what_needs_a_latent(lm_run):
    run = load_run(lm_run)
    code, out, err = cli("sample", lm_run, "-n", 6, "--seed", 2, "--out", "-")
    assert code == 0, err
    drawn = out.split("\n")[:6]
    assert drawn == sample_text(run, 6, seed=2, decode="sample")  # no code to decode greedily: drawn by default
    assert len(set(drawn)) > 1 and len(set(sample_text(run, 6, seed=2, decode="greedy"))) == 1
    for command in ("reconstruct", "interpolate", "embed"):
        code, _, err = cli(command, lm_run)
        assert code == 2 and "model 'lm' is a language model with no latent code" in error_line(err)
    page = (lm_run / "report.html").read_text(encoding="utf-8")  # written at the end of training
    assert "drawn word by word from the language model" in page and "has no latent code" in page


def test_a_language_model_is_evaluated_without_latent_figures(lm_run):
    from vaekit.evaluate import evaluate

    result = evaluate(load_run(lm_run), "val", 5, write=False, log=lambda line: None)
    assert result["metrics"] == ["likelihood", "text"] and result["sample_decoding"] == "sample"
    assert result["kl"] == 0 and "token_accuracy" not in result and "active_units" not in result
    assert result["perplexity"] == pytest.approx(math.exp(result["nll_nats_per_token"]), rel=1e-9)
    skipped = evaluate(load_run(lm_run), "val", 5, write=False, metrics=["likelihood", "latent"], log=lambda line: None)
    assert skipped["skipped"] == {"latent": "it reads the codes of q(z|x), and model 'lm' has no latent code"}
