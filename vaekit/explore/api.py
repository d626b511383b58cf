"""The JSON API beneath the explorer's page: each request checked where it enters, then answered
by `vaekit.explore.state.Explorer` (docs/explore.md documents every route).

Every mistake in a request is a `RequestError`, answered with its 4xx status and {"error": "..."}:
a body that is not JSON or holds NaN or Infinity, a field that is not known, a number of the wrong
type or out of its range, a code of the wrong length, too many codes, samples or steps, a point
that is not on the map, an unknown run, a body over the size cap. Nothing here is slow to check:
limits are tested before any model runs.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from typing import Any, Mapping

import torch

from vaekit.checks import MAX_TEMPERATURE, SEED_MAX
from vaekit.errors import DataError
from vaekit.explore.state import Explorer

MAX_BODY = 8 * 1024 * 1024  # bytes of a request body: an uploaded picture fits, a flood does not
MAX_CODES = 256  # codes one /api/decode decodes
MAX_SAMPLES = 256  # examples one /api/sample draws
MAX_STEPS = 64  # decodings along one interpolation
MAX_ABS = 1e4  # a code's entries: far beyond any slider, short of where a decoder overflows
MAX_SENTENCE = 10_000  # characters of a sentence to encode


class RequestError(Exception):
    """A request the API cannot answer, with its HTTP status (4xx) and a one-line message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _reject_constant(name: str) -> None:
    raise RequestError(f"the body holds {name}, which is no number; send finite numbers")


def parse_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; RequestError for anything else (bad UTF-8, bad JSON,
    NaN or Infinity, an array or a number at the top)."""
    if not body.strip():
        raise RequestError("the request has no body; send a JSON object, for example {\"z\": [0, 0]}")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8 text; send a JSON object") from None
    except RecursionError:
        raise RequestError("the body's JSON is nested too deeply") from None
    except ValueError as e:
        raise RequestError(f"the body is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise RequestError(f"the body must be a JSON object, got a JSON {type(value).__name__}")
    return value


def check_fields(body: Mapping[str, Any], allowed: tuple[str, ...], route: str) -> None:
    """RequestError naming the first field `route` does not take (and the nearest it does)."""
    from vaekit.registry import suggest

    for key in body:
        if key not in allowed:
            raise RequestError(f"{route} takes no field {key!r}{suggest(str(key), list(allowed))}; "
                               f"its fields are {', '.join(allowed)}")


def integer(value: Any, name: str, low: int, high: int) -> int:
    """`value` as an int in [low, high]; RequestError otherwise (a float, a bool, a string)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise RequestError(f"{name} must be an integer from {low} to {high}, got {json.dumps(value)[:40]}")
    if not low <= value <= high:
        shown = str(value) if len(str(value)) <= 20 else f"a number of {len(str(value))} digits"
        raise RequestError(f"{name} must be an integer from {low} to {high}, got {shown}")
    return int(value)


def real(value: Any, name: str, low_exclusive: float, high: float) -> float:
    """`value` as a finite float in (low_exclusive, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RequestError(f"{name} must be a number, got {json.dumps(value)[:40]}")
    value = float(value)
    if not math.isfinite(value) or not low_exclusive < value <= high:
        raise RequestError(f"{name} must be a number above {low_exclusive:g} and at most {high:g}, got {value:g}")
    return value


def codes(value: Any, width: int) -> torch.Tensor:
    """One code [z1, ..., zD] or a list of them as an (N, D) float tensor: exactly `width`
    numbers each, finite, at most MAX_ABS in size, at most MAX_CODES codes."""
    if not isinstance(value, list) or not value:
        raise RequestError(f"z must be a code, a list of {width} numbers, or a list of such codes")
    rows = value if isinstance(value[0], list) else [value]
    if len(rows) > MAX_CODES:
        raise RequestError(f"z holds {len(rows):,} codes; decode at most {MAX_CODES} per request")
    for i, row in enumerate(rows):
        where = "z" if rows is not value else f"z[{i}]"
        if not isinstance(row, list):
            raise RequestError(f"{where} must be a list of {width} numbers, got {json.dumps(row)[:40]}")
        if len(row) != width:
            raise RequestError(f"{where} has {len(row)} numbers; this run's codes have {width}")
        for v in row:
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise RequestError(f"{where} must hold numbers only, got {json.dumps(v)[:40]}")
            if not math.isfinite(float(v)) or abs(float(v)) > MAX_ABS:
                raise RequestError(f"{where} must hold finite numbers of size at most {MAX_ABS:g}, got {float(v):g}")
    return torch.tensor(rows, dtype=torch.float32)


def class_of(body: Mapping[str, Any], state: Explorer) -> int | None:
    """The "class" field: required by a conditional model (0..K-1), refused by the others."""
    value = body.get("class")
    if not state.conditional:
        if value is not None:
            raise RequestError("this run's model is not conditional, so it takes no class; leave out \"class\"")
        return None
    if value is None:
        raise RequestError(f"this run's model is conditional; give \"class\", 0 to {state.num_classes - 1}")
    return integer(value, "class", 0, state.num_classes - 1)


def index(value: Any, state: Explorer, name: str) -> int:
    """A point of the map by its index."""
    return integer(value, name, 0, len(state.x) - 1)


# ----------------------------------------------------------------------------- the answers


def info(state: Explorer, runs: list[str]) -> dict[str, Any]:
    """GET /api/info: what the page needs to build itself."""
    run = state.run
    dims = [{"dim": d, "score": state.scores[d], "low": state.low[d], "high": state.high[d], "start": state.start[d]}
            for d in state.order]
    return {
        "run": state.name, "runs": runs, "path": str(run.path), "family": run.config.model.name, "kind": state.kind,
        "data_shape": list(run.data_shape), "latent_dim": state.width, "split": state.split,
        "points": len(state.x), "map": state.map_method, "axes": state.axes,
        "order_by": state.score_name, "dims": dims,
        "conditional": state.conditional, "classes": state.class_names(), "labelled": state.y is not None,
        "columns": state.columns(),
        "limits": {"max_codes": MAX_CODES, "max_samples": MAX_SAMPLES, "max_steps": MAX_STEPS,
                   "max_abs": MAX_ABS, "max_temperature": MAX_TEMPERATURE, "max_body": MAX_BODY,
                   "max_sentence": MAX_SENTENCE},
    }


def decode(state: Explorer, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST /api/decode {"z": code or [codes], "class": k}: {"outputs": [...]}, one per code."""
    check_fields(body, ("z", "class"), "/api/decode")
    if "z" not in body:
        raise RequestError(f"/api/decode needs \"z\": a code of {state.width} numbers, or a list of codes")
    z = codes(body["z"], state.width)
    return {"outputs": state.decode(z, class_of(body, state))}


def interpolate(state: Explorer, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST /api/interpolate {"a": i, "b": j, "steps": n}: {"outputs": [...]}, `steps` of them."""
    check_fields(body, ("a", "b", "steps"), "/api/interpolate")
    for key in ("a", "b"):
        if key not in body:
            raise RequestError(f"/api/interpolate needs \"a\" and \"b\", the indices of two points of the map")
    a, b = index(body["a"], state, "a"), index(body["b"], state, "b")
    steps = integer(body.get("steps", 8), "steps", 2, MAX_STEPS)
    return {"a": a, "b": b, "outputs": state.interpolate(a, b, steps)}


def sample(state: Explorer, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST /api/sample {"n": n, "temperature": t, "seed": s, "class": k}: {"outputs": [...]}."""
    check_fields(body, ("n", "temperature", "seed", "class"), "/api/sample")
    n = integer(body.get("n", 16), "n", 1, MAX_SAMPLES)
    temperature = real(body.get("temperature", 1.0), "temperature", 0.0, MAX_TEMPERATURE)
    seed = integer(body.get("seed", 0), "seed", 0, SEED_MAX)
    # a conditional model given no class samples every class in turn, as `vaekit sample` does
    cls = None if state.conditional and body.get("class") is None else class_of(body, state)
    return {"seed": seed, "outputs": state.sample(n, temperature, seed, cls)}


def encode_json(state: Explorer, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST /api/encode with a JSON body: {"image": base64 or data URL, "invert": bool} for an
    image run, {"sentence": "..."} for a text run, {"row": {column: value}} for a table run; a
    conditional model's "class" beside it."""
    from vaekit.explore import render

    wanted = {"image": "image", "text": "sentence", "table": "row"}.get(state.kind)
    if wanted is None:
        raise RequestError(f"this run's examples are vectors; /api/encode reads pictures, sentences and table rows")
    if wanted not in body:
        raise RequestError(f"this is a{'n' if state.kind == 'image' else ''} {state.kind} run: send "
                           f"{{\"{wanted}\": ...}} to /api/encode")
    check_fields(body, (wanted, "class") + (("invert",) if wanted == "image" else ()), "/api/encode")
    value = body[wanted]
    if wanted == "image":
        if not isinstance(value, str):
            raise RequestError("\"image\" must be a base64 string or a data URL of a PNG or JPEG picture")
        invert = body.get("invert", False)
        if not isinstance(invert, bool):
            raise RequestError("\"invert\" must be true or false")
        return encode_image(state, render.decode_base64(value), invert, body)
    if wanted == "sentence":
        if not isinstance(value, str) or not value.strip():
            raise RequestError("\"sentence\" must be a non-empty string")
        if len(value) > MAX_SENTENCE:
            raise RequestError(f"the sentence has {len(value):,} characters; send at most {MAX_SENTENCE:,}")
        return _encode_sentence(state, value, body)
    if not isinstance(value, dict):
        raise RequestError("\"row\" must be an object {column: value}")
    return _encode_row(state, value, body)


def encode_image(state: Explorer, data: bytes, invert: bool, body: Mapping[str, Any]) -> dict[str, Any]:
    """An uploaded picture, resized to the run's images, encoded and reconstructed."""
    from vaekit.explore import render

    if state.kind != "image":
        raise RequestError(f"this is a {state.kind} run; only an image run encodes pictures")
    x = render.read_image(data, tuple(state.run.data_shape), invert)
    x = state.run.codec.encode(x)
    return state.encode(x, _one_class(body, state))


def _encode_sentence(state: Explorer, sentence: str, body: Mapping[str, Any]) -> dict[str, Any]:
    from vaekit.sample.text import token_ids

    if "\n" in sentence.strip():
        raise RequestError("send one sentence, on one line")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a sentence cut at max_length: the reply shows what the model read
        ids = token_ids(state.run, [sentence], "/api/encode")
    return state.encode(ids, _one_class(body, state))


def _encode_row(state: Explorer, row: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    from vaekit.explore import render

    codec = state.run.codec
    frame = render.row_frame(codec, row)
    try:
        x, mask = codec.encode(frame, unseen="error")
    except DataError as e:  # a category the run never saw: the library's own words, up to its Python advice
        raise RequestError(f"{str(e).split(';')[0]}; choose a value the column held in training, or leave it out") from None
    y = None
    if state.conditional:
        if "class" in body:
            raise RequestError(f"give the class in the row's {codec.label.name!r} column, not as \"class\"")
        y = codec.labels(frame)
    elif "class" in body:
        raise RequestError("this run's model is not conditional, so it takes no class; leave out \"class\"")
    return state.encode(x, y, mask)


def _one_class(body: Mapping[str, Any], state: Explorer) -> torch.Tensor | None:
    cls = class_of(body, state)
    return None if cls is None else torch.tensor([cls])


def path_index(text: str, state: Explorer) -> int:
    """The {i} of /api/point/{i}: 404 when it is no point of the map."""
    if not re.fullmatch(r"[0-9]{1,12}", text):
        raise RequestError(f"/api/point/{text[:40]}: the point must be an integer index, 0 to {len(state.x) - 1}")
    i = int(text)
    if not 0 <= i < len(state.x):
        raise RequestError(f"the map has no point {i}; its points are 0 to {len(state.x) - 1}", status=404)
    return i

