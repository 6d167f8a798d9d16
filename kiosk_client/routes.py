"""The caller pages: ``/kiosk`` (town service-centre touch screen) and ``/call`` (enterprise).

Both are server-rendered jinja2 shells around plain ES modules; nothing here knows about
calls. The HTML is never cached (a kiosk must pick up a fix on its next privacy reset) and
is allowed the camera and microphone of its own origin only.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))

#: headers of every caller page (the static modules keep the default validators/ETags)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(self), microphone=(self), autoplay=(self), "
                          "geolocation=(), payment=(), usb=()",
    # Invite tokens travel in the query string: never hand them to another origin.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

#: the Content-Security-Policy of the caller pages; {connect} names the page's own origin
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src {connect}; frame-src {frames}; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

#: a Host header that may go into a header value: name or IPv4 or [IPv6], optional port
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def origin_of(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL that may go into a CSP, else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not _HOST.match(parts.netloc or ""):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(request: Request) -> str:
    """The CSP for this request: fetches and WebSockets to the page's own origin only, plus
    the kiosk's card reader (``card_reader_url``); frames (guidance pages, allow-listed
    URL screens) from the page's origin and the origins of ``screen_url_allowlist``.

    CSP level 3 lets ``'self'`` match ``ws:``/``wss:`` on the page's own host (Chromium,
    Firefox, Safari >= 15.4); the explicit ``ws://host`` (or ``wss://host`` over HTTPS)
    keeps older kiosk browsers working without allowing any other host. The scheme is the
    request's, in which uvicorn honours ``X-Forwarded-Proto`` only from trusted proxies
    (docs/operations.md, the nginx setup). An unusable Host leaves plain ``'self'``.
    """
    host = request.headers.get("host", "")
    connect = "'self'"
    if _HOST.match(host):
        scheme = "wss" if request.url.scheme == "https" else "ws"
        connect = f"'self' {scheme}://{host}"
    settings = request.app.state.settings
    reader = origin_of(settings.card_reader_url)
    if reader:
        connect += f" {reader}"
    frames = ["'self'"]
    for prefix in settings.screen_url_allowlist:
        origin = origin_of(prefix)
        if origin and origin not in frames:
            frames.append(origin)
    return CSP.format(connect=connect, frames=" ".join(frames))


def _page(request: Request, template: str, **context: object) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, template, context)
    response.headers.update(PAGE_HEADERS)
    response.headers["Content-Security-Policy"] = content_security_policy(request)
    return response


def mount(app: FastAPI) -> None:
    """Add the kiosk and enterprise pages and their static files to ``app``."""

    @app.get("/kiosk", response_class=HTMLResponse, include_in_schema=False)
    async def kiosk_page(request: Request) -> HTMLResponse:
        settings = request.app.state.settings
        return _page(request, "kiosk.html", page="kiosk",
                     idle_seconds=settings.kiosk_idle_seconds,
                     rating_idle_seconds=settings.kiosk_rating_idle_seconds,
                     card_reader_url=origin_of(settings.card_reader_url) and
                     settings.card_reader_url.rstrip("/"),
                     document_camera=settings.kiosk_document_camera or "")

    @app.get("/call", response_class=HTMLResponse, include_in_schema=False)
    async def enterprise_page(request: Request) -> HTMLResponse:
        return _page(request, "call.html", page="call")

    app.mount("/static/common", StaticFiles(directory=str(HERE / "static" / "common")),
              name="static-common")
    app.mount("/static/kiosk", StaticFiles(directory=str(HERE / "static")),
              name="static-kiosk")
