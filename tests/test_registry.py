import pytest

from vaekit.errors import ConfigError
from vaekit.registry import DATASETS, LIKELIHOODS, MODELS, NETWORKS, PRIORS, Registry


def test_builtins_are_registered():
    assert "vae" in MODELS and "bernoulli" in LIKELIHOODS and "gaussian" in LIKELIHOODS
    assert "standard_normal" in PRIORS and {"mlp", "conv"} <= set(NETWORKS.names())
    assert {"digits", "binarized-mnist", "mnist", "fashion-mnist", "arrays", "images"} <= set(DATASETS.names())


def test_unknown_name_suggests_nearest():
    with pytest.raises(ConfigError, match="did you mean 'vae'"):
        MODELS.get("vea")


def test_double_registration_is_refused():
    r = Registry("thing")
    r.register("a")(int)
    with pytest.raises(ValueError):
        r.register("a")(float)
