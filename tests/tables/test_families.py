"""Every registered family trains on a table under the mixed likelihood, and every Gaussian-latent
one with a likelihood bound synthesizes and imputes its rows (the issue's "every Gaussian-latent
family works on tables")."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

import vaekit
from vaekit.config import to_dict
from vaekit.errors import InputError
from vaekit.registry import MODELS
from vaekit.sample.rows import impute_rows, synthesize

from table_helpers import table_config

EXTRA = {"cvae": {}, "ladder": {"latent_dims": [4, 2]}, "hvae": {}, "vqvae": {"codebook_size": 16}}


@pytest.mark.parametrize("family", [n for n in MODELS.names() if MODELS.get(n).traits.latent])  # lm: text only
def test_every_family_trains_on_a_table(family, table_csv, tmp_path):
    raw = to_dict(table_config(table_csv, name=family))
    raw["model"] = {k: v for k, v in raw["model"].items() if k in ("name", "latent_dim", "encoder", "decoder")}
    raw["data"]["columns"] = {"id": "exclude"}
    if family == "cvae":
        raw["data"]["label_column"] = "owner"
    raw["train"]["epochs"] = 1
    config = vaekit.parse_config(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = vaekit.train(config, tmp_path / family)
    assert run.config.model.likelihood.name == "mixed"
    assert math.isfinite(run.metrics()[-1]["val_recon"])
    traits = run.model.traits
    gaussian_bound = traits.posterior == "gaussian" and traits.bound and not traits.hierarchical
    rows = synthesize(run, 20, seed=0)
    assert len(rows) == 20 and not rows.isna().any().any()
    given = pd.read_csv(table_csv).head(10)
    if gaussian_bound:
        filled = impute_rows(run, given, num_samples=20, draws=5)
        assert not filled.drop(columns="id").isna().any().any()
    else:  # the importance weights need a Gaussian posterior and a bound: a one-line refusal
        with pytest.raises(InputError, match=family):
            impute_rows(run, given, num_samples=20, draws=5)
