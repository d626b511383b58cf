"""The tokens likelihood (model.likelihood.name=tokens): log p(x|z) against categoricals summed by
hand, (S, B) codes, generation, what it refuses, and the special ids it shares with the data."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Categorical

from vaekit.config import parse_config
from vaekit.contract import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from vaekit.distributions.tokens import Tokens, TokensConfig, TokenSequence
from vaekit.errors import ConfigError, DataError
from vaekit.nn.recurrent import RNNConfig, RNNDecoder

V, L, D = 9, 6, 3
ROWS = [[4, 5, 6], [7], [], [8, 4, 5, 6, 7]]  # words; each row then gets <eos> and pads


def padded(rows, length=L):
    x = torch.full((len(rows), length), PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, : len(r) + 1] = torch.tensor([*r, EOS_ID])
    return x


def likelihood(**kw) -> Tokens:
    return Tokens(TokensConfig(vocab_size=V, **kw), (L,))


def rnn_decoder(seed=0) -> RNNDecoder:
    torch.manual_seed(seed)
    return RNNDecoder(RNNConfig(vocab_size=V, embedding_size=4, hidden_size=8, cell="lstm"), D, (V,)).eval()


class Table:
    """A stand-in bound decoder: logits from the previous token (a table) plus a per-row bias."""

    def __init__(self, lead, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(V, V, generator=g, dtype=torch.float64)
        self.bias = torch.randn(*lead, V, generator=g, dtype=torch.float64)
        self.lead_shape, self.word_dropout, self.device = torch.Size(lead), 0.0, torch.device("cpu")

    def step_logits(self, inputs):
        return self.table[inputs] + self.bias.unsqueeze(-2)


def hand_log_prob(next_logits, row) -> float:
    """sum_t log p(x_t | x_<t), with x_0 = <bos>: one Categorical per position over the tokens a
    sequence can hold (every id but <bos> and <pad>), the last one <eos>."""
    keep = torch.tensor([i not in (PAD_ID, BOS_ID) for i in range(V)])
    ids = torch.arange(V)[keep]
    total, prefix = 0.0, [BOS_ID]
    for tok in [*row, EOS_ID]:
        logits = next_logits(prefix)[keep]
        total += Categorical(logits=logits).log_prob((ids == tok).nonzero()[0, 0]).item()
        prefix.append(tok)
    return total


def test_log_prob_is_a_sum_of_categoricals_over_the_positions_up_to_eos():
    bound = Table((4,))
    lp = likelihood()(bound).log_prob(padded(ROWS))
    assert lp.shape == (4,) and lp.dtype == torch.float32
    for b, row in enumerate(ROWS):
        expect = hand_log_prob(lambda p: bound.table[p[-1]] + bound.bias[b], row)
        assert lp[b].item() == pytest.approx(expect, rel=1e-5)


def test_log_prob_through_a_real_decoder_equals_decoding_one_token_at_a_time():
    """Teacher forcing over the whole row gives what feeding the decoder each prefix gives."""
    dec = rnn_decoder()
    z = torch.randn(4, D)
    lp = likelihood()(dec(z)).log_prob(padded(ROWS))
    for b, row in enumerate(ROWS):
        expect = hand_log_prob(lambda p: dec.logits(z[b], torch.tensor(p))[-1].double(), row)
        assert lp[b].item() == pytest.approx(expect, rel=1e-4)


def test_pads_and_a_wider_layout_change_nothing():
    dec = rnn_decoder()
    z = torch.randn(4, D)
    lp = likelihood()(dec(z)).log_prob(padded(ROWS))
    torch.testing.assert_close(likelihood()(dec(z)).log_prob(padded(ROWS, L + 5)), lp)


def test_importance_samples_give_s_by_b_log_probs():
    dec = rnn_decoder()
    z = torch.randn(5, 4, D)  # (S, B, D)
    dist = likelihood()(dec(z))
    assert dist.lead_shape == (5, 4)
    lp = dist.log_prob(padded(ROWS))
    assert lp.shape == (5, 4)
    for s in range(5):
        torch.testing.assert_close(lp[s], likelihood()(dec(z[s])).log_prob(padded(ROWS)))
    assert dist.sample().shape == (5, 4, L) and dist.mean.shape == (5, 4, L)


class SteppedTable(Table):
    """The stand-in with `start` and `step`, which the likelihood then generates with."""

    def start(self):
        return None

    def step(self, state, tokens):
        return self.table[tokens] + self.bias, state


def test_the_likelihood_steps_a_decoder_that_can_and_only_then():
    assert likelihood()(Table((4,))).incremental is None
    dist = likelihood()(SteppedTable((4,)))
    assert dist.incremental is not None
    logits, _ = dist.incremental.step(dist.incremental.start(), torch.full((4,), BOS_ID))
    assert logits.dtype == torch.float32  # the table is float64: the step's logits pass through the mask too
    assert bool(torch.isinf(logits[:, [PAD_ID, BOS_ID]]).all()) and bool(torch.isfinite(logits[:, 3:]).all())


@pytest.mark.parametrize("kind", [Table, SteppedTable])
def test_generation_never_emits_bos_or_pad_before_eos_and_mean_is_the_greedy_decoding(kind):
    bound = kind((64,), seed=3)
    bound.table[:, [PAD_ID, BOS_ID]] += 50.0  # a decoder that would rather say them: never said
    dist = likelihood(max_length=7)(bound)
    for ids in (dist.sample(torch.Generator().manual_seed(0)), dist.mean):
        assert ids.shape == (64, 7)
        ended = (ids == EOS_ID).long().cumsum(-1) > 0
        before = ~ended | (ids == EOS_ID)  # up to and including the <eos>
        assert not bool(((ids == PAD_ID) | (ids == BOS_ID))[before].any())
        assert bool((ids[ended & (ids != EOS_ID)] == PAD_ID).all())
    assert torch.equal(dist.mean, dist.generate(temperature=0.0)[0])


def test_max_length_defaults_to_the_data_length():
    assert likelihood().max_length == L and likelihood(max_length=20).max_length == 20
    assert likelihood().param_shape() == (V,)


@pytest.mark.parametrize("x, message", [
    (torch.zeros(2, L), "torch.float32 values.*token ids"),
    (torch.tensor([[4, V, EOS_ID, 0, 0, 0]]), rf"token ids in \[0, {V}\], outside the vocabulary of {V} ids"),
    (torch.tensor([[-1, EOS_ID, 0, 0, 0, 0]]), r"token ids in \[-1, 3\]"),
    (torch.tensor([[BOS_ID, 5, EOS_ID, 0, 0, 0]]), "the <bos> id 2"),
])
def test_validate_refuses_what_is_not_token_ids_of_this_vocabulary(x, message):
    with pytest.raises(DataError, match=f"^the train split holds {message}"):
        likelihood().validate(x, "the train split")


def test_validate_accepts_token_ids_and_honours_a_mask():
    likelihood().validate(padded(ROWS), "x")
    x = torch.tensor([[4, V + 3, EOS_ID, 0, 0, 0]])
    likelihood().validate(x, "x", mask=(x != V + 3).long())  # the unobserved entry is not checked


@pytest.mark.parametrize("raw, shape, message", [
    ({}, (L,), r"^model.likelihood.vocab_size is 0, which the text data set fills in"),
    ({"vocab_size": 3}, (L,), "the 4 special tokens"),
    ({"vocab_size": V}, (1, 8, 8), r"shape \(L,\).*\[1, 8, 8\].*data.name=text"),
])
def test_config_errors(raw, shape, message):
    cfg = parse_config({"model": {"likelihood": {"name": "tokens", **raw}}}).model.likelihood
    with pytest.raises(ConfigError, match=message):
        Tokens(cfg, shape)


def test_a_decoder_that_gives_a_tensor_is_a_config_error():
    with pytest.raises(ConfigError, match="model.decoder.name=rnn"):
        likelihood()(torch.zeros(2, V))


def test_word_dropout_applies_to_log_prob_only_and_only_at_the_decoders_rate():
    bound = Table((4,))
    bound.word_dropout = 1.0  # every word input becomes <unk>
    dist = likelihood()(bound)
    assert isinstance(dist, TokenSequence)
    lp = dist.log_prob(padded(ROWS))
    for b, row in enumerate(ROWS):
        expect = hand_log_prob(lambda p: bound.table[BOS_ID if len(p) == 1 else UNK_ID] + bound.bias[b], row)
        assert lp[b].item() == pytest.approx(expect, rel=1e-5)
    bound.word_dropout = 0.0
    assert torch.equal(dist.mean, likelihood()(bound).mean)  # generation reads its own words


def test_the_special_ids_are_those_of_the_text_vocabulary():
    from vaekit.data import text

    assert (text.PAD_ID, text.UNK_ID, text.BOS_ID, text.EOS_ID) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
