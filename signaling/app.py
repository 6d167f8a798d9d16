"""``create_app(settings)``: the single composition root of the server."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from agent_console.routes import mount as mount_console
from kiosk_client.routes import mount as mount_kiosk

from .api import ApiError, build_router
from .connection import Role
from .demo import ensure_admin, seed_demo
from .hub import Hub
from .settings import Settings
from .store import Database
from .ws import serve_socket

log = logging.getLogger(__name__)


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


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"type": "error", "code": code, "message": message}, status_code=status)


def create_app(settings: Settings) -> FastAPI:
    """Build the FastAPI app; nothing starts until its lifespan runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url())
        await db.create_all()
        admin_password = await ensure_admin(db)
        if admin_password is not None:
            app.state.admin_password = admin_password
            print(f"Created administrator 'admin' with password: {admin_password}\n"
                  "It is shown only this once.", flush=True)
        if settings.demo:
            await seed_demo(db)
        hub = Hub(settings, db, load_secret(settings))
        await hub.start()
        app.state.hub = hub
        try:
            yield
        finally:
            await hub.stop()
            await db.dispose()

    app = FastAPI(title="cloud-agent", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.admin_password = None

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ())[1:])
        return _error(422, "invalid_request", f"{where}: {first.get('msg')}")

    app.include_router(build_router())

    @app.websocket("/ws/caller")
    async def caller_socket(ws: WebSocket) -> None:
        await serve_socket(ws, app.state.hub, Role.CALLER)

    @app.websocket("/ws/agent")
    async def agent_socket(ws: WebSocket) -> None:
        await serve_socket(ws, app.state.hub, Role.AGENT)

    mount_console(app)
    mount_kiosk(app)
    return app
