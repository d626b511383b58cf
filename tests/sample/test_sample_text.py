"""vaekit.sample.text, the library under the text commands: its arguments checked where they
enter (one-line InputErrors), batching and seeding, the gmm sampler, and the sample ops taking a
text model's token ids."""

from __future__ import annotations

import pytest
import torch

from text_helpers import train_text_run
from vaekit.contract import BOS_ID, EOS_ID, PAD_ID
from vaekit.data.text_set import TextWarning
from vaekit.errors import InputError
from vaekit.run import load_run
from vaekit.sample import encode, interpolate, reconstruct
from vaekit.sample.samplers import fitted_sampler
from vaekit.sample.text import interpolate_text, reconstruct_text, sample_ids, sample_text


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return load_run(train_text_run(tmp_path_factory.mktemp("text") / "run"))


def test_samples_are_seeded_and_batched(run):
    ids, lengths = sample_ids(run.model, 7, seed=4, decode="sample", batch_size=3)
    assert ids.shape == (7, run.data_shape[0]) and ids.dtype == torch.long
    assert torch.equal(lengths, (ids != PAD_ID).sum(1))
    again, _ = sample_ids(run.model, 7, seed=4, decode="sample", batch_size=3)
    assert torch.equal(ids, again)
    assert not bool((ids == BOS_ID).any())  # the decoder never emits <bos>
    ended = lengths < run.data_shape[0]
    assert bool((ids[ended, lengths[ended] - 1] == EOS_ID).all())  # a sentence shorter than L ends with <eos>
    assert run.codec.decode(ids, lengths) == sample_text(run, 7, seed=4, decode="sample", batch_size=3)


def test_the_gmm_sampler_draws_the_codes(run):
    train = run.dataset().train
    sampler = fitted_sampler(run.model, "gmm", train.x, None, components=3)
    first = sample_text(run, 6, seed=0, sampler=sampler)
    assert first == sample_text(run, 6, seed=0, sampler=sampler)
    z = sampler.latents(6, 1.0, torch.Generator().manual_seed(0))
    ids, lengths = run.model.decode_px(z).greedy()
    assert first == run.codec.decode(ids, lengths)


def test_the_sample_ops_take_token_ids(run):
    x = run.dataset().val.x[:4]
    mu, logvar = encode(run.model, x)
    assert mu.shape == logvar.shape == (4, 4)
    assert reconstruct(run.model, x).dtype == torch.long
    assert interpolate(run.model, x[:2], x[2:], 3).shape == (2, 3, run.data_shape[0])


@pytest.mark.parametrize("call, message", [
    (lambda run: sample_text(run.model, 3), "expects a text run (vaekit.load_run(path)), got VAE"),
    (lambda run: sample_text(run, 0), "number of sentences n must be at least 1"),
    (lambda run: sample_text(run, 3, decode="beam"), "decode must be one of greedy, sample, got 'beam'"),
    (lambda run: sample_text(run, 3, top_k=2), "top-k shapes the words drawn by sampled decoding"),
    (lambda run: sample_text(run, 3, decode="sample", top_k=0), "top-k must be at least 1, got 0"),
    (lambda run: sample_text(run, 3, decode="sample", token_temperature=0), "token temperature must be positive"),
    (lambda run: sample_text(run, 3, temperature=float("nan")), "temperature must be a finite number"),
    (lambda run: reconstruct_text(run, "the girl sees the dog ."), "expects sentences as a list of str"),
    (lambda run: reconstruct_text(run, []), "got no sentences; pass at least one"),
    (lambda run: interpolate_text(run, ["the dog ."], ["a fox .", "the boy ."]), "need as many sentences; got 1 and 2"),
    (lambda run: interpolate_text(run, ["the dog ."], ["a fox ."], steps=1), "steps must be at least 2"),
    (lambda run: encode(run.model, torch.rand(2, 5)), "expects token ids x (an integer tensor) for this text model, "
                                                     "got torch.float32; encode sentences with the run's codec"),
    (lambda run: encode(run.model, torch.ones(2, 40, dtype=torch.long)), "shape (N, L) with L from 1 to 16"),
    (lambda run: encode(run.model, torch.full((2, 5), 10_000)), "outside the vocabulary"),
    (lambda run: encode(run.model, torch.tensor([[5, EOS_ID], [PAD_ID, PAD_ID]])), "row 1 of x is all padding"),
])
def test_bad_arguments_are_one_line_input_errors(run, call, message):
    with pytest.raises(InputError) as e:
        call(run)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_sentence_longer_than_the_runs_max_length_is_cut_with_a_warning(run):
    long = " ".join(["the dog"] * 20)
    with pytest.warns(TextWarning, match="1 of 2 sentences are longer than the run's max_length \\(16 tokens"):
        pairs = reconstruct_text(run, [long, "the dog ."])
    assert pairs[0][0] == " ".join((["the", "dog"] * 8)[:15])  # 15 words and the <eos>
