"""Aggressive training of the inference network (He et al. 2019, vaekit/train/aggressive.py).

The encoder-only and decoder-only steps change exactly their own parameters, and equal two
separate Adam optimizers stepped as the reference code steps them; the inner loop stops by the
paper's rule; the phase ends after the first epoch whose validation I(x;z) falls, as
metrics.jsonl and the training state show; a run killed before or after that epoch resumes to
the same weights and metrics; families that cannot be trained so are refused by name.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from train_helpers import StopAt
from vaekit.config import TrainConfig, parse_config
from vaekit.contract import Batch, Family, Terms
from vaekit.errors import ConfigError
from vaekit.evaluate.latents import mutual_information, posterior_moments
from vaekit.models import build_model
from vaekit.objectives import Weights, reduce
from vaekit.train import aggressive as aggressive_mod
from vaekit.train import loop
from vaekit.train.aggressive import Aggressive
from vaekit.train.checkpoint import load_state
from vaekit.train.distributed import Distributed
from vaekit.train.state import Counters
from vaekit.train.step import Step, StepResult
from vaekit.weights import load_weights

SHAPE = (1, 8, 8)
AGGRESSIVE = ("train.aggressive=true", "train.aggressive_inner_steps=6", "train.aggressive_window=2")

# Families that train aggressively, as (model section, prior section); the rest are refused.
FAMILIES = {
    "vae": ({"name": "vae"}, None),
    "cvae": ({"name": "cvae"}, None),
    "iwae": ({"name": "iwae", "k": 3}, None),
    "betatcvae": ({"name": "betatcvae"}, None),
    "capacity_vae": ({"name": "capacity_vae", "capacity_steps": 10}, None),
    "infovae": ({"name": "infovae", "lam": 10.0}, None),
    "ladder": ({"name": "ladder", "lower_dims": [4], "hidden": 16}, None),
    "hvae": ({"name": "hvae", "lower_dims": [4], "hidden": 16}, None),
    "vae+vampprior": ({"name": "vae"}, {"name": "vampprior", "components": 4}),
    "vae+mixture": ({"name": "vae"}, {"name": "mixture", "components": 3}),
}
REFUSED = {
    "wae": ({"name": "wae"}, "deterministic encoder"),
    "vqvae": ({"name": "vqvae", "codebook_size": 5, "code_dim": 1, "prior_hidden": 8}, "deterministic encoder"),
    "vaegan": ({"name": "vaegan", "disc_features": 8}, "auxiliary parameters"),
}


def quiet(msg: str) -> None:
    pass


def untimed(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time", "images_per_sec")} for r in records]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    assert not [k for k in a if not torch.equal(a[k], b[k])]


def tiny_model(section: dict, prior: dict | None = None, seed: int = 0) -> Family:
    raw = {"latent_dim": 3, "encoder": {"name": "mlp", "hidden": [16]}, "decoder": {"name": "mlp", "hidden": [16]},
           **section, **({"prior": prior} if prior else {})}
    torch.manual_seed(seed)
    return build_model(parse_config({"model": raw}).model, SHAPE, 4)


def tiny_batch(n: int = 8) -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch(torch.bernoulli(torch.full((n, *SHAPE), 0.4), generator=g), torch.randint(0, 4, (n,), generator=g))


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.detach().clone() for k, p in model.named_parameters()}


def changed(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> set[str]:
    return {k for k, p in model.named_parameters() if not torch.equal(p, before[k])}


def inference_names(model: Family) -> set[str]:
    ids = {id(p) for p in model.inference_parameters()}
    return {k for k, p in model.named_parameters() if id(p) in ids}


def run_step(step: Step, batch: Batch, part: str, seed: int = 0) -> StepResult:
    torch.manual_seed(seed)
    return step(batch, 0.01, torch.tensor(1.0), torch.tensor(0.0), part=part)


# ----------------------------------------------------------------------------- the two parts


@pytest.mark.parametrize("family", list(FAMILIES))
def test_encoder_steps_change_only_the_inference_network_and_decoder_steps_only_the_rest(family):
    model = tiny_model(*FAMILIES[family])
    tc = TrainConfig(aggressive=True, lr=0.01, weight_decay=0.01, grad_clip=5.0)  # decay moves any parameter it reaches
    step = Step(model, model, tc, parse_config({}).objective)
    inference = inference_names(model)
    everything = {k for k, _ in model.named_parameters()}
    assert inference and inference < everything
    batch = tiny_batch()

    before = snapshot(model)
    assert run_step(step, batch, "inference").ok
    assert changed(model, before) == inference
    before = snapshot(model)
    assert run_step(step, batch, "generative").ok
    assert changed(model, before) == everything - inference
    before = snapshot(model)
    assert run_step(step, batch, "all").ok  # after the phase: one step of everything
    assert changed(model, before) == everything


def test_the_hierarchies_declare_every_part_of_their_posterior():
    hvae = inference_names(tiny_model(*FAMILIES["hvae"]))
    assert {n.split(".")[0] for n in hvae} == {"encoder", "q_x", "q_z", "q_joint"}
    ladder = inference_names(tiny_model(*FAMILIES["ladder"]))
    assert {n.split(".")[0] for n in ladder} == {"encoder", "up", "up_heads"}
    vamp = inference_names(tiny_model(*FAMILIES["vae+vampprior"]))
    assert {n.split(".")[0] for n in vamp} == {"encoder"}  # the pseudo-inputs are the prior's: generative


def test_one_adam_stepping_one_part_equals_two_optimizers_as_the_reference_code_steps_them():
    """He et al.'s loop: an Adam for the encoder and one for the decoder; every step back-propagates
    the whole loss, clips the whole gradient and steps one of them (both after the phase)."""
    ours, ref = tiny_model({"name": "vae"}), tiny_model({"name": "vae"})
    tc = TrainConfig(aggressive=True, lr=0.01, weight_decay=0.01, grad_clip=0.5)
    step = Step(ours, ours, tc, parse_config({}).objective)
    inf_ids = {id(p) for p in ref.inference_parameters()}
    parts = {"inference": [p for p in ref.parameters() if id(p) in inf_ids],
             "generative": [p for p in ref.parameters() if id(p) not in inf_ids]}
    opts = {k: torch.optim.Adam(v, lr=0.01, weight_decay=0.01, foreach=False) for k, v in parts.items()}
    batch = tiny_batch()
    for k, part in enumerate(["inference", "inference", "generative", "inference", "generative", "all", "all"]):
        run_step(step, batch, part, seed=k)
        for opt in opts.values():
            opt.zero_grad()
        torch.manual_seed(k)
        reduce(ref(batch), Weights(torch.tensor(1.0), 0.0, torch.tensor(0.0)), None).loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
        for name in (["inference", "generative"] if part == "all" else [part]):
            opts[name].step()
    for (name, a), b in zip(ours.named_parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


# ----------------------------------------------------------------------------- the inner loop


class ScriptedStep:
    """A stand-in for Step whose losses follow a script: records the batches and parts it gets."""

    def __init__(self, losses: list[float]) -> None:
        self.losses, self.calls = list(losses), []

    def __call__(self, batch, lr, beta, capacity, part="all") -> StepResult:
        self.calls.append((batch, part))
        loss = torch.tensor(self.losses.pop(0))
        return StepResult(bool(torch.isfinite(loss)), loss, {})


def inner_loop(losses: list[float], **train) -> tuple[ScriptedStep, Aggressive, int]:
    data = _data(16)
    step = ScriptedStep(losses)
    agg = Aggressive(step, data, TrainConfig(aggressive=True, batch_size=4, **train), Distributed("cpu"),
                     torch.Generator().manual_seed(0))
    first = Batch(torch.zeros(4, *SHAPE))
    skipped = agg.encoder_steps(first, 0.01, torch.tensor(1.0), torch.tensor(0.0))
    assert step.calls[0][0] is first  # the first encoder step is on the step's own batch
    assert all(part == "inference" for _, part in step.calls)
    return step, agg, skipped


def _data(n: int):
    from conftest import make_dataset

    return make_dataset(n_train=n, n_eval=8)


def test_the_inner_loop_stops_when_a_windows_mean_loss_rises():
    # Windows of 2: means 5, 4, 3.5, then 3.75 > 3.5: the loop stops after the 8th step.
    step, agg, skipped = inner_loop([5, 5, 4, 4, 3, 4, 3.5, 4, 1, 1, 1, 1], aggressive_window=2)
    assert len(step.calls) == 8 and agg.taken == 8 and skipped == 0
    # Fresh batches after the first: drawn from the data, of the batch size, not the step's batch.
    fresh = [b.x for b, _ in step.calls[1:]]
    assert all(x.shape == (4, *SHAPE) and x.abs().sum() > 0 for x in fresh)
    assert not all(torch.equal(fresh[0], x) for x in fresh[1:])


def test_the_inner_loop_takes_at_most_its_inner_steps_and_a_bad_step_ends_it():
    step, _, _ = inner_loop([9 - 0.5 * i for i in range(20)], aggressive_window=3, aggressive_inner_steps=7)
    assert len(step.calls) == 7  # the loss keeps falling: the cap ends it
    step, agg, skipped = inner_loop([3, 2, math.nan, 1, 1], aggressive_window=10)
    assert len(step.calls) == 3 and agg.taken == 2 and skipped == 1
    step, _, _ = inner_loop([3, 4, 5], aggressive_window=1, aggressive_inner_steps=3)
    assert len(step.calls) == 2  # a window of one step: stop at the first rise


def test_the_phase_ends_after_the_first_fall_of_the_validation_mi(monkeypatch):
    values = iter([0.3, 0.8, 0.7, 0.9])
    monkeypatch.setattr(aggressive_mod, "validation_mi", lambda model, data, batch_size: next(values))
    agg = Aggressive(ScriptedStep([]), _data(8), TrainConfig(aggressive=True), Distributed("cpu"), torch.Generator())
    c = Counters()
    records = [agg.end_epoch(None, c, was_active=not c.aggressive_ended) for _ in range(4)]
    assert [r["aggressive"] for r in records] == [True, True, True, False]
    assert [r["val_mi"] for r in records] == [0.3, 0.8, 0.7, 0.9]  # still measured after the phase
    assert c.aggressive_ended and c.last_mi == 0.7


# ----------------------------------------------------------------------------- in the loop


def metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def scripted_mi(monkeypatch, values: list[float]) -> None:
    """Replace the validation I(x;z) by values[k] in epoch k + 1, k read from the run's
    metrics.jsonl (the lines before this epoch's), so an interrupted and a resumed run see the
    same sequence."""
    def fake(model, data, batch_size):
        return values[len(metrics(fake.out))]

    monkeypatch.setattr(aggressive_mod, "validation_mi", fake)
    return fake


def test_a_run_leaves_aggressive_training_when_the_validation_mi_falls(tmp_path, tiny_data, tiny_config, monkeypatch):
    fake = scripted_mi(monkeypatch, [0.2, 0.5, 0.4, 0.6])
    fake.out = tmp_path / "run"
    parts = []
    real_call = Step.__call__
    monkeypatch.setattr(Step, "__call__", lambda self, *a, part="all": parts.append(part) or real_call(self, *a, part=part))
    lines = []
    run = loop.train(tiny_config("train.epochs=4", *AGGRESSIVE), fake.out, dataset=tiny_data, log=lines.append)
    records = metrics(fake.out)
    assert [r["aggressive"] for r in records] == [True, True, True, False]
    assert [r["val_mi"] for r in records] == [0.2, 0.5, 0.4, 0.6]
    steps = [r["encoder_steps"] for r in records]
    assert all(2 <= n <= 4 * 6 for n in steps[:3]) and steps[3] == 0  # 4 steps an epoch, 1..6 encoder steps each
    # The steps the trainer took: each aggressive step's encoder steps, then one generative step; then whole steps.
    aggressive_calls = parts[: sum(steps) + 12]
    assert aggressive_calls.count("generative") == 12 and aggressive_calls.count("inference") == sum(steps)
    assert parts[sum(steps) + 12 :] == ["all"] * 4
    state = load_state(run.path / "train_state.pt")["counters"]
    assert state["aggressive_ended"] is True and state["last_mi"] == 0.4
    assert sum("aggressive training of the inference network ends" in line for line in lines) == 1
    assert "val I(x;z) 0.40 (aggressive)" in "\n".join(lines)


def test_the_logged_mi_is_the_validation_mi_of_the_trained_weights(tmp_path, tiny_data, tiny_config):
    run = loop.train(tiny_config("train.epochs=2", *AGGRESSIVE), tmp_path / "run", dataset=tiny_data, log=quiet)
    model = build_model(run.config.model, tiny_data.shape, tiny_data.num_classes)
    model.load_state_dict(load_state(run.path / "train_state.pt")["model"])  # the trained, not the kept, weights
    mu, logvar = posterior_moments(model.eval(), tiny_data.val.x, 64)
    want = mutual_information(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert metrics(run.path)[-1]["val_mi"] == pytest.approx(want, rel=1e-6, abs=1e-9)
    assert want > 0.05  # the tiny data's four prototypes: the latent is in use


@pytest.mark.parametrize("stop_at", [2, 3], ids=["before-the-phase-ends", "after-it-ends"])
def test_a_resumed_aggressive_run_equals_an_uninterrupted_one(tmp_path, make_data, tiny_config, monkeypatch, stop_at):
    fake = scripted_mi(monkeypatch, [0.2, 0.5, 0.4, 0.6, 0.7])  # the phase ends after epoch 3
    config = tiny_config("train.epochs=5", "train.ema_decay=0.9", *AGGRESSIVE)
    data = make_data(dynamic=True)  # fresh batches draw binarizations from the same generator
    fake.out = tmp_path / "whole"
    loop.train(config, fake.out, dataset=data, log=quiet)
    fake.out = tmp_path / "parts"
    with pytest.raises(KeyboardInterrupt):
        loop.train(config, fake.out, dataset=data, log=quiet, callbacks=[StopAt(stop_at)])
    loop.train(config, fake.out, dataset=data, log=quiet, resume=True)

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert_same_weights(load_weights(whole / "model.safetensors"), load_weights(parts / "model.safetensors"))
    a, b = load_state(whole / "train_state.pt"), load_state(parts / "train_state.pt")
    assert_same_weights(a["model"], b["model"])
    assert untimed(metrics(whole)) == untimed(metrics(parts))
    assert [r["aggressive"] for r in metrics(parts)] == [True, True, True, False, False]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside torch while dynamo imports
def test_aggressive_training_under_bf16_and_compile(tmp_path, tiny_data, tiny_config, monkeypatch):
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: real(fn, backend="eager"))  # dynamo, without codegen
    for extra in ("train.precision=bf16", "train.compile=true"):
        run = loop.train(tiny_config("train.epochs=2", extra, *AGGRESSIVE), tmp_path / extra, dataset=tiny_data, log=quiet)
        records = metrics(run.path)
        assert all(math.isfinite(r["val_elbo"]) and math.isfinite(r["val_mi"]) for r in records), extra
        assert records[0]["aggressive"] and records[0]["encoder_steps"] >= 4 and records[-1]["skipped_steps"] == 0


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("family", list(REFUSED))
def test_families_that_cannot_be_trained_aggressively_are_refused(tmp_path, tiny_data, tiny_config, family):
    section, why = REFUSED[family]
    overrides = [f"model.{k}={json.dumps(v)}" for k, v in section.items()]
    with pytest.raises(ConfigError, match=f"model '{family}' .*{why}.*remove train.aggressive"):
        loop.train(tiny_config(*overrides, *AGGRESSIVE), tmp_path / "run", dataset=tiny_data, log=quiet)
    assert not (tmp_path / "run" / "train_state.pt").exists()


def test_a_family_without_an_encoder_is_refused():
    class Bare(Family):
        def __init__(self) -> None:
            super().__init__()
            self.config = parse_config({}).model  # named 'vae', as a family's config names it
            self.net = torch.nn.Linear(2, 2)

        def forward(self, batch: Batch) -> Terms:
            out = self.net(batch.x).sum(1)
            return Terms(out, out * 0)

    with pytest.raises(ConfigError, match=r"declares no inference network \(Family.inference_parameters\)"):
        Step(Bare(), Bare(), TrainConfig(aggressive=True), parse_config({}).objective)
    Step(Bare(), Bare(), TrainConfig(), parse_config({}).objective)  # without aggressive it trains as before


@pytest.mark.parametrize("overrides, message", [
    (["train.aggressive=true", "train.aggressive_inner_steps=0"], "train.aggressive_inner_steps must be at least 1"),
    (["train.aggressive=true", "train.aggressive_window=0"], "train.aggressive_window must be at least 1"),
    (["train.aggressive_window=5"], "shape aggressive training, which is off; set train.aggressive=true"),
    (["train.aggressive_inner_steps=50"], "shape aggressive training, which is off"),
    (["train.aggressive=yes please"], "train.aggressive"),
])
def test_aggressive_settings_are_validated(overrides, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({}, overrides)
