"""data.standardize: vector data under a real-valued likelihood are standardised with statistics of
the training split, stored with the run (codec.json) and undone on output."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vaekit.config import parse_config
from vaekit.data import Dataset, Split, load_dataset
from vaekit.data.codec import IDENTITY, Codec, codec_from_dict, fit_codec, read_codec, run_codec, standardizes
from vaekit.errors import CheckpointError, ConfigError, InputError, TrainingError
from vaekit.run import load_run
from vaekit.train.loop import train

GAUSSIAN = ("model.likelihood.name=gaussian", "train.batch_size=64")


def quiet(msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def income_csv(tmp_path_factory):
    """Incomes around 3e4 +- 1e4, an age column and a small one that follows the income."""
    rng = np.random.default_rng(0)
    n = 600
    income = rng.normal(3e4, 1e4, n)
    age = rng.normal(40, 10, n)
    small = 0.5 * (income - 3e4) / 1e4 + rng.normal(0, 0.3, n)
    path = tmp_path_factory.mktemp("income") / "people.csv"
    path.write_text("income,age,small\n" + "".join(f"{a:.2f},{b:.2f},{c:.4f}\n" for a, b, c in zip(income, age, small)))
    return path


def csv_config(tiny_config, path, *overrides):
    return tiny_config("data.name=arrays", f"data.path={path}", *GAUSSIAN, *overrides)


@pytest.fixture(scope="module")
def income_run(tmp_path_factory, tiny_config, income_csv):
    out = tmp_path_factory.mktemp("income-run") / "run"
    train(csv_config(tiny_config, income_csv), out, log=quiet)
    return out


# ----------------------------------------------------------------------------- training


def test_a_column_in_the_tens_of_thousands_trains_to_a_finite_elbo(income_run):
    run = load_run(income_run)
    vals = [m["val_elbo"] for m in run.metrics()]
    assert len(vals) == 3 and all(math.isfinite(v) for v in vals)
    assert run.summary()["status"] == "complete" and run.summary()["skipped_steps"] == 0


def test_without_standardisation_the_same_run_diverges(tmp_path, tiny_config, income_csv):
    # The failure the default prevents: lowering the rate or clipping is not enough.
    with pytest.raises(TrainingError, match="(non-finite|diverged).*standardise the data \\(data.standardize=standard\\)"):
        train(csv_config(tiny_config, income_csv, "data.standardize=none"), tmp_path / "run", log=quiet)


def test_the_stored_statistics_are_those_of_the_training_split(income_run, tiny_config, income_csv):
    raw = load_dataset(csv_config(tiny_config, income_csv).data)  # the data in their own units
    x = raw.train.x.double().numpy()
    stored = json.loads((income_run / "codec.json").read_text())
    assert stored["kind"] == "standard"
    # float64 statistics of the same float32 values: equal up to summation order (~1e-12 relative)
    np.testing.assert_allclose(stored["mean"], x.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(stored["std"], x.std(axis=0), rtol=1e-10)
    # not those of all the data: the validation and test rows are held out
    everything = np.concatenate([raw.train.x, raw.val.x, raw.test.x]).astype(np.float64)
    assert not np.allclose(stored["mean"], everything.mean(axis=0), rtol=1e-10)
    assert stored["log_scale"] == pytest.approx(float(np.log(x.std(axis=0)).sum()), rel=1e-10)


def test_the_run_sees_standardised_data_and_decodes_back(income_run, tiny_config, income_csv):
    run = load_run(income_run)
    data = run.dataset()
    assert data.codec == run.codec and not run.codec.identity
    train_x = data.train.x.double()
    # standardised with the training split's own statistics: mean 0, std 1 (float32 rounding)
    assert train_x.mean(0).abs().max() < 1e-5 and (train_x.std(0, unbiased=False) - 1).abs().max() < 1e-5
    raw = load_dataset(csv_config(tiny_config, income_csv).data)
    # float32 round trip of values ~3e4: a few ulps (ulp(3e4) ~ 0.002)
    torch.testing.assert_close(run.codec.decode(data.test.x), raw.test.x, rtol=1e-6, atol=0.02)


def test_samples_and_reconstructions_come_back_in_the_original_units(income_run, tmp_path):
    from vaekit.cli import main

    def npy(*args: str) -> np.ndarray:
        out = tmp_path / f"{args[0]}.npy"
        assert main([args[0], str(income_run), *args[1:], "--out", str(out)]) == 0
        return np.load(out)

    samples = npy("sample", "-n", "400")
    recon = npy("reconstruct", "-n", "60")
    inter = npy("interpolate", "--pairs", "4", "--steps", "5")
    for x in (samples, recon, inter):
        assert x.shape[1] == 3
        # the income column: mean 3e4 and std 1e4 in the data; a model in standardised units
        # would give values near 0
        assert 2.0e4 < x[:, 0].mean() < 4.0e4, x[:, 0].mean()
        assert 30 < x[:, 1].mean() < 50
    originals = recon[0::2]
    raw = load_run(income_run).codec.decode(load_run(income_run).dataset().test.x[:60]).numpy()
    np.testing.assert_allclose(originals, raw, rtol=1e-6)  # the same float32 decode, the same values


def test_resume_keeps_the_stored_codec(income_run, tmp_path, tiny_config, income_csv):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(income_run, copy)
    before = (copy / "codec.json").read_text()
    train(csv_config(tiny_config, income_csv, "train.epochs=4"), copy, resume=True, log=quiet)
    assert (copy / "codec.json").read_text() == before
    assert math.isfinite(load_run(copy).metrics()[-1]["val_elbo"])


def test_evaluate_reports_the_nll_in_the_data_units_too(income_run):
    from vaekit.evaluate import evaluate

    run = load_run(income_run)
    result = evaluate(run, "test", 5, write=False, log=quiet)
    # -log p(x) = -log p(encode(x)) + sum_d log std_d (the Jacobian of the standardisation)
    assert result["nll_data_units"] == pytest.approx(result["nll"] + run.codec.log_scale, rel=1e-12)


# ----------------------------------------------------------------------------- when it applies


def vectors(x: torch.Tensor, image: bool = False, dynamic: bool = False) -> Dataset:
    n = len(x)
    return Dataset("v", Split(x[: n // 2]), Split(x[n // 2 :]), Split(x[n // 2 :]), shape=tuple(x.shape[1:]),
                   is_image=image, binary=False, dynamic_binarize=dynamic, num_classes=None)


def test_auto_standardises_vectors_under_a_real_valued_likelihood_only():
    data = vectors(torch.rand(10, 3))
    assert standardizes("auto", data, real_valued=True, likelihood="gaussian")
    assert not standardizes("auto", data, real_valued=False, likelihood="bernoulli")
    assert not standardizes("none", data, real_valued=True, likelihood="gaussian")
    assert not standardizes("auto", vectors(torch.rand(10, 1, 2, 2), image=True), True, "gaussian")
    assert not standardizes("auto", vectors(torch.rand(10, 3), dynamic=True), True, "gaussian")


@pytest.mark.parametrize("data, real_valued, message", [
    (vectors(torch.rand(10, 1, 2, 2), image=True), True, "applies to vector data"),
    (vectors(torch.rand(10, 3), dynamic=True), True, "data.binarize=dynamic"),
    (vectors(torch.rand(10, 3)), False, "which the bernoulli likelihood cannot model; use model.likelihood.name=gaussian"),
])
def test_standard_is_refused_where_it_cannot_work(data, real_valued, message):
    with pytest.raises(ConfigError, match=message):
        standardizes("standard", data, real_valued, "bernoulli")


def test_an_unknown_mode_is_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'standard'"):
        standardizes("standart", vectors(torch.rand(10, 3)), True, "gaussian")
    with pytest.raises(ConfigError, match="data.standardize"):  # from YAML, the config names the key
        parse_config({"data": {"standardize": "yes"}})


def test_image_runs_store_the_identity_codec(tmp_path, tiny_data, tiny_config):
    run = train(tiny_config("train.epochs=1"), tmp_path / "run", dataset=tiny_data, log=quiet)
    assert json.loads((tmp_path / "run" / "codec.json").read_text()) == {"kind": "identity", "modality": "image"}
    assert run.codec.identity and torch.equal(run.dataset().test.x, tiny_data.test.x)  # the same tensors, untouched
    assert run.codec.is_image  # what every command renders by: PNG grids, not arrays


def test_runs_from_before_the_codec_named_its_modality_get_it_from_their_shape(tmp_path):
    (tmp_path / "codec.json").write_text('{"kind": "identity"}')
    assert run_codec(tmp_path, (1, 8, 8), {}, tmp_path / "w").is_image
    assert not run_codec(tmp_path, (6,), {}, tmp_path / "w").is_image
    (tmp_path / "codec.json").unlink()  # the weights' copy names its modality, and counts
    assert run_codec(tmp_path, (6,), {"codec": '{"kind": "identity", "modality": "image"}'}, tmp_path / "w").is_image
    with pytest.raises(CheckpointError, match="modality 'sound' is none of image, vector"):
        codec_from_dict({"kind": "identity", "modality": "sound"}, "codec.json")


# ----------------------------------------------------------------------------- the codec itself


def test_fit_matches_numpy_and_leaves_constant_columns_unscaled():
    x = torch.tensor([[1.0, 5.0, 30000.0], [3.0, 5.0, 10000.0], [8.0, 5.0, 50000.0]])
    codec = fit_codec(vectors(torch.cat([x, x])), True)  # the train split is the first 3 rows
    a = x.double().numpy()
    np.testing.assert_allclose(codec.mean, a.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(codec.std, [a[:, 0].std(), 1.0, a[:, 2].std()], rtol=1e-12)
    z = codec.encode(x)
    assert torch.equal(z[:, 1], torch.zeros(3))  # centred, not divided by 0
    torch.testing.assert_close(codec.decode(z), x, rtol=1e-6, atol=0.0)
    assert codec.decode(z.numpy()).dtype == np.float32  # numpy in, numpy out
    with pytest.raises(InputError, match="standardises 3 features, but the values have 2"):
        codec.decode(torch.zeros(4, 2))


def test_a_codec_survives_its_json_form(tmp_path):
    codec = Codec("standard", (1.5, -2.0), (3.0, 0.25), "vector")
    (tmp_path / "codec.json").write_text(json.dumps(codec.to_dict()))
    assert read_codec(tmp_path, 2) == codec  # floats written by json round-trip exactly
    assert read_codec(tmp_path / "nowhere") == IDENTITY  # a run from before codecs


@pytest.mark.parametrize("text", ["{", '{"kind": "zscore"}', '{"kind": "standard", "mean": [0], "std": [0]}',
                                  '{"kind": "standard", "mean": [0, 1], "std": [1, 1]}', '{"kind": "standard"}'])
def test_a_damaged_codec_file_is_a_checkpoint_error(tmp_path, text):
    (tmp_path / "codec.json").write_text(text)
    with pytest.raises(CheckpointError, match="codec.json' is damaged.*retrain"):
        read_codec(tmp_path, 1)
