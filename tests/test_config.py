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
        if config.data.name == "table":  # its likelihood's layout comes from a table: the one of the table tests
            _build_for_a_table(config)
            continue
        if config.data.name == "text":  # its vocabulary sizes come from a corpus: a tiny one
            _build_for_text(config)
            continue
        assert config.data.name in PRESET_SHAPES, f"{p}: add the shape of {config.data.name!r} to PRESET_SHAPES"
        build_model(config.model, PRESET_SHAPES[config.data.name], 10)  # raises on a bad combination


def _build_for_a_table(config):
    import warnings

    from table_helpers import make_table
    from vaekit import build_model
    from vaekit.data.table import TableCodec
    from vaekit.train.prepare import for_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id column is left out
        codec = TableCodec.fit(make_table())

    class Data:  # what for_data reads of a data set
        pass

    data = Data()
    data.codec = codec
    config = for_data(config, data)
    build_model(config.model, (codec.width,), None)


def _build_for_text(config):
    from text_helpers import corpus, text_dataset
    from vaekit import build_model
    from vaekit.train.prepare import for_data

    data = text_dataset(corpus(20), corpus(5, seed=1), max_length=config.data.max_length or 64)
    build_model(for_data(config, data).model, data.shape, None)


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


# ----------------------------------------------------------------------------- what a YAML file may hold


@pytest.mark.parametrize("raw, expected", [
    (42, "got the number 42"), ([{"train": {}}], "got a list of 1 item"), ("train", "got the text 'train'"),
])
def test_parse_config_of_a_non_mapping_is_a_config_error(raw, expected):
    with pytest.raises(ConfigError, match=expected) as e:
        parse_config(raw)
    assert "data:, model:, objective:, train:, eval:" in str(e.value)


def test_a_key_set_twice_is_an_error_at_any_depth(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 1\n  lr: 0.1\n  epochs: 4\n")
    with pytest.raises(ConfigError, match=r"sets 'train.epochs' twice \(lines 2 and 4\); keep one"):
        load_config(path)
    path.write_text("model:\n  encoder: {name: mlp, hidden: [4], name: conv}\n")
    with pytest.raises(ConfigError, match=r"sets 'model.encoder.name' twice; keep one"):  # one line: no line numbers
        load_config(path)
    with pytest.raises(ConfigError, match=r"override 'model.encoder' sets 'name' twice"):
        parse_config({}, ["model.encoder={name: mlp, name: conv}"])


def test_anchors_and_merge_keys_still_read(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  encoder: &net {name: mlp, hidden: [8]}\n  decoder:\n    <<: *net\n    hidden: [4]\n")
    cfg = load_config(path)
    assert cfg.model.encoder.hidden == (8,) and cfg.model.decoder.hidden == (4,)


def test_a_run_config_goes_through_the_same_reader(tmp_path):
    from vaekit.run import read_config

    (tmp_path / "config.yaml").write_text("train:\n  epochs: 1\ntrain:\n  epochs: 2\n")
    with pytest.raises(ConfigError, match=r"config file '.*config.yaml' sets 'train' twice \(lines 1 and 3\)"):
        read_config(tmp_path)
    (tmp_path / "config.yaml").write_text("7\n")
    with pytest.raises(ConfigError, match="holds the number 7, not settings"):
        read_config(tmp_path)


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty"), (b"~\n", "is empty"), (b"[1, 2]\n", "holds a list of 2 items"),
    (b"\xff\xfe\x00bad", "is not UTF-8 text"),
])
def test_unusable_files_are_one_line_errors(tmp_path, content, expected):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=expected) as e:
        load_config(path)
    assert "\n" not in str(e.value)


def test_a_file_without_a_model_section_gets_the_default_model(tmp_path):
    from vaekit.models.vae import VAEConfig

    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 1\n")
    cfg = load_config(path)
    assert type(cfg.model) is VAEConfig and cfg.model.latent_dim == VAEConfig().latent_dim  # not the bare base class
    assert type(parse_config({}).model) is VAEConfig


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("override, message", [
    ("train.seed=1234567890123456789012345", r"train.seed must be at most 2\*\*63-1 \(the largest 64-bit integer\), got 1234567890...\(25 digits\)"),
    (f"train.seed={2**63}", r"train.seed must be at most 2\*\*63-1"),
    ("train.seed=-1", r"train.seed must be an integer from 0 to 2\*\*63-1, got -1"),
    (f"data.split_seed={2**63}", r"data.split_seed must be at most 2\*\*63-1"),  # below 0: load_dataset's DataError
    (f"train.epochs={-2**63 - 1}", r"train.epochs must be at least -9223372036854775808"),
    ("model.latent_dim=99999999999999999999", r"model.latent_dim must be at most 2\*\*63-1"),
    ("train.lr=.nan", "train.lr must be a finite number, got nan"),
    ("train.lr=.inf", "train.lr must be a finite number, got inf"),
    ("objective.beta=1e999", "objective.beta must be a finite number, got inf"),
    (f"train.max_minutes={10**400}", "train.max_minutes must be a finite number, got an integer of 401 digits"),
])
def test_numbers_a_config_cannot_hold(override, message):
    with pytest.raises(ConfigError, match=message) as e:
        parse_config({}, [override])
    assert "Overflow" not in str(e.value)


def test_the_largest_seeds_are_accepted():
    cfg = parse_config({}, [f"train.seed={2**63 - 1}", f"data.split_seed={2**63 - 1}"])
    assert cfg.train.seed == cfg.data.split_seed == 2**63 - 1


def test_hostile_yaml_is_a_one_line_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: &x [1, *x]\n")  # PyYAML builds a list that contains itself
    with pytest.raises(ConfigError, match=r"'a\[1\]' contains itself \(a recursive YAML anchor\)"):
        load_config(path)
    bomb = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]  # nine levels of nine aliases: 9**9 values once expanded
    bomb += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    path.write_text("\n".join(bomb) + "\n")
    with pytest.raises(ConfigError, match="expands to more than 100,000 values through its aliases"):
        load_config(path)
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nests its values too deeply"):
        load_config(path)
    with pytest.raises(ConfigError, match="override 'train.epochs' nests its values too deeply"):
        parse_config({}, ["train.epochs=" + "[" * 5000])
