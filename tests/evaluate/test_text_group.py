"""evaluate on a text run: per-token NLL figures (<eos> counted, padding never), the text group's
perplexity, reconstruction accuracy and distinct-n, each recomputed here from the sentences
themselves; the groups that do not apply say why; the NLL's chunks sized by the decoder's output."""

from __future__ import annotations

import math

import pytest
import torch

from text_helpers import train_text_run
from vaekit.contract import PAD_ID
from vaekit.errors import ConfigError
from vaekit.evaluate import runner
from vaekit.evaluate.nll import auto_chunk, decoder_numbers, importance_nll, trim
from vaekit.objectives.iwae import log_likelihood
from vaekit.run import load_run
from vaekit.sample import reconstruct
from vaekit.sample.text import sample_text

K = 10


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return load_run(train_text_run(tmp_path_factory.mktemp("text") / "run"))


@pytest.fixture(scope="module")
def result(run):
    return runner.evaluate(run, "val", K, seed=0, write=False, log=lambda line: None)


def test_a_text_run_gets_likelihood_latent_and_text_by_default(result):
    assert result["metrics"] == ["likelihood", "latent", "text"]
    assert "nll_nats_per_dim" not in result and "nll_bits_per_dim" not in result  # L padded positions are no unit


def test_figures_per_token_count_each_sentences_tokens_and_eos(run, result):
    val = run.dataset().val
    tokens = val.lengths.double()  # the data set's own lengths (words and <eos>), not a count of the pads
    nll = importance_nll(run.model, val.x, K, seed=0)
    assert result["num_tokens"] == int(tokens.sum())
    nats = float(nll.sum() / tokens.sum())
    assert result["nll_nats_per_token"] == pytest.approx(nats, rel=1e-9)
    assert result["nll_bits_per_token"] == pytest.approx(nats / math.log(2), rel=1e-9)
    assert result["perplexity"] == pytest.approx(math.exp(nats), rel=1e-9)
    assert result["nll"] == pytest.approx(float(nll.mean()), rel=1e-9)


def test_the_nll_is_estimated_once_for_both_groups(run, monkeypatch):
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return importance_nll(*args, **kwargs)

    monkeypatch.setattr(runner, "importance_nll", counted)
    both = runner.evaluate(run, "val", K, seed=0, write=False, metrics=["likelihood", "text"], log=lambda line: None)
    assert len(calls) == 1
    alone = runner.evaluate(run, "val", K, seed=0, write=False, metrics=["text"], log=lambda line: None)
    assert len(calls) == 2 and alone["perplexity"] == pytest.approx(both["perplexity"], rel=1e-12)


def test_reconstruction_accuracy_by_hand(run, result):
    x = run.dataset().val.x
    recon = reconstruct(run.model, x)
    right = total = 0
    for given, back in zip(x.tolist(), recon.tolist()):
        for t, token in enumerate(given):
            if token != PAD_ID:
                total += 1
                right += t < len(back) and back[t] == token
    assert result["token_accuracy"] == pytest.approx(right / total)
    same = sum(a == b for a, b in zip(run.codec.decode(x), run.codec.decode(recon)))
    assert result["sentence_accuracy"] == pytest.approx(same / len(x))


def distinct(sentences: list[str], n: int) -> float:
    grams = [tuple(words[i:i + n]) for s in sentences for words in [s.split()] for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams)


def test_distinct_n_and_length_of_samples_and_of_the_split_from_the_sentences(run, result):
    real = run.codec.decode(run.dataset().val.x)
    samples = sample_text(run, len(real), seed=0)  # as many as the split has, greedy, seeded
    assert result["num_samples"] == len(real)
    for n in (1, 2):
        assert result[f"distinct_{n}_real"] == pytest.approx(distinct(real, n))
        assert result[f"distinct_{n}"] == pytest.approx(distinct(samples, n))
    assert result["sample_length_real"] == pytest.approx(sum(len(s.split()) for s in real) / len(real))
    assert result["sample_length"] == pytest.approx(sum(len(s.split()) for s in samples) / len(samples))


def test_groups_for_numbers_say_why_they_skip_text(run):
    out = runner.evaluate(run, "val", K, write=False, metrics=["latent", "fidelity", "quality"], log=lambda line: None)
    assert "token ids" in out["skipped"]["fidelity"] and "--metrics text" in out["skipped"]["fidelity"]
    assert "distinct-n" in out["skipped"]["quality"]
    with pytest.raises(ConfigError, match="no chosen metric group applies to this run: fidelity: its errors compare"):
        runner.evaluate(run, "val", K, write=False, metrics=["fidelity"], log=lambda line: None)


def test_the_text_group_skips_runs_of_other_data(tmp_path, tiny_config, make_data):
    from vaekit.train.loop import train

    data = make_data()
    image = train(tiny_config("train.epochs=1"), tmp_path / "run", dataset=data, log=lambda msg: None)
    with pytest.raises(ConfigError, match="text: it measures sentences, and this run models image data"):
        runner.evaluate(image, "val", 5, write=False, metrics=["text"], log=lambda line: None)


# ----------------------------------------------------------------------------- the NLL's memory


def test_a_text_decoder_emits_positions_times_vocabulary_numbers(run, tiny_config):
    from vaekit.models import build_model

    length, vocab = run.data_shape[0], run.codec.vocab_size
    assert decoder_numbers(run.model) == length * vocab
    assert run.model.num_dims == length  # what auto_chunk read before, a factor V too small
    assert auto_chunk(1000, 100, decoder_numbers(run.model)) == max(1, (16 << 20) // (100 * length * vocab * 4))
    image = build_model(tiny_config().model, (1, 8, 8))
    assert decoder_numbers(image) == 64  # Bernoulli: one logit per pixel
    gaussian = build_model(tiny_config("model.likelihood.name=gaussian", "model.likelihood.variance=decoder").model,
                           (1, 8, 8))
    assert decoder_numbers(gaussian) == 128  # a mean and a variance per pixel


def test_batches_are_trimmed_to_their_longest_sentence_and_keep_every_token(run):
    x = run.dataset().val.x[:12]
    padded = torch.cat([x, torch.full((len(x), 7), PAD_ID)], dim=1)
    longest = int((x != PAD_ID).sum(1).max())
    assert trim(run.model, padded).shape == (12, longest)
    assert torch.equal(trim(run.model, padded), x[:, :longest])
    # the same posterior draws (their shape does not depend on L) give the same estimate, cut or not
    torch.manual_seed(0)
    full = log_likelihood(run.model, padded, K, K)
    torch.manual_seed(0)
    cut = log_likelihood(run.model, trim(run.model, padded), K, K)
    torch.testing.assert_close(cut, full, rtol=1e-5, atol=1e-5)
