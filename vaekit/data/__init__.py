"""Data sets: one builder per family, registered by name, and `load_dataset`, which builds one
and applies the shared post-processing (seeded splits, limit, binarization, checks).

    from vaekit.data import load_dataset
    data = load_dataset(DataConfig(name="digits"))
    data.train.x.shape  # (1437, 1, 8, 8): 80% of the 1,797 digits
"""

from vaekit.data.base import Dataset, Split
from vaekit.data.load import load_dataset

# Imported for their @DATASETS.register side effect.
from vaekit.data import arrays, binarized_mnist, corpora, digits, images, mnist, shapes, table_set, text_set  # noqa: E402,F401  isort: skip

__all__ = ["Dataset", "Split", "load_dataset"]
