"""The Python API's entry points refuse arguments of the wrong kind or size with a typed one-line
error saying what to pass, where the argument enters: before any file is written, any data is
loaded or any memory is allocated for the result."""

from __future__ import annotations

import math

import pytest
import torch

import vaekit
from vaekit.checks import MAX_IMAGES, MAX_K
from vaekit.errors import ConfigError, InputError
from vaekit.sample import GMMSampler, fitted_sampler

DIGITS = "configs/digits.yaml"


@pytest.fixture(scope="module")
def data(make_data):
    return make_data(n_train=64, n_eval=32)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_config, data):
    out = tmp_path_factory.mktemp("api") / "run"
    vaekit.train(tiny_config("train.epochs=1"), out, dataset=data, log=lambda msg: None)
    return vaekit.load_run(out, dataset=data)


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize("path, message", [
    (None, r"load_config's path .* must be a path \(a str or pathlib.Path\), got None \(NoneType\)"),
    (b"configs/digits.yaml", "got bytes; decode it first"),
    ("", "must name a file or folder, got an empty string"),
])
def test_load_config_path_of_the_wrong_kind(path, message):
    with pytest.raises(InputError, match=message):
        vaekit.load_config(path)


@pytest.mark.parametrize("overrides, message", [
    ("train.epochs=3", r"got the single string 'train.epochs=3'; pass a list such as \['train.epochs=3'\]"),
    ([5], r"override 5 \(int\) is not a string"),
    ({"train.epochs": 3}, "overrides are a list of 'key.path=value' strings, got {"),
])
def test_overrides_must_be_a_list_of_strings(overrides, message):
    with pytest.raises(ConfigError, match=message):
        vaekit.load_config(DIGITS, overrides)
    with pytest.raises(ConfigError, match=message):
        vaekit.parse_config({}, overrides)


# ----------------------------------------------------------------------------- train


@pytest.mark.parametrize("config, message", [
    (DIGITS, r"train expects a Config, got the path 'configs/digits.yaml'; load it with vaekit.load_config"),
    ({"train": {"epochs": 1}}, r"got a dict; make one with vaekit.parse_config\(...\) first"),
    (None, r"train expects a Config \(vaekit.load_config\(path\)\), got NoneType"),
])
def test_train_wants_a_config(tmp_path, config, message):
    with pytest.raises(InputError, match=message):
        vaekit.train(config, tmp_path / "out", log=lambda msg: None)
    assert not (tmp_path / "out").exists()


def test_train_checks_out_dir_and_dataset_before_writing(tmp_path, tiny_config):
    with pytest.raises(InputError, match="train's out_dir must be a path"):
        vaekit.train(tiny_config(), None, log=lambda msg: None)
    with pytest.raises(InputError, match=r"train's dataset must be a vaekit.Dataset .*, got str"):
        vaekit.train(tiny_config(), tmp_path / "out", dataset="x", log=lambda msg: None)
    assert not (tmp_path / "out").exists()


def test_train_refuses_a_gmm_grid_with_more_components_than_examples_before_training(tmp_path, tiny_config, make_data):
    config = tiny_config("train.sample_grid=4", "train.sample_sampler=gmm", "train.sample_components=20")
    with pytest.raises(ConfigError, match=r"cannot fit 20 components to the codes of 8 training examples .*"
                                          r"lower the components to at most 8"):
        vaekit.train(config, tmp_path / "out", dataset=make_data(n_train=8, n_eval=8), log=lambda msg: None)
    assert not (tmp_path / "out" / "metrics.jsonl").exists()  # it failed before the first epoch


# ----------------------------------------------------------------------------- load_run and evaluate


def test_load_run_arguments(run):
    with pytest.raises(InputError, match=r"load_run's run_dir .* got None"):
        vaekit.load_run(None)
    with pytest.raises(ConfigError, match="load_run's device 'banana' is not a device vaekit runs on"):
        vaekit.load_run(run.path, device="banana")
    with pytest.raises(ConfigError, match="pass a list such as"):
        vaekit.load_run(run.path, overrides="eval.importance_samples=20")
    with pytest.raises(InputError, match="load_run's dataset must be a vaekit.Dataset"):
        vaekit.load_run(run.path, dataset="x")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device is available"):
            vaekit.load_run(run.path, device="cuda:0")


def test_evaluate_takes_a_run_directory_as_make_report_does(run, data):
    quiet = {"importance_samples": 3, "write": False, "log": lambda line: None}
    by_path = vaekit.evaluate(str(run.path), **quiet)
    by_run = vaekit.evaluate(vaekit.load_run(run.path), **quiet)  # the same data (the config's), the same seed
    assert by_path["num_examples"] == by_run["num_examples"]
    assert math.isclose(by_path["nll"], by_run["nll"], rel_tol=1e-9)  # same weights, data and seed: one computation
    with pytest.raises(InputError, match=r"evaluate expects a Run \(vaekit.load_run\(path\)\) or the path"):
        vaekit.evaluate(None)


@pytest.mark.parametrize("kwargs, message", [
    ({"importance_samples": float("nan")}, "importance_samples must be an integer, got nan"),
    ({"importance_samples": 2.5}, "importance_samples must be an integer, got 2.5"),
    ({"importance_samples": "10"}, "importance_samples must be an integer, got '10'"),
    ({"importance_samples": MAX_K + 1}, "importance_samples must be at most 1000000"),
    ({"seed": -1}, "seed must be an integer from 0 to 2\\*\\*63-1, got -1"),
    ({"metrics": ["quality"], "sampler": "gmm", "components": 2.5}, r"components \(of the sampler\) must be an integer"),
    ({"limit": 0}, "limit must be at least 1, got 0"),
    ({"split": "tset"}, "unknown split 'tset'"),
])
def test_evaluate_checks_its_numbers_as_the_command_line_does(run, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        vaekit.evaluate(run, write=False, log=lambda line: None, **kwargs)


# ----------------------------------------------------------------------------- sampling helpers


def test_the_helpers_want_the_model_not_the_run(run, data):
    with pytest.raises(InputError, match=r"sample expects a model, got a Run; pass its model: sample\(run.model"):
        vaekit.sample(run, 4)
    with pytest.raises(InputError, match="sample expects a vaekit model .*got NoneType"):
        vaekit.sample(None, 4)
    with pytest.raises(InputError, match="encode expects a model, got a Run"):
        vaekit.encode(run, data.test.x[:2])
    with pytest.raises(InputError, match="decode expects a vaekit model .*got Linear"):
        vaekit.decode(torch.nn.Linear(2, 2), torch.zeros(1, 4))


def test_sampler_must_be_fitted_not_named(run):
    with pytest.raises(InputError, match=r"not the name 'gmm'; fit one with fitted_sampler\(model, 'gmm', train_x\)"):
        vaekit.sample(run.model, 4, sampler="gmm")
    with pytest.raises(InputError, match="takes a fitted sampler such as GMMSampler"):
        vaekit.sample(run.model, 4, sampler=object())


def test_one_call_makes_at_most_what_the_command_line_allows(run, data):
    with pytest.raises(InputError, match=r"sample makes at most 100,000 samples in one call .*several calls"):
        vaekit.sample(run.model, 10**12)  # used to try to allocate 32 TB
    assert vaekit.sample(run.model, 3, seed=0).shape == (3, *data.shape)
    xa = data.test.x[:2]
    with pytest.raises(InputError, match="steps must be at most 100, got 1000000000"):
        vaekit.interpolate(run.model, xa, xa, steps=10**9)
    many = data.test.x[:1].expand(MAX_IMAGES // 100 + 1, *data.shape)  # 1,001 pairs: 100,100 decodings at 100 steps
    with pytest.raises(InputError, match="interpolate makes at most 100,000 decodings"):
        vaekit.interpolate(run.model, many, many, steps=100)
    assert vaekit.interpolate(run.model, xa, xa, steps=100).shape == (2, 100, *data.shape)


def test_a_meta_tensor_is_refused_and_other_devices_are_moved(run, data):
    x = data.test.x[:4]
    with pytest.raises(InputError, match="encode: x is on the meta device, which holds no values"):
        vaekit.encode(run.model, x.to("meta"))
    with pytest.raises(InputError, match="decode: z is on the meta device"):
        vaekit.decode(run.model, torch.zeros(2, 4, device="meta"))
    if torch.cuda.is_available():  # a tensor on another device than the model's is moved to it
        mu, _ = vaekit.encode(run.model, x)
        mu_moved, _ = vaekit.encode(run.model, x.cuda())
        # The same CPU computation on the same (copied) values: equal up to float32 rounding at most.
        torch.testing.assert_close(mu_moved, mu, rtol=0, atol=1e-6)
        torch.testing.assert_close(vaekit.decode(run.model, mu.cuda()), vaekit.decode(run.model, mu), rtol=0, atol=1e-6)
        on_gpu = vaekit.load_run(run.path, device="cuda", dataset=data).model  # and CPU tensors to a GPU model
        mu_gpu, _ = vaekit.encode(on_gpu, x)
        assert vaekit.decode(on_gpu, mu_gpu).device.type == "cpu"  # results come back on the CPU
        torch.testing.assert_close(mu_gpu, mu, rtol=1e-3, atol=1e-4)  # GPU kernels (TF32 matmuls) round differently


def test_gmm_sampler_needs_a_code_per_component(run, data):
    with pytest.raises(ConfigError, match=r"cannot fit 10 components to the codes of 3 training examples \(it needs at "
                                          r"least 10\); lower the components to at most 3"):
        fitted_sampler(run.model, "gmm", data.train.x[:3], components=10)
    with pytest.raises(ConfigError, match=r"cannot fit 1 component to the codes of 1 training example .*needs at least 2"):
        GMMSampler(run.model, components=1).fit(data.train.x[:1])
    with pytest.raises(ConfigError, match="the gmm sampler's components must be an integer, got 2.5"):
        GMMSampler(run.model, components=2.5)
    assert GMMSampler(run.model, components=3).fit(data.train.x[:3]).means.shape == (3, 4)
