import json
import math

import pytest
import torch

from vaekit.config import parse_config
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.run import METRICS
from vaekit.train.loop import train
from family_helpers import loss_of

X = torch.bernoulli(torch.full((16, 10), 0.4), generator=torch.Generator().manual_seed(0))


def _model(name="vaegan", **kw):
    torch.manual_seed(0)
    cfg = parse_config({"model": {"name": name, "latent_dim": 3, "encoder": {"hidden": [16]}, "decoder": {"hidden": [16]}, **kw}})
    return build_model(cfg.model, (10,))


def _split(model):
    aux = list(model.auxiliary_parameters())
    ids = {id(p) for p in aux}
    return [p for p in model.parameters() if id(p) not in ids], aux


def test_auxiliary_parameters_are_the_discriminator():
    model = _model()
    main, aux = _split(model)
    assert {id(p) for p in aux} == {id(p) for p in model.discriminator.parameters()}
    assert main and all(not n.startswith("discriminator.") for n, p in model.named_parameters() if id(p) in {id(q) for q in main})


def test_each_loss_reaches_only_its_own_parameters():
    model = _model()
    main, aux = _split(model)
    result = loss_of(model, X)
    # As the training loop does it.
    result.loss.backward(inputs=main, retain_graph=True)
    assert all(p.grad is None for p in aux)
    assert all(p.grad is not None for p in main)
    main_grads = [p.grad.clone() for p in main]
    result.aux_loss.backward(inputs=aux)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in aux)
    assert all(torch.equal(p.grad, g) for p, g in zip(main, main_grads))

    # The discriminator's loss alone, with nothing restricting it, never reaches the encoder or
    # decoder: it sees only detached reconstructions and samples.
    model.zero_grad(set_to_none=True)
    loss_of(model, X).aux_loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in main)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in aux)


def test_without_the_feature_and_gan_terms_the_loss_is_the_vae():
    vg, vae = _model(gan_weight=0.0, feature_weight=0.0), _model("vae")
    missing, unexpected = vae.load_state_dict(vg.state_dict(), strict=False)
    assert not missing and all(k.startswith("discriminator.") for k in unexpected)
    for beta in (1.0, 0.3):
        torch.manual_seed(1)
        a = loss_of(vg, X, beta=beta)
        torch.manual_seed(1)
        b = loss_of(vae, X, beta=beta)
        torch.testing.assert_close(a.loss, b.loss)
        for k in ("elbo", "recon", "kl"):
            torch.testing.assert_close(a.metrics[k], b.metrics[k])


def test_loss_is_the_weighted_sum_of_its_terms():
    model = _model(gan_weight=0.0, feature_weight=2.0, pixel_weight=0.5, feature_sigma=0.5)
    out = loss_of(model, X, beta=0.7)
    m = out.metrics
    torch.testing.assert_close(out.loss, -0.5 * m["recon"] + 0.7 * m["kl"] + 2.0 * m["feature_recon"])
    assert {"elbo", "recon", "kl", "feature_recon", "d_loss", "d_real", "d_fake"} <= set(m)
    assert all(torch.isfinite(v) for v in m.values())
    assert 0 < float(m["d_real"]) < 1 and 0 < float(m["d_fake"]) < 1


@pytest.mark.parametrize("kw", [{"disc_features": 0}, {"feature_sigma": 0.0}, {"gan_weight": -1.0}])
def test_bad_settings_are_refused(kw):
    with pytest.raises(ConfigError):
        _model(**kw)


def test_training_runs_and_the_discriminator_separates_real_from_fake(tiny_data, tiny_config, tmp_path):
    config = tiny_config("model.name=vaegan", "model.disc_features=16", "train.epochs=4")
    run = train(config, tmp_path / "run", dataset=tiny_data, log=lambda msg: None)
    records = [json.loads(ln) for ln in (tmp_path / "run" / METRICS).read_text().splitlines()]
    assert len(records) == 4
    for r in records:
        assert all(math.isfinite(r[f"train_{k}"]) for k in ("elbo", "recon", "kl", "feature_recon", "d_loss", "d_real", "d_fake"))
        assert math.isfinite(r["val_elbo"])
    assert records[-1]["train_d_real"] > records[-1]["train_d_fake"]
    assert run.model.sample(3).shape == (3, *tiny_data.shape)


def test_free_bits_is_refused(tiny_data, tiny_config, tmp_path):
    config = tiny_config("model.name=vaegan", "objective.free_bits=0.5")
    with pytest.raises(ConfigError, match="free_bits"):
        train(config, tmp_path / "run", dataset=tiny_data, log=lambda msg: None)
