import pytest
import yaml

from vaekit.config import Config, apply_overrides, dump_config, load_config, parse_config
from vaekit.distributions import GaussianConfig
from vaekit.errors import ConfigError
from vaekit.nn.conv import ConvConfig


def test_defaults_and_polymorphic_sections():
    cfg = parse_config({"model": {"encoder": {"name": "conv", "channels": [8]}, "likelihood": {"name": "gaussian"}}})
    assert isinstance(cfg, Config)
    assert isinstance(cfg.model.encoder, ConvConfig) and cfg.model.encoder.channels == (8,)
    assert isinstance(cfg.model.likelihood, GaussianConfig)
    assert cfg.train.lr == 1e-3


def test_yaml_round_trip(tmp_path):
    cfg = parse_config({"model": {"latent_dim": 3, "decoder": {"name": "conv"}}, "train": {"epochs": 2}})
    again = parse_config(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


def test_dotted_overrides_are_typed():
    cfg = parse_config({}, ["model.latent_dim=7", "train.lr=0.01", "model.encoder.hidden=[64, 32]", "train.compile=true"])
    assert cfg.model.latent_dim == 7 and cfg.train.lr == 0.01 and cfg.model.encoder.hidden == (64, 32)
    assert cfg.train.compile is True
    assert parse_config({}, ["train.lr=1"]).train.lr == 1.0  # ints widen to floats


@pytest.mark.parametrize("override, message", [
    ("model.latnt_dim=3", "did you mean 'latent_dim'"),
    ("trian.epochs=3", "did you mean 'train'"),
    ("train.epochs=abc", "expected an integer"),
    ("train.epochs=2.5", "expected an integer"),
    ("train.compile=maybe", "expected true or false"),
    ("train.precision=fp16", "not allowed"),
    ("model.name=vea", "did you mean 'vae'"),
    ("model.likelihood.name=bernouli", "did you mean 'bernoulli'"),
    ("model.likelihood.sigma=0.1", "unknown config key 'model.likelihood.sigma'"),
    ("train.epochs", "key.path=value"),
])
def test_bad_overrides_fail_with_a_hint(override, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({}, [override])


def test_config_is_frozen():
    cfg = parse_config({})
    with pytest.raises(Exception):
        cfg.train.lr = 3.0  # type: ignore[misc]


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("train: 3\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(wrong)


def test_apply_overrides_does_not_touch_input():
    raw = {"train": {"epochs": 1}}
    apply_overrides(raw, ["train.epochs=5"])
    assert raw == {"train": {"epochs": 1}}


# The shape of one example of each data set the presets name, so their models can be built.
PRESET_SHAPES = {"binarized-mnist": (1, 28, 28), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28),
                 "digits": (1, 8, 8)}


def test_every_preset_parses_and_builds():
    from pathlib import Path

    from vaekit import build_model

    presets = sorted(Path(__file__).parents[1].joinpath("configs").rglob("*.yaml"))
    assert len(presets) >= 20  # configs/, configs/families/ and configs/leaderboard/
    for p in presets:
        config = load_config(p)
        assert config.data.name in PRESET_SHAPES, f"{p}: add the shape of {config.data.name!r} to PRESET_SHAPES"
        build_model(config.model, PRESET_SHAPES[config.data.name], 10)  # raises on a bad combination


def test_exponent_notation_reads_as_a_number(tmp_path):
    # YAML 1.1 reads 1e-4 (no dot) as a string; a float field takes it as the number it spells.
    cfg = parse_config({"train": {"lr": "1e-4"}}, ["train.min_lr=1E-6", "objective.beta=.5e1"])
    assert cfg.train.lr == 1e-4 and cfg.train.min_lr == 1e-6 and cfg.objective.beta == 5.0
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 3e-4\n")
    assert load_config(path).train.lr == 3e-4
    with pytest.raises(ConfigError, match="expected an integer"):
        parse_config({}, ["train.epochs=1e3"])  # integers stay strict
    with pytest.raises(ConfigError, match="expected a number"):
        parse_config({}, ["train.lr=1e"])
