"""Does the k-means feature space rank models as the label feature space does?

A data set without labels (binarized MNIST) gets its sample-quality classifier from k-means
clusters (`vaekit.data.clusters`). This checks that choice where both are possible: on
Fashion-MNIST, the same samples of every leaderboard model are scored in the features of a
classifier trained on the labels and of one trained on the clusters of the same images, and the
two rankings are compared (Spearman's rank correlation).

    python bench/leaderboards.py --data fashion-mnist   # the runs, once
    python bench/feature_spaces.py [--runs runs/bench-leaderboards/fashion-mnist]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scipy.stats import spearmanr

from common import ROOT, write_section
from vaekit.data import Dataset, Split
from vaekit.data.load import is_binary
from vaekit.evaluate.classifier import feature_extractor
from vaekit.evaluate.quality import draw_samples, frechet_distance, precision_recall, reference_examples
from vaekit.run import load_run

SEED = 0


def without_labels(data: Dataset) -> Dataset:
    return Dataset(**{**data.__dict__, "train": Split(data.train.x), "val": Split(data.val.x),
                      "test": Split(data.test.x), "num_classes": None})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(ROOT / "runs" / "bench-leaderboards" / "fashion-mnist"))
    args = ap.parse_args()
    dirs = sorted(p.parent for p in Path(args.runs).glob("*/model.safetensors"))
    if len(dirs) < 3:
        raise SystemExit(f"{args.runs} holds {len(dirs)} finished runs; run bench/leaderboards.py --data fashion-mnist")
    first = load_run(dirs[0])
    data = first.dataset()
    real = data.test
    binary = is_binary(real.x)
    spaces = {"labels": feature_extractor(data, data_config=first.config.data),
              "kmeans": feature_extractor(without_labels(data), data_config=first.config.data)}
    reference = reference_examples(data, len(real), SEED, binary)
    real_f = {name: fx.features(real.x) for name, fx in spaces.items()}
    floors = {name: frechet_distance(real_f[name], fx.features(reference)) for name, fx in spaces.items()}
    rows = []
    for d in dirs:
        run = load_run(d, dataset=data)
        fakes = draw_samples(run, len(real), SEED, 1.0, real.y, binary)  # the same samples for both spaces
        row = {"name": d.name}
        for name, fx in spaces.items():
            fake_f = fx.features(fakes)
            row[f"fd_{name}"] = frechet_distance(real_f[name], fake_f)
            row[f"precision_{name}"], row[f"recall_{name}"] = precision_recall(real_f[name], fake_f)
        rows.append(row)
        print(row, flush=True)
    rho = {m: spearmanr([r[f"{m}_labels"] for r in rows], [r[f"{m}_kmeans"] for r in rows]).statistic
           for m in ("fd", "precision", "recall")}
    rows.sort(key=lambda r: r["fd_labels"])
    lines = ["| model | FD, label features | FD, k-means features | precision (labels / k-means) "
             "| recall (labels / k-means) |", "|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['fd_labels']:.2f} | {r['fd_kmeans']:.2f} "
              f"| {r['precision_labels']:.2f} / {r['precision_kmeans']:.2f} "
              f"| {r['recall_labels']:.2f} / {r['recall_kmeans']:.2f} |" for r in rows]
    acc = {name: fx.accuracy for name, fx in spaces.items()}
    body = f"""## Sample-quality feature spaces: labels against k-means clusters (`bench/feature_spaces.py`)

Binarized MNIST has no labels, so its sample-quality classifier is trained on the 50 k-means
clusters of its training split instead. This checks that feature space where both kinds exist:
the {len(rows)} Fashion-MNIST leaderboard models (runs of `bench/leaderboards.py`) each drew
{len(real):,} samples (seed {SEED}), scored against the {len(real):,} test images in the features of
a classifier trained on the labels (validation accuracy {acc['labels']:.1%}) and of one trained on
the k-means clusters of the same training images ({acc['kmeans']:.1%} of validation images put in
their cluster). The floors, the distance between the test split and as many training images, are
{floors['labels']:.2f} and {floors['kmeans']:.2f}.

Spearman's rank correlation between the two spaces over the models: FD {rho['fd']:.2f}, precision
{rho['precision']:.2f}, recall {rho['recall']:.2f}. Each space has its own scale, so only the order
carries over from one to the other, never the figures.

{chr(10).join(lines)}"""
    write_section("feature_spaces", body)


if __name__ == "__main__":
    main()
