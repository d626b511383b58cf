"""The MLP and conv encoders and decoders: shapes, sample dimensions, and the config errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vaekit.config import parse_config
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.nn import activation
from vaekit.nn.conv import ConvConfig, ConvDecoder, ConvEncoder
from vaekit.nn.mlp import MLPConfig, MLPDecoder, MLPEncoder


@pytest.mark.parametrize("shape", [(5,), (1, 8, 8), (3, 4, 6)])
def test_mlp_encoder_flattens_any_example_shape(shape):
    enc = MLPEncoder(MLPConfig(hidden=(16, 8)), shape, 6)
    assert enc(torch.rand(3, *shape)).shape == (3, 6)


@pytest.mark.parametrize("shape", [(5,), (2, 8, 8)])
def test_mlp_decoder_shapes_and_sample_dims(shape):
    torch.manual_seed(0)
    dec = MLPDecoder(MLPConfig(hidden=(16, 8)), 4, shape)
    assert dec(torch.randn(3, 4)).shape == (3, *shape)
    z = torch.randn(7, 3, 4)  # (S, B, D)
    out = dec(z)
    assert out.shape == (7, 3, *shape)
    torch.testing.assert_close(out[2], dec(z[2]))  # each sample decoded as its own batch


def test_mlp_layers_follow_the_config():
    enc = MLPEncoder(MLPConfig(hidden=(16, 8), activation="tanh"), (10,), 6)
    widths = [m.out_features for m in enc.modules() if isinstance(m, nn.Linear)]
    assert widths == [16, 8, 6]
    assert sum(isinstance(m, nn.Tanh) for m in enc.modules()) == 2  # between layers, none after the last
    dec = MLPDecoder(MLPConfig(hidden=(16, 8)), 3, (10,))
    assert [m.out_features for m in dec.modules() if isinstance(m, nn.Linear)] == [8, 16, 10]  # mirrored


@pytest.mark.parametrize("channels, hidden", [((4,), 16), ((4, 8), 16), ((4, 8, 8), 0)])
def test_conv_encoder_and_decoder_shapes(channels, hidden):
    torch.manual_seed(0)
    cfg = ConvConfig(channels=channels, hidden=hidden)
    shape = (3, 16, 24)
    assert ConvEncoder(cfg, shape, 10)(torch.rand(2, *shape)).shape == (2, 10)
    dec = ConvDecoder(cfg, 5, (6, 16, 24))  # e.g. 2 parameters per pixel of a 3-channel image
    assert dec(torch.randn(2, 5)).shape == (2, 6, 16, 24)
    z = torch.randn(4, 2, 5)  # (S, B, D)
    out = dec(z)
    assert out.shape == (4, 2, 6, 16, 24)
    torch.testing.assert_close(out[1], dec(z[1]))


@pytest.mark.parametrize("part", ["encoder", "decoder"])
@pytest.mark.parametrize("shape", [(1, 30, 30), (1, 8, 12)])
def test_conv_needs_sides_divisible_by_two_per_stage(part, shape):
    cfg = ConvConfig(channels=(4, 8, 8))  # 3 stages: sides divisible by 8; 30x30 and 8x12 are not
    build = ConvEncoder if part == "encoder" else ConvDecoder
    args = (cfg, shape, 4) if part == "encoder" else (cfg, 4, shape)
    with pytest.raises(ConfigError, match="data.image_size") as e:
        build(*args)
    assert f"{shape[1]}x{shape[2]}" in str(e.value) and "divisible by 8" in str(e.value)


def test_conv_shape_error_through_the_model_config():
    cfg = parse_config({"model": {"encoder": {"name": "conv"}, "decoder": {"name": "conv"}}}).model
    build_model(cfg, (1, 28, 28))  # the default two stages fit 28 = 4 * 7
    with pytest.raises(ConfigError, match="data.image_size"):
        build_model(cfg, (1, 30, 30))


@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_conv_on_vectors_is_a_config_error(part):
    cfg = parse_config({"model": {part: {"name": "conv"}}}).model
    with pytest.raises(ConfigError, match="mlp"):
        build_model(cfg, (64,))


def test_unknown_activation_suggests_the_nearest():
    with pytest.raises(ConfigError, match="did you mean 'relu'"):
        activation("rleu")
    cfg = parse_config({"model": {"decoder": {"name": "conv", "activation": "gelü"}}}).model
    with pytest.raises(ConfigError, match="unknown activation 'gelü' \\(did you mean 'gelu'\\?\\)"):
        build_model(cfg, (1, 8, 8))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "softplus"])
def test_every_documented_activation_builds(name):
    act = activation(name)
    assert isinstance(act, nn.Module) and act is not activation(name)  # a fresh module each time
    assert act(torch.linspace(-2, 2, 5)).shape == (5,)


def test_mlp_rejects_non_positive_widths():
    with pytest.raises(ConfigError, match=r"hidden\[1\] must be at least 1, got 0"):  # the config's range
        MLPEncoder(MLPConfig(hidden=(16, 0)), (4,), 2)


def test_mlp_refuses_more_hidden_layers_than_any_use():
    """20,000 layers (a list pasted over and over) trained at 17 img/s rather than failing."""
    MLPEncoder(MLPConfig(hidden=(8,) * 100), (4,), 2)  # the limit itself builds
    with pytest.raises(ConfigError, match="101 hidden layers, more than 100"):
        MLPEncoder(MLPConfig(hidden=(8,) * 101), (4,), 2)
