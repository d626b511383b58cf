import json

import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from vaekit.cli import main
from vaekit.errors import ConfigError
from vaekit.evaluate.anomaly import anomaly_scores, auprc, auroc
from vaekit.evaluate.elbo import elbo_stats


@pytest.mark.parametrize("seed", range(5))
def test_auroc_and_auprc_match_scikit_learn_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 12, (200,), generator=g).double()  # many ties
    positive = torch.rand(200, generator=g) < 0.3
    assert auroc(scores, positive) == pytest.approx(roc_auc_score(positive.numpy(), scores.numpy()))
    assert auprc(scores, positive) == pytest.approx(average_precision_score(positive.numpy(), scores.numpy()))


def test_known_answers():
    positive = torch.tensor([0, 0, 1, 1]).bool()
    assert auroc(torch.tensor([0.1, 0.2, 0.8, 0.9]), positive) == 1.0  # perfectly separated
    assert auprc(torch.tensor([0.1, 0.2, 0.8, 0.9]), positive) == 1.0
    assert auroc(torch.tensor([0.9, 0.8, 0.2, 0.1]), positive) == 0.0
    assert auroc(torch.ones(4), positive) == 0.5  # all tied: chance
    with pytest.raises(ConfigError):
        auroc(torch.ones(3), torch.zeros(3).bool())


def test_scores_are_the_negative_elbo_or_the_nll(tiny_data, tiny_config):
    from vaekit.models import build_model

    model = build_model(tiny_config().model, tiny_data.shape)
    x = tiny_data.test.x
    s = anomaly_scores(model, x, score="elbo")
    assert s.shape == (len(x),)
    assert float(-s.mean()) == pytest.approx(elbo_stats(model, x)["elbo"])
    nll = anomaly_scores(model, x, score="nll", importance_samples=50)
    assert float(nll.mean()) < float(s.mean())  # the NLL estimate is a tighter bound than -ELBO
    with pytest.raises(ConfigError):
        anomaly_scores(model, x, score="bogus")


def test_cli_one_class_protocol(tmp_path):
    # Train on the digits, then call 0 the normal class: scores of all test digits, AUROC against it.
    out = tmp_path / "run"
    assert main(["train", "configs/digits.yaml", "--out", str(out), "--train.epochs=2", "--train.progress=false",
                 "--train.sample_grid=0"]) == 0
    assert main(["anomaly", str(out), "--normal", "0", "--score", "nll", "-k", "20"]) == 0
    result = json.loads((out / "anomaly_test.json").read_text())
    assert 0.0 <= result["auroc"] <= 1.0 and 0.0 <= result["auprc"] <= 1.0
    assert result["normal_classes"] == [0] and result["num_anomalies"] < result["num_examples"]
    assert (out / "anomaly_test_scores.npy").is_file()
