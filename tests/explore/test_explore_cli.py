"""`vaekit explore` on the command line: the URL it serves, a warning when it is exposed beyond
this machine, and one error line for a port in use, a missing extra, a run without a latent or
a bad option. uvicorn's serving loop is replaced by a stand-in, so no test blocks."""

from __future__ import annotations

import socket
import sys

import pytest

from cli_helpers import cli, error_line


@pytest.fixture
def served(monkeypatch):
    """uvicorn.Server.run as a stand-in that records the sockets it was given and returns."""
    import uvicorn

    seen = []

    def run(self, sockets=None):
        seen.append([s.getsockname() for s in sockets])
        self.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return seen


def test_explore_serves_the_run_on_the_loopback_address_by_default(digits_run, served):
    code, out, err = cli("explore", digits_run, "--port", "0", "--limit", "50")
    assert code == 0, err
    (address,), = served
    assert address[0] == "127.0.0.1" and address[1] > 0
    assert out.strip() == f"vaekit explore: serving digits at http://127.0.0.1:{address[1]}/ (Ctrl-C to stop)"
    assert "warning" not in err


def test_a_host_beyond_this_machine_is_served_with_a_warning(digits_run, served):
    code, out, err = cli("explore", digits_run, "--host", "0.0.0.0", "--port", "0", "--limit", "50")
    assert code == 0, err
    assert served[0][0][0] == "0.0.0.0"
    assert err.startswith("vaekit: warning: the explorer listens on 0.0.0.0, so every machine that can reach this one")
    assert "http://127.0.0.1:" in out  # what a browser on this machine opens


def test_open_browser_opens_the_page_once_it_is_served(digits_run, served, monkeypatch):
    import threading
    import webbrowser

    opened = threading.Event()
    urls = []
    monkeypatch.setattr(webbrowser, "open", lambda url: (urls.append(url), opened.set()))
    code, out, err = cli("explore", digits_run, "--port", "0", "--limit", "50", "--open-browser")
    assert code == 0, err
    assert opened.wait(10)
    assert urls == [out.split(" at ")[1].split()[0]]


def test_a_port_in_use_is_one_error_line(digits_run):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        code, _, err = cli("explore", digits_run, "--port", str(port))
    finally:
        busy.close()
    assert code == 2
    assert error_line(err) == (f"vaekit: error: port {port} on 127.0.0.1 is in use (another explorer or server?); "
                               f"choose another with --port, or --port 0 for a free one")


def test_a_host_that_is_not_this_machines_is_one_error_line(digits_run):
    code, _, err = cli("explore", digits_run, "--host", "192.0.2.1", "--port", "0")  # TEST-NET-1: never ours
    assert code == 2 and "cannot listen on 192.0.2.1 port 0" in error_line(err)


@pytest.mark.parametrize("module", ["starlette", "uvicorn"])
def test_a_missing_extra_names_the_install_command(digits_run, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    code, _, err = cli("explore", digits_run)
    assert code == 2
    assert error_line(err) == (f"vaekit: error: vaekit explore needs {module}, which is not installed; install the "
                               f"explorer's dependencies with: pip install \"vaekit[explore]\"")


def test_create_app_without_starlette_names_the_extra(monkeypatch, digits_run):
    from vaekit.errors import ConfigError
    from vaekit.explore import create_app

    monkeypatch.setitem(sys.modules, "starlette", None)
    with pytest.raises(ConfigError, match=r'pip install "vaekit\[explore\]"'):
        create_app(digits_run)


@pytest.mark.parametrize("args, words", [
    (["--limit", "1"], "--limit: must be at least 2"),
    (["--limit", "20001"], "--limit: must be at most 20000"),
    (["--port", "70000"], "--port: must be at most 65535"),
    (["--map", "mds"], "--map: invalid choice: 'mds'"),
    (["--host", ""], "--host is empty"),
])
def test_bad_options_are_one_error_line(digits_run, args, words):
    code, _, err = cli("explore", digits_run, "--port", "0", *args)
    assert code == 2 and words in err and "Traceback" not in err


def test_a_missing_run_is_one_error_line(tmp_path, served):
    code, _, err = cli("explore", tmp_path / "nothing", "--port", "0")
    assert code == 2 and "is not a run directory" in error_line(err) and not served


def test_on_loopback_the_server_answers_only_requests_addressed_to_this_machine(digits_run, monkeypatch):
    """A page elsewhere whose DNS name is rebound to 127.0.0.1 sends its own Host header: refused."""
    import uvicorn

    from vaekit.explore import server

    answers = {}

    def run(self, sockets=None):  # the real app, asked in-process instead of over the socket
        from starlette.testclient import TestClient

        for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "evil.example:8000", "127.0.0.1.evil.example"):
            answers[host] = TestClient(self.config.app).get("/api/info", headers={"host": host})

    monkeypatch.setattr(uvicorn.Server, "run", run)
    server.serve(digits_run, port=0, limit=20, echo=lambda line: None)
    assert [answers[h].status_code for h in answers] == [200, 200, 200, 400, 400]
    assert "not to 'evil.example:8000'" in answers["evil.example:8000"].json()["error"]
