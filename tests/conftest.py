"""Shared fixtures: a real server on loopback, started in-process with uvicorn."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from signaling.settings import Settings
from signaling.web.app import create_app
from signaling.web.ws import uvicorn_ws_options

IN_CI = os.environ.get("CI") == "true"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """A running server: its base URLs and the app (for peeking at the hub in asserts)."""

    http: str
    ws: str
    app: Any
    server: uvicorn.Server

    @property
    def hub(self) -> Any:
        return self.app.state.hub


StartServer = Callable[..., Awaitable[LiveServer]]


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """Factory: ``await start_server(ring_timeout=2)`` starts a demo server on a free port.

    ``start_server(port=p, data_dir=d)`` starts one on a given port and data directory, e.g.
    again after ``live.server.should_exit = True`` (a restart).
    """
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(**overrides: Any) -> LiveServer:
        port = overrides.pop("port", None) or free_port()
        data_dir = overrides.pop("data_dir", None) or tmp_path / f"data-{port}"
        # The tests' clients share the server's event loop, so its lag is theirs too: no
        # shedding on it unless a test asks (tests/protocol/test_overload.py).
        settings = Settings(**{"demo": True, "data_dir": data_dir, "port": port,
                               "shed_loop_lag": 3600.0, **overrides})
        app = create_app(settings)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                **uvicorn_ws_options(settings.max_message_bytes),
                                lifespan="on")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        running.append((server, task))
        for _ in range(3000):  # 30 s: a loaded machine starts slowly
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("server did not start")
        return LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", app, server)

    yield start
    for server, _ in running:
        server.should_exit = True
    for _, task in running:
        await asyncio.wait_for(task, 15)


@pytest.fixture
async def live_server(start_server: StartServer) -> LiveServer:
    """A demo server with default settings."""
    return await start_server()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Expose each phase's report on the item, so fixtures can act on failures."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
