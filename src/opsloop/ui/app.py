"""The dashboard as its own app (`opsloop ui`) or mounted in the prediction server
(`serve.ui: true`): the same router either way."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from opsloop.ui.routes import create_ui_router

if TYPE_CHECKING:
    from opsloop.ui.site import UISite


def add_ui(app: FastAPI, site: UISite) -> None:
    """Mount the dashboard's pages and actions under `site.prefix` (default /ui)."""
    app.include_router(create_ui_router(site))


def create_ui_app(site: UISite) -> FastAPI:
    """A FastAPI app serving only the dashboard; `/` redirects to it."""
    from opsloop import __version__

    app = FastAPI(
        title="opsloop dashboard",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    prefix = site.prefix.rstrip("/")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{prefix}/", status_code=307)

    add_ui(app, site)
    return app


def run_ui(site: UISite, host: str, port: int) -> None:
    """Serve the dashboard until stopped (blocks)."""
    import uvicorn

    sys.stderr.write(
        f"opsloop ui: {', '.join(m.name for m in site.models)} on "
        f"http://{host}:{port}{site.prefix.rstrip('/')}/  — Ctrl-C to stop\n"
    )
    uvicorn.run(
        create_ui_app(site),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
