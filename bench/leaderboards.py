"""The leaderboard of the model families on static binarized MNIST and on Fashion-MNIST.

Runs `vaekit leaderboard` over `configs/leaderboard/*.yaml` (one MLP per family, pythae's
784-512-32 where the family allows) on each data set under the same budget and seed, evaluates
every entry alike on the whole test split (importance-sampled NLL with K=500, latent health,
reconstruction fidelity and sample quality in the classifier feature space, whose classifier is
trained on the k-means clusters of a set without labels), and writes each
ranked table, with the feature classifier's accuracy, into docs/benchmarks.md. Entries whose runs
are complete are not retrained.

    python bench/leaderboards.py [--budget 2m] [--data binarized-mnist fashion-mnist]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import ROOT, default_data_dir, write_section
from vaekit.config import DataConfig
from vaekit.data import load_dataset
from vaekit.data.load import is_binary
from vaekit.evaluate.classifier import cache_root, feature_extractor
from vaekit.evaluate.quality import frechet_distance, reference_examples
from vaekit.run import load_run
from vaekit.leaderboard import leaderboard, to_markdown

# Sample quality on every set: one without labels gets a classifier of its k-means clusters.
METRICS = ["likelihood", "latent", "fidelity", "quality"]
# Grey data sets are binarized afresh each batch (and once, seeded, for val and test), so that the
# Bernoulli NLL is a likelihood of binary images, in nats, as on binarized MNIST.
DATA_OVERRIDES = {"fashion-mnist": ["data.binarize=dynamic"], "mnist": ["data.binarize=dynamic"]}
LABELLED_FAMILIES = {"cvae"}  # families that condition on labels


def has_labels(data: str, data_dir: str | None) -> bool:
    return load_dataset(DataConfig(name=data, data_dir=data_dir)).train.y is not None


def classifier_accuracy(data: str) -> str:
    """The accuracy stored beside the cached feature classifier of `data` (the newest one)."""
    infos = [json.loads(p.read_text()) for p in (cache_root() / "classifiers").glob("*.json")]
    infos = [i for i in infos if i.get("dataset") == data]
    if not infos:
        return "not found in the cache"
    info = max(infos, key=lambda i: i.get("date", ""))
    target = "its k-means clusters" if info.get("labels") == "kmeans" else "the labels"
    return f"{info['accuracy']:.4f} on the {info.get('accuracy_split', 'val')} split, trained on {target}"


def fd_floor(entries) -> float | None:
    """The Fréchet distance between the test split and as many training examples, in the same
    feature space: what a model whose samples were real data would score."""
    done = [e for e in entries if not e.failed]
    if not done:
        return None
    run = load_run(done[0].run_dir)
    data, real = run.dataset(), run.dataset().test.x
    extractor = feature_extractor(data, data_config=run.config.data)
    ref = reference_examples(data, len(real), 0, is_binary(real))
    return frechet_distance(extractor.features(real), extractor.features(ref))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", default="2m")
    ap.add_argument("--data", nargs="+", default=["binarized-mnist", "fashion-mnist"])
    ap.add_argument("-k", "--importance-samples", type=int, default=500)
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-leaderboards"))
    ap.add_argument("--data-dir", default=default_data_dir())
    args = ap.parse_args()
    all_configs = sorted((ROOT / "configs" / "leaderboard").glob("*.yaml"))
    overrides = ["train.progress=false", "train.device=cpu"] + ([f"data.data_dir={args.data_dir}"] if args.data_dir else [])
    for data in args.data:
        labelled = has_labels(data, args.data_dir)
        configs = [c for c in all_configs if labelled or c.stem not in LABELLED_FAMILIES]
        entries = leaderboard(configs, budget=args.budget, data=data, out=Path(args.out) / data, seed=0,
                              importance_samples=args.importance_samples, metrics=METRICS,
                              overrides=overrides + DATA_OVERRIDES.get(data, []))
        table = to_markdown(entries).removeprefix("# Leaderboard\n\n")
        print(table)
        floor = fd_floor(entries)
        quality = (f", and sample quality in the feature space of vaekit's own classifier (accuracy "
                   f"{classifier_accuracy(data)}). Read `fd_classifier` against {floor:.2f}, the distance "
                   "between the test split and as many training images in that space: the Fréchet distance "
                   "is biased upwards at this sample size, so a model whose samples were real data would "
                   "score about that, not 0") + ("" if labelled else (
                   f". {data} has no labels, so the conditional VAE is left out (the families benchmark conditions "
                   "one on k-means clusters)"))
        binarized = " (binarized afresh for every batch, and once, seeded, for validation and test)" \
            if DATA_OVERRIDES.get(data) else ""
        body = f"""## Leaderboard on {data} (`bench/leaderboards.py`)

Every family's config in `configs/leaderboard/` trained for the same budget ({args.budget} of
wall-clock time, seed 0) on {data}{binarized}, then evaluated alike on the whole test split: NLL
with K={args.importance_samples}, latent health, reconstruction fidelity{quality}. Lower NLL
ranks first. Short budgets rank how fast a family learns, not where it ends. Each entry keeps the
epoch its family's `train.select_by` chooses. That is the best validation ELBO for the families
trained on it (VAE, VampPrior, Ladder, VQ-VAE). It is the family's own validation objective for
IWAE, beta-TCVAE, InfoVAE and WAE, and the last epoch for VAE-GAN.

{table}"""
        write_section(f"leaderboard_{data}", body)


if __name__ == "__main__":
    main()
