"""The EMA of the weights against a hand computation; `applied()` swaps the weights in and out."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vaekit.train.ema import EMA


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))


def test_update_is_the_exponential_moving_average():
    m = model()
    w0 = [p.detach().clone() for p in m.parameters()]
    ema = EMA(m, decay=0.9)
    w1 = [torch.randn_like(p) for p in w0]
    w2 = [torch.randn_like(p) for p in w0]
    for target in (w1, w2):
        with torch.no_grad():
            for p, t in zip(m.parameters(), target):
                p.copy_(t)
        ema.update()
    for s, a, b, c in zip(ema.shadow, w0, w1, w2):
        expected = 0.9 * (0.9 * a + 0.1 * b) + 0.1 * c
        torch.testing.assert_close(s, expected)
    assert all(torch.equal(p, c) for p, c in zip(m.parameters(), w2))  # the live weights are untouched


def test_applied_swaps_in_the_shadow_and_restores_the_weights():
    m = model()
    ema = EMA(m, decay=0.5)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
    live = [p.detach().clone() for p in m.parameters()]
    with ema.applied():
        assert all(torch.equal(p, s) for p, s in zip(m.parameters(), ema.shadow))
        assert not torch.equal(next(m.parameters()), live[0])
    assert all(torch.equal(p, w) for p, w in zip(m.parameters(), live))


def test_applied_restores_the_weights_when_the_block_raises():
    m = model()
    ema = EMA(m, decay=0.5)
    with torch.no_grad():
        next(m.parameters()).add_(3.0)
    live = [p.detach().clone() for p in m.parameters()]
    with pytest.raises(RuntimeError):
        with ema.applied():
            raise RuntimeError("evaluation failed")
    assert all(torch.equal(p, w) for p, w in zip(m.parameters(), live))


def test_state_dict_round_trip_is_a_copy():
    m = model()
    ema = EMA(m, decay=0.9)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0)
    ema.update()
    state = ema.state_dict()
    fresh = EMA(model(), decay=0.9)
    fresh.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(fresh.shadow, ema.shadow))
    state[0].zero_()  # the saved copy does not alias the live shadow
    assert not torch.equal(ema.shadow[0], state[0])
