"""Incremental decoding of the sequence decoders (`start`, `step` on vaekit/nn/recurrent.py and
transformer.py): fed the teacher-forced inputs one position at a time, each step gives the logits
that teacher forcing gives at that position, for one code per example and for (S, B) codes; and
generation through the tokens likelihood takes that path and makes the sequences the prefix
recomputation makes, greedy and sampled."""

from __future__ import annotations

import pytest
import torch

from text_helpers import TINY_SEQUENCE_NETWORKS
from vaekit.config import parse_config
from vaekit.contract import BOS_ID, EOS_ID, PAD_ID
from vaekit.distributions.tokens import Tokens, TokensConfig
from vaekit.errors import InputError
from vaekit.registry import NETWORKS

V, D, T = 13, 5, 10
# Both cells, one layer and stacked; the Transformer with one layer and three (each layer keeps its cache).
VARIANTS = [
    ("rnn", {"cell": "gru"}), ("rnn", {"cell": "lstm"}), ("rnn", {"cell": "gru", "layers": 3}),
    ("rnn", {"cell": "lstm", "layers": 2}),
    ("transformer", {}), ("transformer", {"layers": 3, "heads": 4}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in VARIANTS]
LEADS = [(4,), (3, 4)]  # one code per example; S = 3 codes for each of 4 examples


def decoder(name, seed=0, **kw):
    raw = {**TINY_SEQUENCE_NETWORKS[name], "vocab_size": V, **kw}
    torch.manual_seed(seed)
    return NETWORKS.get(name).decoder(parse_config({"model": {"decoder": raw}}).model.decoder, D, (V,)).eval()


def stepped(bound, inputs: torch.Tensor) -> torch.Tensor:
    """The logits (*lead, T, V) of `step` fed inputs[..., t] for t = 0, 1, ... from `start`."""
    state, out = bound.start(), []
    for t in range(inputs.shape[-1]):
        logits, state = bound.step(state, inputs[..., t])
        out.append(logits)
    return torch.stack(out, dim=-2)


@pytest.mark.parametrize("lead", LEADS, ids=str)
@pytest.mark.parametrize("name, kw", VARIANTS, ids=IDS)
def test_each_step_gives_the_teacher_forced_logits_at_its_position(name, kw, lead):
    dec = decoder(name, **kw)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(*lead, D, generator=g)
    inputs = torch.randint(4, V, (*lead, T), generator=g)
    inputs[..., 0] = BOS_ID
    inputs[..., 0, 6:] = PAD_ID  # the pads generation feeds a finished sequence
    bound = dec(z)
    teacher = bound.step_logits(inputs)
    with torch.no_grad():
        got = stepped(bound, inputs)
    assert got.shape == (*lead, T, V)
    torch.testing.assert_close(got, teacher, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got[..., 1:, :], got[..., :1, :].expand_as(got[..., 1:, :]))  # positions differ


@pytest.mark.parametrize("name", ["rnn", "transformer"])
def test_step_refuses_tokens_that_are_not_one_per_code(name):
    bound = decoder(name)(torch.randn(4, D))
    state = bound.start()
    with pytest.raises(InputError, match=r"tokens of shape \(4,\), got \(4, 3\)"):
        bound.step(state, torch.full((4, 3), BOS_ID))


class PrefixOnly:
    """The bound decoder with its step_logits alone: the tokens likelihood must then generate by
    re-reading the prefix at every step, the path to compare against."""

    def __init__(self, bound) -> None:
        self.bound = bound
        self.lead_shape, self.word_dropout, self.device = bound.lead_shape, bound.word_dropout, bound.device

    def step_logits(self, inputs):
        return self.bound.step_logits(inputs)


@pytest.mark.parametrize("lead", LEADS, ids=str)
@pytest.mark.parametrize("name, kw", VARIANTS, ids=IDS)
def test_generation_steps_the_decoder_and_makes_the_prefix_paths_sequences(name, kw, lead):
    """Greedy ids are equal, and so are draws under the same generator (with temperature and
    top_k); a random decoder over 13 ids ends its rows at different lengths, so rows that ended
    are padded while others go on, on both paths."""
    dec = decoder(name, **kw)
    bound = dec(torch.randn(*lead, D, generator=torch.Generator().manual_seed(2)))
    likelihood = Tokens(TokensConfig(vocab_size=V, max_length=12), (T,))
    fast, slow = likelihood(bound), likelihood(PrefixOnly(bound))
    assert fast.incremental is not None and slow.incremental is None
    teacher = dec.logits

    def refuse(z, inputs):
        raise AssertionError("generation re-read the prefix")

    dec.logits = refuse
    greedy = fast.greedy()[0]
    draws = [fast.generate(torch.Generator().manual_seed(s), temperature=tau, top_k=k)[0]
             for s, tau, k in ((0, 1.0, None), (1, 0.7, 4))]
    dec.logits = teacher
    assert torch.equal(greedy, slow.greedy()[0])
    for (s, tau, k), ids in zip(((0, 1.0, None), (1, 0.7, 4)), draws):
        assert torch.equal(ids, slow.generate(torch.Generator().manual_seed(s), temperature=tau, top_k=k)[0])
    ended = (draws[0] == EOS_ID).any(-1)
    assert bool(ended.any()) and not bool(ended.all())  # some rows stopped early, some ran to max_length


@pytest.mark.parametrize("name", ["rnn", "transformer"])
def test_generated_steps_are_the_teacher_forced_logits_of_the_generated_sequence(name):
    """Through the likelihood (its masked logits): stepping along a greedy decoding gives, at each
    position, the logits of teacher forcing on that decoding, and their argmax is the next id."""
    dec = decoder(name)
    dist = Tokens(TokensConfig(vocab_size=V, max_length=12), (T,))(dec(torch.randn(6, D)))
    ids, _ = dist.greedy()
    inputs = dist.teacher_inputs(ids)
    with torch.no_grad():
        got = stepped(dist.incremental, inputs)
    torch.testing.assert_close(got, dist.step_logits(inputs), rtol=1e-5, atol=1e-5)
    live = ids != PAD_ID  # the chosen tokens, up to each <eos>
    assert torch.equal(got.argmax(-1)[live], ids[live])
