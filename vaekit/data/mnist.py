"""MNIST and Fashion-MNIST from their IDX files, gzipped or not.

LeCun et al., "Gradient-based learning applied to document recognition", 1998;
Xiao, Rasul and Vollgraf, "Fashion-MNIST", arXiv:1708.07747.

Both ship 60,000 training and 10,000 test images of 28x28 grey pixels with labels 0-9 and no
validation split, so `load_dataset` carves a seeded one from train. The IDX format: a big-endian
uint32 magic (0x00000803 for images, 0x00000801 for labels), one big-endian uint32 per dimension,
then the uint8 values in C order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from vaekit.sections import DataConfig
from vaekit.data.base import RawSet, make_split
from vaekit.data.download import Remote, locate
from vaekit.data.files import reading
from vaekit.errors import DataError
from vaekit.registry import DATASETS

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
GZIP_MAGIC = b"\x1f\x8b"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
MNIST_SHA256 = {
    "train_images": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train_labels": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "test_images": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "test_labels": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_SHA256 = {
    "train_images": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train_labels": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "test_images": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "test_labels": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
# Where the Debian package `dataset-fashion-mnist` installs the files.
FASHION_SYSTEM_DIRS = ["/usr/share/datasets/fashion-mnist"]


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array of an IDX file (gzipped or not, told by content), checking its header and size."""
    kind = "image" if magic == IMAGES_MAGIC else "label"
    with reading(path, "replace it with the MNIST file, or re-download it"), open(path, "rb") as f:
        data = f.read()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as e:
            raise DataError(f"{path} is a damaged gzip file ({e}); it is truncated or corrupt: re-download it") from None
    if len(data) < 4 or int.from_bytes(data[:4], "big") != magic:
        found = data[:4].hex() if len(data) >= 4 else "nothing"
        raise DataError(
            f"{path} is not an IDX {kind} file (magic {found}, expected {magic:08x}); "
            f"check that the file is the MNIST {kind} file and re-download it"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} ends inside its IDX header; the file is truncated: re-download it")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise DataError(
            f"{path} holds {len(data) - header} bytes of values, but its header promises {expected} "
            f"(shape {dims}); the file is truncated or corrupt: re-download it"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _build(config: DataConfig, name: str, url: str, sha256: dict[str, str], extra_dirs: list[str]) -> RawSet:
    # Either form of each file will do; downloads fetch the published .gz (the first name).
    wanted = {key: [f"{base}.gz", base] for key, base in FILES.items()}
    remotes = {key: Remote(f"{url}{FILES[key]}.gz", sha256[key]) for key in FILES}
    paths = locate(config, name, wanted, remotes, extra_dirs)
    splits = {}
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"], IMAGES_MAGIC)
        labels = read_idx(paths[f"{split}_labels"], LABELS_MAGIC)
        if len(images) != len(labels):
            raise DataError(
                f"{paths[f'{split}_images']} has {len(images)} images but {paths[f'{split}_labels']} has "
                f"{len(labels)} labels; the two files come from different downloads: re-download both"
            )
        if labels.size and labels.max() > 9:
            raise DataError(f"{paths[f'{split}_labels']} holds labels above 9; it is not an MNIST label file")
        splits[split] = make_split(images[:, None], labels, scale=255.0)  # (N, 1, H, W)
    shape = tuple(splits["train"].x.shape[1:])
    if tuple(splits["test"].x.shape[1:]) != shape:
        raise DataError(
            f"{paths['test_images']} has images of shape {tuple(splits['test'].x.shape[2:])} but "
            f"{paths['train_images']} of {shape[1:]}; use train and test files of the same data set"
        )
    return RawSet(
        train=splits["train"],
        val=None,
        test=splits["test"],
        shape=shape,
        is_image=True,
        num_classes=10,
        source=str(paths["train_images"].parent),
    )


@DATASETS.register("mnist")
def build_mnist(config: DataConfig) -> RawSet:
    """MNIST digits: 60,000 train and 10,000 test images of shape (1, 28, 28) in [0, 1], labels 0-9."""
    return _build(config, "mnist", MNIST_URL, MNIST_SHA256, [])


@DATASETS.register("fashion-mnist")
def build_fashion_mnist(config: DataConfig) -> RawSet:
    """Fashion-MNIST: like MNIST but clothing; also found where Debian's `dataset-fashion-mnist` puts it."""
    return _build(config, "fashion-mnist", FASHION_URL, FASHION_SHA256, FASHION_SYSTEM_DIRS)
