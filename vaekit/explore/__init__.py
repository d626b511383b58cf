"""`vaekit explore RUN`: a local web application to explore a run's latent space.

    vaekit explore runs/digits                 # then open http://127.0.0.1:8000/

    from vaekit.explore import create_app      # a Starlette app, for uvicorn or a TestClient
    app = create_app("runs/digits")

`state` computes what the page shows (the encoded subset, its 2-D map, the dimensions in order of
KL) and answers with the shared recipes of `vaekit.sample`; `api` checks each request of the JSON
API (docs/explore.md) and shapes the answer; `app` is the Starlette application; `server` runs it
under uvicorn for the command line; `static/` holds the page (plain JavaScript, no build step,
nothing fetched from elsewhere). Starlette and uvicorn are the `explore` extra, imported only here.
"""

from __future__ import annotations

import importlib

from vaekit.errors import ConfigError

EXTRA = 'pip install "vaekit[explore]"'


def require(*modules: str) -> None:
    """ConfigError naming the extra when one of `modules` (starlette, uvicorn) is not installed."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ConfigError(f"vaekit explore needs {name}, which is not installed; install the explorer's "
                              f"dependencies with: {EXTRA}") from None


def create_app(*args, **kwargs):
    """The explorer's Starlette application (see `vaekit.explore.app.create_app`)."""
    require("starlette")
    from vaekit.explore.app import create_app as make

    return make(*args, **kwargs)


__all__ = ["EXTRA", "create_app", "require"]
