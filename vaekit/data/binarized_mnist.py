"""Statically binarized MNIST in the Larochelle & Murray (2011) split: 50,000 / 10,000 / 10,000.

Hugo Larochelle and Iain Murray, "The Neural Autoregressive Distribution Estimator", AISTATS 2011.
The split most VAE papers report on (IWAE, VampPrior, IAF, BIVA). Note that the first 1,000 test
images are markedly harder than the rest, so a likelihood on a prefix of the test set is not the
test-set figure.

The files `binarized_mnist_{train,valid,test}.amat` come in two forms with the same names, told
apart by content, not by name:
- the original plain text: one image per line, 784 space-separated 0/1 values (1568 bytes a line);
- MATLAB v5 files (`scipy.io.loadmat(path)["X"]`, uint8 of shape (rows, 784)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaekit.sections import DataConfig
from vaekit.data.base import RawSet, make_split
from vaekit.data.download import Remote, locate, verify_sums
from vaekit.data.files import reading
from vaekit.errors import DataError
from vaekit.registry import DATASETS

NAME = "binarized-mnist"
PIXELS = 784
LINE_BYTES = 2 * PIXELS  # '0'/'1' and a space or the closing newline, per pixel
MATLAB_MAGIC = b"MATLAB 5.0"
URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/binarized_mnist_{}.amat"
# Published SHA-256 of the text form; a MATLAB copy is checked by a SHA256SUMS file beside it.
SHA256 = {
    "train": "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
    "valid": "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
    "test": "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
}
ROWS = {"train": 50_000, "valid": 10_000, "test": 10_000}


def read_amat(path: Path) -> np.ndarray:
    """The images of one `.amat` file, text or MATLAB form, as uint8 0/1 of shape (rows, 784)."""
    with reading(path, "re-download it"):
        with open(path, "rb") as f:
            head = f.read(len(MATLAB_MAGIC))
        x = _read_matlab(path) if head == MATLAB_MAGIC else _read_text(path)
    if x.ndim != 2 or x.shape[1] != PIXELS:
        raise DataError(f"{path} holds an array of shape {x.shape}, expected (rows, {PIXELS}); re-download it")
    if x.size and x.max() > 1:
        raise DataError(f"{path} holds values other than 0 and 1; it is not binarized MNIST, re-download it")
    return x


def _read_matlab(path: Path) -> np.ndarray:
    import scipy.io  # here, not at the top: a third of a second that only MATLAB copies need

    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises a zoo of types (ValueError, zlib.error, TypeError) on bad files
        raise DataError(f"cannot read MATLAB file {path} ({e}); the file is corrupt or truncated: re-download it") from None
    if "X" not in mat:
        raise DataError(f"MATLAB file {path} has no variable 'X'; it is not binarized MNIST, re-download it")
    x = np.asarray(mat["X"])
    if x.dtype != np.uint8 and not ((x == 0) | (x == 1)).all():
        raise DataError(f"{path} holds values other than 0 and 1; it is not binarized MNIST, re-download it")
    return x.astype(np.uint8, copy=False)


def _read_text(path: Path) -> np.ndarray:
    # Fast path: with every line exactly "d d ... d\n", the file is an (rows, 1568) byte matrix
    # whose even columns are the digits; numpy checks and slices it in well under a second,
    # where np.loadtxt takes tens of seconds on the 78 MB training file.
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size and raw.size % LINE_BYTES == 0:
        lines = raw.reshape(-1, LINE_BYTES)
        digits = lines[:, 0::2]
        gaps = lines[:, 1::2]
        # b"0" is 0x30 and b"1" is 0x31, so `d | 1 == 0x31` holds for exactly those two bytes.
        is_digit = (digits | np.uint8(1)) == ord("1")
        if is_digit.all() and (gaps[:, :-1] == ord(" ")).all() and (gaps[:, -1] == ord("\n")).all():
            return digits - np.uint8(ord("0"))
    raise _diagnose_text(path, raw)


def _diagnose_text(path: Path, raw: np.ndarray) -> DataError:
    """The DataError that says which line of a malformed text file is wrong."""
    if raw.size == 0:
        return DataError(f"{path} is empty; re-download it")
    ends = np.flatnonzero(raw == ord("\n"))
    starts = np.concatenate([[0], ends[:-1] + 1])
    complete = len(ends)
    if not complete or ends[-1] != raw.size - 1:
        return DataError(
            f"{path} ends in the middle of line {complete + 1} (after {complete} complete lines); "
            f"the file is truncated: re-download it"
        )
    for i, (s, e) in enumerate(zip(starts, ends)):
        values = raw[s:e].tobytes().split()
        if len(values) != PIXELS:
            return DataError(
                f"{path} line {i + 1} has {len(values)} values, expected {PIXELS}; "
                f"the file is truncated or not binarized MNIST: re-download it"
            )
        if any(v not in (b"0", b"1") for v in values):
            return DataError(
                f"{path} line {i + 1} holds values other than 0 and 1; it is not binarized MNIST, re-download it"
            )
    # Every line is right but the layout is not the published one (other spacing, CRLF, ...).
    return DataError(
        f"{path} is not in the published layout (784 values joined by single spaces, one line each, '\\n' endings); "
        f"re-download it"
    )


def write_amat_text(x: np.ndarray, path: Path) -> None:
    """Write 0/1 images of shape (rows, 784) in the original text form (byte-identical to it)."""
    rows = np.asarray(x, dtype=np.uint8)
    lines = np.full((rows.shape[0], LINE_BYTES), ord(" "), dtype=np.uint8)
    lines[:, 0::2] = rows + np.uint8(ord("0"))
    lines[:, -1] = ord("\n")
    Path(path).write_bytes(lines.tobytes())


@DATASETS.register(NAME)
def build_binarized_mnist(config: DataConfig) -> RawSet:
    """Binarized MNIST with its fixed train/valid/test split; shape (1, 28, 28), binary, no labels."""
    wanted = {split: [f"binarized_mnist_{split}.amat"] for split in ROWS}
    remotes = {split: Remote(URL.format(split), SHA256[split]) for split in ROWS}
    paths = locate(config, NAME, wanted, remotes)
    verify_sums(list(paths.values()))
    splits = {}
    for split, path in paths.items():
        x = read_amat(path)
        if x.shape[0] != ROWS[split]:
            raise DataError(
                f"{path} has {x.shape[0]} images, expected {ROWS[split]}; the file is truncated or from another "
                f"split: re-download it"
            )
        splits[split] = make_split(x.reshape(-1, 1, 28, 28))
    return RawSet(
        train=splits["train"],
        val=splits["valid"],
        test=splits["test"],
        shape=(1, 28, 28),
        is_image=True,
        num_classes=None,
        source=str(paths["train"].parent),
    )
