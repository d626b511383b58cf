import math

import pytest
import torch
from torch.distributions import Categorical

from vaekit.distributions.tokens import TokenSequence, count_tokens, word_dropout
from vaekit.errors import InputError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
V = 8  # words are 4..7


class Bigram:
    """A toy decoder: logits of the next token from the last one (a table) plus a per-sequence
    bias standing in for z, shaped like the lead (*lead, V). Records the inputs it was given."""

    def __init__(self, table: torch.Tensor, bias: torch.Tensor) -> None:
        self.table, self.bias = table, bias
        self.calls: list[torch.Tensor] = []

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        self.calls.append(inputs)
        return self.table[inputs] + self.bias.unsqueeze(-2)


def toy(batch=(3,), seed=0, max_length=6, **kw):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(V, V, generator=g, dtype=torch.float64)
    bias = torch.randn(*batch, V, generator=g, dtype=torch.float64)
    step = Bigram(table, bias)
    return step, TokenSequence(step, bos=BOS, eos=EOS, pad=PAD, max_length=max_length, lead_shape=batch, **kw)


def padded(rows, length):
    x = torch.full((len(rows), length), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, : len(r)] = torch.tensor(r)
    return x


ROWS = [[4, 5, 6, EOS], [7, EOS], [EOS]]


def hand_log_prob(step, bias_row, row):
    """sum_t log Categorical(table[x_{t-1}] + bias).log_prob(x_t), x_0 = <bos>, one token at a time."""
    total, prev = 0.0, BOS
    for tok in row:
        total += Categorical(logits=step.table[prev] + bias_row).log_prob(torch.tensor(tok)).item()
        prev = tok
    return total


def test_log_prob_equals_a_hand_loop_over_categoricals_ignoring_pads():
    step, dist = toy()
    lp = dist.log_prob(padded(ROWS, 6))
    assert lp.shape == (3,)
    for b, row in enumerate(ROWS):
        assert lp[b].item() == pytest.approx(hand_log_prob(step, step.bias[b], row), rel=1e-12, abs=1e-12)


def test_padding_beyond_eos_changes_nothing():
    _, dist = toy()
    torch.testing.assert_close(dist.log_prob(padded(ROWS, 4)), dist.log_prob(padded(ROWS, 11)), rtol=0, atol=1e-12)


def test_mask_drops_exactly_the_masked_positions():
    step, dist = toy()
    x = padded(ROWS, 5)
    full = dist.log_prob(x)
    mask = (x != PAD).long()
    mask[0, 1] = 0  # drop the term of token 5 in row 0
    dropped = dist.log_prob(x, mask)
    term = Categorical(logits=step.table[4] + step.bias[0]).log_prob(torch.tensor(5)).item()
    assert (full[0] - dropped[0]).item() == pytest.approx(term, abs=1e-12)
    torch.testing.assert_close(dropped[1:], full[1:], rtol=0, atol=0)
    # A mask may also count positions the pads would hide: an all-ones mask scores the pads too.
    ones = dist.log_prob(x, torch.ones_like(x))
    assert (ones[2] - full[2]).item() < 0


def test_broadcasts_over_leading_sample_dimensions():
    step, dist = toy(batch=(4, 3))  # (S, B)
    x = padded(ROWS, 5)  # (B, L)
    lp = dist.log_prob(x)
    assert lp.shape == (4, 3)
    assert step.calls[-1].shape == (4, 3, 5)  # the callable got the inputs expanded to the lead
    for s in range(4):
        one = TokenSequence(Bigram(step.table, step.bias[s]), bos=BOS, eos=EOS, pad=PAD, max_length=6, lead_shape=(3,))
        torch.testing.assert_close(lp[s], one.log_prob(x), rtol=0, atol=1e-12)


def test_gradient_reaches_the_logits_and_not_at_pads():
    table = torch.randn(V, V, requires_grad=True)
    kept = {}

    def step(inputs):
        kept["logits"] = logits = table[inputs]
        logits.retain_grad()
        return logits

    dist = TokenSequence(step, bos=BOS, eos=EOS, pad=PAD, max_length=6, lead_shape=(3,))
    x = padded(ROWS, 5)
    dist.log_prob(x).sum().backward()
    grad = kept["logits"].grad.abs().sum(-1)
    assert torch.all(grad[x != PAD] > 0)
    assert torch.all(grad[x == PAD] == 0)
    assert table.grad.abs().sum() > 0


def chain_table(next_of):
    """A deterministic decoder: token a is followed by next_of[a] with a margin of 50 nats."""
    table = torch.zeros(V, V)
    for a, b in next_of.items():
        table[a, b] = 50.0
    return table


def test_greedy_reproduces_a_deterministic_sequence_and_stops_at_eos():
    step = Bigram(chain_table({BOS: 4, 4: 5, 5: EOS}), torch.zeros(2, V))
    dist = TokenSequence(step, bos=BOS, eos=EOS, pad=PAD, max_length=7, lead_shape=(2,))
    ids, lengths = dist.greedy()
    assert ids.tolist() == [[4, 5, EOS, PAD, PAD, PAD, PAD]] * 2
    assert lengths.tolist() == [3, 3]
    assert len(step.calls) == 3  # stopped at <eos>, not at max_length
    torch.testing.assert_close(dist.mode, ids)
    torch.testing.assert_close(count_tokens(ids, PAD), lengths)


def test_generation_without_eos_stops_at_max_length():
    step = Bigram(chain_table({BOS: 4, 4: 5, 5: 4}), torch.zeros(1, V))
    dist = TokenSequence(step, bos=BOS, eos=EOS, pad=PAD, max_length=5, lead_shape=(1,))
    ids, lengths = dist.greedy()
    assert ids.tolist() == [[4, 5, 4, 5, 4]] and lengths.tolist() == [5]


def test_sequences_that_ended_are_padded_while_others_go_on():
    # Row 0's z makes <eos> follow <bos> at once; row 1 runs the chain.
    bias = torch.zeros(2, V)
    bias[0, EOS] = 100.0
    dist = TokenSequence(Bigram(chain_table({BOS: 4, 4: 5, 5: EOS}), bias), bos=BOS, eos=EOS, pad=PAD,
                         max_length=5, lead_shape=(2,))
    ids, lengths = dist.greedy()
    assert ids.tolist() == [[EOS, PAD, PAD, PAD, PAD], [4, 5, EOS, PAD, PAD]] and lengths.tolist() == [1, 3]


def first_token_dist(n, seed=0):
    table = torch.zeros(V, V)
    table[BOS] = torch.tensor([-9.0, -9.0, 0.3, -9.0, 1.0, 0.0, -0.5, 0.7])  # pad, bos, unk almost never
    step = Bigram(table, torch.zeros(n, V))
    return table[BOS], TokenSequence(step, bos=BOS, eos=EOS, pad=PAD, max_length=1, lead_shape=(n,))


def test_first_token_frequencies_match_the_softmax():
    n = 20000
    logits, dist = first_token_dist(n)
    draws = dist.sample(torch.Generator().manual_seed(1))[:, 0]
    freq = torch.bincount(draws, minlength=V).double() / n
    p = torch.softmax(logits.double(), -1)
    # Each frequency is a mean of n Bernoulli(p) draws: standard error sqrt(p(1-p)/n) <= 0.0036;
    # 5 standard errors fail a correct sampler with probability < 1e-6 per token.
    tol = 5 * torch.sqrt(p * (1 - p) / n) + 1e-4
    assert torch.all((freq - p).abs() <= tol), (freq, p)


def test_top_k_restricts_the_support():
    logits, dist = first_token_dist(4000)
    draws = dist.sample(torch.Generator().manual_seed(2), top_k=2)[:, 0]
    top2 = set(logits.topk(2).indices.tolist())
    assert set(draws.tolist()) == top2  # both appear (each has p >= 0.4 over 4000 draws), nothing else


def test_low_temperature_approaches_greedy():
    step, dist = toy(batch=(50,), seed=3, max_length=8)
    greedy, _ = dist.greedy()
    cold = dist.sample(torch.Generator().manual_seed(0), temperature=1e-3)
    torch.testing.assert_close(cold, greedy, rtol=0, atol=0)
    warm = dist.sample(torch.Generator().manual_seed(0), temperature=1.0)
    assert not torch.equal(warm, greedy)  # the comparison above could fail


def test_generation_rejects_bad_settings():
    _, dist = toy()
    with pytest.raises(InputError, match="temperature"):
        dist.sample(temperature=-1.0)
    with pytest.raises(InputError, match="top_k"):
        dist.sample(top_k=0)


def test_corrupt_applies_to_teacher_forcing_only():
    step, plain = toy()
    corrupted = TokenSequence(step, bos=BOS, eos=EOS, pad=PAD, max_length=6, lead_shape=(3,),
                              corrupt=lambda t: word_dropout(t, 1.0, UNK, (BOS, PAD)))
    x = padded(ROWS, 5)
    lp = corrupted.log_prob(x)
    for b, row in enumerate(ROWS):
        # every word input became <unk>: each token after the first is predicted from <unk>
        expect = sum(Categorical(logits=step.table[BOS if t == 0 else UNK] + step.bias[b]).log_prob(torch.tensor(tok)).item()
                     for t, tok in enumerate(row))
        assert lp[b].item() == pytest.approx(expect, abs=1e-12)
    torch.testing.assert_close(corrupted.greedy()[0], plain.greedy()[0])


def test_its_mean_is_the_greedy_decoding_and_it_rejects_float_ids():
    # A sequence has no mean; the tools that show a model's example for z take `mean`, and get the
    # greedy decoding (the mode) for text.
    _, dist = toy()
    assert torch.equal(dist.mean, dist.greedy()[0]) and torch.equal(dist.mean, dist.mode)
    with pytest.raises(InputError, match="integer"):
        dist.log_prob(torch.zeros(3, 4))


def test_count_tokens_counts_up_to_and_including_eos():
    assert count_tokens(padded(ROWS, 6), PAD).tolist() == [4, 2, 1]


def test_word_dropout_rate_and_protected_tokens():
    g = torch.Generator().manual_seed(0)
    inputs = torch.randint(4, V, (200, 50), generator=g)
    inputs[:, 0] = BOS
    inputs[:, 40:] = PAD
    out = word_dropout(inputs, 0.3, UNK, (BOS, PAD), generator=g)
    assert torch.equal(out[:, 0], inputs[:, 0]) and torch.equal(out[:, 40:], inputs[:, 40:])
    words = out[:, 1:40]
    changed = words != inputs[:, 1:40]
    assert torch.all(words[changed] == UNK)
    n = words.numel()
    # a binomial(n, 0.3) proportion: 5 standard errors of sqrt(0.21 / n) ~ 0.0073 each
    assert abs(changed.double().mean().item() - 0.3) <= 5 * math.sqrt(0.3 * 0.7 / n)


def test_word_dropout_is_identity_at_rate_zero_and_in_eval():
    inputs = torch.randint(4, V, (10, 12))
    assert word_dropout(inputs, 0.0, UNK, (BOS, PAD)) is inputs
    assert word_dropout(inputs, 0.9, UNK, (BOS, PAD), training=False) is inputs
    assert torch.all(word_dropout(inputs, 1.0, UNK, (BOS, PAD)) == UNK)
    with pytest.raises(InputError, match="rate"):
        word_dropout(inputs, 1.5, UNK, (BOS, PAD))


class SteppedBigram(Bigram):
    """The toy decoder one position at a time (`Incremental`): its state counts the steps, and it
    records the tokens each step was fed."""

    def __init__(self, table: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__(table, bias)
        self.fed: list[torch.Tensor] = []

    def start(self):
        return 0

    def step(self, state, tokens):
        self.fed.append(tokens.clone())
        return self.table[tokens] + self.bias, state + 1


def test_generation_steps_an_incremental_decoder_on_the_tokens_it_emitted():
    """Each step is fed the token emitted before it (<bos> first; a row that ended, its <eos>
    then <pad>),
    once per position until every row has its <eos>; step_logits is never called."""
    bias = torch.zeros(3, V)
    bias[0, EOS] = 100.0  # row 0 ends at once; rows 1 and 2 run the chain
    stepped = SteppedBigram(chain_table({BOS: 4, 4: 5, 5: 6, 6: EOS}), bias)
    dist = TokenSequence(stepped, bos=BOS, eos=EOS, pad=PAD, max_length=7, lead_shape=(3,), incremental=stepped)
    ids, lengths = dist.greedy()
    assert ids.tolist() == [[EOS, PAD, PAD, PAD, PAD, PAD, PAD]] + [[4, 5, 6, EOS, PAD, PAD, PAD]] * 2
    assert lengths.tolist() == [1, 4, 4]
    assert stepped.calls == []  # no prefix was re-read
    assert [f.tolist() for f in stepped.fed] == [[BOS] * 3, [EOS, 4, 4], [PAD, 5, 5], [PAD, 6, 6]]


@pytest.mark.parametrize("batch", [(5,), (2, 5)], ids=str)
def test_incremental_and_prefix_generation_agree_greedy_and_sampled(batch):
    step, prefix = toy(batch=batch, seed=4, max_length=9)
    stepped = SteppedBigram(step.table, step.bias)
    fast = TokenSequence(stepped, bos=BOS, eos=EOS, pad=PAD, max_length=9, lead_shape=batch, incremental=stepped)
    assert torch.equal(fast.greedy()[0], prefix.greedy()[0])
    for seed in range(3):
        a = fast.sample(torch.Generator().manual_seed(seed), temperature=0.8, top_k=5)
        assert torch.equal(a, prefix.sample(torch.Generator().manual_seed(seed), temperature=0.8, top_k=5))
    assert stepped.calls == [] and len(step.calls) > 0


def test_the_prefix_path_reads_each_prefix_once():
    """Without an incremental decoder, step t reads <bos> and the t tokens emitted so far."""
    step = Bigram(chain_table({BOS: 4, 4: 5, 5: EOS}), torch.zeros(2, V))
    TokenSequence(step, bos=BOS, eos=EOS, pad=PAD, max_length=7, lead_shape=(2,)).greedy()
    assert [c.tolist() for c in step.calls] == [[[BOS]] * 2, [[BOS, 4]] * 2, [[BOS, 4, 5]] * 2]
