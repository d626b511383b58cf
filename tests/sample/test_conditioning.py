import pytest
import torch

from vaekit.config import parse_config
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.sample import sample
from vaekit.contract import Batch


def test_a_class_for_an_unconditional_model_is_refused():
    model = build_model(parse_config({"model": {"latent_dim": 2, "encoder": {"hidden": [8]}, "decoder": {"hidden": [8]}}}).model, (4,))
    assert sample(model, 3, seed=0).shape == (3, 4)
    with pytest.raises(ConfigError, match="unconditional"):
        sample(model, 3, seed=0, y=1)
    with torch.no_grad():  # labels are accepted and ignored by every unconditional method
        x = torch.rand(2, 4)
        assert torch.equal(model.reconstruct(Batch(x, torch.tensor([0, 1]))), model.reconstruct(x))
