"""Outputs as the data read, and a user's own inputs as the model reads them: no HTTP here.

What a model decodes becomes JSON the page can show: an image a PNG data URL (the run's codec
undoes any standardisation, `vaekit.sample.grid.grid_array` makes the pixels, as every picture of
vaekit does), a sentence a string (the run's codec), a table row an object {column: value} (the
codec's `decode`, missing cells null), a vector of another kind a list of numbers. The other way
round, an uploaded picture becomes an (1, C, H, W) tensor in [0, 1] of the run's image size, and a
row {column: value} a one-row DataFrame of the run's columns.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from PIL import Image

from vaekit.errors import InputError
from vaekit.sample.grid import grid_array

KINDS = ("image", "text", "table", "vector")  # how a run's examples read, and so how the page shows them
NUMERIC = ("continuous", "integer", "count")  # column kinds that hold numbers
MAX_CELL = 1e15  # a number in a row: beyond it a float32 code overflows on the way in
MAX_UPLOAD_PIXELS = 16_000_000  # a bigger picture is refused before it is decoded (a decompression bomb)


def data_kind(codec: Any, data_shape: tuple[int, ...]) -> str:
    """'image', 'text', 'table' or 'vector': how the run's examples read."""
    modality = getattr(codec, "modality", "vector")
    if modality in ("text", "table"):
        return modality
    return "image" if len(data_shape) == 3 and codec.is_image else "vector"


def png_data_url(image: torch.Tensor) -> str:
    """One (C, H, W) image in [0, 1] as a PNG data URL, at its own size (the page enlarges it)."""
    pixels = grid_array(image.unsqueeze(0), nrow=1, pad=0)  # (H, W) or (H, W, 3) uint8, as every grid rounds
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def images(codec: Any, x: torch.Tensor, data_shape: tuple[int, ...]) -> list[str]:
    """Model outputs (N, *shape) of an image run as PNG data URLs."""
    x = codec.decode(x.detach().cpu()).reshape(-1, *data_shape)
    return [png_data_url(img) for img in x]


def cell(value: Any) -> Any:
    """A table cell as plain JSON: numbers, booleans and text as they are, a missing cell None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as one {column: value} object per row, in the table's column order."""
    columns = [str(c) for c in df.columns]
    return [{c: cell(v) for c, v in zip(columns, row)} for row in df.itertuples(index=False, name=None)]


def outputs(run: Any, kind: str, x: torch.Tensor, y: torch.Tensor | None = None) -> list[Any]:
    """What the model made, (N, *shape) in model space (text: token ids), as the data read:
    data URLs, sentences, rows (with the label column `y` of a conditional table run) or lists
    of numbers."""
    if kind == "image":
        return images(run.codec, x, run.data_shape)
    if kind == "text":
        return run.codec.decode(x.cpu())
    if kind == "table":
        return records(run.codec.decode(x.cpu(), y=None if y is None else y.cpu()))
    return run.codec.decode(x.detach().cpu()).reshape(len(x), -1).double().tolist()


def masked_rows(run: Any, x: torch.Tensor, mask: torch.Tensor | None, y: torch.Tensor | None) -> list[dict[str, Any]]:
    """A table run's encoded rows x (N, D) as rows, the cells the mask marks missing as None."""
    df = run.codec.decode(x.cpu(), y=None if y is None else y.cpu())
    if mask is not None:
        for block in run.codec.layout:
            missing = ~mask[:, block.start:block.start + block.width].bool().all(1).numpy()
            if missing.any():
                df[block.name] = df[block.name].astype(object)
                df.loc[missing, block.name] = None
    return records(df)


# ----------------------------------------------------------------------------- a user's own inputs


def read_image(data: bytes, data_shape: tuple[int, ...], invert: bool = False) -> torch.Tensor:
    """An uploaded picture (PNG, JPEG, ... bytes) as (1, C, H, W) in [0, 1]: grey or RGB as the
    run's images are, resized to their height and width; `invert` turns dark strokes on light
    paper into light strokes on dark (MNIST's way). InputError for bytes that are no picture."""
    channels, height, width = data_shape
    if channels not in (1, 3):
        raise InputError(f"this run's images have {channels} channels; only grey (1) and RGB (3) pictures can be uploaded")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_UPLOAD_PIXELS:
                raise InputError(f"the picture is {img.width}x{img.height} pixels; upload one of at most "
                                 f"{MAX_UPLOAD_PIXELS:,} pixels (the run's images are {width}x{height})")
            img = img.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
    except InputError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise InputError("the upload is not a picture that can be read (PNG or JPEG, say)") from None
    pixels = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)  # (H, W) or (H, W, 3)
    x = pixels.unsqueeze(0) if channels == 1 else pixels.permute(2, 0, 1)
    if invert:
        x = 1.0 - x
    return x.unsqueeze(0).contiguous()


def decode_base64(text: str) -> bytes:
    """The bytes of a base64 string or a data URL (data:image/png;base64,...)."""
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or not head.endswith(";base64"):
            raise InputError("the image data URL must be base64-encoded: data:image/png;base64,...")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise InputError("the image is not valid base64; send the PNG's bytes base64-encoded, or a data URL") from None


def row_frame(codec: Any, row: Mapping[str, Any]) -> pd.DataFrame:
    """A row {column: value} as a one-row DataFrame of the run's columns: a column left out, or
    null, is a missing cell; a column the run does not know is an InputError naming the known ones."""
    from vaekit.registry import suggest

    kinds = {c.name: c.kind for c in [*codec.columns, *([codec.label] if codec.label is not None else [])]}
    known = list(kinds)
    for name, value in row.items():
        if name not in known:
            raise InputError(f"the row names {name!r}, which is not a column of the run{suggest(name, known)}; "
                             f"its columns are {', '.join(known)}")
        if not (value is None or isinstance(value, (str, bool, int, float))):
            raise InputError(f"the row's {name!r} must be a number, a string, true/false or null, "
                             f"got {type(value).__name__}")
        if kinds[name] in NUMERIC and isinstance(value, bool):
            raise InputError(f"the row's {name!r} holds numbers ({kinds[name]}), not {str(value).lower()}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not abs(value) <= MAX_CELL:
            raise InputError(f"the row's {name!r} must be a finite number of size at most {MAX_CELL:g}, got {value:g}")
    return pd.DataFrame({name: [row.get(name)] for name in known}, columns=known)
