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

from vaekit.explore.extra import EXTRA, require


def create_app(*args, **kwargs):
    """The explorer's Starlette application (see `vaekit.explore.app.create_app`)."""
    require("starlette")
    from vaekit.explore.app import create_app as make

    return make(*args, **kwargs)


__all__ = ["EXTRA", "create_app", "require"]
