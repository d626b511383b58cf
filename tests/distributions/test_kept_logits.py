"""log_prob through the decoders' kept-position logits equals the full teacher-forced computation,
values and gradients, for every sequence decoder, lead shape and mask."""

import pytest
import torch

from text_helpers import TINY_SEQUENCE_NETWORKS, corpus, text_config, text_dataset
from vaekit.models import build_model
from vaekit.train.prepare import for_data

DATA = text_dataset(corpus(60), corpus(20, seed=1), max_length=10)


@pytest.mark.parametrize("network", sorted(TINY_SEQUENCE_NETWORKS))
@pytest.mark.parametrize("lead", [(), (3,)])
def test_kept_positions_give_the_full_log_prob_and_gradient(network, lead):
    torch.manual_seed(0)
    model = build_model(for_data(text_config("vae", network), DATA).model, DATA.shape).eval()
    x = DATA.train.x[:6]
    z = torch.randn(*lead, 6, 4)
    fast = model.decode(z)
    assert fast.kept_logits is not None
    slow = model.decode(z)
    slow.kept_logits = None  # the full (*lead, L, V) logits, masked after the softmax
    for mask in (None, (torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) < 0.7).long()):
        a, b = fast.log_prob(x, mask), slow.log_prob(x, mask)
        assert a.shape == (*lead, 6)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        params = [p for p in model.decoder.parameters() if p.requires_grad]
        ga = torch.autograd.grad(a.sum(), params)
        gb = torch.autograd.grad(b.sum(), params)
        for u, v in zip(ga, gb):
            torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-5)
