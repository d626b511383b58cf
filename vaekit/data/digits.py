"""scikit-learn's 8x8 handwritten digits: 1,797 images, grey levels 0-16, labels 0-9.

It ships with scikit-learn (no download), which makes it the set for smoke runs and tests. No
validation or test split is shipped, so `load_dataset` carves seeded ones from the whole set.
"""

from __future__ import annotations

from vaekit.sections import DataConfig
from vaekit.data.base import RawSet, make_split
from vaekit.registry import DATASETS

GREY_LEVELS = 16.0  # pixel values run 0..16


@DATASETS.register("digits")
def build_digits(config: DataConfig) -> RawSet:
    """All 1,797 digits as one training pool of shape (1, 8, 8) in [0, 1], labels 0-9."""
    # Imported here, not at the top: scikit-learn takes over a second to import, and every
    # vaekit command imports this module to register the set.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images[:, None]  # (N, 1, 8, 8)
    return RawSet(
        train=make_split(x, bunch.target, scale=GREY_LEVELS),
        val=None,
        test=None,
        shape=(1, 8, 8),
        is_image=True,
        num_classes=10,
        source="scikit-learn digits",
    )
