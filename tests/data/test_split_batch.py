"""Splits cut the Batch models take, masks included, and the training batches carry them."""

import pytest
import torch
from torch import distributions as td

from vaekit.config import parse_config
from vaekit.contract import Batch
from vaekit.data import Split
from vaekit.errors import DataError, InputError
from vaekit.models import build_model
from vaekit.train.batches import batches

X = torch.arange(24, dtype=torch.float32).view(8, 3) / 24
Y = torch.arange(8) % 2
MASK = (torch.arange(24).view(8, 3) % 4 != 0).float()


def test_a_split_cuts_batches_with_labels_and_mask():
    split = Split(X, Y, mask=MASK)
    b = split.batch(torch.tensor([5, 1]))
    assert torch.equal(b.x, X[[5, 1]]) and torch.equal(b.y, Y[[5, 1]]) and torch.equal(b.mask, MASK[[5, 1]])
    assert torch.equal(split.batch().x, X) and len(split.batch(slice(0, 3))) == 3


def test_training_batches_keep_each_mask_with_its_rows():
    split = Split(X, Y, mask=MASK)
    for b in batches(split, 4, torch.Generator().manual_seed(0), torch.device("cpu")):
        rows = [int(r) for r in (b.x[:, 0] * 8).round()]  # x[i, 0] = i / 8
        assert torch.equal(b.mask, MASK[rows]) and torch.equal(b.y, Y[rows])


def test_the_processes_of_a_distributed_run_share_each_global_batch():
    split = Split(X, Y)
    whole = list(batches(split, 4, torch.Generator().manual_seed(0), torch.device("cpu")))
    parts = [list(batches(split, 4, torch.Generator().manual_seed(0), torch.device("cpu"), rank=r, world_size=2))
             for r in (0, 1)]
    for w, a, b in zip(whole, *parts):
        assert torch.equal(torch.cat([a.x, b.x]), w.x) and len(a) == len(b) == 2


def test_bad_masks_are_refused_where_they_enter():
    with pytest.raises(DataError, match="one mask entry per value"):
        Split(X, mask=MASK[:, :2])
    with pytest.raises(InputError, match="the mask marks each entry of x"):
        Batch(X, mask=MASK[:, :2])
    with pytest.raises(InputError, match="has 3 rows but x has 8"):
        Batch(X, Y[:3])


def test_a_masked_batch_scores_the_observed_entries_only():
    torch.manual_seed(0)
    model = build_model(parse_config({"model": {"latent_dim": 2, "encoder": {"hidden": [8]}, "decoder": {"hidden": [8]}}}).model, (3,))
    x = torch.bernoulli(X)
    torch.manual_seed(1)
    terms = model(Batch(x, mask=MASK))
    torch.manual_seed(1)
    full = model(Batch(x))  # the same draw of z
    per_entry = td.Bernoulli(logits=full.px.logits).log_prob(x)
    torch.testing.assert_close(terms.recon, (per_entry * MASK).sum(-1))
    torch.testing.assert_close(full.recon, per_entry.sum(-1))


# Sequences: token ids (N, L) padded with 0, with lengths (N,) counting each sequence's tokens.
IDS = torch.tensor([[5, 6, 3, 0, 0, 0], [7, 3, 0, 0, 0, 0], [5, 5, 5, 5, 3, 0], [4, 3, 0, 0, 0, 0]])
LENGTHS = (IDS != 0).sum(-1)


def test_a_batch_of_sequences_is_cut_to_its_longest_and_carries_its_lengths():
    split = Split(IDS, lengths=LENGTHS)
    b = split.batch(torch.tensor([3, 0]))
    assert torch.equal(b.x, IDS[[3, 0], :3]) and torch.equal(b.lengths, torch.tensor([2, 3])) and b.x.is_contiguous()
    assert split.batch().x.shape == (4, 5)  # the longest sequence of all holds 5 tokens
    mask = torch.ones_like(IDS)
    assert split.batch(slice(0, 2)).mask is None
    assert Split(IDS, mask=mask, lengths=LENGTHS).batch(slice(0, 2)).mask.shape == (2, 3)
    assert Split(IDS).batch(slice(0, 2)).x.shape == (2, 6)  # without lengths nothing is cut


def test_training_batches_of_sequences_keep_each_length_with_its_row():
    split = Split(IDS, lengths=LENGTHS)
    for b in batches(split, 2, torch.Generator().manual_seed(0), torch.device("cpu")):
        assert torch.equal(b.lengths, (b.x != 0).sum(-1)) and b.x.shape[1] == int(b.lengths.max())


def test_lengths_travel_through_take_and_limit():
    import numpy as np

    from vaekit.data.load import limit, take

    split = Split(IDS, lengths=LENGTHS)
    for part in (take(split, np.array([2, 0])), limit(split, 3, np.random.default_rng(0))):
        assert torch.equal(part.lengths, (part.x != 0).sum(-1)) and len(part.lengths) == len(part)


def test_lengths_that_do_not_fit_the_sequences_are_refused():
    with pytest.raises(DataError, match="4 sequences but lengths of shape \\(3,\\)"):
        Split(IDS, lengths=LENGTHS[:3])
    with pytest.raises(DataError, match="give one integer length per sequence"):
        Split(IDS, lengths=LENGTHS.float())
