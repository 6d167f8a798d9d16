"""The agent console: one jinja2 page (``/console``) and its ES modules (``/static/console``).

The page is a thin shell: the modules log in over REST, open ``/ws/agent`` and render the
agent's state, offers, calls and wrap-up from the server's messages (docs/protocol.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response
from starlette.types import Scope

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))

#: Sent with the page: the console needs camera and microphone for itself and nobody else.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self), "
                          "autoplay=(self), geolocation=(), payment=(), usb=()",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; media-src 'self' blob: mediastream:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class RevalidatedStaticFiles(StaticFiles):
    """Static modules that the browser revalidates (ETag) on every load.

    ES modules import each other by plain URLs, so after an upgrade a heuristically cached
    old module could run against a new one; a 304 costs almost nothing on a LAN.
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


def console_config(request: Request) -> dict[str, Any]:
    """Server settings the page needs before its socket is open."""
    settings = request.app.state.settings
    return {
        "wrapUpSeconds": settings.wrap_up_time,
        "serviceLevelSeconds": settings.service_level_threshold,
        "ringTimeoutSeconds": settings.ring_timeout,
        "wrapUpOutcomeRequired": bool(getattr(settings, "wrap_up_outcome_required", True)),
    }


def mount(app: FastAPI) -> None:
    """Add ``GET /console``, ``GET /inbox`` and their static files to ``app``."""

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    async def console_page(request: Request) -> HTMLResponse:
        response = TEMPLATES.TemplateResponse(
            request, "console.html", {"config": console_config(request)})
        response.headers.update(PAGE_HEADERS)
        return response

    @app.get("/inbox", response_class=HTMLResponse, include_in_schema=False)
    async def inbox_page(request: Request) -> HTMLResponse:
        """The department reviewers' inbox: same shell, headers and modules as the console."""
        response = TEMPLATES.TemplateResponse(
            request, "inbox.html", {"config": {"refreshSeconds": 5}})
        response.headers.update(PAGE_HEADERS)
        return response

    app.mount("/static/console", RevalidatedStaticFiles(directory=str(HERE / "static")),
              name="console-static")
