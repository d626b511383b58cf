"""Text figures against computations by hand."""

import math

import pytest
import torch

from vaekit.errors import InputError
from vaekit.evaluate.text_metrics import distinct_n, perplexity, strip, token_accuracy

PAD, EOS = 0, 3


def test_perplexity_is_a_ratio_of_sums_not_a_mean_of_ratios():
    nll = torch.tensor([2.0, 10.0])
    tokens = torch.tensor([1, 4])
    assert perplexity(nll, tokens) == pytest.approx(math.exp(12.0 / 5.0), rel=1e-12)
    # a uniform model over V tokens has perplexity V whatever the lengths
    v, lengths = 37, torch.tensor([3, 9, 1])
    assert perplexity(lengths.double() * math.log(v), lengths) == pytest.approx(v, rel=1e-12)


def test_perplexity_refuses_mismatched_counts_and_no_tokens():
    with pytest.raises(InputError, match="one token count per sequence"):
        perplexity(torch.ones(3), torch.ones(2))
    with pytest.raises(InputError, match="at least one token"):
        perplexity(torch.ones(2), torch.zeros(2))


def test_token_accuracy_counts_eos_and_skips_padding():
    target = torch.tensor([[5, 6, EOS, PAD], [7, EOS, PAD, PAD]])
    predicted = torch.tensor([[5, 9, EOS, 8], [7, 4, 4, 4]])
    # row 0: 5 and <eos> right of 3; row 1: 7 right of 2; predictions at padded positions ignored
    assert token_accuracy(predicted, target, PAD) == pytest.approx(3 / 5)


def test_token_accuracy_of_a_shorter_prediction_counts_the_missing_tail_wrong():
    target = torch.tensor([[5, 6, 7, EOS]])
    assert token_accuracy(torch.tensor([[5, 6]]), target, PAD) == pytest.approx(2 / 4)
    assert token_accuracy(target.clone(), target, PAD) == 1.0


def test_token_accuracy_refuses_bad_shapes():
    with pytest.raises(InputError, match="row by row"):
        token_accuracy(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 3, dtype=torch.long), PAD)


def test_distinct_n_by_hand():
    seqs = [[1, 2, 1, 2], [1, 2]]
    assert distinct_n(seqs, 1) == pytest.approx(2 / 6)
    # bigrams: (1,2) (2,1) (1,2) | (1,2): 2 distinct of 4
    assert distinct_n(seqs, 2) == pytest.approx(2 / 4)
    assert distinct_n([[1]], 2) == 0.0
    assert distinct_n([[4, 5, 6], [7, 8, 9]], 3) == 1.0
    with pytest.raises(InputError):
        distinct_n(seqs, 0)


def test_strip_cuts_at_eos_or_padding():
    ids = torch.tensor([[5, 6, EOS, PAD], [7, 8, 9, 10], [PAD, PAD, PAD, PAD]])
    assert strip(ids, EOS, PAD) == [[5, 6], [7, 8, 9, 10], []]
