"""The FID Inception network with random weights: the published weights cannot be downloaded
here, so these tests check the layout, the loading and the errors, not published FID values.
Each image costs about 6 GFLOP at 299x299, so two tiny images go through the net, once."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from vaekit.errors import ConfigError
from vaekit.evaluate.inception import (
    FIDInceptionV3,
    _avg_pool,
    inception_features,
    load_inception,
    preprocess,
)
from vaekit.evaluate.quality import frechet_distance


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = FIDInceptionV3()
        for m in net.modules():
            # He initialisation keeps the activations of 16 random layers from fading to zero.
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net.state_dict()


@pytest.fixture(scope="module")
def weights(state, tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    return path


def test_the_layout_is_pytorch_fids(state):
    # torchvision's Inception-v3 without the auxiliary head and with 1008 classes: 23,850,960
    # parameters, under the key names of pytorch-fid's weights file.
    net = FIDInceptionV3()
    assert sum(p.numel() for p in net.parameters()) == 23_850_960
    for key in ("Conv2d_1a_3x3.conv.weight", "Conv2d_4a_3x3.bn.running_var", "Mixed_5b.branch5x5_2.conv.weight",
                "Mixed_6e.branch7x7dbl_5.bn.bias", "Mixed_7a.branch7x7x3_4.conv.weight",
                "Mixed_7c.branch3x3dbl_3b.bn.running_mean", "fc.weight"):
        assert key in state
    assert state["fc.weight"].shape == (1008, 2048)
    assert not any(k.startswith("AuxLogits") for k in state)


def test_fid_pools_leave_the_padding_out():
    # TensorFlow's average pool, which FID keeps: a constant image stays constant at the border.
    assert torch.equal(_avg_pool(torch.ones(1, 1, 4, 4)), torch.ones(1, 1, 4, 4))
    net = FIDInceptionV3()
    assert net.Mixed_7c.max_pool and not net.Mixed_7b.max_pool


def test_loads_and_gives_2048_features_whose_fid_with_themselves_is_zero(weights, state):
    net = load_inception(weights)
    assert not net.training
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))  # grey, tiny: resized to 299x299
    feats = inception_features(net, x)
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    assert (feats[0] - feats[1]).abs().max() > 1e-3 * feats.abs().max() > 0  # different images, different features
    assert abs(frechet_distance(feats, feats)) < 1e-6 * float(feats.var(0).sum())
    assert frechet_distance(feats, feats + 1) == pytest.approx(2048, rel=1e-6)


def test_grey_images_are_repeated_resized_and_scaled_to_minus_one_one():
    grey = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])  # (1, 1, 2, 2)
    x = preprocess(grey)
    assert x.shape == (1, 3, 299, 299)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert torch.equal(preprocess(grey.expand(-1, 3, -1, -1)), x)  # as if the image were RGB
    assert x[0, 0, 0, 0] == -1.0 and x[0, 0, 0, -1] == 1.0  # corners keep their pixels: bilinear, no blur


def test_a_safetensors_file_with_the_same_keys_loads(state, tmp_path):
    path = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    net = load_inception(path)
    assert torch.equal(net.Mixed_6b.branch7x7_2.conv.weight, state["Mixed_6b.branch7x7_2.conv.weight"])


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.pth' not found.*pt_inception-2015-12-05-6726825d.pth"):
        load_inception(tmp_path / "nowhere.pth")


def test_keys_that_do_not_match_are_a_clear_error(state, tmp_path):
    wrong = {k: v for k, v in state.items() if not k.startswith("Mixed_7c.")}
    wrong["AuxLogits.fc.weight"] = torch.zeros(1008, 768)
    wrong["AuxLogits.fc.bias"] = torch.zeros(1008)
    path = tmp_path / "torchvision.pth"
    torch.save(wrong, path)
    missing = sum(1 for k in state if k.startswith("Mixed_7c.") and not k.endswith("num_batches_tracked"))
    with pytest.raises(ConfigError) as err:
        load_inception(path)
    message = str(err.value)
    assert str(path) in message and f"{missing} keys missing" in message and "2 unexpected" in message
    assert "Mixed_7c." in message and "AuxLogits.fc.weight" in message


def test_wrong_shapes_and_other_files_are_clear_errors(state, tmp_path):
    bad = dict(state)
    bad["Conv2d_1a_3x3.conv.weight"] = torch.zeros(32, 1, 3, 3)
    torch.save(bad, tmp_path / "shape.pth")
    with pytest.raises(ConfigError, match="wrong shape.*Conv2d_1a_3x3"):
        load_inception(tmp_path / "shape.pth")
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(ConfigError, match="text.pth' cannot be read"):
        load_inception(tmp_path / "text.pth")


def test_old_state_dicts_without_batch_norm_counters_load(state, tmp_path):
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.pth")
    load_inception(tmp_path / "old.pth")


def test_only_images_of_one_or_three_channels(weights):
    with pytest.raises(ConfigError, match="1 or 3 channels"):
        inception_features(FIDInceptionV3(), torch.zeros(2, 64))
