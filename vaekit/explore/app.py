"""The explorer's Starlette application: the page, its static files and the JSON API.

    GET  /                      the page (static/index.html)
    GET  /api/info              the run: family, data kind, latent width, dimensions by KL, limits
    GET  /api/map               the map's points: index, x, y, label
    GET  /api/point/{i}         point i: its input, reconstruction and code
    POST /api/decode            {"z": code or [codes], "class": k}
    POST /api/interpolate       {"a": i, "b": j, "steps": n}
    POST /api/sample            {"n": n, "temperature": t, "seed": s, "class": k}
    POST /api/encode            a picture (multipart "image", or JSON base64), {"sentence"}, {"row"}

Every route takes `?run=NAME` when the app serves several runs (the first by default). Each
mistake in a request is a 4xx with {"error": "..."}; a 500 (with no traceback in the answer; the
server's log has it) means a bug. The model work runs on a worker thread, so the event loop keeps
answering while a decode runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from vaekit.explore.extra import require

require("starlette")

from starlette.applications import Starlette  # noqa: E402 (after the check that names the extra)
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import FileResponse, JSONResponse, Response  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402
from starlette.staticfiles import StaticFiles  # noqa: E402

from vaekit.errors import ConfigError, VaekitError, one_line  # noqa: E402
from vaekit.explore import api  # noqa: E402
from vaekit.explore.api import RequestError  # noqa: E402
from vaekit.explore.state import MAX_POINTS, Explorer  # noqa: E402
from vaekit.run import Run  # noqa: E402

STATIC = Path(__file__).parent / "static"
# The page loads its script, style and pictures from this server alone (no CDN), and data URLs.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                           "base-uri 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def create_app(runs: Run | str | Path | Explorer | Iterable[Run | str | Path | Explorer], *, split: str = "test",
               limit: int = MAX_POINTS, seed: int = 0, map_method: str = "pca", device: str = "cpu",
               overrides: tuple[str, ...] = (), allowed_hosts: Iterable[str] | None = None) -> Starlette:
    """The explorer of one run or several (each a Run, a run directory or a loaded `Explorer`):
    each run is loaded and its map computed now, once (see `Explorer.load` for the arguments).
    Runs are named by their folder's name; two of the same name are a ConfigError.

    `allowed_hosts` (names without a port) limits the Host header a request may carry: a server on
    127.0.0.1 answers only requests addressed to this machine, so that a web page elsewhere cannot
    reach it through a DNS name rebound to 127.0.0.1. None takes any host."""
    items = [runs] if isinstance(runs, (Run, str, Path, Explorer)) else list(runs)
    if not items:
        raise ConfigError("create_app needs at least one run to explore")
    states: dict[str, Explorer] = {}
    for item in items:
        state = item if isinstance(item, Explorer) else Explorer.load(
            item, split=split, limit=limit, seed=seed, map_method=map_method, device=device, overrides=overrides)
        if state.name in states:
            raise ConfigError(f"two runs are named {state.name!r}; the explorer tells runs apart by their folder's name, "
                              f"so rename one")
        states[state.name] = state
    app = _app(states)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, hosts=frozenset(h.lower() for h in allowed_hosts))
    return app


def _app(states: dict[str, Explorer]) -> Starlette:
    names = list(states)

    def pick(request: Request) -> Explorer:
        name = request.query_params.get("run", names[0])
        if name not in states:
            raise RequestError(f"unknown run {name[:80]!r}; this server explores {', '.join(map(repr, names))}", 404)
        return states[name]

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    async def info(request: Request) -> Response:
        return _json(api.info(pick(request), names))

    async def points(request: Request) -> Response:
        state = pick(request)
        return _json({"run": state.name, "axes": state.axes, "points": state.points()})

    async def point(request: Request) -> Response:
        state = pick(request)
        i = api.path_index(request.path_params["i"], state)
        return _json(await run_in_threadpool(state.point, i))

    def posted(answer):
        async def endpoint(request: Request) -> Response:
            state = pick(request)
            body = api.parse_json(await read_body(request))
            return _json(await run_in_threadpool(answer, state, body))
        return endpoint

    async def encode(request: Request) -> Response:
        state = pick(request)
        raw = await read_body(request)
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/x-www-form-urlencoded"):
            raise RequestError("send a picture as multipart/form-data (a file in the field 'image'), or JSON", 415)
        if kind.startswith("multipart/form-data"):
            image, invert, fields = await _form(request, raw)
            return _json(await run_in_threadpool(api.encode_image, state, image, invert, fields))
        return _json(await run_in_threadpool(api.encode_json, state, api.parse_json(raw)))

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/api/info", info, methods=["GET"]),
        Route("/api/map", points, methods=["GET"]),
        Route("/api/point/{i}", point, methods=["GET"]),
        Route("/api/decode", posted(api.decode), methods=["POST"]),
        Route("/api/interpolate", posted(api.interpolate), methods=["POST"]),
        Route("/api/sample", posted(api.sample), methods=["POST"]),
        Route("/api/encode", encode, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {RequestError: _request_error, VaekitError: _user_error, HTTPException: _http_error, Exception: _bug}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.explorers = states  # for a benchmark or a test that wants the states behind the routes
    return app


class HostCheck:
    """ASGI middleware: a 400 in JSON for an HTTP request whose Host header is none of `hosts`."""

    def __init__(self, app: Any, hosts: frozenset[str]) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            name = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0]
            if name not in self.hosts:
                answer = _json({"error": f"this explorer answers requests to {', '.join(sorted(self.hosts))}, not to "
                                         f"{host[:100]!r}; open it at one of those addresses"}, 400)
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers=API_HEADERS)


async def read_body(request: Request) -> bytes:
    """The request's body, at most `api.MAX_BODY` bytes: a 413 before more is read."""
    too_big = RequestError(f"the request body is larger than {api.MAX_BODY // (1024 * 1024)} MiB; send less", 413)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > api.MAX_BODY:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > api.MAX_BODY:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def _form(request: Request, raw: bytes) -> tuple[bytes, bool, dict[str, Any]]:
    """A multipart upload: the picture's bytes (field "image"), "invert" and "class"."""
    require("python_multipart" if _has("python_multipart") else "multipart")
    sent = False

    async def replay() -> dict[str, Any]:  # the body read (and capped) already, handed to the parser once
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=4)
    except Exception as e:  # the parser's own errors (Starlette's HTTPException among them): a malformed body
        why = str(getattr(e, "detail", "")) or one_line(e)
        raise RequestError(f"the multipart body cannot be read ({why}); send the picture as a file in the field 'image'") from None
    unknown = [k for k in form.keys() if k not in ("image", "invert", "class")]
    if unknown:
        raise RequestError(f"/api/encode takes the form fields image, invert and class, not {unknown[0]!r}")
    upload = form.get("image")
    if upload is None or isinstance(upload, str):
        raise RequestError("send the picture as a file in the form field 'image'")
    data = await upload.read()
    invert = str(form.get("invert", "false")).lower()
    if invert not in ("true", "false", "1", "0", "on", "off"):
        raise RequestError(f"the form field invert must be true or false, got {invert[:20]!r}")
    fields: dict[str, Any] = {}
    if form.get("class") is not None:
        text = str(form.get("class"))
        fields["class"] = int(text) if text.isdigit() and len(text) < 12 else text
    return data, invert in ("true", "1", "on"), fields


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


async def _request_error(request: Request, e: RequestError) -> Response:
    return _json({"error": str(e)}, e.status)


async def _user_error(request: Request, e: VaekitError) -> Response:
    """A VaekitError the library raises on what the request asked (a table row's unseen category,
    say) is the request's fault: 400, with the library's one line."""
    return _json({"error": one_line(e)}, 400)


async def _http_error(request: Request, e: HTTPException) -> Response:
    messages = {404: f"there is no {request.url.path[:200]}; the API's routes are under /api (docs/explore.md)",
                405: f"{request.url.path[:200]} does not take {request.method}"}
    return _json({"error": messages.get(e.status_code, str(e.detail))}, e.status_code)


async def _bug(request: Request, e: Exception) -> Response:
    # Starlette raises the exception again once this answer is sent, so that the server logs its traceback.
    return _json({"error": f"internal error ({type(e).__name__}); this is a bug in vaekit, the server's log has "
                           f"the details"}, 500)
