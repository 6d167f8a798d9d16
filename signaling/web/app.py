"""``create_app(settings)``: the single composition root of the server."""

from __future__ import annotations

import gc
import logging
import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_console.routes import mount as mount_console
from kiosk_client.routes import mount as mount_kiosk

from ..demo import ensure_admin, seed_demo
from ..live.connection import Role
from ..live.hub import Hub
from ..live.shared_limits import SharedLoginThrottle, SharedSockets
from ..outbox.routes import build_webhook_router
from ..settings import Settings
from ..store import AuditRepository, Database
from ..store.passwords import HashingGate
from .api import ApiError, build_router
from .cases_api import build_cases_router
from .matters_api import build_matters_router
from .receipt_pages import mount as mount_receipts
from .recordings_api import build_recordings_router
from .supervision_api import build_supervision_router
from .tickets_api import build_tickets_router
from .ws import serve_socket

log = logging.getLogger(__name__)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

#: headers of the start page: like the other pages, but it needs no camera and no script
START_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'none'; object-src 'none'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

#: SQLite files in the data directory (the database, its write-ahead log and shared memory)
SQLITE_FILES = ("cloud-agent.db", "cloud-agent.db-wal", "cloud-agent.db-shm")


def secure_data_dir(settings: Settings) -> None:
    """Create the data directory as 0700 and the SQLite database as 0600, and tighten both
    if an older version left them world-readable.

    The database is created empty here, before SQLite opens it: SQLite gives the ``-wal``
    and ``-shm`` files it makes later the mode of the database file. ``cloud-agent serve``
    also sets the process umask to 077, for anything else the server writes.
    """
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if settings.database_url is not None:
        return
    os.close(os.open(data_dir / SQLITE_FILES[0], os.O_WRONLY | os.O_CREAT, 0o600))
    for name in SQLITE_FILES:
        if (data_dir / name).exists():
            os.chmod(data_dir / name, 0o600)


#: query parameters (and path prefixes) whose values are secrets: kiosk device tokens,
#: invite tokens, resume and rating tokens; phone numbers (case look-ups) are personal data
_SECRET_QUERY = re.compile(r"(?i)([?&](?:[a-z_]*token|invite|password|secret|phone)=)[^&\s\"]*")
_SECRET_PATH = re.compile(r"(/api/invites/)(?!inv-)[^/?\s\"]+")


def redact_secrets(text: str) -> str:
    """``/kiosk?token=abc`` -> ``/kiosk?token=***``; likewise invite tokens in paths."""
    return _SECRET_PATH.sub(r"\1***", _SECRET_QUERY.sub(r"\1***", text))


class RedactSecrets(logging.Filter):
    """Replaces secret tokens in uvicorn's access and connection log lines by ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_secrets(arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_secrets(record.msg)
        return True


_REDACT = RedactSecrets()


def redact_uvicorn_logs() -> None:
    """Install the filter on uvicorn's loggers (once per process)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


class NoSniff:
    """Pure ASGI middleware adding ``X-Content-Type-Options: nosniff`` to every HTTP
    response; WebSocket scopes pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-content-type-options"]
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)


def load_secret(settings: Settings) -> bytes:
    """The HMAC key: from settings, or generated once and kept in the data dir (0600)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.data_dir) / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _error(status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"type": "error", "code": code, "message": message}, status_code=status,
                        headers=headers)


def create_app(settings: Settings) -> FastAPI:
    """Build the FastAPI app; nothing starts until its lifespan runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redact_uvicorn_logs()
        secure_data_dir(settings)
        db = Database(settings.resolved_database_url())
        await db.create_all()
        if settings.demo:
            # A demo has its own accounts; an admin with a printed password would only be
            # one more credential lying about (operations.md 'First admin').
            await seed_demo(db, load_agents=settings.demo_load_agents,
                            load_kiosks=settings.demo_load_kiosks)
        else:
            admin_password = await ensure_admin(db)
            if admin_password is not None:
                app.state.admin_password = admin_password
                await AuditRepository(db).append("system", "account_created", {
                    "username": "admin", "role": "admin"})
                print(f"Created administrator 'admin' with password: {admin_password}\n"
                      "It is shown only this once.", flush=True)
        hub = Hub(settings, db, load_secret(settings))
        if settings.redis_url:  # sockets per address counted across the cluster
            app.state.socket_rate = SharedSockets(settings, hub.node_id)
        await hub.start()
        app.state.hub = hub
        # What exists now (modules, schemas, catalog, engine) lives as long as the process:
        # keep it out of every later full collection, whose pause grows with the objects
        # it walks (the stall at the start of each ring-latency run, docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.login_throttle.close()
            await app.state.case_lookup_limit.close()
            if app.state.socket_rate is not None:
                await app.state.socket_rate.close()
            await hub.stop()
            await db.dispose()

    # The API docs are off unless asked for: Swagger and ReDoc load scripts from a CDN.
    docs = settings.api_docs
    app = FastAPI(title="cloud-agent", version="0.1.0", lifespan=lifespan,
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None)
    app.add_middleware(NoSniff)
    app.state.settings = settings
    app.state.admin_password = None
    app.state.login_throttle = SharedLoginThrottle(settings)  # Redis in a cluster
    app.state.socket_rate = None  # SharedSockets in a cluster (set with the hub)
    app.state.password_hashing = HashingGate(settings.password_hash_concurrency,
                                             settings.login_queue_limit)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it could not parse at all (e.g. JSON nested so
            # deep that the parser gives up): the same 422 as any other invalid body.
            return _error(422, "invalid_request", "the request body could not be read: "
                          "not JSON, or nested too deeply")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ())[1:])
        return _error(422, "invalid_request", f"{where}: {first.get('msg')}")

    app.include_router(build_router())
    app.include_router(build_matters_router())
    app.include_router(build_webhook_router())
    app.include_router(build_cases_router())
    app.include_router(build_supervision_router())
    app.include_router(build_recordings_router())
    app.include_router(build_tickets_router())

    # Plain Starlette routes: the sockets take no dependencies, and FastAPI's per-socket
    # exit stacks and dependency solving would cost every idle socket ~2 KiB.
    async def caller_socket(ws: WebSocket) -> None:
        await serve_socket(ws, app.state.hub, Role.CALLER)

    async def agent_socket(ws: WebSocket) -> None:
        await serve_socket(ws, app.state.hub, Role.AGENT)

    app.router.add_websocket_route("/ws/caller", caller_socket)
    app.router.add_websocket_route("/ws/agent", agent_socket)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def start_page(request: Request) -> HTMLResponse:
        response = TEMPLATES.TemplateResponse(request, "index.html", {})
        response.headers.update(START_PAGE_HEADERS)
        return response

    mount_console(app)
    mount_kiosk(app)
    mount_receipts(app)
    return app
