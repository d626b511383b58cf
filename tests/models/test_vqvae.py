import math
from pathlib import Path

import pytest
import torch

from vaekit.config import parse_config
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.models.vqvae import CodePrior
from family_helpers import loss_of
from vaekit.distributions import PointMass

X = torch.bernoulli(torch.full((64, 12), 0.3), generator=torch.Generator().manual_seed(0))


def _model(**kw):
    torch.manual_seed(0)
    raw = {"name": "vqvae", "latent_dim": 3, "code_dim": 2, "codebook_size": 8, "prior_hidden": 16,
           "encoder": {"hidden": [16]}, "decoder": {"hidden": [16]}, **kw}
    return build_model(parse_config({"model": raw}).model, (12,))


def test_shapes_and_metrics():
    model = _model()
    q = model.encode(X)
    assert isinstance(q, PointMass) and q.mu.shape == (64, 6) and torch.all(q.logvar == -math.inf)
    model.eval()  # a training pass moves the codebook: the codes below must be this pass's
    out = model(X)
    assert out.recon.shape == (64,) and out.z.shape == (64, 6)
    _, codes, _ = model.quantize(X)
    torch.testing.assert_close(out.kl, -model.code_prior.log_prob(codes))  # a point mass on the codes
    torch.testing.assert_close(model.log_weights(X, 2)[1], out.elbo)  # the ELBO is the importance weight
    model.train()
    result = loss_of(model, X)
    assert {"recon", "elbo", "kl", "perplexity", "codebook_usage", "prior_nll", "commitment"} <= set(result.metrics)
    assert result.aux_loss is not None and result.aux_loss.shape == ()
    assert model.log_weights(X, 4).shape == (4, 64)
    assert model.sample(5).shape == (5, 12) and model.reconstruct(X).shape == X.shape


def test_straight_through_gradient_reaches_the_encoder():
    model = _model(commitment=0.0)  # no commitment: the encoder's gradient is the decoder's alone
    loss_of(model, X).loss.backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in model.code_prior.parameters())  # the loss leaves the prior alone
    # The aux loss alone reaches only the prior.
    model.zero_grad()
    loss_of(model, X).aux_loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.code_prior.parameters())


def test_ema_update_matches_a_hand_computation():
    model = _model(latent_dim=1, code_dim=2, codebook_size=3, ema_decay=0.5)
    with torch.no_grad():
        model.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0]]))
        model.embed_sum.copy_(model.codebook)
        model.cluster_size.fill_(1.0)
    z_e = torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]], [[9.0, 11.0]]])  # (B=3, L=1, C=2)
    codes = model.nearest(z_e)
    assert codes.flatten().tolist() == [0, 0, 1]
    model.update_codebook(z_e, codes)
    # code 0: n = 0.5 + 0.5 * 2 = 1.5, sum = 0.5 * (0, 0) + 0.5 * (1, 2) = (0.5, 1)
    # code 1: n = 0.5 + 0.5 = 1, sum = 0.5 * (10, 10) + 0.5 * (9, 11) = (9.5, 10.5)
    # code 2: unused, n = 0.5, sum = (-5, 2.5): it stays where it was
    torch.testing.assert_close(model.cluster_size, torch.tensor([1.5, 1.0, 0.5]))
    torch.testing.assert_close(model.codebook, torch.tensor([[0.5 / 1.5, 1 / 1.5], [9.5, 10.5], [-10.0, 5.0]]))
    assert model.unused_steps.tolist() == [0, 0, 1]
    # Used codes moved towards the mean of their assigned outputs.
    assert (model.codebook[0] - torch.tensor([0.5, 1.0])).norm() < torch.tensor([0.5, 1.0]).norm()


def test_first_training_batch_places_the_codebook_on_encoder_outputs():
    model = _model()
    assert not model.initialized
    z_e = model.encode_codes(X).detach().reshape(-1, 2)
    result = loss_of(model, X)
    assert model.initialized
    # Before its EMA step the codebook held distinct encoder outputs; the step moved them by a
    # fraction (1 - ema_decay) at most, so each code is still close to some encoder output.
    dist = torch.cdist(model.codebook, z_e).min(-1).values
    assert dist.max() < 0.1 * z_e.norm(dim=-1).mean()
    assert result.metrics["codebook_usage"] > 0.5


def test_codebook_moves_only_in_training():
    model = _model()
    before = model.codebook.clone()
    model.eval()
    loss_of(model, X)
    model(X)
    model.log_weights(X, 2)
    assert torch.equal(model.codebook, before)
    model.train()
    loss_of(model, X)
    assert not torch.equal(model.codebook, before)


def test_dead_codes_are_restarted_at_encoder_outputs():
    model = _model(latent_dim=1, code_dim=2, codebook_size=3, dead_after=3)
    with torch.no_grad():
        model.codebook.copy_(torch.tensor([[0.0, 0.0], [100.0, 100.0], [-100.0, 100.0]]))
        model.embed_sum.copy_(model.codebook)
    z_e = torch.randn(8, 1, 2) * 0.1  # always nearest code 0
    for step in range(3):
        model.update_codebook(z_e, model.nearest(z_e))
        if step < 2:
            assert model.unused_steps.tolist() == [0, step + 1, step + 1]
    assert model.unused_steps.tolist() == [0, 0, 0]
    flat = z_e.reshape(-1, 2)
    for k in (1, 2):  # each restarted code sits on one of the batch's encoder outputs
        assert ((flat - model.codebook[k]).norm(dim=-1) < 1e-6).any()
        assert model.cluster_size[k] == 1.0
        torch.testing.assert_close(model.embed_sum[k], model.codebook[k])


def test_perplexity_is_exp_entropy_of_the_code_histogram():
    model = _model()
    model.eval()
    _, codes, _ = model.quantize(X)
    hist = torch.bincount(codes.flatten(), minlength=8).double()
    p = hist[hist > 0] / hist.sum()
    want = math.exp(float(-(p * p.log()).sum()))
    metrics = loss_of(model, X).metrics
    assert metrics["perplexity"].item() == pytest.approx(want, rel=1e-5)
    assert metrics["codebook_usage"].item() == pytest.approx(float((hist > 0).sum()) / 8)


def test_prior_is_autoregressive_and_normalised():
    torch.manual_seed(0)
    prior = CodePrior(positions=3, symbols=3, hidden=8)
    with torch.no_grad():
        for p in prior.parameters():
            p.normal_()
    all_codes = torch.cartesian_prod(*[torch.arange(3)] * 3)  # (27, 3)
    probs = prior.log_prob(all_codes).exp().detach()
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    # Changing a later code never changes an earlier position's logits.
    a, b = torch.tensor([[0, 1, 2]]), torch.tensor([[0, 2, 0]])
    torch.testing.assert_close(prior.logits(a)[:, :2], prior.logits(b)[:, :2])
    # Sampling frequencies match the probabilities (chi-square, 26 degrees of freedom).
    n = 20000
    draws = prior.sample(n, generator=torch.Generator().manual_seed(1))
    index = (draws * torch.tensor([9, 3, 1])).sum(-1)
    counts = torch.bincount(index, minlength=27).double()
    expected = n * probs.double()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 60, chi2  # the 0.9999 quantile of chi2(26) is about 60


def test_temperature_sharpens_the_prior():
    torch.manual_seed(0)
    prior = CodePrior(positions=1, symbols=4, hidden=4)
    with torch.no_grad():
        prior.out.bias.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]))
    cold = prior.sample(2000, temperature=0.1, generator=torch.Generator().manual_seed(0))
    assert (cold == 3).float().mean() > 0.99


def test_log_weights_are_the_reconstruction_plus_the_prior():
    model = _model()
    model.eval()
    lw = model.log_weights(X, 3)
    _, codes, _ = model.quantize(X)
    want = model(X).recon + model.code_prior.log_prob(codes)
    torch.testing.assert_close(lw, want.expand(3, -1))


def test_training_lowers_the_reconstruction_loss():
    model = _model(codebook_size=16, dead_after=5)
    aux = list(model.auxiliary_parameters())
    aux_ids = {id(p) for p in aux}
    main = [p for p in model.parameters() if id(p) not in aux_ids]
    opt, aux_opt = torch.optim.Adam(main, lr=1e-2), torch.optim.Adam(aux, lr=1e-2)
    model.eval()
    with torch.no_grad():
        start = -model(X).recon.mean().item()
        prior_start = loss_of(model, X).metrics["prior_nll"].item()
    model.train()
    for _ in range(150):
        opt.zero_grad(), aux_opt.zero_grad()
        result = loss_of(model, X)
        result.loss.backward(inputs=main, retain_graph=True)
        result.aux_loss.backward(inputs=aux)
        opt.step(), aux_opt.step()
    model.eval()
    with torch.no_grad():
        end = -model(X).recon.mean().item()
        prior_end = loss_of(model, X).metrics["prior_nll"].item()
    assert end < start - 0.5, (start, end)
    assert prior_end < prior_start, (prior_start, prior_end)


def test_state_dict_round_trip_keeps_the_codebook():
    model = _model()
    for _ in range(3):
        loss_of(model, X)  # move the buffers off their initial values
    state = model.state_dict()
    assert {"codebook", "cluster_size", "embed_sum", "unused_steps"} <= set(state)
    other = _model()
    other.load_state_dict(state)
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    model.eval(), other.eval()
    assert torch.equal(model.reconstruct(X), other.reconstruct(X))
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(model.sample(4, generator=g()), other.sample(4, generator=g()))


@pytest.mark.parametrize("kw", [{"codebook_size": 0}, {"dead_after": 0}, {"ema_decay": 1.0},
                                {"prior": {"name": "mixture"}}])
def test_bad_configs_are_refused(kw):
    with pytest.raises(ConfigError):
        _model(**kw)


def test_train_then_sample_through_the_cli(tmp_path, capsys):
    from vaekit.cli import main

    out = tmp_path / "vq"
    code = main(["train", str(Path(__file__).parents[2] / "configs" / "digits.yaml"), "--out", str(out), "--model.name=vqvae", "--train.epochs=1",
                 "--train.progress=false", "--train.sample_grid=0"])
    assert code in (0, None)
    code = main(["sample", str(out), "--out", str(tmp_path / "s.png")])
    assert code in (0, None)
