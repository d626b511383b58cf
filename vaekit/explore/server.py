"""Serving the explorer with uvicorn: `serve` for `vaekit explore`, `background` for a test or a
load benchmark that needs a real server on a free port.

The socket is bound here, before uvicorn starts, so that a port in use or a host that cannot be
bound is one ConfigError line instead of uvicorn's log and exit. Bound to a loopback address (the
default, 127.0.0.1) only this machine can reach the page; any other host exposes it, without
authentication, to whoever can reach the machine: `serve` warns then.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from vaekit.errors import ConfigError, os_cause
from vaekit.explore.extra import require

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")  # the Host headers a browser on this machine sends


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), ready for uvicorn; port 0 picks a free one. ConfigError
    for a port in use, a host that is no address of this machine or a port it may not bind."""
    if not host:
        raise ConfigError("--host is empty; give an address to listen on, for example 127.0.0.1")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError, OverflowError) as e:
        raise ConfigError(f"cannot listen on host {host!r}: {getattr(e, 'strerror', None) or e}; give an address of "
                          f"this machine, for example 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait for TIME_WAIT to pass
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use (another explorer or server?); choose another "
                              f"with --port, or --port 0 for a free one") from None
        raise ConfigError(f"cannot listen on {host} port {port}: {os_cause(e.errno) if e.errno else e}; "
                          f"choose another --host or --port") from None
    sock.set_inheritable(True)
    return sock


def is_loopback(sock: socket.socket) -> bool:
    """Whether the socket listens on a loopback address, reachable from this machine alone."""
    return ipaddress.ip_address(sock.getsockname()[0].split("%")[0]).is_loopback


def url_of(sock: socket.socket, host: str) -> str:
    """The URL a browser on this machine opens for the bound socket."""
    address, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if address in ("0.0.0.0", "::") else (host if host == "localhost" else address)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def _server(app: Any):
    require("uvicorn")
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))


def serve(run: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, open_browser: bool = False,
          threads: int = 1, echo: Callable[[str], None] = print, **options: Any) -> None:
    """Load `run` (a run directory or a Run; `options` as `create_app` takes them), then serve
    the explorer on host:port until Ctrl-C."""
    require("starlette", "uvicorn")
    from vaekit.explore.app import create_app

    sock = bind(host, port)
    try:
        loopback = is_loopback(sock)
        if not loopback:  # and no Host check: the names this machine goes by on the network are not known here
            print(f"vaekit: warning: the explorer listens on {host}, so every machine that can reach this one can "
                  f"use it, with no password; use --host 127.0.0.1 to keep it to this machine", file=sys.stderr)
        app = create_app(run, allowed_hosts=LOOPBACK_NAMES + (host,) if loopback else None, **options)
        server = _server(app)
        torch.set_num_threads(threads)  # one small model answering one request at a time: more threads only wait
        url = url_of(sock, host)
        echo(f"vaekit explore: serving {', '.join(app.state.explorers)} at {url} (Ctrl-C to stop)")
        if open_browser:
            threading.Thread(target=_open_when_up, args=(server, url), daemon=True).start()
        server.run(sockets=[sock])
    finally:
        sock.close()


def _open_when_up(server: Any, url: str) -> None:
    import webbrowser

    for _ in range(600):  # up to a minute for uvicorn to start
        if server.started:
            webbrowser.open(url)
            return
        time.sleep(0.1)


@contextlib.contextmanager
def background(app: Any, host: str = DEFAULT_HOST, port: int = 0, threads: int = 1) -> Iterator[str]:
    """Serve `app` with uvicorn on a thread for the duration of the block; yields its URL
    (a free port by default). For tests and load benchmarks: `with background(app) as url: ...`."""
    sock = bind(host, port)
    server = _server(app)
    caller_threads = torch.get_num_threads()  # the process is the caller's: its setting comes back after the block
    torch.set_num_threads(threads)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the explorer's server did not start")
            time.sleep(0.02)
        yield url_of(sock, host)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        torch.set_num_threads(caller_threads)
