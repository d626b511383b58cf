import torch

from vaekit.seeding import seeded


def test_seeded_block_is_repeatable_and_leaves_the_stream_alone():
    torch.manual_seed(5)
    expected_next = torch.rand(3)
    torch.manual_seed(5)
    with seeded(0, torch.device("cpu")):
        a = torch.rand(4)
    with seeded(0, torch.device("cpu")):
        b = torch.rand(4)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(3), expected_next)  # the outer stream did not move


def test_seed_none_draws_from_the_current_stream():
    torch.manual_seed(1)
    with seeded(None, torch.device("cpu")):
        a = torch.rand(2)
    torch.manual_seed(1)
    assert torch.equal(a, torch.rand(2))
