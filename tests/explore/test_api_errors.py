"""Malformed requests to the explorer's API: each one a 4xx with a one-line message in
{"error": ...}, never a traceback or a 500, and the server answers normally afterwards."""

from __future__ import annotations

import base64
import json

import pytest
from starlette.testclient import TestClient

from explore_helpers import png_bytes
from vaekit.explore import api, create_app

CODE = [0.0, 0.0, 0.0, 0.0]  # the digits run's codes have 4 numbers

# (method, path, what is sent, status, a words the message holds)
CASES = [
    ("POST", "/api/decode", b"{not json", 400, "not valid JSON"),
    ("POST", "/api/decode", b"", 400, "no body"),
    ("POST", "/api/decode", b"\xff\xfe", 400, "not UTF-8"),
    ("POST", "/api/decode", b'{"z": [NaN, 0, 0, 0]}', 400, "NaN"),
    ("POST", "/api/decode", b'{"z": [Infinity, 0, 0, 0]}', 400, "Infinity"),
    ("POST", "/api/decode", b'{"z": [-Infinity, 0, 0, 0]}', 400, "-Infinity"),
    ("POST", "/api/decode", b'{"z": [1e999, 0, 0, 0]}', 400, "finite"),
    ("POST", "/api/decode", b"[1, 2]", 400, "JSON object"),
    ("POST", "/api/decode", b"[" * 100_000 + b"]" * 100_000, 400, "JSON"),
    ("POST", "/api/decode", {"z": [0, 0, 0]}, 400, "has 3 numbers; this run's codes have 4"),
    ("POST", "/api/decode", {"z": [0] * 5}, 400, "has 5 numbers"),
    ("POST", "/api/decode", {"z": [CODE, [0, 0]]}, 400, "z[1] has 2 numbers"),
    ("POST", "/api/decode", {"z": [CODE] * (api.MAX_CODES + 1)}, 400, f"at most {api.MAX_CODES}"),
    ("POST", "/api/decode", {"z": []}, 400, "z must be a code"),
    ("POST", "/api/decode", {"z": "0,0,0,0"}, 400, "z must be a code"),
    ("POST", "/api/decode", {"z": [0, "1", 0, 0]}, 400, "numbers only"),
    ("POST", "/api/decode", {"z": [0, True, 0, 0]}, 400, "numbers only"),
    ("POST", "/api/decode", {"z": [0, None, 0, 0]}, 400, "numbers only"),
    ("POST", "/api/decode", {"z": [1e300, 0, 0, 0]}, 400, "size at most"),
    ("POST", "/api/decode", {}, 400, "needs \"z\""),
    ("POST", "/api/decode", {"z": CODE, "zz": 1}, 400, "no field 'zz'"),
    ("POST", "/api/decode", {"z": CODE, "class": 1}, 400, "not conditional"),
    ("POST", "/api/sample", {"n": 10_000_000}, 400, "n must be an integer from 1 to 256"),
    ("POST", "/api/sample", {"n": 10**40}, 400, "a number of 41 digits"),
    ("POST", "/api/sample", {"n": 0}, 400, "from 1 to"),
    ("POST", "/api/sample", {"n": 2.5}, 400, "integer"),
    ("POST", "/api/sample", {"n": "4"}, 400, "integer"),
    ("POST", "/api/sample", {"temperature": 0}, 400, "above 0"),
    ("POST", "/api/sample", {"temperature": -1}, 400, "above 0"),
    ("POST", "/api/sample", {"temperature": 1e9}, 400, "at most"),
    ("POST", "/api/sample", {"temperature": "hot"}, 400, "must be a number"),
    ("POST", "/api/sample", {"seed": -1}, 400, "seed"),
    ("POST", "/api/sample", {"seed": 2**70}, 400, "seed"),
    ("POST", "/api/sample", {"temprature": 1}, 400, "did you mean 'temperature'"),
    ("POST", "/api/interpolate", {"a": 0, "b": 1, "steps": 1}, 400, "steps"),
    ("POST", "/api/interpolate", {"a": 0, "b": 1, "steps": 10**6}, 400, "steps"),
    ("POST", "/api/interpolate", {"a": 0, "b": 10**6}, 400, "b must be an integer from 0 to"),
    ("POST", "/api/interpolate", {"a": -1, "b": 1}, 400, "a must be"),
    ("POST", "/api/interpolate", {"a": 0}, 400, "needs \"a\" and \"b\""),
    ("GET", "/api/point/100000", None, 404, "no point 100000"),
    ("GET", "/api/point/-1", None, 400, "integer index"),
    ("GET", "/api/point/abc", None, 400, "integer index"),
    ("GET", "/api/point/1e3", None, 400, "integer index"),
    ("GET", "/api/info?run=nope", None, 404, "unknown run 'nope'"),
    ("POST", "/api/decode?run=nope", {"z": CODE}, 404, "unknown run"),
    ("GET", "/api/nothing", None, 404, "no /api/nothing"),
    ("GET", "/api/decode", None, 405, "does not take GET"),
    ("POST", "/api/info", {}, 405, "does not take POST"),
    ("GET", "/static/../state.py", None, 404, ""),
    ("POST", "/api/encode", {"image": "%%% not base64"}, 400, "not valid base64"),
    ("POST", "/api/encode", {"image": base64.b64encode(b"not a picture").decode()}, 400, "not a picture"),
    ("POST", "/api/encode", {"image": "data:text/plain,hello"}, 400, "base64"),
    ("POST", "/api/encode", {"image": 5}, 400, "base64 string"),
    ("POST", "/api/encode", {"image": "", "invert": "yes"}, 400, "invert"),
    ("POST", "/api/encode", {"sentence": "a cat"}, 400, "send {\"image\""),
    ("POST", "/api/encode", {"row": {"a": 1}}, 400, "send {\"image\""),
]


@pytest.fixture(scope="module")
def client(digits_run):
    return TestClient(create_app(digits_run, limit=60))


def _send(client, method, path, body):
    if method == "GET":
        return client.get(path)
    if isinstance(body, bytes):
        return client.post(path, content=body, headers={"content-type": "application/json"})
    return client.post(path, json=body)


def check_error(r, status: int, words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    message = r.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message and "Traceback" not in r.text
    assert words in message, message


@pytest.mark.parametrize("method, path, body, status, words", CASES,
                         ids=[f"{m} {p} {str(b)[:30]}" for m, p, b, *_ in CASES])
def test_a_malformed_request_is_a_4xx_with_a_message(client, method, path, body, status, words):
    check_error(_send(client, method, path, body), status, words)
    assert client.post("/api/decode", json={"z": CODE}).status_code == 200  # and the server goes on


def test_a_body_over_the_cap_is_refused_before_it_is_read(client, monkeypatch):
    monkeypatch.setattr(api, "MAX_BODY", 1000)
    check_error(client.post("/api/decode", content=b" " * 1001), 413, "larger than")
    check_error(client.post("/api/decode", content=iter([b" " * 600, b" " * 600])), 413, "larger than")  # chunked


def test_malformed_uploads_are_4xx(client):
    check_error(client.post("/api/encode", files={"picture": ("x.png", png_bytes(_blank()), "image/png")}),
                400, "image, invert and class")
    check_error(client.post("/api/encode", data={"image": "text, not a file"}), 415, "multipart/form-data")
    check_error(client.post("/api/encode", files={"image": (None, "text, not a file")}), 400, "as a file")
    check_error(client.post("/api/encode", files={"image": ("x.png", b"GIF89a garbage", "image/gif")}), 400,
                "not a picture")
    check_error(client.post("/api/encode", files={"image": ("x.png", png_bytes(_blank()), "image/png")},
                            data={"invert": "maybe"}), 400, "invert")
    broken = b"--XYZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n"
    check_error(client.post("/api/encode", content=broken, headers={"content-type": "multipart/form-data; boundary=XYZ"}),
                400, "")
    check_error(client.post("/api/encode", files={"image": ("x.png", png_bytes(_blank()), "image/png")},
                            data={"class": "3"}), 400, "not conditional")


def test_a_picture_too_large_to_decode_is_refused(client):
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.new("L", (5000, 4000)).save(buf, format="PNG")  # 20 million pixels, a few kilobytes of PNG
    check_error(client.post("/api/encode", json={"image": base64.b64encode(buf.getvalue()).decode()}), 400,
                "at most 16,000,000 pixels")


def _blank():
    import numpy as np

    return np.zeros((8, 8), dtype=np.uint8)


def test_errors_are_json_even_for_routes_outside_the_api(client):
    r = client.get("/no/such/page")
    assert r.status_code == 404 and json.loads(r.text)["error"]


def test_a_bug_is_a_500_in_json_without_its_traceback(digits_run, monkeypatch):
    client = TestClient(create_app(digits_run, limit=20), raise_server_exceptions=False)
    state = client.app.state.explorers["digits"]

    def broken(*args, **kwargs):
        raise TypeError("a bug deep inside")

    monkeypatch.setattr(state, "decode", broken)
    r = client.post("/api/decode", json={"z": CODE})
    assert r.status_code == 500 and r.json() == {"error": "internal error (TypeError); this is a bug in vaekit, "
                                                          "the server's log has the details"}
    assert "deep inside" not in r.text and client.get("/api/info").status_code == 200
