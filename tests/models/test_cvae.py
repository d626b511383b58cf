import pytest
import torch

from vaekit.config import parse_config
from vaekit.errors import ConfigError, DataError
from vaekit.models import build_model
from vaekit.sample import sample
from family_helpers import loss_of
from vaekit.contract import Batch


def _cvae(encoder="mlp", classes=2, shape=(1, 4, 4)):
    enc = {"name": "conv", "channels": [4], "hidden": 16} if encoder == "conv" else {"name": "mlp", "hidden": [32]}
    cfg = parse_config({"model": {"name": "cvae", "latent_dim": 2, "encoder": enc, "decoder": {"name": "mlp", "hidden": [32]}}})
    return build_model(cfg.model, shape, classes)


@pytest.mark.parametrize("encoder", ["mlp", "conv"])
def test_the_label_chooses_what_is_generated(encoder):
    # Class 0 lights the top half of a 4x4 image, class 1 the bottom half: after training, samples
    # of a chosen class must show that class's half.
    torch.manual_seed(0)
    y = torch.arange(256) % 2
    x = torch.zeros(256, 1, 4, 4)
    x[y == 0, :, :2] = 1.0
    x[y == 1, :, 2:] = 1.0
    model = _cvae(encoder)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss_of(model, x, y).loss.backward()
        opt.step()
    model.eval()
    for cls in (0, 1):
        s = sample(model, 16, seed=0, y=cls)
        top, bottom = s[:, :, :2].mean().item(), s[:, :, 2:].mean().item()
        assert (top > 0.9 and bottom < 0.1) if cls == 0 else (bottom > 0.9 and top < 0.1)


def test_labels_are_required_and_checked():
    model = _cvae()
    x = torch.rand(3, 1, 4, 4)
    with pytest.raises(DataError, match="needs the labels"):
        loss_of(model, x)
    with pytest.raises(DataError, match="labels must lie in 0..1"):
        loss_of(model, x, torch.tensor([0, 1, 5]))
    assert model.log_weights(Batch(x, torch.tensor([0, 1, 1])), 4).shape == (4, 3)


def test_needs_a_labelled_data_set():
    with pytest.raises(ConfigError, match="needs labels"):
        _cvae(classes=None)
    cfg = parse_config({"model": {"name": "cvae", "num_classes": 3, "latent_dim": 2}}).model
    assert build_model(cfg, (5,)).num_classes == 3  # set in the config when the data has none
