"""Latent traversals: one dimension moves, the others stay at the posterior mean, in every family."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vaekit.config import parse_config
from vaekit.errors import ConfigError, DataError
from vaekit.models import build_model
from vaekit.sample import decode, encode, interpolate, traverse

SHAPE = (1, 8, 8)
VALUES = (-2.0, -0.5, 0.0, 1.5)


def _model(name: str = "vae", shape: tuple[int, ...] = SHAPE, num_classes: int | None = None, **kw) -> nn.Module:
    torch.manual_seed(0)
    cfg = parse_config({"model": {"name": name, "latent_dim": 3, "encoder": {"hidden": [16]},
                                  "decoder": {"hidden": [16]}, **kw}})
    return build_model(cfg.model, shape, num_classes).eval()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.rand(2, *SHAPE, generator=torch.Generator().manual_seed(1))


def _spy_decode(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Record the codes (and labels) every call of model.decode receives."""
    calls, real = [], model.decode

    def spy(z, y=None):
        calls.append((z.detach().clone(), None if y is None else y.clone()))
        return real(z, y)

    model.decode = spy
    return calls


@pytest.mark.parametrize("dim", [0, 2])
def test_only_the_chosen_dimension_moves_in_prior_units(x, dim):
    model = _model()
    mu, _ = encode(model, x)
    calls = _spy_decode(model)
    out = traverse(model, x, dim, VALUES)
    assert out.shape == (2, len(VALUES), *SHAPE)
    (z, _), = calls
    z = z.view(2, len(VALUES), 3)
    others = [d for d in range(3) if d != dim]
    torch.testing.assert_close(z[:, :, others], mu[:, None, others].expand(-1, len(VALUES), -1))
    # N(0, I): a value in prior standard deviations is the coordinate itself, for every example
    torch.testing.assert_close(z[:, :, dim], torch.tensor(VALUES).expand(2, -1))
    # and the pictures are the decodings of exactly those codes
    torch.testing.assert_close(out, decode(model, z.reshape(-1, 3)).view_as(out))


def test_posterior_units_step_from_each_examples_own_mean(x):
    model = _model()
    mu, logvar = encode(model, x)
    calls = _spy_decode(model)
    traverse(model, x, 1, VALUES, units="posterior")
    z = calls[0][0].view(2, len(VALUES), 3)
    expected = mu[:, 1:2] + torch.tensor(VALUES) * (0.5 * logvar[:, 1:2]).exp()  # (N, V)
    torch.testing.assert_close(z[:, :, 1], expected)
    assert torch.equal(z[:, :, 0], mu[:, None, 0].expand(-1, len(VALUES)))
    # at value 0 the code is the posterior mean itself: the reconstruction
    torch.testing.assert_close(z[:, 2], mu)


def test_prior_units_follow_a_learned_prior():
    """For a mixture prior, 'prior units' are the prior marginal's mean and standard deviation."""
    model = _model(prior={"name": "mixture", "components": 3})
    with torch.no_grad():
        model.prior.mu[:, 0] = torch.tensor([5.0, -5.0, 0.0])  # components far apart on z0
    draws = model.prior.sample(20000, 1.0, torch.Generator().manual_seed(3))
    calls = _spy_decode(model)
    traverse(model, torch.rand(1, *SHAPE), 0, (-1.0, 1.0))
    column = calls[0][0][:, 0]
    expected = draws[:, 0].mean() + torch.tensor([-1.0, 1.0]) * draws[:, 0].std()
    torch.testing.assert_close(column, expected, atol=0.15, rtol=0)
    assert column[1] - column[0] > 4  # far wider than N(0, 1) would make it


def test_a_conditional_model_keeps_each_examples_label():
    model = _model("cvae", num_classes=4)
    x, y = torch.rand(2, *SHAPE), torch.tensor([3, 1])
    calls = _spy_decode(model)
    out = traverse(model, x, 0, VALUES, y=y)
    assert out.shape == (2, len(VALUES), *SHAPE)
    assert calls[0][1].tolist() == [3] * len(VALUES) + [1] * len(VALUES)
    other = traverse(model, x, 0, VALUES, y=torch.tensor([0, 0]))
    assert not torch.allclose(out, other)  # the label reaches the pictures
    with pytest.raises(DataError, match="labels"):
        traverse(model, x, 0, VALUES)


def test_a_hierarchical_model_is_traversed_in_its_top_layer(x):
    model = _model("ladder", lower_dims=[5], hidden=16)  # top layer 3 wide, bottom layer 5
    out = traverse(model, x, 2, VALUES)
    assert out.shape == (2, len(VALUES), *SHAPE)
    with torch.no_grad():  # by hand: the top code, then the generative mean of the layer below
        z_top = model.encode(x).mu.unsqueeze(1).repeat(1, len(VALUES), 1)
        z_top[:, :, 2] = torch.tensor(VALUES)
        z_bottom = model.down[0](z_top).chunk(2, dim=-1)[0]
        expected = model.decode(z_bottom).mean
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out[:, 0], out[:, -1])


def test_interpolation_decodes_the_top_layer_of_a_hierarchical_model(x):
    model = _model("ladder", lower_dims=[5], hidden=16)
    path = interpolate(model, x[:1], x[1:], steps=3)  # decoded the 3-wide top codes as bottom codes before
    assert path.shape == (1, 3, *SHAPE)
    at_mean = traverse(model, x, 0, (0.0,), units="posterior")[:, 0]  # each top posterior mean, decoded
    torch.testing.assert_close(path[0, 0], at_mean[0])
    torch.testing.assert_close(path[0, -1], at_mean[1])


def test_a_point_mass_posterior_has_nothing_to_traverse(x):
    model = _model("vqvae", codebook_size=5, code_dim=1, prior_hidden=8)
    with pytest.raises(ConfigError, match="no Gaussian posterior"):
        traverse(model, x, 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"dim": 3}, "0..2"), ({"dim": -1}, "0..2"), ({"dim": 0, "values": ()}, "at least one value"),
    ({"dim": 0, "units": "sigma"}, "'prior' or 'posterior'"),
])
def test_meaningless_arguments_are_refused(x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        traverse(_model(), x, **kwargs)
